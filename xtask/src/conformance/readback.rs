//! A workspace read back over the REST API after a deploy: the files the
//! bundle should have put there (type and content hash) and the resources it
//! names (settings and permissions), keyed by name so two workspaces compare.
//!
//! The test server has no workspace/list, nor a list of experiments or
//! pipelines: files are looked up by the paths the bundle holds, and the
//! resources read are those reachable by name (jobs through jobs/list).

use std::path::Path;
use std::time::Duration;

use anyhow::{Context, Result, bail};
use serde_json::{Map, Value, json};

pub struct Api {
    client: reqwest::blocking::Client,
    url: String,
    token: String,
}

impl Api {
    pub fn new(url: &str, token: &str) -> Result<Api> {
        let client = reqwest::blocking::Client::builder()
            .timeout(Duration::from_secs(30))
            .build()
            .context("building an HTTP client")?;
        Ok(Api {
            client,
            url: url.to_string(),
            token: token.to_string(),
        })
    }

    /// The body of a GET, `None` on 404.
    fn get(&self, path: &str, query: &[(&str, &str)]) -> Result<Option<Vec<u8>>> {
        let url = reqwest::Url::parse_with_params(&format!("{}{path}", self.url), query)
            .with_context(|| format!("the URL of {path}"))?;
        let resp = self
            .client
            .get(url)
            .bearer_auth(&self.token)
            .send()
            .with_context(|| format!("GET {path}"))?;
        let status = resp.status();
        if status == reqwest::StatusCode::NOT_FOUND {
            return Ok(None);
        }
        let body = resp
            .bytes()
            .with_context(|| format!("reading GET {path}"))?;
        if !status.is_success() {
            bail!("GET {path}: HTTP {status}");
        }
        Ok(Some(body.to_vec()))
    }

    fn get_json(&self, path: &str, query: &[(&str, &str)]) -> Result<Option<Value>> {
        match self.get(path, query)? {
            Some(body) => Ok(Some(
                serde_json::from_slice(&body).with_context(|| format!("GET {path}"))?,
            )),
            None => Ok(None),
        }
    }
}

/// The end state of a deploy of the bundle in `dir`, whose resolved
/// configuration (the reference's `validate -o json`) is `config`.
pub fn read(api: &Api, dir: &Path, config: &Value) -> Result<Value> {
    let file_path = config["workspace"]["file_path"]
        .as_str()
        .unwrap_or_default();
    Ok(json!({
        "files": files(api, dir, file_path)?,
        "jobs": jobs(api)?,
        "by_name": named(api, config)?,
    }))
}

/// Each local file, as found under `root`: `notebook <hash>`, `file <hash>`,
/// or `absent`; a notebook stored twice (with and without its extension)
/// says so, since only one of them is current.
fn files(api: &Api, dir: &Path, root: &str) -> Result<Map<String, Value>> {
    let mut out = Map::new();
    for rel in local_files(dir)? {
        let with = format!("{root}/{rel}");
        let stem = rel.rsplit_once('.').map(|(s, _)| format!("{root}/{s}"));
        let mut seen = Vec::new();
        for path in std::iter::once(with).chain(stem) {
            if let Some(info) = api.get_json("/api/2.0/workspace/get-status", &[("path", &path)])? {
                let kind = info["object_type"].as_str().unwrap_or("?").to_lowercase();
                let body = api
                    .get("/api/2.0/workspace/export", &[("path", &path)])?
                    .unwrap_or_default();
                seen.push(format!("{kind} {}", blake3::hash(&body).to_hex()));
            }
        }
        let state = if seen.is_empty() {
            "absent".to_string()
        } else {
            seen.join(" + ")
        };
        out.insert(rel, Value::String(state));
    }
    Ok(out)
}

fn local_files(dir: &Path) -> Result<Vec<String>> {
    let mut out = Vec::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        for entry in std::fs::read_dir(&d).with_context(|| format!("listing {}", d.display()))? {
            let path = entry?.path();
            let name = path.file_name().and_then(|n| n.to_str()).unwrap_or("");
            if name.starts_with('.') {
                continue;
            }
            if path.is_dir() {
                stack.push(path);
            } else if let Ok(rel) = path.strip_prefix(dir) {
                out.push(rel.to_string_lossy().into_owned());
            }
        }
    }
    out.sort();
    Ok(out)
}

/// Every job, by name (a second job of one name gets `#2`: a duplicate shows
/// as an extra entry), with its permissions; ids and times left out.
fn jobs(api: &Api) -> Result<Map<String, Value>> {
    let list = api.get_json("/api/2.2/jobs/list", &[])?.unwrap_or_default();
    let mut out = Map::new();
    for job in list["jobs"].as_array().into_iter().flatten() {
        let id = job["job_id"].to_string();
        let full = api
            .get_json("/api/2.2/jobs/get", &[("job_id", &id)])?
            .unwrap_or_default();
        let mut settings = full["settings"].clone();
        let perms = api.get_json(&format!("/api/2.0/permissions/jobs/{id}"), &[])?;
        settings["permissions"] = perms
            .map(|p| p["access_control_list"].clone())
            .unwrap_or_default();
        let name = settings["name"].as_str().unwrap_or("(unnamed)").to_string();
        let mut key = name.clone();
        let mut n = 1;
        while out.contains_key(&key) {
            n += 1;
            key = format!("{name}#{n}");
        }
        out.insert(key, settings);
    }
    // Another job's id (`run_job_task.job_id`, a description naming it) is
    // each workspace's own: named by the job's name instead.
    let names: Vec<(String, String)> = list["jobs"]
        .as_array()
        .into_iter()
        .flatten()
        .map(|j| {
            (
                j["job_id"].to_string(),
                j["settings"]["name"].as_str().unwrap_or("").to_string(),
            )
        })
        .collect();
    let mut out = Value::Object(out);
    name_ids(&mut out, &names);
    Ok(out.as_object().cloned().unwrap_or_default())
}

/// Every job id in `v` (a number, or within a string) as `<job NAME>`,
/// and UUIDs as `<uuid>`.
fn name_ids(v: &mut Value, names: &[(String, String)]) {
    match v {
        Value::Number(n) => {
            let text = n.to_string();
            if let Some((_, name)) = names.iter().find(|(id, _)| *id == text) {
                *v = Value::String(format!("<job {name}>"));
            }
        }
        Value::String(s) => {
            for (id, name) in names {
                if s.contains(id.as_str()) {
                    *s = s.replace(id.as_str(), &format!("<job {name}>"));
                }
            }
            // Other resources' ids (a pipeline's) are UUIDs.
            *s = blank_uuids(s);
        }
        Value::Array(a) => a.iter_mut().for_each(|x| name_ids(x, names)),
        Value::Object(m) => m.values_mut().for_each(|x| name_ids(x, names)),
        _ => {}
    }
}

/// Resources the server can fetch by name: the bundle's serving endpoints,
/// Unity Catalog models, schemas and volumes, and legacy registry models.
fn named(api: &Api, config: &Value) -> Result<Map<String, Value>> {
    let mut out = Map::new();
    let res = &config["resources"];
    let each = |kind: &str| res[kind].as_object().cloned().unwrap_or_default();
    let s = |v: &Value, k: &str| v[k].as_str().unwrap_or_default().to_string();
    for (key, r) in each("model_serving_endpoints") {
        let name = s(&r, "name");
        let got = api.get_json(&format!("/api/2.0/serving-endpoints/{name}"), &[])?;
        out.insert(format!("model_serving_endpoints.{key}"), strip(got));
    }
    for (key, r) in each("registered_models") {
        let full = format!(
            "{}.{}.{}",
            s(&r, "catalog_name"),
            s(&r, "schema_name"),
            s(&r, "name")
        );
        let got = api.get_json(&format!("/api/2.1/unity-catalog/models/{full}"), &[])?;
        out.insert(format!("registered_models.{key}"), strip(got));
    }
    for (key, r) in each("schemas") {
        let full = format!("{}.{}", s(&r, "catalog_name"), s(&r, "name"));
        let got = api.get_json(&format!("/api/2.1/unity-catalog/schemas/{full}"), &[])?;
        out.insert(format!("schemas.{key}"), strip(got));
    }
    for (key, r) in each("volumes") {
        let full = format!(
            "{}.{}.{}",
            s(&r, "catalog_name"),
            s(&r, "schema_name"),
            s(&r, "name")
        );
        let got = api.get_json(&format!("/api/2.1/unity-catalog/volumes/{full}"), &[])?;
        out.insert(format!("volumes.{key}"), strip(got));
    }
    for (key, r) in each("models") {
        let name = s(&r, "name");
        let got = api.get_json(
            "/api/2.0/mlflow/databricks/registered-models/get",
            &[("name", &name)],
        )?;
        out.insert(format!("models.{key}"), strip(got));
    }
    Ok(out)
}

/// A resource without what the server makes up per creation (ids, times;
/// below the top, `id` and times only, since `warehouse_id` and the like
/// are settings), UUIDs in its strings (a volume's storage location) blanked.
fn strip(v: Option<Value>) -> Value {
    let Some(mut v) = v else {
        return Value::String("absent".into());
    };
    if let Some(map) = v.as_object_mut() {
        map.retain(|k, _| !(k.ends_with("_id") || made_up(k)));
        map.values_mut().for_each(strip_below);
    }
    v
}

fn made_up(k: &str) -> bool {
    k == "id" || k.ends_with("_time") || k.ends_with("_at") || k.ends_with("_timestamp")
}

fn strip_below(v: &mut Value) {
    match v {
        Value::Object(m) => {
            m.retain(|k, _| !made_up(k));
            m.values_mut().for_each(strip_below);
        }
        Value::Array(a) => a.iter_mut().for_each(strip_below),
        Value::String(s) => *s = blank_uuids(s),
        _ => {}
    }
}

/// `s` with each UUID (`8-4-4-4-12` hex digits) as `<uuid>`.
fn blank_uuids(s: &str) -> String {
    let b = s.as_bytes();
    let is_uuid = |at: usize| {
        at + 36 <= b.len()
            && b[at..at + 36].iter().enumerate().all(|(i, c)| match i {
                8 | 13 | 18 | 23 => *c == b'-',
                _ => c.is_ascii_hexdigit(),
            })
    };
    let (mut out, mut i) = (String::new(), 0);
    while i < b.len() {
        if is_uuid(i) {
            out.push_str("<uuid>");
            i += 36;
        } else {
            let ch = s[i..].chars().next().unwrap_or('?');
            out.push(ch);
            i += ch.len_utf8();
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn what_each_workspace_makes_up_is_blanked_and_settings_kept() {
        let loc = "s3://b/metastore/120ef0e2-1b2c-4d5e-8f90-a1b2c3d4e5f6/volumes/x";
        assert_eq!(blank_uuids(loc), "s3://b/metastore/<uuid>/volumes/x");
        assert_eq!(blank_uuids("é 120ef0e2-1b2c"), "é 120ef0e2-1b2c");
        let got = strip(Some(json!({
            "volume_id": "v", "name": "n", "storage_location": loc,
            "registered_model_databricks": {"id": "123", "warehouse_id": "w", "creation_timestamp": 5}
        })));
        assert_eq!(
            got,
            json!({"name": "n", "storage_location": "s3://b/metastore/<uuid>/volumes/x",
                   "registered_model_databricks": {"warehouse_id": "w"}})
        );
    }

    #[test]
    fn another_jobs_id_is_named_by_that_job() {
        let names = vec![("8796".to_string(), "job bar".to_string())];
        let mut v = json!({"description": "runs 8796 after 120ef0e2-1b2c-4d5e-8f90-a1b2c3d4e5f6", "tasks": [{"run_job_task": {"job_id": 8796}}], "max": 8});
        name_ids(&mut v, &names);
        assert_eq!(
            v,
            json!({"description": "runs <job job bar> after <uuid>", "tasks": [{"run_job_task": {"job_id": "<job job bar>"}}], "max": 8})
        );
    }
}
