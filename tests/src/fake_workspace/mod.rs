//! An in-process fake Databricks workspace for tests and benchmarks: real
//! HTTP on loopback with the real API's semantics (reference §6.2), fault
//! injection and a request log.
//!
//! Shared by the e2e crate (`e2e::fake_workspace`) and xtask's unit tests
//! (included there with `#[path]`), so it depends only on std, serde_json and
//! base64.
#![allow(dead_code)]

mod http;
pub mod idp;
mod jobs;
mod uc;
mod workspace;

use std::net::TcpListener;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, Instant};

use serde_json::{Value, json};

use http::{Action, Request, Response};

pub const DEFAULT_TOKEN: &str = "dapi-fake-token-0123456789";
pub const DEFAULT_USER: &str = "tester@example.com";
pub const WORKSPACE_ID: &str = "1234567890123456";

/// One request as the server saw it. `status` is 0 for a dropped connection.
#[derive(Clone, Debug)]
pub struct LoggedRequest {
    pub method: String,
    /// Decoded path without the query.
    pub path: String,
    pub query: String,
    pub status: u16,
    pub at: Instant,
}

/// What an injected fault does to a matching request.
#[derive(Clone, Debug)]
enum FaultKind {
    Status {
        status: u16,
        retry_after: Option<u64>,
    },
    Delay(Duration),
    Drop,
}

#[derive(Clone, Debug)]
struct Fault {
    pattern: String,
    kind: FaultKind,
    remaining: usize,
}

/// The running server. Dropping it stops accepting connections.
pub struct FakeWorkspace {
    url: String,
    shared: Arc<Shared>,
    stop: Arc<AtomicBool>,
    addr: std::net::SocketAddr,
}

struct Shared {
    token: String,
    state: Mutex<workspace::State>,
    idp: Mutex<idp::Idp>,
    faults: Mutex<Vec<Fault>>,
    log: Mutex<Vec<LoggedRequest>>,
    org_ids: Mutex<Vec<String>>,
    in_flight: AtomicUsize,
    max_in_flight: AtomicUsize,
}

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|p| p.into_inner())
}

/// Print the URL and the token, one `KEY=value` line each, as the
/// `fake-workspace` binary does for benchmarks and manual checks.
pub fn announce(fake: &FakeWorkspace, out: &mut dyn std::io::Write) -> std::io::Result<()> {
    // This token is the fake's own fixed test value, not a secret.
    writeln!(out, "DATABRICKS_HOST={}", fake.url())?;
    writeln!(out, "DATABRICKS_TOKEN={}", fake.token())?;
    out.flush()
}

impl FakeWorkspace {
    /// Starts on an ephemeral port of 127.0.0.1 with the default user and token.
    pub fn start() -> FakeWorkspace {
        FakeWorkspace::start_on(0, DEFAULT_USER, DEFAULT_TOKEN).expect("binding 127.0.0.1:0")
    }

    pub fn start_on(port: u16, user: &str, token: &str) -> std::io::Result<FakeWorkspace> {
        let listener = TcpListener::bind(("127.0.0.1", port))?;
        let addr = listener.local_addr()?;
        let shared = Arc::new(Shared {
            token: token.to_string(),
            state: Mutex::new(workspace::State::new(user)),
            idp: Mutex::new(idp::Idp::default()),
            faults: Mutex::new(Vec::new()),
            log: Mutex::new(Vec::new()),
            org_ids: Mutex::new(Vec::new()),
            in_flight: AtomicUsize::new(0),
            max_in_flight: AtomicUsize::new(0),
        });
        let stop = Arc::new(AtomicBool::new(false));
        let handler = {
            let shared = shared.clone();
            Arc::new(move |req: Request| handle(&shared, req))
        };
        let stop2 = stop.clone();
        std::thread::spawn(move || http::serve(listener, stop2, handler));
        Ok(FakeWorkspace {
            url: format!("http://{addr}"),
            shared,
            stop,
            addr,
        })
    }

    /// `http://127.0.0.1:<port>`
    pub fn url(&self) -> &str {
        &self.url
    }

    pub fn token(&self) -> &str {
        &self.shared.token
    }

    pub fn user(&self) -> String {
        lock(&self.shared.state).user.clone()
    }

    /// The next `times` requests whose `"METHOD /decoded/path"` contains
    /// `pattern` get `status` (with `Retry-After: <secs>` if given).
    pub fn fault(&self, pattern: &str, status: u16, times: usize, retry_after: Option<u64>) {
        self.add_fault(
            pattern,
            FaultKind::Status {
                status,
                retry_after,
            },
            times,
        );
    }

    /// The next `times` matching requests are answered after `delay`.
    pub fn delay(&self, pattern: &str, delay: Duration, times: usize) {
        self.add_fault(pattern, FaultKind::Delay(delay), times);
    }

    /// The next `times` matching requests get their socket closed, no answer.
    pub fn drop_connections(&self, pattern: &str, times: usize) {
        self.add_fault(pattern, FaultKind::Drop, times);
    }

    fn add_fault(&self, pattern: &str, kind: FaultKind, times: usize) {
        lock(&self.shared.faults).push(Fault {
            pattern: pattern.to_string(),
            kind,
            remaining: times,
        });
    }

    /// Every request so far, in arrival order of completion.
    pub fn requests(&self) -> Vec<LoggedRequest> {
        lock(&self.shared.log).clone()
    }

    /// Requests whose `"METHOD /path"` contains `pattern`.
    pub fn requests_matching(&self, pattern: &str) -> Vec<LoggedRequest> {
        self.requests()
            .into_iter()
            .filter(|r| format!("{} {}", r.method, r.path).contains(pattern))
            .collect()
    }

    pub fn clear_log(&self) {
        lock(&self.shared.log).clear();
        self.shared.max_in_flight.store(0, Ordering::SeqCst);
    }

    /// The most requests handled at the same time since start or `clear_log`.
    pub fn max_in_flight(&self) -> usize {
        self.shared.max_in_flight.load(Ordering::SeqCst)
    }

    /// Runs need `polls` calls of `runs/get` after the first to finish
    /// (PENDING, then RUNNING, then TERMINATED). 0: finished at once.
    pub fn set_run_polls(&self, polls: u32) {
        lock(&self.shared.state).run_polls = polls;
    }

    /// Runs of tasks with this key end FAILED (and so does their run).
    pub fn fail_task(&self, task_key: &str) {
        lock(&self.shared.state)
            .failing_tasks
            .insert(task_key.to_string());
    }

    /// The stored bytes at `path` (a file, or a notebook's source).
    pub fn file(&self, path: &str) -> Option<Vec<u8>> {
        lock(&self.shared.state)
            .objects
            .get(path)
            .filter(|o| !o.is_dir())
            .map(|o| o.data.clone())
    }

    /// Writes `data` at `path` directly (parents created), as another client would.
    pub fn put(&self, path: &str, data: &[u8]) {
        lock(&self.shared.state).seed(path, data.to_vec());
    }

    /// Removes the object at `path` (not a folder's content), as another client would.
    pub fn remove(&self, path: &str) -> bool {
        lock(&self.shared.state).objects.remove(path).is_some()
    }

    /// `"DIRECTORY"`, `"FILE"` or `"NOTEBOOK"` for the object at `path`.
    pub fn object_type(&self, path: &str) -> Option<&'static str> {
        lock(&self.shared.state)
            .objects
            .get(path)
            .map(|o| o.kind.as_str())
    }

    /// Every object path, sorted.
    pub fn paths(&self) -> Vec<String> {
        lock(&self.shared.state).objects.keys().cloned().collect()
    }

    /// The fake identity providers (OIDC, GitHub, Entra ID): configure what
    /// they accept, read what they issued.
    pub fn idp(&self) -> MutexGuard<'_, idp::Idp> {
        lock(&self.shared.idp)
    }

    /// Requests that carried `X-Databricks-Org-Id`, with its value.
    pub fn org_ids(&self) -> Vec<String> {
        lock(&self.shared.org_ids).clone()
    }

    /// A job's stored settings.
    pub fn job_settings(&self, job_id: i64) -> Option<Value> {
        lock(&self.shared.state)
            .jobs
            .get(&job_id)
            .map(|j| j.settings.clone())
    }

    /// A Unity Catalog model by full name.
    pub fn uc_model(&self, full_name: &str) -> Option<Value> {
        lock(&self.shared.state).uc_models.get(full_name).cloned()
    }

    /// The grants on a Unity Catalog model: `{principal: [privileges]}`.
    pub fn uc_grants(&self, full_name: &str) -> Value {
        json!(lock(&self.shared.state).grants.get(full_name))
    }

    /// Experiment `(id, name, lifecycle_stage)` triples.
    pub fn experiments(&self) -> Vec<(String, String, String)> {
        lock(&self.shared.state)
            .experiments
            .iter()
            .map(|(id, e)| {
                let f = |k: &str| e[k].as_str().unwrap_or_default().to_string();
                (id.clone(), f("name"), f("lifecycle_stage"))
            })
            .collect()
    }

    /// The direct permissions set on `<object_type>/<id>` (e.g. `jobs/1001`).
    pub fn permissions(&self, object: &str) -> Option<Value> {
        lock(&self.shared.state).permissions.get(object).cloned()
    }

    /// Legacy (workspace registry) model names.
    pub fn legacy_models(&self) -> Vec<String> {
        lock(&self.shared.state).models.keys().cloned().collect()
    }

    /// Each run: `(run_id, job_id, job_parameters, python_params, cancelled)`.
    pub fn runs(&self) -> Vec<(i64, i64, Value, Value, bool)> {
        lock(&self.shared.state)
            .runs
            .iter()
            .map(|(id, r)| {
                (
                    *id,
                    r.job_id,
                    r.job_parameters.clone(),
                    r.python_params.clone(),
                    r.cancelled,
                )
            })
            .collect()
    }

    pub fn job_count(&self) -> usize {
        lock(&self.shared.state).jobs.len()
    }
}

impl Drop for FakeWorkspace {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::SeqCst);
        // Wake the accept loop so it sees the flag.
        let _ = std::net::TcpStream::connect(self.addr);
    }
}

fn handle(shared: &Shared, req: Request) -> Action {
    let now = shared.in_flight.fetch_add(1, Ordering::SeqCst) + 1;
    shared.max_in_flight.fetch_max(now, Ordering::SeqCst);
    let path = http::decode_path(&req.raw_path);
    let query: Vec<String> = {
        let mut q: Vec<String> = req.query.iter().map(|(k, v)| format!("{k}={v}")).collect();
        q.sort();
        q
    };
    let method = req.method.clone();
    let action = respond(shared, req, &path);
    let status = match &action {
        Action::Respond(r) => r.status,
        Action::Drop => 0,
    };
    lock(&shared.log).push(LoggedRequest {
        method,
        path,
        query: query.join("&"),
        status,
        at: Instant::now(),
    });
    shared.in_flight.fetch_sub(1, Ordering::SeqCst);
    action
}

fn respond(shared: &Shared, req: Request, path: &str) -> Action {
    let key = format!("{} {path}", req.method);
    let fault = {
        let mut faults = lock(&shared.faults);
        let hit = faults
            .iter_mut()
            .find(|f| f.remaining > 0 && key.contains(&f.pattern));
        hit.map(|f| {
            f.remaining -= 1;
            f.kind.clone()
        })
    };
    match fault {
        Some(FaultKind::Drop) => return Action::Drop,
        Some(FaultKind::Status {
            status,
            retry_after,
        }) => {
            let mut resp = error(
                status,
                "TEMPORARILY_UNAVAILABLE",
                &format!("injected fault ({status})"),
            );
            if let Some(secs) = retry_after {
                resp.headers.push(("retry-after".into(), secs.to_string()));
            }
            return Action::Respond(resp);
        }
        Some(FaultKind::Delay(d)) => std::thread::sleep(d),
        None => {}
    }
    // Unauthenticated discovery, asked by the SDKs before anything else:
    // answer like a workspace host so they skip account-level fallbacks.
    if req.method == "GET" && path == "/.well-known/databricks-config" {
        let host = req.header("host").unwrap_or("127.0.0.1");
        return Action::Respond(ok(json!({
            "oidc_endpoint": format!("http://{host}/oidc"),
            "workspace_id": WORKSPACE_ID,
            "cloud": "AWS",
        })));
    }
    if let Some(resp) = idp::route(&mut lock(&shared.idp), &req, path) {
        return Action::Respond(resp);
    }
    let bearer = req
        .header("authorization")
        .and_then(|h| h.strip_prefix("Bearer "));
    let known =
        bearer == Some(shared.token.as_str()) || bearer.is_some_and(|b| lock(&shared.idp).valid(b));
    if !known {
        return Action::Respond(error(401, "UNAUTHENTICATED", "Invalid access token."));
    }
    if let Some(id) = req.header("x-databricks-org-id") {
        lock(&shared.org_ids).push(id.to_string());
    }
    let mut state = lock(&shared.state);
    let resp = workspace::route(&mut state, &req, path)
        .or_else(|| jobs::route(&mut state, &req, path))
        .or_else(|| uc::route(&mut state, &req, path))
        .unwrap_or_else(|| {
            error(
                404,
                "ENDPOINT_NOT_FOUND",
                &format!("No API found for '{key}'"),
            )
        });
    Action::Respond(resp)
}

pub(crate) fn json_response(status: u16, v: Value) -> Response {
    Response {
        status,
        headers: vec![("content-type".into(), "application/json".into())],
        body: serde_json::to_vec(&v).unwrap_or_default(),
    }
}

pub(crate) fn ok(v: Value) -> Response {
    json_response(200, v)
}

/// An API error body; an empty `code` leaves `error_code` out, as some
/// workspace-files errors do.
pub(crate) fn error(status: u16, code: &str, message: &str) -> Response {
    let body = if code.is_empty() {
        json!({ "message": message })
    } else {
        json!({ "error_code": code, "message": message })
    };
    json_response(status, body)
}

/// The JSON body of a request, or a 400 the handler can return.
pub(crate) fn body_json(req: &Request) -> Result<Value, Response> {
    if req.body.is_empty() {
        return Ok(json!({}));
    }
    serde_json::from_slice(&req.body)
        .map_err(|e| error(400, "MALFORMED_REQUEST", &format!("Invalid JSON: {e}")))
}
