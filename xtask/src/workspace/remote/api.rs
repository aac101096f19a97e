//! Typed calls to the workspace REST API (reference §3): workspace files,
//! SCIM `Me`, jobs 2.2 and runs, MLflow experiments and registered models.
//!
//! Errors keep the [`ApiError`] in the chain (see [`api_error`]); "not found"
//! answers of reads become `None`/`false` since callers branch on them.

use anyhow::{Context, Result, bail};
use serde::Deserialize;
use serde_json::{Value, json};

use super::client::{ApiError, Body, Call, Client, api_error};

/// The workspace refuses larger files through `import-file`.
pub const MAX_IMPORT_BYTES: usize = 10 * 1024 * 1024;

#[derive(Clone, Copy, Debug, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum ObjectType {
    Directory,
    File,
    Notebook,
    Library,
    Repo,
    Dashboard,
    #[serde(other)]
    Other,
}

/// An entry of `get-status` / `list`.
#[derive(Clone, Debug, Deserialize)]
pub struct ObjectInfo {
    pub object_type: ObjectType,
    pub path: String,
    #[serde(default)]
    pub size: Option<u64>,
    #[serde(default)]
    pub modified_at: Option<i64>,
    #[serde(default)]
    pub object_id: Option<i64>,
    #[serde(default)]
    pub language: Option<String>,
}

/// The state of a run or of one of its tasks.
#[derive(Clone, Debug, Default, Deserialize)]
pub struct RunState {
    #[serde(default)]
    pub life_cycle_state: Option<String>,
    #[serde(default)]
    pub result_state: Option<String>,
    #[serde(default)]
    pub state_message: Option<String>,
}

impl RunState {
    /// True once the run can no longer change.
    pub fn is_final(&self) -> bool {
        matches!(
            self.life_cycle_state.as_deref(),
            Some("TERMINATED" | "SKIPPED" | "INTERNAL_ERROR")
        )
    }
}

#[derive(Clone, Debug, Deserialize)]
pub struct TaskRun {
    pub task_key: String,
    #[serde(default)]
    pub run_id: Option<i64>,
    #[serde(default)]
    pub state: RunState,
}

#[derive(Clone, Debug, Deserialize)]
pub struct Run {
    pub run_id: i64,
    #[serde(default)]
    pub job_id: Option<i64>,
    #[serde(default)]
    pub state: RunState,
    #[serde(default)]
    pub tasks: Vec<TaskRun>,
    #[serde(default)]
    pub run_page_url: Option<String>,
}

impl Client {
    /// The current user's `userName` (SCIM `Me`).
    pub fn me(&self) -> Result<String> {
        Ok(self.me_record()?.0)
    }

    /// SCIM `Me`: the user name and the whole answer.
    pub fn me_record(&self) -> Result<(String, Value)> {
        let v = self.send_json(&Call::get("/api/2.0/preview/scim/v2/Me"))?;
        let user = v
            .get("userName")
            .and_then(Value::as_str)
            .map(String::from)
            .context("SCIM Me: no userName in the answer")?;
        Ok((user, v))
    }

    /// Uploads `bytes` to the absolute workspace `path` as raw body. Files
    /// over 10 MB are refused before any request, naming file and size.
    /// `overwrite=true` makes the call idempotent, hence retryable.
    pub fn import_file(&self, path: &str, bytes: Vec<u8>, overwrite: bool) -> Result<()> {
        check_abs(path)?;
        if bytes.len() > MAX_IMPORT_BYTES {
            bail!(
                "{path}: file is {} bytes ({:.1} MB); the workspace accepts at most 10 MB per file",
                bytes.len(),
                bytes.len() as f64 / (1024.0 * 1024.0)
            );
        }
        let url = format!(
            "/api/2.0/workspace-files/import-file/{}?overwrite={overwrite}",
            escape(path.trim_start_matches('/'))
        );
        self.send(&Call::post(url, Body::Raw(bytes), overwrite))
            .map(drop)
            .map_err(|e| permission_hint(e, path))
            .with_context(|| format!("uploading {path}"))
    }

    /// `mkdir -p` (the server creates parents).
    pub fn mkdirs(&self, path: &str) -> Result<()> {
        check_abs(path)?;
        let call = Call::post(
            "/api/2.0/workspace/mkdirs",
            Body::Json(json!({ "path": path })),
            true,
        );
        // An existing folder is success; RESOURCE_ALREADY_EXISTS means a
        // file or notebook is in the way, which callers must hear about.
        self.send(&call)
            .map(drop)
            .map_err(|e| permission_hint(e, path))
            .with_context(|| format!("creating folder {path}"))
    }

    /// Deletes `path`; returns false if it did not exist.
    pub fn delete(&self, path: &str, recursive: bool) -> Result<bool> {
        check_abs(path)?;
        let body = json!({ "path": path, "recursive": recursive });
        match self.send(&Call::post(
            "/api/2.0/workspace/delete",
            Body::Json(body),
            true,
        )) {
            Ok(_) => Ok(true),
            Err(e) if is_missing(&e) => Ok(false),
            Err(e) => Err(permission_hint(e, path)).with_context(|| format!("deleting {path}")),
        }
    }

    /// `get-status`; `None` if nothing is at `path`.
    pub fn get_status(&self, path: &str) -> Result<Option<ObjectInfo>> {
        self.status_query(path, "")
    }

    /// The entries directly under the folder `path` (error if missing).
    pub fn list(&self, path: &str) -> Result<Vec<ObjectInfo>> {
        check_abs(path)?;
        let call = Call::get(format!("/api/2.0/workspace/list?path={}", escape(path)));
        let v = self
            .send_json(&call)
            .with_context(|| format!("listing {path}"))?;
        let objects = v
            .get("objects")
            .cloned()
            .unwrap_or(Value::Array(Vec::new()));
        serde_json::from_value(objects).with_context(|| format!("list {path}: bad answer"))
    }

    /// The raw bytes of a file or notebook source; `None` if missing. As
    /// the CLI's filer reads: `get-status` first (a missing path is a 404
    /// there, where `export` may answer otherwise, and a folder is refused),
    /// then the bytes from `workspace-files/<path>`.
    pub fn export(&self, path: &str) -> Result<Option<Vec<u8>>> {
        let Some(info) = self.get_status_export(path)? else {
            return Ok(None);
        };
        if info.object_type == ObjectType::Directory {
            bail!("{path} is a folder, not a file");
        }
        let call = Call::get(format!(
            "/api/2.0/workspace-files/{}",
            escape_path(path.trim_start_matches('/'))
        ));
        match self.send(&call) {
            Ok(bytes) => Ok(Some(bytes)),
            Err(e) if is_missing(&e) => Ok(None),
            Err(e) => Err(e).with_context(|| format!("downloading {path}")),
        }
    }

    /// The raw bytes of a plain file (never a notebook) in one request where
    /// [`export`](Self::export) takes two: the download is just attempted, a
    /// 404 meaning "absent". For the state files, the lock and the manifest,
    /// read at every deploy. Only an empty answer or another error is
    /// asked about with `get-status` (the CLI's test server answers a
    /// missing path with a 500): absent there, the path is absent.
    pub fn read_file(&self, path: &str) -> Result<Option<Vec<u8>>> {
        check_abs(path)?;
        let call = Call::get(format!(
            "/api/2.0/workspace-files/{}",
            escape_path(path.trim_start_matches('/'))
        ));
        let failed = match self.send(&call) {
            Ok(bytes) if !bytes.is_empty() => return Ok(Some(bytes)),
            Err(e) if is_missing(&e) => return Ok(None),
            Ok(_) => None,
            Err(e) => Some(e),
        };
        match (self.get_status_export(path)?, failed) {
            (None, _) => Ok(None),
            (Some(info), _) if info.object_type == ObjectType::Directory => {
                bail!("{path} is a folder, not a file")
            }
            (Some(_), None) => Ok(Some(Vec::new())),
            (Some(_), Some(e)) => Err(e).with_context(|| format!("reading {path}")),
        }
    }

    /// `get-status` with `return_export_info=true`, as the CLI's filer
    /// asks before a read; `None` if nothing is at `path`.
    fn get_status_export(&self, path: &str) -> Result<Option<ObjectInfo>> {
        self.status_query(path, "&return_export_info=true")
            .with_context(|| format!("reading {path}"))
    }

    /// `get-status` of `path` with `extra` query parameters.
    fn status_query(&self, path: &str, extra: &str) -> Result<Option<ObjectInfo>> {
        check_abs(path)?;
        let call = Call::get(format!(
            "/api/2.0/workspace/get-status?path={}{extra}",
            escape(path)
        ));
        match self.send_json(&call) {
            Ok(v) => {
                Ok(Some(serde_json::from_value(v).with_context(|| {
                    format!("get-status {path}: bad answer")
                })?))
            }
            Err(e) if is_missing(&e) => Ok(None),
            Err(e) => Err(e),
        }
    }

    // ---- jobs 2.2 ----

    pub fn job_create(&self, settings: &Value) -> Result<i64> {
        // Not idempotent: a dropped create may have created the job.
        let v = self.send_json(&Call::post(
            "/api/2.2/jobs/create",
            Body::Json(settings.clone()),
            false,
        ))?;
        v.get("job_id")
            .and_then(Value::as_i64)
            .context("jobs/create: no job_id in the answer")
    }

    /// Replaces the job's settings (a full replace, like the CLI).
    pub fn job_reset(&self, job_id: i64, settings: &Value) -> Result<()> {
        let body = json!({ "job_id": job_id, "new_settings": settings });
        self.send(&Call::post("/api/2.2/jobs/reset", Body::Json(body), true))
            .map(drop)
    }

    /// The job (`{job_id, settings, ...}`), with all task pages merged; `None` if missing.
    pub fn job_get(&self, job_id: i64) -> Result<Option<Value>> {
        let mut job: Option<Value> = None;
        let mut page: Option<String> = None;
        loop {
            let mut url = format!("/api/2.2/jobs/get?job_id={job_id}");
            if let Some(token) = &page {
                url.push_str(&format!("&page_token={}", escape(token)));
            }
            let v = match self.send_json(&Call::get(url)) {
                Ok(v) => v,
                Err(e) if is_missing(&e) || is_invalid_job(&e) => return Ok(None),
                Err(e) => return Err(e),
            };
            page = v
                .get("next_page_token")
                .and_then(Value::as_str)
                .map(String::from);
            match &mut job {
                None => job = Some(v),
                Some(first) => {
                    let more = v
                        .pointer("/settings/tasks")
                        .and_then(Value::as_array)
                        .cloned()
                        .unwrap_or_default();
                    if let Some(tasks) = first
                        .pointer_mut("/settings/tasks")
                        .and_then(Value::as_array_mut)
                    {
                        tasks.extend(more);
                    }
                }
            }
            if page.is_none() {
                if let Some(j) = job.as_mut().and_then(Value::as_object_mut) {
                    j.remove("next_page_token");
                }
                return Ok(job);
            }
        }
    }

    /// Deletes the job; false if it did not exist.
    pub fn job_delete(&self, job_id: i64) -> Result<bool> {
        match self.send(&Call::post(
            "/api/2.2/jobs/delete",
            Body::Json(json!({ "job_id": job_id })),
            true,
        )) {
            Ok(_) => Ok(true),
            Err(e) if is_missing(&e) || is_invalid_job(&e) => Ok(false),
            Err(e) => Err(e),
        }
    }

    /// Starts a run with job parameters; returns the run id.
    pub fn run_now(
        &self,
        job_id: i64,
        job_parameters: &serde_json::Map<String, Value>,
    ) -> Result<i64> {
        self.run_now_with(job_id, job_parameters, &[])
    }

    /// `run-now` with job parameters and Python parameters.
    pub fn run_now_with(
        &self,
        job_id: i64,
        job_parameters: &serde_json::Map<String, Value>,
        python_params: &[String],
    ) -> Result<i64> {
        let mut body = json!({ "job_id": job_id });
        if !job_parameters.is_empty() {
            body["job_parameters"] = Value::Object(job_parameters.clone());
        }
        if !python_params.is_empty() {
            body["python_params"] = json!(python_params);
        }
        let v = self.send_json(&Call::post(
            "/api/2.2/jobs/run-now",
            Body::Json(body),
            false,
        ))?;
        v.get("run_id")
            .and_then(Value::as_i64)
            .context("jobs/run-now: no run_id in the answer")
    }

    /// The ids of the job's runs not yet finished.
    pub fn runs_active(&self, job_id: i64) -> Result<Vec<i64>> {
        let v = self.send_json(&Call::get(format!(
            "/api/2.2/jobs/runs/list?job_id={job_id}&active_only=true"
        )))?;
        Ok(v["runs"]
            .as_array()
            .into_iter()
            .flatten()
            .filter_map(|r| r["run_id"].as_i64())
            .collect())
    }

    pub fn run_cancel(&self, run_id: i64) -> Result<()> {
        self.send(&Call::post(
            "/api/2.2/jobs/runs/cancel",
            Body::Json(json!({ "run_id": run_id })),
            true,
        ))
        .map(drop)
    }

    pub fn runs_get(&self, run_id: i64) -> Result<Run> {
        let v = self.send_json(&Call::get(format!(
            "/api/2.2/jobs/runs/get?run_id={run_id}"
        )))?;
        serde_json::from_value(v).with_context(|| format!("runs/get {run_id}: bad answer"))
    }

    // ---- MLflow experiments ----

    /// Creates an experiment (`name`, its workspace path, and the optional
    /// `artifact_location` and `tags` of `settings`); returns its id.
    pub fn experiment_create(&self, settings: &Value) -> Result<String> {
        let mut body = json!({ "name": settings["name"] });
        for key in ["artifact_location", "tags"] {
            if let Some(v) = settings.get(key).filter(|v| !v.is_null()) {
                body[key] = v.clone();
            }
        }
        let v = self.send_json(&Call::post(
            "/api/2.0/mlflow/experiments/create",
            Body::Json(body),
            false,
        ))?;
        id_string(v.get("experiment_id"))
            .context("experiments/create: no experiment_id in the answer")
    }

    /// The experiment object; `None` if missing.
    pub fn experiment_get(&self, id: &str) -> Result<Option<Value>> {
        let call = Call::get(format!(
            "/api/2.0/mlflow/experiments/get?experiment_id={}",
            escape(id)
        ));
        match self.send_json(&call) {
            Ok(v) => Ok(v.get("experiment").cloned()),
            Err(e) if is_missing(&e) => Ok(None),
            Err(e) => Err(e),
        }
    }

    pub fn experiment_update(&self, id: &str, new_name: &str) -> Result<()> {
        let body = json!({ "experiment_id": id, "new_name": new_name });
        self.send(&Call::post(
            "/api/2.0/mlflow/experiments/update",
            Body::Json(body),
            true,
        ))
        .map(drop)
    }

    pub fn experiment_delete(&self, id: &str) -> Result<bool> {
        let body = json!({ "experiment_id": id });
        match self.send(&Call::post(
            "/api/2.0/mlflow/experiments/delete",
            Body::Json(body),
            true,
        )) {
            Ok(_) => Ok(true),
            Err(e) if is_missing(&e) => Ok(false),
            Err(e) => Err(e),
        }
    }

    // ---- MLflow registered models (workspace registry) ----

    pub fn model_create(&self, name: &str, description: Option<&str>) -> Result<()> {
        let mut body = json!({ "name": name });
        if let Some(d) = description {
            body["description"] = json!(d);
        }
        self.send(&Call::post(
            "/api/2.0/mlflow/registered-models/create",
            Body::Json(body),
            false,
        ))
        .map(drop)
    }

    /// The registered model object; `None` if missing.
    pub fn model_get(&self, name: &str) -> Result<Option<Value>> {
        let call = Call::get(format!(
            "/api/2.0/mlflow/databricks/registered-models/get?name={}",
            escape(name)
        ));
        // The SDK's `GetModel` (what the CLI's direct engine reads with):
        // the Databricks variant, whose answer names the key so.
        match self.send_json(&call) {
            Ok(v) => Ok(v.get("registered_model_databricks").cloned()),
            Err(e) if is_missing(&e) => Ok(None),
            Err(e) => Err(e),
        }
    }

    pub fn model_update(&self, name: &str, description: &str) -> Result<()> {
        let call = Call {
            method: reqwest::Method::PATCH,
            path: "/api/2.0/mlflow/registered-models/update".into(),
            body: Body::Json(json!({ "name": name, "description": description })),
            idempotent: true,
        };
        self.send(&call).map(drop)
    }

    pub fn model_delete(&self, name: &str) -> Result<bool> {
        let call = Call {
            method: reqwest::Method::DELETE,
            path: "/api/2.0/mlflow/registered-models/delete".into(),
            body: Body::Json(json!({ "name": name })),
            idempotent: true,
        };
        match self.send(&call) {
            Ok(_) => Ok(true),
            Err(e) if is_missing(&e) => Ok(false),
            Err(e) => Err(e),
        }
    }

    // ---- Permissions ----

    /// Replaces the direct permissions of object `<object_type>/<id>` with
    /// `acl` (`[{user_name|group_name|service_principal_name, permission_level}]`).
    pub fn permissions_set(&self, object_type: &str, id: &str, acl: &[Value]) -> Result<()> {
        let call = Call {
            method: reqwest::Method::PUT,
            path: format!("/api/2.0/permissions/{object_type}/{}", escape(id)),
            body: Body::Json(json!({ "access_control_list": acl })),
            idempotent: true,
        };
        self.send(&call).map(drop)
    }

    // ---- Unity Catalog registered models ----

    /// Creates `catalog.schema.name` (`body` holds `name`, `catalog_name`,
    /// `schema_name`, `comment`...); returns its full name.
    pub fn uc_model_create(&self, body: &Value) -> Result<String> {
        let v = self.send_json(&Call::post(
            "/api/2.1/unity-catalog/models",
            Body::Json(body.clone()),
            false,
        ))?;
        v.get("full_name")
            .and_then(Value::as_str)
            .map(String::from)
            .context("unity-catalog/models: no full_name in the answer")
    }

    /// The model; `None` if missing.
    pub fn uc_model_get(&self, full_name: &str) -> Result<Option<Value>> {
        let call = Call::get(format!(
            "/api/2.1/unity-catalog/models/{}",
            escape(full_name)
        ));
        match self.send_json(&call) {
            Ok(v) => Ok(Some(v)),
            Err(e) if is_missing(&e) => Ok(None),
            Err(e) => Err(e),
        }
    }

    /// Updates the fields in `body` (`comment`, `owner`, `new_name`).
    pub fn uc_model_update(&self, full_name: &str, body: &Value) -> Result<()> {
        let call = Call {
            method: reqwest::Method::PATCH,
            path: format!("/api/2.1/unity-catalog/models/{}", escape(full_name)),
            body: Body::Json(body.clone()),
            idempotent: true,
        };
        self.send(&call).map(drop)
    }

    /// Deletes the model; false if it did not exist.
    pub fn uc_model_delete(&self, full_name: &str) -> Result<bool> {
        let call = Call {
            method: reqwest::Method::DELETE,
            path: format!("/api/2.1/unity-catalog/models/{}", escape(full_name)),
            body: Body::Empty,
            idempotent: true,
        };
        match self.send(&call) {
            Ok(_) => Ok(true),
            Err(e) if is_missing(&e) => Ok(false),
            Err(e) => Err(e),
        }
    }

    /// The grants on a securable: `[{principal, privileges: [...]}]`.
    /// (Registered models are `function` securables to this API.)
    pub fn uc_grants_get(&self, securable: &str, full_name: &str) -> Result<Vec<Value>> {
        let v = self.send_json(&Call::get(format!(
            "/api/2.1/unity-catalog/permissions/{securable}/{}",
            escape(full_name)
        )))?;
        Ok(v["privilege_assignments"]
            .as_array()
            .cloned()
            .unwrap_or_default())
    }

    /// Applies `changes` (`[{principal, add: [...], remove: [...]}]`).
    pub fn uc_grants_update(
        &self,
        securable: &str,
        full_name: &str,
        changes: &Value,
    ) -> Result<()> {
        let call = Call {
            method: reqwest::Method::PATCH,
            path: format!(
                "/api/2.1/unity-catalog/permissions/{securable}/{}",
                escape(full_name)
            ),
            body: Body::Json(json!({ "changes": changes })),
            idempotent: true,
        };
        self.send(&call).map(drop)
    }
}

/// True if the error is the API saying "not found".
pub fn is_missing(err: &anyhow::Error) -> bool {
    api_error(err).is_some_and(ApiError::is_not_found)
}

/// True if the error is the API saying "already exists" (409, or the 400 notebook case).
pub fn is_exists(err: &anyhow::Error) -> bool {
    api_error(err).is_some_and(ApiError::is_exists)
}

/// Jobs answers an unknown id with 400 INVALID_PARAMETER_VALUE "Job 1 does not exist."
fn is_invalid_job(err: &anyhow::Error) -> bool {
    api_error(err).is_some_and(|a| a.status == 400 && a.message.contains("does not exist"))
}

fn permission_hint(err: anyhow::Error, path: &str) -> anyhow::Error {
    if api_error(&err).is_some_and(ApiError::is_permission) {
        err.context(format!(
            "permission denied on {path}: the current user cannot write there; check the \
             workspace.root_path of this target and its permissions"
        ))
    } else {
        err
    }
}

fn check_abs(path: &str) -> Result<()> {
    if !path.starts_with('/') || path.split('/').any(|c| c == "..") {
        bail!("workspace path `{path}` must be absolute and must not contain `..`");
    }
    Ok(())
}

fn id_string(v: Option<&Value>) -> Option<String> {
    match v? {
        Value::String(s) => Some(s.clone()),
        Value::Number(n) => Some(n.to_string()),
        _ => None,
    }
}

/// Percent-encodes each segment of a path, keeping its `/` (the SDK's
/// download URL: `/api/2.0/workspace-files/Workspace/Users/...`).
pub fn escape_path(s: &str) -> String {
    s.split('/').map(escape).collect::<Vec<_>>().join("/")
}

/// Percent-encodes everything but RFC 3986 unreserved characters, so `/`
/// becomes `%2F` as Go's `url.PathEscape` does for `import-file`.
pub fn escape(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for b in s.bytes() {
        if b.is_ascii_alphanumeric() || matches!(b, b'-' | b'.' | b'_' | b'~') {
            out.push(b as char);
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}
