//! Reading a [`CliServer`]'s workspace back over its REST API, as a test
//! checks what a deploy left there (the server keeps it in memory only).

use serde_json::Value;

use crate::cli_server::CliServer;

/// Percent-encodes a query value or a path segment.
pub fn escape(s: &str) -> String {
    s.bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'.' | b'_' | b'~' => {
                (b as char).to_string()
            }
            _ => format!("%{b:02X}"),
        })
        .collect()
}

impl CliServer {
    /// `get-status` of a workspace path; `None` if nothing is there.
    pub fn status(&self, path: &str) -> Option<Value> {
        self.get_json(&format!(
            "/api/2.0/workspace/get-status?path={}",
            escape(path)
        ))
    }

    /// `FILE`, `NOTEBOOK` or `DIRECTORY`.
    pub fn object_type(&self, path: &str) -> Option<String> {
        self.status(path)
            .and_then(|v| v["object_type"].as_str().map(str::to_string))
    }

    /// The bytes of a file or notebook; `None` if nothing is there.
    pub fn file(&self, path: &str) -> Option<Vec<u8>> {
        self.status(path)?;
        let segments: Vec<String> = path
            .trim_start_matches('/')
            .split('/')
            .map(escape)
            .collect();
        let (status, body) = self.call(
            "GET",
            &format!("/api/2.0/workspace-files/{}", segments.join("/")),
            b"",
        );
        assert_eq!(status, 200, "reading {path}");
        Some(body)
    }

    /// Writes a file (`import-file`, overwriting), as someone else would.
    pub fn put(&self, path: &str, bytes: &[u8]) {
        let target = format!(
            "/api/2.0/workspace-files/import-file/{}?overwrite=true",
            escape(path.trim_start_matches('/'))
        );
        let (status, body) = self.call("POST", &target, bytes);
        assert_eq!(status, 200, "{}", String::from_utf8_lossy(&body));
    }

    /// A JSON state file of the env at `root` (`<root>/state/<name>`).
    pub fn state(&self, root: &str, name: &str) -> Value {
        let bytes = self
            .file(&format!("{root}/state/{name}"))
            .unwrap_or_else(|| panic!("no {root}/state/{name}"));
        serde_json::from_slice(&bytes).expect("state JSON")
    }

    /// The job's settings; `None` if there is no such job.
    pub fn job(&self, id: i64) -> Option<Value> {
        let (status, body) = self.call("GET", &format!("/api/2.2/jobs/get?job_id={id}"), b"");
        match status {
            200 => serde_json::from_slice::<Value>(&body)
                .ok()
                .map(|v| v["settings"].clone()),
            _ => None,
        }
    }

    /// The ids of every job in the workspace.
    pub fn jobs(&self) -> Vec<i64> {
        let v = self.get_json("/api/2.2/jobs/list").unwrap_or_default();
        v["jobs"]
            .as_array()
            .into_iter()
            .flatten()
            .filter_map(|j| j["job_id"].as_i64())
            .collect()
    }

    /// The experiment; `None` if missing.
    pub fn experiment(&self, id: &str) -> Option<Value> {
        self.get_json(&format!(
            "/api/2.0/mlflow/experiments/get?experiment_id={}",
            escape(id)
        ))
        .map(|v| v["experiment"].clone())
    }

    /// A Unity Catalog registered model; `None` if missing.
    pub fn uc_model(&self, full_name: &str) -> Option<Value> {
        self.get_json(&format!("/api/2.1/unity-catalog/models/{full_name}"))
    }

    /// The grants on a model: `{principal: [privileges, sorted]}`.
    pub fn uc_grants(&self, full_name: &str) -> Value {
        let v = self
            .get_json(&format!(
                "/api/2.1/unity-catalog/permissions/function/{full_name}"
            ))
            .unwrap_or_default();
        let mut out = serde_json::Map::new();
        for a in v["privilege_assignments"].as_array().into_iter().flatten() {
            let mut p: Vec<String> = a["privileges"]
                .as_array()
                .into_iter()
                .flatten()
                .filter_map(|x| x.as_str().map(str::to_string))
                .collect();
            p.sort();
            out.insert(a["principal"].as_str().unwrap_or_default().into(), p.into());
        }
        Value::Object(out)
    }

    /// The access control list of `<type>/<id>` (`jobs/123`).
    pub fn permissions(&self, object: &str) -> Value {
        self.get_json(&format!("/api/2.0/permissions/{object}"))
            .map(|v| v["access_control_list"].clone())
            .unwrap_or_default()
    }
}
