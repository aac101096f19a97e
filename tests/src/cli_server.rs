//! The Databricks CLI team's own fake workspace (`libs/testserver`, built by
//! `tests/cliref/build.sh` into `target/cliref/bin/testserver`): the server
//! the remote backend's end-to-end tests run against, so that what we send
//! is judged by the CLI's reference rather than by our own reading of the API.
//!
//! One server per test: it records every request (`-record FILE`) for the
//! test to read, and is killed when the handle drops. Our own fake
//! (`fake_workspace`) stays for what this one cannot do: fault injection,
//! an OIDC/Entra identity provider of ours, `workspace/list`.

use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpStream;
use std::path::PathBuf;
use std::process::{Child, ChildStdin, Command, Stdio};
use std::sync::atomic::{AtomicUsize, Ordering};

use serde_json::Value;

/// The test user the server answers SCIM `Me` with for `dbapi0…` tokens.
pub const USER: &str = "tester@databricks.com";

/// A running test server, stopped on drop.
pub struct CliServer {
    child: Child,
    /// Closing it tells the server to end (it serves until stdin closes).
    stdin: Option<ChildStdin>,
    url: String,
    token: String,
    record: PathBuf,
    _dir: tempfile::TempDir,
}

/// One request as recorded by the server (`-record`).
#[derive(Clone, Debug)]
pub struct Recorded {
    pub method: String,
    /// Decoded path, without the query.
    pub path: String,
    pub query: String,
    pub body: String,
}

impl Recorded {
    /// `METHOD path`, what [`CliServer::requests_matching`] matches on.
    pub fn line(&self) -> String {
        format!("{} {}", self.method, self.path)
    }
}

/// The server binary: `XTASK_TESTSERVER_BIN`, else the repository's
/// `target/cliref/bin/testserver`.
fn binary() -> PathBuf {
    match std::env::var_os("XTASK_TESTSERVER_BIN") {
        Some(p) => PathBuf::from(p),
        None => crate::workspace_root().join("target/cliref/bin/testserver"),
    }
}

/// The reference CLI beside the server (`XTASK_CLI_BIN`, else
/// `target/cliref/bin/databricks`); `None` (saying why) or a failure with
/// `XTASK_REQUIRE_CLI=1`, as for the server.
pub fn cli_binary(test: &str) -> Option<PathBuf> {
    let bin = match std::env::var_os("XTASK_CLI_BIN") {
        Some(p) => PathBuf::from(p),
        None => crate::workspace_root().join("target/cliref/bin/databricks"),
    };
    found_or_skipped(test, bin, "the reference Databricks CLI")
}

/// `bin` if it is there; else `None`, after saying on stderr that `test`
/// is skipped, or a failure where `XTASK_REQUIRE_CLI=1` (CI).
fn found_or_skipped(test: &str, bin: PathBuf, what: &str) -> Option<PathBuf> {
    if bin.is_file() {
        return Some(bin);
    }
    assert!(
        std::env::var_os("XTASK_REQUIRE_CLI").is_none_or(|v| v != "1"),
        "{test}: {} not found and XTASK_REQUIRE_CLI=1 (build it with tests/cliref/build.sh)",
        bin.display()
    );
    crate::say(&format!(
        "skipped {test}: it needs {what} ({}); build it with tests/cliref/build.sh (needs Go) \
         or point XTASK_TESTSERVER_BIN / XTASK_CLI_BIN at a build; CI has it",
        bin.display()
    ));
    None
}

/// A new server for `test`; `None` (after saying why on stderr) when the
/// binary was not built, which a fresh clone without Go is. With
/// `XTASK_REQUIRE_CLI=1` (CI) a missing binary fails the test instead.
pub fn cli_server(test: &str) -> Option<CliServer> {
    let bin = found_or_skipped(test, binary(), "the Databricks CLI's test server")?;
    Some(CliServer::start(&bin, test))
}

impl CliServer {
    fn start(bin: &std::path::Path, test: &str) -> CliServer {
        static SEQ: AtomicUsize = AtomicUsize::new(0);
        let dir = tempfile::tempdir().expect("tempdir");
        let record = dir.path().join("requests.jsonl");
        let mut child = Command::new(bin)
            .arg("-record")
            .arg(&record)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .unwrap_or_else(|e| panic!("starting {}: {e}", bin.display()));
        let stdout = child.stdout.take().expect("piped stdout");
        let mut url = String::new();
        BufReader::new(stdout)
            .read_line(&mut url)
            .expect("reading the test server's URL");
        let url = url.trim().to_string();
        assert!(
            url.starts_with("http://127.0.0.1:"),
            "test server said {url:?}"
        );
        // `dbapi0…` is the test user; each token has a workspace of its own.
        let n = SEQ.fetch_add(1, Ordering::Relaxed);
        let token = format!("dbapi0{}-{}-{n}", test.replace('_', ""), std::process::id());
        CliServer {
            stdin: child.stdin.take(),
            child,
            url,
            token,
            record,
            _dir: dir,
        }
    }

    pub fn url(&self) -> &str {
        &self.url
    }

    pub fn token(&self) -> &str {
        &self.token
    }

    /// Every request so far, in the order the server got them.
    pub fn requests(&self) -> Vec<Recorded> {
        let text = std::fs::read_to_string(&self.record).unwrap_or_default();
        text.lines()
            .filter_map(|l| serde_json::from_str::<Value>(l).ok())
            .map(|v| Recorded {
                method: v["method"].as_str().unwrap_or_default().into(),
                path: v["path"].as_str().unwrap_or_default().into(),
                query: v["query"].as_str().unwrap_or_default().into(),
                body: v["body"].as_str().unwrap_or_default().into(),
            })
            .collect()
    }

    /// The requests whose `METHOD path` contains `pattern`.
    pub fn requests_matching(&self, pattern: &str) -> Vec<Recorded> {
        self.requests()
            .into_iter()
            .filter(|r| r.line().contains(pattern))
            .collect()
    }

    /// The number of requests so far: `requests()[mark..]` are the later ones.
    pub fn mark(&self) -> usize {
        self.requests().len()
    }

    /// A request with this server's token: (status, body).
    pub fn call(&self, method: &str, target: &str, body: &[u8]) -> (u16, Vec<u8>) {
        http(&self.url, &self.token, method, target, body)
    }

    /// A request with another token (another fake workspace): (status, body).
    pub fn call_as(&self, token: &str, method: &str, target: &str, body: &[u8]) -> (u16, Vec<u8>) {
        http(&self.url, token, method, target, body)
    }

    /// `GET target` as JSON; `None` on a 404.
    pub fn get_json(&self, target: &str) -> Option<Value> {
        let (status, body) = self.call("GET", target, b"");
        match status {
            404 => None,
            200 => Some(serde_json::from_slice(&body).unwrap_or(Value::Null)),
            _ => panic!("GET {target}: {status} {}", String::from_utf8_lossy(&body)),
        }
    }
}

impl Drop for CliServer {
    fn drop(&mut self) {
        drop(self.stdin.take());
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// One HTTP/1.0 exchange on loopback (1.0: the answer is never chunked and
/// ends with the connection), enough for tests to read a workspace back.
fn http(base: &str, token: &str, method: &str, target: &str, body: &[u8]) -> (u16, Vec<u8>) {
    let addr = base.trim_start_matches("http://");
    let mut s = TcpStream::connect(addr).expect("connecting to the test server");
    let head = format!(
        "{method} {target} HTTP/1.0\r\nHost: {addr}\r\nAuthorization: Bearer {token}\r\n\
         Content-Type: application/json\r\nContent-Length: {}\r\n\r\n",
        body.len()
    );
    s.write_all(head.as_bytes()).expect("sending");
    s.write_all(body).expect("sending");
    let mut answer = Vec::new();
    s.read_to_end(&mut answer).expect("reading the answer");
    let split = answer
        .windows(4)
        .position(|w| w == b"\r\n\r\n")
        .expect("an HTTP answer");
    let status = String::from_utf8_lossy(&answer[..split])
        .split_whitespace()
        .nth(1)
        .and_then(|c| c.parse().ok())
        .expect("a status code");
    (status, answer[split + 4..].to_vec())
}
