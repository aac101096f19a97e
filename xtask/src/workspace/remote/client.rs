//! HTTP transport to a workspace: one kept-alive `reqwest` client shared by
//! worker threads, bearer auth, retries within a time budget, per-request
//! timeouts and bounded parallelism.
//!
//! Retry policy (reference §3 "Retries and timeouts"), with two deliberate
//! differences from the SDK: backoff is exponential (the SDK's is linear) and
//! `Retry-After` is honoured, because a throttled workspace tells us when to
//! come back and hammering it sooner only extends the throttling.

use std::hash::{BuildHasher, RandomState};
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, OnceLock};
use std::time::{Duration, Instant};

use anyhow::{Context, Result, anyhow};
use reqwest::blocking::Client as Http;

use super::auth::{Auth, Credentials, Secret};
use super::ratelimit::{Limiters, Role};

/// Knobs of the transport. Defaults follow the CLI's bundle settings.
#[derive(Clone, Debug)]
pub struct ClientOptions {
    /// Inactivity timeout: the longest wait for a connection, for the
    /// server to take more of an upload or send more of an answer. The CLI
    /// uses 90 s for bundles. A request that keeps moving may take longer.
    pub timeout: Duration,
    /// Total time spent retrying one request before giving up (CLI: 15 min).
    pub retry_budget: Duration,
    /// First backoff; doubles per attempt up to `max_backoff`, plus jitter.
    pub backoff_base: Duration,
    pub max_backoff: Duration,
    /// Requests in flight for [`Client::run_parallel`].
    pub parallelism: usize,
    /// Requests a second, all threads together, per bucket (the SDKs'
    /// `rate_limit`; see [`Role`] for the buckets).
    pub rate_limit: u32,
}

impl Default for ClientOptions {
    fn default() -> ClientOptions {
        let timeout = std::env::var("DATABRICKS_BUNDLE_HTTP_TIMEOUT_SECONDS")
            .ok()
            .and_then(|s| s.parse().ok())
            .map(Duration::from_secs)
            .unwrap_or(Duration::from_secs(90));
        ClientOptions {
            timeout,
            retry_budget: Duration::from_secs(15 * 60),
            backoff_base: Duration::from_millis(500),
            max_backoff: Duration::from_secs(10),
            // The CLI runs 20 in flight under its SDK's 15/s; 16 kept-alive
            // connections are plenty under the same limit (`rate_limit`).
            parallelism: 16,
            rate_limit: super::ratelimit::per_second_from_env(),
        }
    }
}

/// A request body.
#[derive(Clone, Debug)]
pub enum Body {
    Empty,
    Json(serde_json::Value),
    Raw(Vec<u8>),
}

/// One API call. `idempotent` says whether a transport failure after the
/// request may have been sent can be retried safely.
#[derive(Clone, Debug)]
pub struct Call {
    pub method: reqwest::Method,
    /// Path and query, starting with `/api/`, already escaped.
    pub path: String,
    pub body: Body,
    pub idempotent: bool,
}

impl Call {
    pub fn get(path: impl Into<String>) -> Call {
        Call {
            method: reqwest::Method::GET,
            path: path.into(),
            body: Body::Empty,
            idempotent: true,
        }
    }
    pub fn post(path: impl Into<String>, body: Body, idempotent: bool) -> Call {
        Call {
            method: reqwest::Method::POST,
            path: path.into(),
            body,
            idempotent,
        }
    }
}

/// An error the API answered with. Rendered like the CLI:
/// `<message> (status <code>, <error_code>)` (the `Error: ` prefix is main's).
#[derive(Clone, Debug)]
pub struct ApiError {
    pub status: u16,
    pub error_code: Option<String>,
    pub message: String,
}

impl std::fmt::Display for ApiError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match &self.error_code {
            Some(code) => write!(f, "{} (status {}, {code})", self.message, self.status),
            None => write!(f, "{} (status {})", self.message, self.status),
        }
    }
}

impl std::error::Error for ApiError {}

impl ApiError {
    pub fn is_not_found(&self) -> bool {
        self.status == 404 || self.error_code.as_deref() == Some("RESOURCE_DOES_NOT_EXIST")
    }
    /// 409, `RESOURCE_ALREADY_EXISTS`, or the notebook case: a 400 whose
    /// message contains "already exists." (reference §3).
    pub fn is_exists(&self) -> bool {
        self.status == 409
            || self.error_code.as_deref() == Some("RESOURCE_ALREADY_EXISTS")
            || (self.status == 400 && self.message.contains("already exists."))
    }
    pub fn is_permission(&self) -> bool {
        self.status == 403
    }
}

/// The API error behind an `anyhow` chain, if the failure was an API answer.
pub fn api_error(err: &anyhow::Error) -> Option<&ApiError> {
    err.chain().find_map(|e| e.downcast_ref::<ApiError>())
}

/// A workspace client; cheap to clone (the connection pool is shared).
#[derive(Clone, Debug)]
pub struct Client {
    http: Http,
    /// More HTTP clients for big batches: a blocking client drives all its
    /// requests from one runtime thread, which caps a batch at one core.
    lanes: Arc<OnceLock<Vec<Http>>>,
    host: String,
    /// Shared by every clone and lane: one token, refreshed once for all.
    auth: Arc<Auth>,
    /// Shared likewise: the limits are the whole process's, not a
    /// thread's; one bucket per role, as the CLI's API clients.
    limiters: Arc<Limiters>,
    /// Whose requests these are: which bucket filer calls take.
    role: Role,
    opts: ClientOptions,
}

impl Client {
    /// A client with a personal access token.
    pub fn new(creds: &Credentials, opts: ClientOptions) -> Result<Client> {
        let auth = Auth::pat(creds.host.clone(), creds.token.clone())?;
        Client::with_auth(Arc::new(auth), opts)
    }

    /// A client that takes its tokens from `auth`.
    pub fn with_auth(auth: Arc<Auth>, opts: ClientOptions) -> Result<Client> {
        let http = build_http(&opts, &auth.host)?;
        Ok(Client {
            http,
            lanes: Arc::new(OnceLock::new()),
            host: auth.host.clone(),
            auth,
            limiters: Arc::new(Limiters::new(opts.rate_limit)),
            role: Role::Api,
            opts,
        })
    }

    /// This client, sending as `role` (same connections, token and buckets).
    pub fn with_role(&self, role: Role) -> Client {
        Client {
            role,
            ..self.clone()
        }
    }

    pub fn host(&self) -> &str {
        &self.host
    }

    /// The client worker `i` of a batch of `n` items uses: small batches
    /// share this one; big ones spread over one HTTP client per core.
    fn lane(&self, i: usize, n: usize) -> Client {
        if n < 64 {
            return self.clone();
        }
        let lanes = self.lanes.get_or_init(|| {
            let cores = std::thread::available_parallelism().map_or(1, |n| n.get().min(4));
            let mut v = vec![self.http.clone()];
            v.extend((1..cores).filter_map(|_| build_http(&self.opts, &self.host).ok()));
            v
        });
        Client {
            http: lanes[i % lanes.len()].clone(),
            ..self.clone()
        }
    }

    pub fn options(&self) -> &ClientOptions {
        &self.opts
    }

    /// Sends `call`, retrying as the policy allows; returns the response body
    /// of a 2xx. A non-2xx answer is an [`ApiError`] (see [`api_error`]).
    pub fn send(&self, call: &Call) -> Result<Vec<u8>> {
        let start = Instant::now();
        let mut attempt: u32 = 0;
        let mut refreshed = false;
        loop {
            attempt += 1;
            let (err, wait) = match self.attempt(call) {
                Attempt::Done(body) => return Ok(body),
                Attempt::Fatal(err) => return Err(err),
                // A token may die early (revoked, clock skew): refresh once, retry once.
                Attempt::Unauthorized { err, used } if !refreshed => {
                    refreshed = true;
                    match self.auth.refresh_after_401(&used) {
                        Ok(true) => continue,
                        Ok(false) => return Err(self.refused(err)),
                        Err(e) => return Err(e.context(format!("{err:#}"))),
                    }
                }
                Attempt::Unauthorized { err, .. } => return Err(self.refused(err)),
                // A refused connection may be a server restarting: worth a
                // second or two, not the 15 minutes of the retry budget.
                Attempt::Unreachable(err) => {
                    let wait = self.backoff(attempt);
                    if start.elapsed() + wait > CONNECT_RETRY_WINDOW {
                        return Err(err);
                    }
                    (err, wait)
                }
                Attempt::Retry { err, retry_after } => {
                    // `Retry-After: 0` must not turn into a busy loop.
                    let wait = match retry_after {
                        Some(after) => after.max(self.opts.backoff_base),
                        None => self.backoff(attempt),
                    };
                    (err, wait)
                }
            };
            let elapsed = start.elapsed();
            if elapsed + wait > self.opts.retry_budget {
                return Err(err.context(format!(
                    "{} {}: giving up after {attempt} attempt(s) in {:.1}s (retry budget {:.1}s)",
                    call.method,
                    strip_query(&call.path),
                    elapsed.as_secs_f64(),
                    self.opts.retry_budget.as_secs_f64()
                )));
            }
            // Ctrl-C / SIGTERM (watch) end the wait, not only the next attempt.
            if !crate::util::stop::sleep(wait) {
                return Err(err.context("interrupted while waiting to retry"));
            }
        }
    }

    /// A 401 that a new token did not cure: say which method was refused.
    fn refused(&self, err: anyhow::Error) -> anyhow::Error {
        err.context(format!(
            "the workspace refused the credentials of {} authentication",
            self.auth.method
        ))
    }

    /// Like [`send`](Self::send), parsing a JSON answer (an empty body is `{}`).
    pub fn send_json(&self, call: &Call) -> Result<serde_json::Value> {
        let body = self.send(call)?;
        if body.iter().all(u8::is_ascii_whitespace) {
            return Ok(serde_json::json!({}));
        }
        serde_json::from_slice(&body).with_context(|| {
            format!(
                "{} {}: the answer is not JSON",
                call.method,
                strip_query(&call.path)
            )
        })
    }

    fn attempt(&self, call: &Call) -> Attempt {
        // Every attempt counts, retries included, as in the SDK.
        if !self.limiters.for_call(self.role, &call.path).wait() {
            return Attempt::Fatal(anyhow!(
                "interrupted while waiting for the request rate limit"
            ));
        }
        let url = format!("{}{}", self.host, call.path);
        let token = match self.auth.bearer() {
            Ok(t) => t,
            Err(e) => return Attempt::Fatal(e),
        };
        let mut req = self
            .http
            .request(call.method.clone(), &url)
            .bearer_auth(token.expose());
        for (k, v) in &self.auth.headers {
            req = req.header(k, v);
        }
        let what = format!("{} {}", call.method, strip_query(&call.path));
        let (req, upload) = match &call.body {
            Body::Empty => (req, None),
            Body::Json(v) => (req.json(v), None),
            Body::Raw(bytes) => (
                req.header("content-type", "application/octet-stream"),
                Some(bytes.clone()),
            ),
        };
        let Some(answer) = watched(req, upload, self.opts.timeout) else {
            return self.timed_out(&what);
        };
        let (status, retry_after, body) = match answer {
            Ok(a) => a,
            Err(e) => return self.transport_error(call, &what, e),
        };
        if (200..300).contains(&status) {
            return Attempt::Done(body);
        }
        let err = parse_api_error(status, &body);
        // 429 and 503 mean "not now": safe to repeat whatever the method,
        // since the server did not act on the request. A 500 is not retried,
        // like the CLI (acceptance/bundle/upload/internal_server_error): the
        // server may have acted before failing, and a bug that answers 500
        // will answer 500 again, so retrying only delays the report.
        let retry = status == 429 || status == 503;
        let err = anyhow::Error::new(err).context(what);
        if status == 401 {
            return Attempt::Unauthorized { err, used: token };
        }
        if retry {
            Attempt::Retry { err, retry_after }
        } else {
            Attempt::Fatal(err)
        }
    }

    /// Like the CLI: a timed-out request fails after one attempt. A server
    /// that is slow under load gets slower if we pile on, and a timed-out
    /// write may still land.
    fn timed_out(&self, what: &str) -> Attempt {
        Attempt::Fatal(anyhow!(
            "{what}: request timed out after {}s without progress",
            self.opts.timeout.as_secs_f64()
        ))
    }

    fn transport_error(&self, call: &Call, what: &str, e: reqwest::Error) -> Attempt {
        // Render without the URL: it is ours, and the error chain stays short.
        let e = e.without_url();
        if e.is_connect() {
            // Refused, unresolvable, unreachable, or no answer to connect
            // (timed out): nothing was sent, and a host that is not there now
            // will not be there in 15 minutes either. Fail within seconds,
            // naming the host (the cause says which failure).
            return Attempt::Unreachable(anyhow::Error::new(e).context(format!(
                "{what}: cannot connect to {} (check workspace.host, DATABRICKS_HOST, the \
                 network and any proxy)",
                self.host
            )));
        }
        if e.is_timeout() {
            return self.timed_out(what);
        }
        let err = anyhow::Error::new(e).context(format!("{what}: connection failed"));
        // A connection dropped mid-request may have been acted on: only
        // idempotent calls retry.
        if call.idempotent {
            Attempt::Retry {
                err,
                retry_after: None,
            }
        } else {
            Attempt::Fatal(err)
        }
    }

    /// Exponential backoff with jitter: base × 2^(attempt-1), capped, then
    /// scaled by a random 50–100 % so parallel workers do not retry in step.
    fn backoff(&self, attempt: u32) -> Duration {
        let exp = self
            .opts
            .backoff_base
            .saturating_mul(1 << attempt.saturating_sub(1).min(16));
        let capped = exp.min(self.opts.max_backoff);
        let jitter = RandomState::new().hash_one((attempt, Instant::now())) % 1000;
        capped.mul_f64(0.5 + jitter as f64 / 2000.0)
    }

    /// Runs `f` over `items` with at most `parallelism` in flight, on scoped
    /// threads sharing this client's connection pool. Results keep the order
    /// of `items`. The first failure stops workers from taking new items and
    /// is returned (with the count of failures, if more than one).
    pub fn run_parallel<T, R, F>(&self, items: Vec<T>, f: F) -> Result<Vec<R>>
    where
        T: Send,
        R: Send,
        F: Fn(&Client, T) -> Result<R> + Sync,
    {
        let n = items.len();
        let slots: Vec<Mutex<Option<T>>> = items.into_iter().map(|t| Mutex::new(Some(t))).collect();
        let results: Vec<Mutex<Option<Result<R>>>> = (0..n).map(|_| Mutex::new(None)).collect();
        let next = AtomicUsize::new(0);
        let failed = AtomicBool::new(false);
        let workers = self.opts.parallelism.clamp(1, n.max(1));
        std::thread::scope(|s| {
            for w in 0..workers {
                let (next, failed, slots, results, f) = (&next, &failed, &slots, &results, &f);
                let client = self.lane(w, n);
                s.spawn(move || {
                    while !failed.load(Ordering::Relaxed) {
                        let i = next.fetch_add(1, Ordering::Relaxed);
                        if i >= n {
                            break;
                        }
                        let Some(item) = slots[i].lock().unwrap_or_else(|p| p.into_inner()).take()
                        else {
                            continue;
                        };
                        let r = f(&client, item);
                        if r.is_err() {
                            failed.store(true, Ordering::Relaxed);
                        }
                        *results[i].lock().unwrap_or_else(|p| p.into_inner()) = Some(r);
                    }
                });
            }
        });
        let mut out = Vec::with_capacity(n);
        let mut first_err = None;
        let mut errors = 0;
        for r in results {
            match r.into_inner().unwrap_or_else(|p| p.into_inner()) {
                Some(Ok(v)) => out.push(v),
                Some(Err(e)) => {
                    errors += 1;
                    first_err.get_or_insert(e);
                }
                None => {} // not started because an earlier item failed
            }
        }
        match first_err {
            None => Ok(out),
            Some(e) if errors > 1 => {
                Err(e.context(format!("{errors} of {n} requests failed; the first")))
            }
            Some(e) => Err(e),
        }
    }
}

enum Attempt {
    Done(Vec<u8>),
    /// No connection could be made: retried only within `CONNECT_RETRY_WINDOW`.
    Unreachable(anyhow::Error),
    Retry {
        err: anyhow::Error,
        retry_after: Option<Duration>,
    },
    Fatal(anyhow::Error),
    Unauthorized {
        err: anyhow::Error,
        used: Secret,
    },
}

/// Reads `{"error_code": ..., "message": ...}` (SCIM uses `detail`); falls
/// back to the raw text so a proxy's HTML error still says something.
fn parse_api_error(status: u16, body: &[u8]) -> ApiError {
    let json: Option<serde_json::Value> = serde_json::from_slice(body).ok();
    let field = |k: &str| {
        json.as_ref()
            .and_then(|j| j.get(k))
            .and_then(|v| v.as_str())
            .map(String::from)
    };
    let message = field("message")
        .or_else(|| field("detail"))
        .unwrap_or_else(|| {
            let text = String::from_utf8_lossy(body)
                .trim()
                .chars()
                .take(200)
                .collect::<String>();
            if text.is_empty() {
                format!("HTTP {status}")
            } else {
                text
            }
        });
    ApiError {
        status,
        error_code: field("error_code").filter(|c| !c.is_empty()),
        message,
    }
}

fn strip_query(path: &str) -> &str {
    path.split('?').next().unwrap_or(path)
}

/// `<tool>/<version>`: what the workspace's audit logs group requests by.
pub const USER_AGENT: &str = concat!("my_mlops_project-xtask/", env!("CARGO_PKG_VERSION"));

/// Connecting is quick or it is not happening: a refused or unreachable host
/// should be reported in seconds, not after the inactivity timeout.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(10);

/// How long failed connections are retried (a server restarting), counted
/// from the first attempt.
const CONNECT_RETRY_WINDOW: Duration = Duration::from_secs(2);

/// The HTTP client. No deadline of reqwest's own: [`watched`] fails a
/// request when it stops moving (the connect timeout, then `timeout` without
/// a byte taken or received), so a big upload or answer on a slow link
/// still goes through. (reqwest's `read_timeout` cannot serve: it runs from
/// the start of a request to its answer, upload included, and its blocking
/// client reads bodies outside the runtime its timer needs.)
fn build_http(opts: &ClientOptions, host: &str) -> Result<Http> {
    super::auth::plain_http_only(Http::builder(), host)
        .timeout(None)
        .connect_timeout(opts.timeout.min(CONNECT_TIMEOUT))
        .tcp_keepalive(Duration::from_secs(30))
        .pool_max_idle_per_host(opts.parallelism.max(1))
        .user_agent(USER_AGENT)
        .build()
        .context("building the HTTP client")
}

/// Status, `Retry-After` and body of one request.
type Answer = std::result::Result<(u16, Option<Duration>, Vec<u8>), reqwest::Error>;

/// When the request last moved, in ms since `start`.
#[derive(Clone)]
struct Progress {
    start: Instant,
    last: Arc<AtomicU64>,
}

impl Progress {
    fn touch(&self) {
        self.last
            .store(self.start.elapsed().as_millis() as u64, Ordering::Relaxed);
    }
    fn idle(&self) -> Duration {
        let last = Duration::from_millis(self.last.load(Ordering::Relaxed));
        self.start.elapsed().saturating_sub(last)
    }
}

fn exchange(req: reqwest::blocking::RequestBuilder, progress: &Progress) -> Answer {
    use std::io::Read;
    let mut resp = req.send()?;
    progress.touch();
    let status = resp.status().as_u16();
    let retry_after = resp
        .headers()
        .get("retry-after")
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.trim().parse::<u64>().ok())
        .map(Duration::from_secs);
    let mut body = Vec::new();
    let mut buf = vec![0; 64 * 1024];
    loop {
        match resp.read(&mut buf) {
            Ok(0) => break,
            Ok(n) => {
                body.extend_from_slice(&buf[..n]);
                progress.touch();
            }
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
            // The blocking body's reader wraps reqwest's own error.
            Err(e) => match e.into_inner().map(|e| e.downcast::<reqwest::Error>()) {
                Some(Ok(e)) => return Err(*e),
                _ => break,
            },
        }
    }
    Ok((status, retry_after, body))
}

/// Sends `req` (with `upload` as its body) and waits while the exchange
/// moves: `None` once `idle` passes with no byte taken by the connection
/// nor received. The blocking client cannot be interrupted, so the
/// exchange runs on a thread of its own (`util::workers`, reused), which a
/// timeout leaves to end by itself (the answer, or TCP keepalive giving up
/// on a dead peer).
fn watched(
    req: reqwest::blocking::RequestBuilder,
    upload: Option<Vec<u8>>,
    idle: Duration,
) -> Option<Answer> {
    let progress = Progress {
        start: Instant::now(),
        last: Arc::new(AtomicU64::new(0)),
    };
    let req = match upload {
        Some(bytes) => {
            let len = bytes.len() as u64;
            let reader = ProgressReader {
                data: std::io::Cursor::new(bytes),
                progress: progress.clone(),
            };
            req.body(reqwest::blocking::Body::sized(reader, len))
        }
        None => req,
    };
    let (tx, rx) = std::sync::mpsc::channel();
    let p = progress.clone();
    crate::util::workers::spawn(move || {
        let _ = tx.send(exchange(req, &p));
    });
    let tick = idle.clamp(Duration::from_millis(1), Duration::from_millis(100));
    loop {
        match rx.recv_timeout(tick) {
            Ok(answer) => return Some(answer),
            Err(std::sync::mpsc::RecvTimeoutError::Disconnected) => return None,
            Err(std::sync::mpsc::RecvTimeoutError::Timeout) if progress.idle() > idle => {
                return None;
            }
            Err(std::sync::mpsc::RecvTimeoutError::Timeout) => {}
        }
    }
}

/// A request body that marks progress each time the connection takes bytes.
struct ProgressReader {
    data: std::io::Cursor<Vec<u8>>,
    progress: Progress,
}

impl std::io::Read for ProgressReader {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        self.progress.touch();
        std::io::Read::read(&mut self.data, buf)
    }
}
