//! The remote backend end to end against our own fake workspace, for what
//! the Databricks CLI's test server cannot do: fault injection, drift found
//! through `workspace/list`, runs that fail or stay active (each test says
//! which). Deploy, redeploy, locks, fresh checkouts, promotion, watch and
//! upload progress run against the CLI's server (`remote_cli*`).

use std::collections::BTreeMap;
use std::process::Output;
use std::time::Duration;

use crate::support::deploy::{Repo, text};
use e2e::fake_workspace::{DEFAULT_USER, FakeWorkspace};
use serde_json::Value;

fn root(env: &str) -> String {
    format!("/Workspace/Users/{DEFAULT_USER}/.bundle/demo/{env}")
}

struct Remote {
    repo: Repo,
    fake: FakeWorkspace,
    /// Everything the binary printed, to look for the token at the end.
    printed: std::cell::RefCell<String>,
}

impl Remote {
    fn new() -> Remote {
        Remote {
            repo: Repo::new(),
            fake: FakeWorkspace::start(),
            printed: Default::default(),
        }
    }

    fn run(&self, args: &[&str]) -> Output {
        let out = self
            .repo
            .xtask(args)
            .arg("--remote")
            .env("DATABRICKS_HOST", self.fake.url())
            .env("DATABRICKS_TOKEN", self.fake.token())
            .env("XTASK_POLL_MS", "20")
            // No ~/.databrickscfg of the machine's user.
            .env("HOME", self.repo.path())
            .output()
            .expect("running xtask");
        self.printed.borrow_mut().push_str(&text(&out));
        out
    }

    fn ok(&self, args: &[&str]) -> Value {
        let mut a = args.to_vec();
        a.push("--json");
        let out = self.run(&a);
        assert!(out.status.success(), "xtask {args:?}:\n{}", text(&out));
        serde_json::from_slice(&out.stdout).unwrap_or_else(|e| panic!("{e}: {}", text(&out)))
    }

    fn deploy(&self, env: &str) -> Value {
        self.ok(&["deploy", "--env", env])
    }

    /// Remote objects under `<root>/files/`, relative → bytes.
    fn remote_files(&self, env: &str) -> BTreeMap<String, Vec<u8>> {
        let prefix = format!("{}/files/", root(env));
        self.fake
            .paths()
            .into_iter()
            .filter_map(|p| {
                let rel = p.strip_prefix(&prefix)?.to_string();
                self.fake.file(&p).map(|b| (rel, b))
            })
            .collect()
    }

    fn state(&self, env: &str, name: &str) -> Value {
        let bytes = self
            .fake
            .file(&format!("{}/state/{name}", root(env)))
            .unwrap_or_else(|| panic!("no remote state/{name}"));
        serde_json::from_slice(&bytes).expect("state JSON")
    }

    /// Paths uploaded under `files/` since the log was cleared.
    fn uploaded(&self, env: &str) -> Vec<String> {
        let prefix = format!("/api/2.0/workspace-files/import-file{}/files/", root(env));
        let mut v: Vec<String> = self
            .fake
            .requests_matching("import-file")
            .into_iter()
            .filter(|r| r.status == 200)
            .filter_map(|r| r.path.strip_prefix(&prefix).map(str::to_string))
            .collect();
        v.sort();
        v.dedup();
        v
    }

    /// The local bundle files as the workspace should hold them (notebooks without extension).
    fn expected(&self) -> BTreeMap<String, Vec<u8>> {
        crate::support::deploy::files_under(&self.repo.bundle())
            .into_iter()
            .map(|(p, b)| {
                let nb = p.ends_with(".py") && b.starts_with(b"# Databricks notebook source");
                (
                    if nb {
                        p.trim_end_matches(".py").to_string()
                    } else {
                        p
                    },
                    b,
                )
            })
            .collect()
    }

    /// The token must not be in anything printed or stored (local or remote).
    fn assert_token_never_leaked(&self) {
        let token = self.fake.token();
        assert!(
            !self.printed.borrow().contains(token),
            "the token was printed"
        );
        for (p, bytes) in crate::support::deploy::files_under(self.repo.path()) {
            assert!(
                !String::from_utf8_lossy(&bytes).contains(token),
                "the token is stored in {p}"
            );
        }
        for p in self.fake.paths() {
            let bytes = self.fake.file(&p).unwrap_or_default();
            assert!(
                !String::from_utf8_lossy(&bytes).contains(token),
                "the token is stored remotely in {p}"
            );
        }
    }
}

/// Our fake, not the CLI's test server: `set_run_polls` makes a run go
/// through PENDING and RUNNING (that server ends it at the second poll).
#[test]
fn run_prints_task_states_as_they_change() {
    let r = Remote::new();
    r.deploy("dev");
    r.fake.set_run_polls(3);
    let out = r.run(&["run", "train", "--env", "dev"]);
    assert!(out.status.success(), "{}", text(&out));
    let stdout = String::from_utf8_lossy(&out.stdout);
    let states: Vec<&str> = stdout
        .lines()
        .filter(|l| l.trim_start().starts_with("task main"))
        .filter_map(|l| l.split_whitespace().last())
        .collect();
    assert_eq!(states, ["PENDING", "RUNNING", "SUCCESS"], "{stdout}");
    // A job that is not deployed: a clear error, no run.
    r.repo.write(
        "resources/other.yml",
        "resources:\n  jobs:\n    other:\n      name: other\n",
    );
    let out = r.run(&["run", "other", "--env", "dev"]);
    assert!(!out.status.success());
    assert!(text(&out).contains("not deployed"), "{}", text(&out));
}

/// Our fake, not the CLI's test server: its runs always succeed
/// (`fail_task` makes one fail), and `set_run_polls` keeps a run going.
#[test]
fn a_failed_task_fails_the_run() {
    let r = Remote::new();
    r.deploy("dev");
    r.fake.fail_task("main");
    let out = r.run(&["run", "train", "--env", "dev"]);
    assert!(!out.status.success(), "{}", text(&out));
    assert!(text(&out).contains("FAILED"), "{}", text(&out));
    r.assert_token_never_leaked();
}

/// Our fake, not the CLI's test server: finding a file edited in the
/// workspace needs `workspace/list` and `modified_at`, which that server
/// does not serve. (A fresh checkout is tested against it in `remote_cli`.)
#[test]
fn an_edit_made_in_the_workspace_is_repaired_from_a_fresh_checkout() {
    let r = Remote::new();
    r.deploy("dev");
    std::fs::remove_dir_all(r.repo.root()).ok();
    r.fake.put(
        &format!("{}/files/rag/__init__.py", root("dev")),
        b"VERSION = 666\n",
    );
    r.fake.clear_log();
    r.deploy("dev");
    assert_eq!(r.remote_files("dev"), r.expected());
    assert_eq!(r.uploaded("dev"), vec!["rag/__init__.py".to_string()]);
    assert_eq!(r.fake.job_count(), 1);
}

/// Injects a fault into the fake.
type Inject = &'static dyn Fn(&FakeWorkspace);

/// Each fault on the uploads: the deploy retries or fails cleanly; the state
/// names a complete deployment either way, and a rerun converges. Our fake:
/// it injects the faults.
#[test]
fn injected_faults_leave_a_consistent_state_and_a_rerun_converges() {
    let r = Remote::new();
    r.deploy("dev");
    const FILES: &str = "import-file/Workspace/Users/tester@example.com/.bundle/demo/dev/files/";
    let faults: [(&str, Inject); 6] = [
        ("429", &|f| f.fault(FILES, 429, 2, Some(1))),
        ("503", &|f| f.fault(FILES, 503, 2, None)),
        ("500", &|f| f.fault(FILES, 500, 1, None)),
        ("drop", &|f| f.drop_connections(FILES, 2)),
        ("slow", &|f| f.delay(FILES, Duration::from_millis(1500), 1)),
        // A state file: the deploy fails before its state names it, or succeeds.
        ("state 500", &|f| {
            f.fault("/dev/state/metadata.json", 500, 1, None)
        }),
    ];
    for (i, (name, inject)) in faults.iter().enumerate() {
        let before = r.state("dev", "metadata.json")["digest"].clone();
        r.repo
            .write("rag/chunk.py", &format!("def chunk(s):\n    return {i}\n"));
        r.repo.write("README.md", &format!("fault {name}\n"));
        inject(&r.fake);
        let out = r.run(&["deploy", "--env", "dev", "--json"]);
        let meta = r.state("dev", "metadata.json");
        let manifest: Value = serde_json::from_slice(
            &r.fake
                .file(&format!("{}/artifacts/manifest.json", root("dev")))
                .unwrap(),
        )
        .unwrap();
        if out.status.success() {
            let report: Value = serde_json::from_slice(&out.stdout).unwrap();
            assert_eq!(meta["digest"], report["digest"], "fault {name}");
        } else {
            // Failed: the state still names the previous, complete deployment.
            assert_eq!(meta["digest"], before, "fault {name}: {}", text(&out));
        }
        assert!(
            r.fake
                .file(&format!("{}/state/deploy.lock", root("dev")))
                .is_none(),
            "fault {name}: the lock was left behind"
        );
        let _ = manifest;
        let rerun = r.deploy("dev");
        assert_eq!(r.remote_files("dev"), r.expected(), "fault {name}");
        assert_eq!(
            r.state("dev", "metadata.json")["digest"],
            rerun["digest"],
            "fault {name}"
        );
        let status = r.ok(&["status", "--env", "dev"]);
        assert_eq!(status[0]["digest"], rerun["digest"]);
        assert!(
            status[0]["drift"]["changed"].as_array().unwrap().is_empty()
                && status[0]["drift"]["missing"].as_array().unwrap().is_empty(),
            "fault {name}: {}",
            status[0]["drift"]
        );
        assert_eq!(r.fake.job_count(), 1, "fault {name}");
    }
    r.assert_token_never_leaked();
}

/// `stage` between remote envs copies the bytes `test` holds (read back from
/// the workspace, hashes verified), never rebuilt from the working tree.
/// Our fake, not the CLI's test server: the repair of a notebook edited in
/// the workspace needs `workspace/list`, which that server does not serve.
/// (The promotion itself is tested against that server in `remote_cli_flow`.)
#[test]
fn stage_repairs_a_notebook_edited_in_the_workspace() {
    let r = Remote::new();
    // One experiment per env: a workspace holds one experiment of a name.
    r.repo.write(
        "resources/job.yml",
        &crate::support::deploy::JOB_YML
            .replace("/Shared/demo-exp", "/Shared/demo-exp-${bundle.target}"),
    );
    let test = r.deploy("test");
    // A passing test record for the deployed digest, as `test` would leave it.
    let mut meta = r.state("test", "metadata.json");
    meta["test"] = serde_json::json!({
        "id": "t1", "passed": true, "digest": test["digest"], "commit": "c",
        "branch": "main", "started_at": "x", "finished_at": "y", "steps": [], "logs": "/tmp",
    });
    r.fake.put(
        &format!("{}/state/metadata.json", root("test")),
        serde_json::to_vec(&meta).unwrap().as_slice(),
    );
    // (A file of `test` changed out of band is refused: tested against the
    // CLI's test server, in `remote_cli_flow`.)
    let out = r.run(&["stage"]);
    assert!(out.status.success(), "{}", text(&out));
    assert_eq!(r.remote_files("staging"), r.remote_files("test"));

    // A notebook of staging edited out of band: the next promotion repairs it.
    let nb = format!("{}/files/training/train", root("staging"));
    r.fake.put(
        &format!("{nb}.py"),
        b"# Databricks notebook source
print('x')
",
    );
    assert_ne!(r.remote_files("staging"), r.remote_files("test"));
    let out = r.run(&["stage"]);
    assert!(out.status.success(), "{}", text(&out));
    assert_eq!(r.remote_files("staging"), r.remote_files("test"));
    assert_eq!(r.fake.job_count(), 2);
    r.assert_token_never_leaked();
}

/// SIGTERM ends `watch --remote` within a second even while a request is
/// being retried (issue 18: it slept through the backoff, for minutes).
/// Our fake: it injects the 503s.
#[test]
fn sigterm_ends_watch_remote_during_retries() {
    let r = Remote::new();
    // Every request: 503 with `Retry-After: 30`, for long.
    r.fake.fault(" /", 503, 100_000, Some(30));
    let log = r.repo.path().join("watch.log");
    let file = std::fs::File::create(&log).unwrap();
    let mut child = r
        .repo
        .xtask(&["watch", "--env", "dev"])
        .arg("--remote")
        .env("DATABRICKS_HOST", r.fake.url())
        .env("DATABRICKS_TOKEN", r.fake.token())
        .env("HOME", r.repo.path())
        .stdout(std::process::Stdio::from(file.try_clone().unwrap()))
        .stderr(std::process::Stdio::from(file))
        .spawn()
        .expect("starting watch");
    // Until the first 503 was answered: watch is now in a backoff.
    let start = std::time::Instant::now();
    while r.fake.requests().is_empty() && start.elapsed() < Duration::from_secs(30) {
        std::thread::sleep(Duration::from_millis(20));
    }
    std::thread::sleep(Duration::from_millis(300));
    // SAFETY: sending a signal to our own child process.
    assert_eq!(unsafe { kill(child.id() as i32, 15) }, 0);
    let signalled = std::time::Instant::now();
    let status = loop {
        if let Some(status) = child.try_wait().unwrap() {
            break status;
        }
        if signalled.elapsed() > Duration::from_secs(5) {
            let _ = child.kill();
            let _ = child.wait();
            panic!(
                "watch --remote still running 5 s after SIGTERM:\n{}",
                std::fs::read_to_string(&log).unwrap_or_default()
            );
        }
        std::thread::sleep(Duration::from_millis(20));
    };
    assert!(
        signalled.elapsed() < Duration::from_millis(1500),
        "took {:?}",
        signalled.elapsed()
    );
    assert!(status.success() || status.code() == Some(1), "{status}");
}

unsafe extern "C" {
    fn kill(pid: i32, sig: i32) -> i32;
}

/// A deployment of more folders than a deploy lists (64; a request each)
/// is not looked over by the deploy, which lists only the folder it
/// writes; `status` looks and finds a file edited in the workspace. Our
/// fake: it lists folders and counts the lists.
#[test]
fn a_deploy_of_many_folders_skips_the_look_that_status_makes() {
    let r = Remote::new();
    for i in 0..70 {
        r.repo.write(&format!("many/d{i:02}/f.txt"), "x\n");
    }
    r.deploy("dev");
    let edited = format!("{}/files/many/d03/f.txt", root("dev"));
    r.fake.put(&edited, b"edited there\n");
    r.repo.write("many/d05/f.txt", "y\n");
    r.fake.clear_log();
    let out = r.run(&["deploy", "--env", "dev"]);
    assert!(out.status.success(), "{}", text(&out));
    assert!(
        text(&out).contains("are not looked for on a deploy of"),
        "{}",
        text(&out)
    );
    // The folders written: the file's and the manifest's.
    let mut lists: Vec<String> = r
        .fake
        .requests_matching("workspace/list")
        .into_iter()
        .map(|q| q.query.rsplit('/').next().unwrap_or_default().to_string())
        .collect();
    lists.sort();
    assert_eq!(lists, ["artifacts", "d05"]);
    assert_eq!(r.uploaded("dev"), ["many/d05/f.txt"]);
    assert_eq!(r.fake.file(&edited).unwrap(), b"edited there\n");

    // Only the file edited there: the snapshot took the deploy's own write.
    let status = r.ok(&["status", "--env", "dev"]);
    let changed = &status[0]["drift"]["changed"];
    assert_eq!(
        changed,
        &serde_json::json!(["files/many/d03/f.txt"]),
        "{status}"
    );
}
