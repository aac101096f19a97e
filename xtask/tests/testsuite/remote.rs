//! The fake workspace server itself, over raw HTTP on loopback: protocol
//! (keep-alive, chunked bodies, dropped sockets), auth, server-side limits
//! and fault injection. The xtask REST client is tested against the same
//! fake in xtask's unit tests (`cargo test -p xtask remote`).

use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpStream;
use std::time::Duration;

use e2e::fake_workspace::{DEFAULT_TOKEN, FakeWorkspace};
use serde_json::Value;

struct Answer {
    status: u16,
    headers: Vec<(String, String)>,
    body: Vec<u8>,
}

impl Answer {
    fn json(&self) -> Value {
        serde_json::from_slice(&self.body).expect("JSON body")
    }
    fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }
}

fn addr(fake: &FakeWorkspace) -> String {
    fake.url().trim_start_matches("http://").to_string()
}

/// Writes one request on `stream`; `body` goes with Content-Length unless `chunked`.
fn send(
    stream: &mut TcpStream,
    method: &str,
    target: &str,
    token: Option<&str>,
    body: &[u8],
    chunked: bool,
) {
    let mut head = format!("{method} {target} HTTP/1.1\r\nHost: localhost\r\n");
    if let Some(t) = token {
        head.push_str(&format!("Authorization: Bearer {t}\r\n"));
    }
    if chunked {
        head.push_str("Transfer-Encoding: chunked\r\n\r\n");
        stream.write_all(head.as_bytes()).unwrap();
        for part in body.chunks(7) {
            stream
                .write_all(format!("{:x}\r\n", part.len()).as_bytes())
                .unwrap();
            stream.write_all(part).unwrap();
            stream.write_all(b"\r\n").unwrap();
        }
        stream.write_all(b"0\r\n\r\n").unwrap();
    } else {
        head.push_str(&format!("Content-Length: {}\r\n\r\n", body.len()));
        stream.write_all(head.as_bytes()).unwrap();
        stream.write_all(body).unwrap();
    }
}

/// Reads one answer; `None` if the server closed the socket instead.
fn receive(reader: &mut BufReader<TcpStream>) -> Option<Answer> {
    let mut line = String::new();
    if reader.read_line(&mut line).unwrap_or(0) == 0 {
        return None;
    }
    let status = line.split_whitespace().nth(1)?.parse().ok()?;
    let mut headers = Vec::new();
    loop {
        let mut h = String::new();
        reader.read_line(&mut h).unwrap();
        let h = h.trim_end();
        if h.is_empty() {
            break;
        }
        let (k, v) = h.split_once(':').unwrap();
        headers.push((k.trim().to_string(), v.trim().to_string()));
    }
    let len: usize = headers
        .iter()
        .find(|(k, _)| k.eq_ignore_ascii_case("content-length"))
        .map(|(_, v)| v.parse().unwrap())
        .unwrap_or(0);
    let mut body = vec![0; len];
    reader.read_exact(&mut body).unwrap();
    Some(Answer {
        status,
        headers,
        body,
    })
}

fn request(fake: &FakeWorkspace, method: &str, target: &str, body: &[u8]) -> Option<Answer> {
    let mut stream = TcpStream::connect(addr(fake)).unwrap();
    stream
        .set_read_timeout(Some(Duration::from_secs(10)))
        .unwrap();
    send(&mut stream, method, target, Some(fake.token()), body, false);
    receive(&mut BufReader::new(stream))
}

fn import_target(path: &str, overwrite: bool) -> String {
    let escaped = path.trim_start_matches('/').replace('/', "%2F");
    format!("/api/2.0/workspace-files/import-file/{escaped}?overwrite={overwrite}")
}

#[test]
fn keep_alive_and_chunked_bodies() {
    let fake = FakeWorkspace::start();
    let home = format!("/Workspace/Users/{}", fake.user());
    let mut stream = TcpStream::connect(addr(&fake)).unwrap();
    stream
        .set_read_timeout(Some(Duration::from_secs(10)))
        .unwrap();
    let mut reader = BufReader::new(stream.try_clone().unwrap());
    let body = b"a chunked upload, longer than one chunk";
    send(
        &mut stream,
        "POST",
        &import_target(&format!("{home}/c.txt"), true),
        Some(fake.token()),
        body,
        true,
    );
    assert_eq!(receive(&mut reader).unwrap().status, 200);
    // Same connection, next request.
    let q = format!("/api/2.0/workspace/export?path={home}/c.txt&direct_download=true");
    send(&mut stream, "GET", &q, Some(fake.token()), b"", false);
    let a = receive(&mut reader).unwrap();
    assert_eq!((a.status, a.body.as_slice()), (200, &body[..]));
}

#[test]
fn token_is_checked_and_discovery_is_open() {
    let fake = FakeWorkspace::start();
    let mut stream = TcpStream::connect(addr(&fake)).unwrap();
    send(
        &mut stream,
        "GET",
        "/api/2.0/preview/scim/v2/Me",
        Some("dapi-wrong"),
        b"",
        false,
    );
    let a = receive(&mut BufReader::new(stream)).unwrap();
    assert_eq!(a.status, 401);
    assert_eq!(a.json()["message"], "Invalid access token.");
    let mut stream = TcpStream::connect(addr(&fake)).unwrap();
    send(
        &mut stream,
        "GET",
        "/.well-known/databricks-config",
        None,
        b"",
        false,
    );
    let a = receive(&mut BufReader::new(stream)).unwrap();
    assert_eq!(a.status, 200);
    assert!(a.json()["workspace_id"].is_string());
    let a = request(&fake, "GET", "/api/2.0/preview/scim/v2/Me", b"").unwrap();
    assert_eq!(a.json()["userName"], fake.user());
    let a = request(&fake, "GET", "/api/9.9/nothing", b"").unwrap();
    assert_eq!(
        (a.status, a.json()["error_code"].as_str()),
        (404, Some("ENDPOINT_NOT_FOUND"))
    );
}

#[test]
fn workspace_semantics_match_the_real_api() {
    let fake = FakeWorkspace::start();
    let home = format!("/Workspace/Users/{}", fake.user());

    let a = request(
        &fake,
        "POST",
        &import_target(&format!("{home}/a/b/f.txt"), true),
        b"x",
    )
    .unwrap();
    assert_eq!(a.status, 404);
    assert_eq!(
        a.json()["message"],
        format!("The parent folder ({home}/a/b) does not exist.")
    );

    let mk = serde_json::json!({ "path": format!("{home}/a/b") }).to_string();
    assert_eq!(
        request(&fake, "POST", "/api/2.0/workspace/mkdirs", mk.as_bytes())
            .unwrap()
            .status,
        200
    );
    assert_eq!(
        fake.object_type(&format!("{home}/a")),
        Some("DIRECTORY"),
        "mkdirs creates ancestors"
    );
    let put = |path: &str, body: &[u8], overwrite: bool| {
        request(&fake, "POST", &import_target(path, overwrite), body).unwrap()
    };
    assert_eq!(put(&format!("{home}/a/b/f.txt"), b"1", false).status, 200);
    let a = put(&format!("{home}/a/b/f.txt"), b"2", false);
    assert_eq!(a.status, 409);
    assert!(
        a.json().get("error_code").is_none(),
        "no error_code on 409, like the real API"
    );
    assert_eq!(put(&format!("{home}/a/b/f.txt"), b"3", true).status, 200);
    assert_eq!(fake.file(&format!("{home}/a/b/f.txt")).unwrap(), b"3");

    // Notebook detection needs the exact first line; CRLF is accepted.
    assert_eq!(
        put(
            &format!("{home}/a/nb.py"),
            b"# Databricks notebook source\r\nx=1\r\n",
            false
        )
        .status,
        200
    );
    assert_eq!(fake.object_type(&format!("{home}/a/nb")), Some("NOTEBOOK"));
    let a = put(
        &format!("{home}/a/nb.py"),
        b"# Databricks notebook source\n",
        false,
    );
    assert_eq!(a.status, 400);
    assert!(
        a.json()["message"]
            .as_str()
            .unwrap()
            .contains("already exists.")
    );
    assert_eq!(
        put(
            &format!("{home}/a/not_nb.py"),
            b"#  Databricks notebook source\n",
            false
        )
        .status,
        200
    );
    assert_eq!(
        fake.object_type(&format!("{home}/a/not_nb.py")),
        Some("FILE")
    );

    // The server-side limit, with the workspace's message.
    let big = vec![b'x'; 10 * 1024 * 1024 + 1];
    let a = put(&format!("{home}/a/big.bin"), &big, true);
    assert_eq!(a.status, 400);
    assert_eq!(
        a.json()["message"],
        "File size imported is (10485761 bytes), exceeded max size (10485760 bytes)"
    );

    let a = request(
        &fake,
        "GET",
        &format!("/api/2.0/workspace/get-status?path={home}/zzz"),
        b"",
    )
    .unwrap();
    assert_eq!(
        (a.status, a.json()["message"].as_str()),
        (404, Some(&*format!("Path ({home}/zzz) doesn't exist.")))
    );
    let a = request(
        &fake,
        "GET",
        &format!("/api/2.0/workspace/export?path={home}/a/b/f.txt"),
        b"",
    )
    .unwrap();
    assert_eq!(
        a.json()["content"],
        "Mw==",
        "export without direct_download is base64 JSON"
    );

    let del = serde_json::json!({ "path": format!("{home}/a"), "recursive": true }).to_string();
    assert_eq!(
        request(&fake, "POST", "/api/2.0/workspace/delete", del.as_bytes())
            .unwrap()
            .status,
        200
    );
    assert!(
        fake.paths()
            .iter()
            .all(|p| !p.starts_with(&format!("{home}/a")))
    );
    assert_eq!(
        request(&fake, "POST", "/api/2.0/workspace/delete", del.as_bytes())
            .unwrap()
            .status,
        404
    );
}

#[test]
fn faults_are_injected_and_logged() {
    let fake = FakeWorkspace::start();
    let me = "/api/2.0/preview/scim/v2/Me";
    fake.fault("scim/v2/Me", 429, 1, Some(7));
    let a = request(&fake, "GET", me, b"").unwrap();
    assert_eq!((a.status, a.header("retry-after")), (429, Some("7")));
    fake.drop_connections("GET /api/2.0/preview", 1);
    assert!(
        request(&fake, "GET", me, b"").is_none(),
        "the socket closes without an answer"
    );
    fake.delay("scim", Duration::from_millis(300), 1);
    let start = std::time::Instant::now();
    assert_eq!(request(&fake, "GET", me, b"").unwrap().status, 200);
    assert!(start.elapsed() >= Duration::from_millis(300));
    assert_eq!(
        request(&fake, "GET", me, b"").unwrap().status,
        200,
        "faults run out"
    );
    let statuses: Vec<u16> = fake.requests().iter().map(|r| r.status).collect();
    assert_eq!(statuses, [429, 0, 200, 200]);
    assert_eq!(fake.requests()[0].method, "GET");
    assert_eq!(fake.requests()[0].path, me);
}

#[test]
fn in_flight_requests_are_counted() {
    let fake = FakeWorkspace::start();
    fake.delay("scim", Duration::from_millis(200), 8);
    std::thread::scope(|s| {
        for _ in 0..8 {
            s.spawn(|| {
                assert_eq!(
                    request(&fake, "GET", "/api/2.0/preview/scim/v2/Me", b"")
                        .unwrap()
                        .status,
                    200
                )
            });
        }
    });
    assert!(
        fake.max_in_flight() >= 4,
        "requests were served one at a time: {}",
        fake.max_in_flight()
    );
    assert!(fake.max_in_flight() <= 8);
}

#[test]
fn the_server_announces_its_url_and_token_and_serves() {
    // What the `fake-workspace` binary prints (it calls `announce`), read
    // back as a user of the binary would.
    let fake = FakeWorkspace::start();
    let mut out = Vec::new();
    e2e::fake_workspace::announce(&fake, &mut out).unwrap();
    let out = String::from_utf8(out).unwrap();
    let mut lines = out.lines();
    let url = lines
        .next()
        .and_then(|l| l.strip_prefix("DATABRICKS_HOST="))
        .expect("first line names the host");
    assert_eq!(
        lines.next(),
        Some(format!("DATABRICKS_TOKEN={DEFAULT_TOKEN}").as_str())
    );
    let mut stream = TcpStream::connect(url.trim_start_matches("http://")).unwrap();
    send(
        &mut stream,
        "GET",
        "/api/2.0/preview/scim/v2/Me",
        Some(DEFAULT_TOKEN),
        b"",
        false,
    );
    let answer = receive(&mut BufReader::new(stream));
    assert_eq!(answer.unwrap().status, 200);
}
