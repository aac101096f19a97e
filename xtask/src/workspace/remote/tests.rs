//! The client against the fake workspace over real HTTP on loopback.

use std::time::{Duration, Instant};

use serde_json::json;

use super::api::{ObjectType, is_exists, is_missing};
use super::auth::{Credentials, Secret};
use super::client::Client;
use super::client::{ClientOptions, api_error};
use super::fake_workspace::FakeWorkspace;

fn fast() -> ClientOptions {
    ClientOptions {
        timeout: Duration::from_secs(10),
        retry_budget: Duration::from_secs(30),
        backoff_base: Duration::from_millis(10),
        max_backoff: Duration::from_millis(100),
        parallelism: 16,
        rate_limit: 10_000,
    }
}

fn client_with(fake: &FakeWorkspace, opts: ClientOptions) -> Client {
    let creds = Credentials {
        host: fake.url().to_string(),
        token: Secret::new(fake.token()),
    };
    Client::new(&creds, opts).unwrap()
}

fn client(fake: &FakeWorkspace) -> Client {
    client_with(fake, fast())
}

fn home(fake: &FakeWorkspace) -> String {
    format!("/Workspace/Users/{}", fake.user())
}

#[test]
fn remote_files_round_trip() {
    let fake = FakeWorkspace::start();
    let c = client(&fake);
    assert_eq!(c.me().unwrap(), fake.user());
    let root = format!("{}/.bundle/b/dev/files", home(&fake));
    c.mkdirs(&format!("{root}/src/pkg")).unwrap();
    c.import_file(
        &format!("{root}/src/pkg/a b+c.txt"),
        b"hello".to_vec(),
        true,
    )
    .unwrap();
    c.import_file(
        &format!("{root}/nb.py"),
        b"# Databricks notebook source\nprint(1)\n".to_vec(),
        true,
    )
    .unwrap();
    c.import_file(&format!("{root}/plain.py"), b"print(2)\n".to_vec(), true)
        .unwrap();

    // The '/' of the path travels as %2F in one segment.
    let upload = fake
        .requests_matching("import-file")
        .into_iter()
        .next()
        .unwrap();
    assert_eq!(
        upload.path,
        format!(
            "/api/2.0/workspace-files/import-file/{}/src/pkg/a b+c.txt",
            &root[1..]
        )
    );

    assert_eq!(
        c.export(&format!("{root}/src/pkg/a b+c.txt"))
            .unwrap()
            .unwrap(),
        b"hello"
    );
    let info = c
        .get_status(&format!("{root}/src/pkg/a b+c.txt"))
        .unwrap()
        .unwrap();
    assert_eq!((info.object_type, info.size), (ObjectType::File, Some(5)));

    // Notebooks lose their extension; plain .py files keep it.
    assert!(c.get_status(&format!("{root}/nb.py")).unwrap().is_none());
    let nb = c.get_status(&format!("{root}/nb")).unwrap().unwrap();
    assert_eq!(nb.object_type, ObjectType::Notebook);
    assert_eq!(
        c.export(&format!("{root}/nb")).unwrap().unwrap(),
        b"# Databricks notebook source\nprint(1)\n"
    );

    let mut listed: Vec<(String, ObjectType)> = c
        .list(&root)
        .unwrap()
        .into_iter()
        .map(|o| (o.path, o.object_type))
        .collect();
    listed.sort_by(|a, b| a.0.cmp(&b.0));
    assert_eq!(
        listed,
        vec![
            (format!("{root}/nb"), ObjectType::Notebook),
            (format!("{root}/plain.py"), ObjectType::File),
            (format!("{root}/src"), ObjectType::Directory),
        ]
    );

    // Non-recursive delete of a full folder fails; recursive removes all.
    let err = c.delete(&format!("{root}/src"), false).unwrap_err();
    assert!(
        format!("{err:#}").contains("(status 400, DIRECTORY_NOT_EMPTY)"),
        "{err:#}"
    );
    assert!(c.delete(&format!("{root}/src"), true).unwrap());
    assert!(
        !c.delete(&format!("{root}/src"), true).unwrap(),
        "deleting a missing path reports false"
    );
    assert!(
        c.export(&format!("{root}/src/pkg/a b+c.txt"))
            .unwrap()
            .is_none()
    );
    assert!(fake.paths().iter().all(|p| !p.contains("/src")));
}

#[test]
fn remote_exists_missing_parent_and_errors_like_the_cli() {
    let fake = FakeWorkspace::start();
    let c = client(&fake);
    let dir = home(&fake);
    c.import_file(&format!("{dir}/lock"), b"one".to_vec(), false)
        .unwrap();
    let err = c
        .import_file(&format!("{dir}/lock"), b"two".to_vec(), false)
        .unwrap_err();
    assert!(is_exists(&err), "{err:#}");
    assert_eq!(api_error(&err).unwrap().status, 409);
    assert_eq!(fake.file(&format!("{dir}/lock")).unwrap(), b"one");

    // A notebook that exists answers 400 "already exists." — also "exists".
    let nb = b"# Databricks notebook source\n1\n".to_vec();
    c.import_file(&format!("{dir}/n.py"), nb.clone(), false)
        .unwrap();
    let err = c
        .import_file(&format!("{dir}/n.py"), nb, false)
        .unwrap_err();
    assert!(
        is_exists(&err) && api_error(&err).unwrap().status == 400,
        "{err:#}"
    );

    let err = c
        .import_file(&format!("{dir}/no/such/f.txt"), b"x".to_vec(), true)
        .unwrap_err();
    assert!(is_missing(&err), "{err:#}");
    assert_eq!(
        format!("{err:#}"),
        format!(
            "uploading {dir}/no/such/f.txt: POST /api/2.0/workspace-files/import-file/{}: \
             The parent folder ({dir}/no/such) does not exist. (status 404, RESOURCE_DOES_NOT_EXIST)",
            super::api::escape(&format!("{dir}/no/such/f.txt")[1..])
        )
    );
    let err = c.list(&format!("{dir}/nope")).unwrap_err();
    assert!(format!("{err:#}").ends_with(&format!(
        "Path ({dir}/nope) doesn't exist. (status 404, RESOURCE_DOES_NOT_EXIST)"
    )));
}

#[test]
fn remote_refuses_files_over_10_mb_before_sending() {
    let fake = FakeWorkspace::start();
    let c = client(&fake);
    let path = format!("{}/big.bin", home(&fake));
    let err = c
        .import_file(&path, vec![0; 10 * 1024 * 1024 + 1], true)
        .unwrap_err();
    let msg = format!("{err:#}");
    assert!(
        msg.contains(&path) && msg.contains("10485761 bytes") && msg.contains("at most 10 MB"),
        "{msg}"
    );
    assert!(
        fake.requests().is_empty(),
        "no request may be sent: {:?}",
        fake.requests()
    );
    // Exactly 10 MB goes through.
    c.import_file(&path, vec![0; 10 * 1024 * 1024], true)
        .unwrap();
}

#[test]
fn remote_429_is_retried_honouring_retry_after() {
    let fake = FakeWorkspace::start();
    let c = client(&fake);
    fake.fault("import-file", 429, 2, Some(1));
    c.import_file(&format!("{}/f", home(&fake)), b"x".to_vec(), true)
        .unwrap();
    let log = fake.requests_matching("import-file");
    let statuses: Vec<u16> = log.iter().map(|r| r.status).collect();
    assert_eq!(statuses, [429, 429, 200]);
    for pair in log.windows(2) {
        let gap = pair[1].at - pair[0].at;
        assert!(
            gap >= Duration::from_millis(950),
            "Retry-After: 1 not honoured: {gap:?}"
        );
    }
    // `Retry-After: 0` still waits the backoff floor instead of spinning.
    fake.clear_log();
    fake.fault("import-file", 429, 3, Some(0));
    c.import_file(&format!("{}/g", home(&fake)), b"y".to_vec(), true)
        .unwrap();
    let log = fake.requests_matching("import-file");
    assert_eq!(log.len(), 4);
    assert!(
        log.windows(2)
            .all(|p| p[1].at - p[0].at >= Duration::from_millis(10))
    );
}

#[test]
fn remote_503_is_retried_with_backoff() {
    let fake = FakeWorkspace::start();
    let c = client(&fake);
    fake.fault("get-status", 503, 3, None);
    assert!(c.get_status(&home(&fake)).unwrap().is_some());
    let statuses: Vec<u16> = fake
        .requests_matching("get-status")
        .iter()
        .map(|r| r.status)
        .collect();
    assert_eq!(statuses, [503, 503, 503, 200]);
}

#[test]
fn remote_500_is_not_retried() {
    let fake = FakeWorkspace::start();
    let c = client(&fake);
    fake.fault("mkdirs", 500, 5, None);
    let err = c.mkdirs(&format!("{}/x", home(&fake))).unwrap_err();
    assert!(
        format!("{err:#}").contains("injected fault (500) (status 500, TEMPORARILY_UNAVAILABLE)"),
        "{err:#}"
    );
    assert_eq!(fake.requests_matching("mkdirs").len(), 1);
}

#[test]
fn remote_slow_response_hits_the_timeout_once() {
    let fake = FakeWorkspace::start();
    let c = client_with(
        &fake,
        ClientOptions {
            timeout: Duration::from_millis(300),
            ..fast()
        },
    );
    fake.delay("get-status", Duration::from_millis(1500), 1);
    let start = Instant::now();
    let err = c.get_status(&home(&fake)).unwrap_err();
    assert!(
        format!("{err:#}").contains("request timed out after 0.3s"),
        "{err:#}"
    );
    assert!(
        start.elapsed() < Duration::from_millis(1400),
        "did not give up at the timeout"
    );
    // The fake logs the request when its delayed handler finishes.
    std::thread::sleep(Duration::from_millis(1400));
    assert_eq!(
        fake.requests_matching("get-status").len(),
        1,
        "a timeout is not retried"
    );
}

#[test]
fn remote_dropped_connection_is_retried_only_when_idempotent() {
    let fake = FakeWorkspace::start();
    let c = client(&fake);
    // A read is get-status, then the bytes from workspace-files (the CLI's filer).
    fake.drop_connections("GET /api/2.0/workspace-files/", 2);
    c.import_file(&format!("{}/f", home(&fake)), b"data".to_vec(), true)
        .unwrap();
    assert_eq!(
        c.export(&format!("{}/f", home(&fake))).unwrap().unwrap(),
        b"data"
    );
    let statuses: Vec<u16> = fake
        .requests_matching("GET /api/2.0/workspace-files/")
        .iter()
        .map(|r| r.status)
        .collect();
    assert_eq!(statuses, [0, 0, 200]);

    // jobs/create is not idempotent: a dropped create may have happened.
    fake.drop_connections("jobs/create", 1);
    let err = c.job_create(&json!({ "name": "j" })).unwrap_err();
    assert!(
        format!("{err:#}").contains("POST /api/2.2/jobs/create: connection failed"),
        "{err:#}"
    );
    assert_eq!(fake.requests_matching("jobs/create").len(), 1);
    // Same for import-file without overwrite (the lock).
    fake.drop_connections("import-file", 1);
    assert!(
        c.import_file(&format!("{}/lock", home(&fake)), b"l".to_vec(), false)
            .is_err()
    );
    assert_eq!(
        fake.requests_matching("import-file")
            .iter()
            .filter(|r| r.status == 0)
            .count(),
        1
    );
}

#[test]
fn remote_retry_budget_exhaustion_is_a_clear_error() {
    let fake = FakeWorkspace::start();
    let c = client_with(
        &fake,
        ClientOptions {
            retry_budget: Duration::from_millis(500),
            ..fast()
        },
    );
    fake.fault("get-status", 503, 1000, None);
    let start = Instant::now();
    let err = c.get_status(&home(&fake)).unwrap_err();
    let msg = format!("{err:#}");
    assert!(
        msg.contains("GET /api/2.0/workspace/get-status: giving up after"),
        "{msg}"
    );
    assert!(msg.contains("(retry budget 0.5s)"), "{msg}");
    assert!(
        msg.ends_with("(status 503, TEMPORARILY_UNAVAILABLE)"),
        "{msg}"
    );
    assert!(start.elapsed() < Duration::from_secs(2));
    // A Retry-After beyond the budget gives up at once instead of sleeping.
    fake.clear_log();
    fake.fault("mkdirs", 429, 1, Some(3600));
    let start = Instant::now();
    assert!(c.mkdirs(&format!("{}/x", home(&fake))).is_err());
    assert!(start.elapsed() < Duration::from_secs(2));
}

#[test]
fn remote_token_never_appears_in_errors_or_debug() {
    let fake = FakeWorkspace::start();
    let secret = "dapi-wrong-0123456789abcdef";
    let creds = Credentials {
        host: fake.url().to_string(),
        token: Secret::new(secret),
    };
    let c = Client::new(&creds, fast()).unwrap();
    let err = c.me().unwrap_err();
    assert_eq!(api_error(&err).unwrap().status, 401);
    let good = client(&fake);
    fake.fault("get-status", 500, 1, None);
    let err2 = good.get_status(&home(&fake)).unwrap_err();
    fake.drop_connections("jobs/create", 1);
    let err3 = good.job_create(&json!({})).unwrap_err();
    for (e, token) in [(&err, secret), (&err2, fake.token()), (&err3, fake.token())] {
        let shown = format!("{e} | {e:#} | {e:?} | {c:?} | {good:?} | {creds:?}");
        assert!(!shown.contains(token), "token leaked: {shown}");
    }
}

#[test]
fn remote_parallel_uploads_are_bounded() {
    let fake = FakeWorkspace::start();
    let c = client(&fake);
    let dir = home(&fake);
    fake.delay("import-file", Duration::from_millis(40), 64);
    let items: Vec<usize> = (0..64).collect();
    let out = c
        .run_parallel(items, |c, i| {
            c.import_file(&format!("{dir}/f{i}"), vec![i as u8; 10], true)
                .map(|_| i)
        })
        .unwrap();
    assert_eq!(out, (0..64).collect::<Vec<_>>());
    let max = fake.max_in_flight();
    assert!((2..=16).contains(&max), "max in flight {max}");
    assert_eq!(fake.file(&format!("{dir}/f63")).unwrap(), vec![63u8; 10]);

    // The first failure stops the rest and is reported.
    let err = c
        .run_parallel((0..40).collect(), |c, i: usize| {
            c.import_file(&format!("{dir}/missing/{i}"), vec![], true)
        })
        .unwrap_err();
    assert!(is_missing(&err), "{err:#}");
}

#[test]
fn remote_jobs_and_runs() {
    let fake = FakeWorkspace::start();
    let c = client(&fake);
    let settings = json!({ "name": "train", "tasks": [{ "task_key": "a" }, { "task_key": "b", "depends_on": [{ "task_key": "a" }] }] });
    let id = c.job_create(&settings).unwrap();
    assert_eq!(c.job_get(id).unwrap().unwrap()["settings"], settings);
    let renamed = json!({ "name": "train2", "tasks": [] });
    c.job_reset(id, &renamed).unwrap();
    assert_eq!(
        c.job_get(id).unwrap().unwrap()["settings"]["name"],
        "train2"
    );

    c.job_reset(id, &settings).unwrap();
    fake.set_run_polls(2);
    let params = serde_json::Map::from_iter([("env".to_string(), json!("test"))]);
    let run = c.run_now(id, &params).unwrap();
    let mut seen = Vec::new();
    loop {
        let r = c.runs_get(run).unwrap();
        seen.push(r.state.life_cycle_state.clone().unwrap());
        if r.state.is_final() {
            assert_eq!(r.state.result_state.as_deref(), Some("SUCCESS"));
            let tasks: Vec<_> = r
                .tasks
                .iter()
                .map(|t| (t.task_key.as_str(), t.state.result_state.as_deref()))
                .collect();
            assert_eq!(tasks, [("a", Some("SUCCESS")), ("b", Some("SUCCESS"))]);
            break;
        }
    }
    assert_eq!(seen, ["PENDING", "RUNNING", "TERMINATED"]);

    assert!(c.job_delete(id).unwrap());
    assert!(c.job_get(id).unwrap().is_none());
    assert!(!c.job_delete(id).unwrap());
    assert_eq!(fake.job_count(), 0);
}

#[test]
fn remote_job_get_merges_task_pages() {
    let fake = FakeWorkspace::start();
    let c = client(&fake);
    let tasks: Vec<_> = (0..250)
        .map(|i| json!({ "task_key": format!("t{i}") }))
        .collect();
    let id = c
        .job_create(&json!({ "name": "big", "tasks": tasks }))
        .unwrap();
    let job = c.job_get(id).unwrap().unwrap();
    assert_eq!(job["settings"]["tasks"].as_array().unwrap().len(), 250);
    assert_eq!(job["settings"]["tasks"][249]["task_key"], "t249");
    assert_eq!(fake.requests_matching("jobs/get").len(), 3);
}

#[test]
fn remote_experiments_and_models() {
    let fake = FakeWorkspace::start();
    let c = client(&fake);
    let name = format!("{}/exp", home(&fake));
    let id = c.experiment_create(&json!({ "name": name })).unwrap();
    let err = c.experiment_create(&json!({ "name": name })).unwrap_err();
    assert!(is_exists(&err), "{err:#}");
    c.experiment_update(&id, &format!("{name}2")).unwrap();
    assert_eq!(
        c.experiment_get(&id).unwrap().unwrap()["name"],
        format!("{name}2")
    );
    assert!(c.experiment_delete(&id).unwrap());
    assert_eq!(
        c.experiment_get(&id).unwrap().unwrap()["lifecycle_stage"],
        "deleted"
    );
    assert!(c.experiment_get("424242").unwrap().is_none());

    c.model_create("m", Some("first")).unwrap();
    assert!(is_exists(&c.model_create("m", None).unwrap_err()));
    c.model_update("m", "second").unwrap();
    assert_eq!(c.model_get("m").unwrap().unwrap()["description"], "second");
    assert!(c.model_delete("m").unwrap());
    assert!(c.model_get("m").unwrap().is_none());
    assert!(!c.model_delete("m").unwrap());
}

/// A one-connection HTTP server for transport tests: reads the request
/// (its body `chunk` bytes every `pause`), then answers `answer` the same
/// way. Returns its URL and a handle yielding the request head.
fn trickle_server(
    chunk: usize,
    pause: Duration,
    answer: Vec<u8>,
) -> (String, std::thread::JoinHandle<String>) {
    use std::io::{BufRead, BufReader, Read, Write};
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let url = format!("http://{}", listener.local_addr().unwrap());
    let handle = std::thread::spawn(move || {
        let (stream, _) = listener.accept().unwrap();
        let mut reader = BufReader::new(stream.try_clone().unwrap());
        let mut head = String::new();
        loop {
            let mut line = String::new();
            if reader.read_line(&mut line).unwrap() == 0 || line == "\r\n" {
                break;
            }
            head.push_str(&line);
        }
        let len: usize = head
            .lines()
            .find_map(|l| {
                l.to_ascii_lowercase()
                    .strip_prefix("content-length:")
                    .map(|v| v.trim().parse().unwrap())
            })
            .unwrap_or(0);
        let mut left = len;
        let mut buf = vec![0; chunk];
        while left > 0 {
            let n = reader.read(&mut buf[..chunk.min(left)]).unwrap();
            assert!(n > 0, "client closed early");
            left -= n;
            std::thread::sleep(pause);
        }
        let mut out = stream;
        write!(
            out,
            "HTTP/1.1 200 OK\r\ncontent-length: {}\r\n\r\n",
            answer.len()
        )
        .unwrap();
        for part in answer.chunks(chunk) {
            out.write_all(part).unwrap();
            out.flush().unwrap();
            std::thread::sleep(pause);
        }
        head
    });
    (url, handle)
}

fn client_at(url: &str, timeout: Duration) -> Client {
    let creds = Credentials {
        host: url.to_string(),
        token: Secret::new("t"),
    };
    Client::new(&creds, ClientOptions { timeout, ..fast() }).unwrap()
}

#[test]
fn remote_slow_steady_answer_outlasts_the_timeout() {
    // 20 pieces 100 ms apart: 2 s in all, never 0.5 s without progress.
    let answer = format!("{{\"objects\":[],\"pad\":\"{}\"}}", "x".repeat(2000)).into_bytes();
    let (url, server) = trickle_server(answer.len() / 20 + 1, Duration::from_millis(100), answer);
    let c = client_at(&url, Duration::from_millis(500));
    let start = Instant::now();
    c.list("/Workspace/x").unwrap();
    assert!(start.elapsed() > Duration::from_millis(1500));
    let head = server.join().unwrap();
    assert!(
        head.to_ascii_lowercase().contains(&format!(
            "user-agent: my_mlops_project-xtask/{}",
            env!("CARGO_PKG_VERSION")
        )),
        "{head}"
    );
}

#[test]
fn remote_slow_steady_upload_outlasts_the_timeout() {
    // 16 MB taken 512 KB per 100 ms: over 3 s in all, with a 2 s timeout.
    let (url, server) = trickle_server(512 * 1024, Duration::from_millis(100), b"{}".to_vec());
    let c = client_at(&url, Duration::from_secs(2));
    let start = Instant::now();
    c.send(&super::client::Call::post(
        "/api/2.0/workspace-files/import-file/x?overwrite=true",
        super::client::Body::Raw(vec![7; 16 * 1024 * 1024]),
        true,
    ))
    .unwrap();
    assert!(
        start.elapsed() > Duration::from_secs(3),
        "{:?}",
        start.elapsed()
    );
    server.join().unwrap();
}

#[test]
fn remote_stalled_upload_times_out() {
    // The server takes 64 KB, then nothing for 10 s: the upload stops moving.
    let (url, _server) = trickle_server(64 * 1024, Duration::from_secs(10), b"{}".to_vec());
    let c = client_at(&url, Duration::from_millis(700));
    let start = Instant::now();
    let err = c
        .send(&super::client::Call::post(
            "/api/2.0/workspace-files/import-file/x?overwrite=true",
            super::client::Body::Raw(vec![7; 64 * 1024 * 1024]),
            true,
        ))
        .unwrap_err();
    assert!(
        format!("{err:#}").contains("timed out after 0.7s"),
        "{err:#}"
    );
    assert!(
        start.elapsed() < Duration::from_secs(5),
        "{:?}",
        start.elapsed()
    );
}

#[test]
fn remote_unreachable_host_fails_fast_naming_it() {
    // A port nobody listens on: connection refused, not retried for 15 minutes.
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let url = format!("http://127.0.0.1:{port}");
    let creds = Credentials {
        host: url.clone(),
        token: Secret::new("t"),
    };
    let c = Client::new(&creds, ClientOptions::default()).unwrap();
    let start = Instant::now();
    let err = c.me().unwrap_err();
    let msg = format!("{err:#}");
    assert!(msg.contains(&format!("cannot connect to {url}")), "{msg}");
    assert!(
        start.elapsed() < Duration::from_secs(5),
        "{:?}",
        start.elapsed()
    );
}

#[test]
fn remote_read_file_is_one_request_and_asks_only_about_an_empty_answer() {
    let fake = FakeWorkspace::start();
    let c = client(&fake);
    let f = format!("{}/state/a.json", home(&fake));
    c.mkdirs(&format!("{}/state", home(&fake))).unwrap();
    // Absent: a 404, nothing more asked.
    assert!(c.read_file(&f).unwrap().is_none());
    c.import_file(&f, b"{}".to_vec(), true).unwrap();
    assert_eq!(c.read_file(&f).unwrap().unwrap(), b"{}");
    assert!(fake.requests_matching("get-status").is_empty());
    // Empty (the CLI's test server answers a missing path so): get-status says which.
    let empty = format!("{}/state/empty", home(&fake));
    c.import_file(&empty, Vec::new(), true).unwrap();
    assert_eq!(c.read_file(&empty).unwrap().unwrap(), b"");
    assert_eq!(fake.requests_matching("get-status").len(), 1);
}
