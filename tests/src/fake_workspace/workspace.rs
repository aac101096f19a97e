//! Workspace objects: folders, files and notebooks, with the semantics of
//! `workspace/*`, `workspace-files/import-file` and SCIM `Me`.

use std::collections::{BTreeMap, HashSet};

use base64::Engine;
use base64::engine::general_purpose::STANDARD as B64;
use serde_json::{Value, json};

use super::http::{Request, Response};
use super::{body_json, error, ok};

pub const MAX_FILE_BYTES: usize = 10 * 1024 * 1024;
const NOTEBOOK_HEADER: &str = "# Databricks notebook source";

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Kind {
    Directory,
    File,
    Notebook,
}

impl Kind {
    pub fn as_str(self) -> &'static str {
        match self {
            Kind::Directory => "DIRECTORY",
            Kind::File => "FILE",
            Kind::Notebook => "NOTEBOOK",
        }
    }
}

#[derive(Clone, Debug)]
pub struct Object {
    pub kind: Kind,
    pub data: Vec<u8>,
    pub id: i64,
    pub modified_at: i64,
}

impl Object {
    pub fn is_dir(&self) -> bool {
        self.kind == Kind::Directory
    }
}

#[derive(Clone, Debug)]
pub struct Job {
    pub settings: Value,
    pub created_time: i64,
}

#[derive(Clone, Debug)]
pub struct RunRecord {
    pub job_id: i64,
    pub polls: u32,
    pub task_keys: Vec<String>,
    pub job_parameters: Value,
    pub python_params: Value,
    pub cancelled: bool,
}

impl RunRecord {
    /// Not finished: cancelled runs are, and so are runs polled past `limit`.
    pub fn active(&self, limit: u32) -> bool {
        !self.cancelled && self.polls <= limit
    }
}

pub struct State {
    pub user: String,
    pub objects: BTreeMap<String, Object>,
    pub jobs: BTreeMap<i64, Job>,
    pub runs: BTreeMap<i64, RunRecord>,
    pub run_polls: u32,
    pub failing_tasks: HashSet<String>,
    pub experiments: BTreeMap<String, Value>,
    pub models: BTreeMap<String, Value>,
    /// Unity Catalog models by full name, and grants per full name.
    pub uc_models: BTreeMap<String, Value>,
    pub grants: BTreeMap<String, BTreeMap<String, std::collections::BTreeSet<String>>>,
    /// Direct permissions by `<object_type>/<id>`.
    pub permissions: BTreeMap<String, Value>,
    next_id: i64,
}

impl State {
    pub fn new(user: &str) -> State {
        let mut s = State {
            user: user.to_string(),
            objects: BTreeMap::new(),
            jobs: BTreeMap::new(),
            runs: BTreeMap::new(),
            run_polls: 0,
            failing_tasks: HashSet::new(),
            experiments: BTreeMap::new(),
            models: BTreeMap::new(),
            uc_models: BTreeMap::new(),
            grants: BTreeMap::new(),
            permissions: BTreeMap::new(),
            next_id: 1000,
        };
        // Fresh names under an empty tree cannot collide with a file.
        let _ = s.mkdirs(&format!("/Workspace/Users/{user}"));
        let _ = s.mkdirs(&format!("/Users/{user}"));
        s
    }

    pub fn next_id(&mut self) -> i64 {
        self.next_id += 1;
        self.next_id
    }

    fn mkdirs(&mut self, path: &str) -> Result<(), String> {
        let mut at = String::new();
        for part in path.split('/').filter(|p| !p.is_empty()) {
            at.push('/');
            at.push_str(part);
            match self.objects.get(&at) {
                Some(o) if o.is_dir() => {}
                Some(_) => return Err(at),
                None => {
                    let id = self.next_id();
                    self.objects.insert(
                        at.clone(),
                        Object {
                            kind: Kind::Directory,
                            data: Vec::new(),
                            id,
                            modified_at: now_ms(),
                        },
                    );
                }
            }
        }
        Ok(())
    }

    /// Stores `data` at `path` (parents created) as an import-file with
    /// overwrite would: for tests that plant objects written "by someone else".
    pub fn seed(&mut self, path: &str, data: Vec<u8>) {
        let _ = self.mkdirs(parent(path));
        let _ = self.put(path, data, true);
    }

    fn is_dir(&self, path: &str) -> bool {
        path == "/" || self.objects.get(path).is_some_and(Object::is_dir)
    }

    fn info(&self, path: &str, o: &Object) -> Value {
        let mut v = json!({
            "object_type": o.kind.as_str(),
            "path": path,
            "object_id": o.id,
            "modified_at": o.modified_at,
            "created_at": o.modified_at,
        });
        match o.kind {
            Kind::File => v["size"] = json!(o.data.len()),
            Kind::Notebook => v["language"] = json!("PYTHON"),
            Kind::Directory => {}
        }
        v
    }

    /// Stores `data` at `path` as the workspace does: a `.py` file whose first
    /// line is the notebook header becomes a NOTEBOOK without the extension.
    fn put(&mut self, path: &str, data: Vec<u8>, overwrite: bool) -> Response {
        if data.len() > MAX_FILE_BYTES {
            return error(
                400,
                "MAX_NOTEBOOK_SIZE_EXCEEDED",
                &format!(
                    "File size imported is ({} bytes), exceeded max size ({MAX_FILE_BYTES} bytes)",
                    data.len()
                ),
            );
        }
        let parent = parent(path);
        if !self.is_dir(parent) {
            return error(
                404,
                "RESOURCE_DOES_NOT_EXIST",
                &format!("The parent folder ({parent}) does not exist."),
            );
        }
        let (target, kind) = match path.strip_suffix(".py") {
            Some(stem) if is_notebook_source(&data) => (stem.to_string(), Kind::Notebook),
            _ => (path.to_string(), Kind::File),
        };
        if let Some(existing) = self.objects.get(&target) {
            if existing.is_dir() {
                return error(
                    400,
                    "RESOURCE_ALREADY_EXISTS",
                    &format!("Path ({target}) already exists and is a folder."),
                );
            }
            if !overwrite {
                // The real API: 409 for files, a 400 "already exists." for
                // notebooks, neither with an error_code (reference §3).
                return match existing.kind {
                    Kind::Notebook => {
                        error(400, "", &format!("Notebook ({target}) already exists."))
                    }
                    _ => error(409, "", &format!("The file ({target}) already exists.")),
                };
            }
        }
        let id = match self.objects.get(&target) {
            Some(o) => o.id,
            None => self.next_id(),
        };
        self.objects.insert(
            target,
            Object {
                kind,
                data,
                id,
                modified_at: now_ms(),
            },
        );
        ok(json!({}))
    }

    fn not_found(path: &str) -> Response {
        error(
            404,
            "RESOURCE_DOES_NOT_EXIST",
            &format!("Path ({path}) doesn't exist."),
        )
    }
}

fn is_notebook_source(data: &[u8]) -> bool {
    let first = data.split(|b| *b == b'\n').next().unwrap_or_default();
    let first = first.strip_suffix(b"\r").unwrap_or(first);
    first == NOTEBOOK_HEADER.as_bytes()
}

fn parent(path: &str) -> &str {
    match path.rfind('/') {
        Some(0) | None => "/",
        Some(i) => &path[..i],
    }
}

pub fn now_ms() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_millis() as i64)
        .unwrap_or(0)
}

fn normalize(path: &str) -> Option<String> {
    if !path.starts_with('/') {
        return None;
    }
    let trimmed = path.trim_end_matches('/');
    Some(if trimmed.is_empty() {
        "/".into()
    } else {
        trimmed.to_string()
    })
}

macro_rules! try_resp {
    ($e:expr) => {
        match $e {
            Ok(v) => v,
            Err(resp) => return Some(resp),
        }
    };
}

fn path_arg(v: Option<&str>) -> Result<String, Response> {
    v.and_then(normalize)
        .ok_or_else(|| error(400, "INVALID_PARAMETER_VALUE", "Path must be absolute"))
}

/// Handles the workspace routes; `None` if `path` is not one of them.
pub fn route(s: &mut State, req: &Request, path: &str) -> Option<Response> {
    let m = req.method.as_str();
    if let Some(rest) = path.strip_prefix("/api/2.0/workspace-files/import-file/") {
        if m != "POST" {
            return None;
        }
        // The client escapes '/' as %2F in one segment; `path` is decoded.
        let target = try_resp!(path_arg(Some(&format!("/{rest}"))));
        let overwrite = req.query.get("overwrite").is_some_and(|v| v == "true");
        return Some(s.put(&target, req.body.clone(), overwrite));
    }
    // The SDK's download (the CLI's filer reads): the raw bytes of a file or notebook.
    if let Some(rest) = path.strip_prefix("/api/2.0/workspace-files/")
        && m == "GET"
    {
        let target = try_resp!(path_arg(Some(&format!("/{rest}"))));
        return Some(match s.objects.get(&target) {
            Some(o) if !o.is_dir() => Response {
                status: 200,
                headers: vec![("content-type".into(), "application/octet-stream".into())],
                body: o.data.clone(),
            },
            _ => State::not_found(&target),
        });
    }
    let resp = match (m, path) {
        ("GET", "/api/2.0/preview/scim/v2/Me") => ok(json!({
            "id": "1000",
            "userName": s.user,
            "displayName": s.user,
            "active": true,
            "emails": [{ "value": s.user, "primary": true }],
        })),
        ("POST", "/api/2.0/workspace/mkdirs") => {
            let body = try_resp!(body_json(req));
            let p = try_resp!(path_arg(body["path"].as_str()));
            match s.mkdirs(&p) {
                Ok(()) => ok(json!({})),
                Err(at) => error(
                    400,
                    "RESOURCE_ALREADY_EXISTS",
                    &format!("Node named '{at}' already exists"),
                ),
            }
        }
        ("POST", "/api/2.0/workspace/delete") => {
            let body = try_resp!(body_json(req));
            let p = try_resp!(path_arg(body["path"].as_str()));
            let recursive = body["recursive"].as_bool().unwrap_or(false);
            match s.objects.get(&p) {
                None => State::not_found(&p),
                Some(o) if o.is_dir() => {
                    let prefix = format!("{p}/");
                    let children: Vec<String> = s
                        .objects
                        .range(prefix.clone()..)
                        .map(|(k, _)| k.clone())
                        .take_while(|k| k.starts_with(&prefix))
                        .collect();
                    if !children.is_empty() && !recursive {
                        error(
                            400,
                            "DIRECTORY_NOT_EMPTY",
                            &format!("Folder ({p}) is not empty"),
                        )
                    } else {
                        for c in children {
                            s.objects.remove(&c);
                        }
                        s.objects.remove(&p);
                        ok(json!({}))
                    }
                }
                Some(_) => {
                    s.objects.remove(&p);
                    ok(json!({}))
                }
            }
        }
        ("GET", "/api/2.0/workspace/get-status") => {
            let p = try_resp!(path_arg(req.query.get("path").map(String::as_str)));
            match s.objects.get(&p) {
                Some(o) => ok(s.info(&p, o)),
                None => State::not_found(&p),
            }
        }
        ("GET", "/api/2.0/workspace/list") => {
            let p = try_resp!(path_arg(req.query.get("path").map(String::as_str)));
            match s.objects.get(&p) {
                None if p != "/" => State::not_found(&p),
                Some(o) if !o.is_dir() => ok(json!({ "objects": [s.info(&p, o)] })),
                _ => {
                    let prefix = if p == "/" {
                        "/".to_string()
                    } else {
                        format!("{p}/")
                    };
                    let objects: Vec<Value> = s
                        .objects
                        .range(prefix.clone()..)
                        .take_while(|(k, _)| k.starts_with(&prefix))
                        .filter(|(k, _)| !k[prefix.len()..].contains('/'))
                        .map(|(k, o)| s.info(k, o))
                        .collect();
                    // Like the real API, an empty folder has no `objects`.
                    if objects.is_empty() {
                        ok(json!({}))
                    } else {
                        ok(json!({ "objects": objects }))
                    }
                }
            }
        }
        ("GET", "/api/2.0/workspace/export") => {
            let p = try_resp!(path_arg(req.query.get("path").map(String::as_str)));
            match s.objects.get(&p) {
                None => State::not_found(&p),
                Some(o) if o.is_dir() => error(
                    400,
                    "BAD_REQUEST",
                    &format!("Path ({p}) is a folder; export a file or notebook."),
                ),
                Some(o)
                    if req
                        .query
                        .get("direct_download")
                        .is_some_and(|v| v == "true") =>
                {
                    Response {
                        status: 200,
                        headers: vec![("content-type".into(), "application/octet-stream".into())],
                        body: o.data.clone(),
                    }
                }
                Some(o) => ok(json!({
                    "content": B64.encode(&o.data),
                    "file_type": if o.kind == Kind::Notebook { "py" } else { "" },
                })),
            }
        }
        ("POST", "/api/2.0/workspace/import") => import(s, req),
        // dbx checks a token with a DBFS listing before it syncs; the fake
        // keeps no DBFS, so the root is empty.
        ("GET", "/api/2.0/dbfs/list") => ok(json!({ "files": [] })),
        _ => return None,
    };
    Some(resp)
}

/// `workspace/import`: JSON with base64 `content` (the CLI's `workspace
/// import`) or multipart form data (the Python SDK's `workspace.upload`).
/// Formats AUTO (the default) and SOURCE behave like `import-file`.
fn import(s: &mut State, req: &Request) -> Response {
    let ctype = req.header("content-type").unwrap_or_default().to_string();
    let fields: BTreeMap<String, Vec<u8>> = if ctype.starts_with("multipart/form-data") {
        match multipart(&ctype, &req.body) {
            Some(f) => f,
            None => return error(400, "MALFORMED_REQUEST", "Malformed multipart body"),
        }
    } else {
        let body = match body_json(req) {
            Ok(b) => b,
            Err(r) => return r,
        };
        let mut f = BTreeMap::new();
        for key in ["path", "format", "language"] {
            if let Some(v) = body[key].as_str() {
                f.insert(key.to_string(), v.as_bytes().to_vec());
            }
        }
        if body["overwrite"].as_bool() == Some(true) {
            f.insert("overwrite".into(), b"true".to_vec());
        }
        match B64.decode(body["content"].as_str().unwrap_or_default()) {
            Ok(c) => f.insert("content".into(), c),
            Err(_) => return error(400, "INVALID_PARAMETER_VALUE", "content is not base64"),
        };
        f
    };
    let text = |k: &str| {
        fields
            .get(k)
            .map(|v| String::from_utf8_lossy(v).into_owned())
    };
    let Some(path) = text("path").and_then(|p| normalize(&p)) else {
        return error(400, "INVALID_PARAMETER_VALUE", "Path must be absolute");
    };
    let format = text("format").unwrap_or_else(|| "AUTO".into());
    if format != "AUTO" && format != "SOURCE" && format != "RAW" {
        return error(
            400,
            "INVALID_PARAMETER_VALUE",
            &format!("format {format} is not supported by the fake workspace"),
        );
    }
    let overwrite = text("overwrite").is_some_and(|v| v == "true");
    s.put(
        &path,
        fields.get("content").cloned().unwrap_or_default(),
        overwrite,
    )
}

/// Splits a `multipart/form-data` body into its named fields.
fn multipart(ctype: &str, body: &[u8]) -> Option<BTreeMap<String, Vec<u8>>> {
    let boundary = ctype
        .split(';')
        .find_map(|p| p.trim().strip_prefix("boundary="))?
        .trim_matches('"');
    let delim = format!("--{boundary}").into_bytes();
    let mut fields = BTreeMap::new();
    let mut parts = split(body, &delim).into_iter().skip(1);
    for part in parts.by_ref() {
        if part.starts_with(b"--") {
            break;
        }
        let part = part.strip_prefix(b"\r\n").unwrap_or(part);
        let head_end = find(part, b"\r\n\r\n")?;
        let head = String::from_utf8_lossy(&part[..head_end]);
        let mut data = &part[head_end + 4..];
        data = data.strip_suffix(b"\r\n").unwrap_or(data);
        let name = head
            .split(';')
            .find_map(|p| p.trim().strip_prefix("name="))
            .map(|n| {
                n.split(['\r', '\n'])
                    .next()
                    .unwrap_or(n)
                    .trim_matches('"')
                    .to_string()
            })?;
        fields.insert(name, data.to_vec());
    }
    Some(fields)
}

fn find(hay: &[u8], needle: &[u8]) -> Option<usize> {
    hay.windows(needle.len()).position(|w| w == needle)
}

fn split<'a>(mut hay: &'a [u8], delim: &[u8]) -> Vec<&'a [u8]> {
    let mut out = Vec::new();
    while let Some(i) = find(hay, delim) {
        out.push(&hay[..i]);
        hay = &hay[i + delim.len()..];
    }
    out.push(hay);
    out
}
