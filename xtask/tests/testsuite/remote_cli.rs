//! The remote backend end to end against the Databricks CLI's own test
//! server (`libs/testserver`): the real `xtask` binary with `--remote`;
//! what reached the workspace is read back over the server's API, and what
//! was sent is read from its request record. Skipped, saying why, where the
//! server is not built (`tests/cliref/build.sh`); CI requires it.

use serde_json::Value;

use crate::support::cli_remote::{CliRemote, root};
use crate::support::deploy::{JOB_YML, text};
use e2e::cli_server::USER;

#[test]
fn deploy_redeploy_and_deletions_reach_the_workspace() {
    let Some(r) = CliRemote::start("deploy_redeploy_and_deletions_reach_the_workspace") else {
        return;
    };
    let first = r.deploy("dev");
    assert_eq!(
        first["location"],
        format!("{}{}", r.server.url(), root("dev"))
    );
    assert_eq!(r.remote_files("dev"), r.expected());
    // The notebook is stored as a notebook, without its extension.
    let nb = format!("{}/files/training/train", root("dev"));
    assert_eq!(r.server.object_type(&nb).as_deref(), Some("NOTEBOOK"));
    assert!(r.server.status(&format!("{nb}.py")).is_none());
    let meta = r.server.state(&root("dev"), "metadata.json");
    assert_eq!(meta["digest"], first["digest"]);
    assert_eq!(meta["deployed_by"], USER);
    let job = r.job_id("dev", "train");
    assert_eq!(r.server.jobs(), vec![job]);
    let settings = r.server.job(job).expect("the job exists");
    assert_eq!(settings["tasks"][0]["notebook_task"]["notebook_path"], nb);

    // No change: nothing uploaded, same job.
    let mark = r.server.mark();
    assert_eq!(r.deploy("dev")["noop"], true);
    assert!(
        r.uploaded("dev", mark).is_empty(),
        "{:?}",
        r.uploaded("dev", mark)
    );
    assert_eq!(r.server.jobs(), vec![job]);

    // One change: the plan names it and sends only reads; the deploy puts only it.
    r.repo
        .write("rag/chunk.py", "def chunk(s):\n    return s.split(',')\n");
    let mark = r.server.mark();
    let plan = r.ok(&["plan", "--env", "dev"]);
    assert_eq!(plan["files"]["put"], serde_json::json!(["rag/chunk.py"]));
    let writes: Vec<String> = r.server.requests()[mark..]
        .iter()
        .filter(|q| q.method != "GET")
        .map(|q| q.line())
        .collect();
    assert!(writes.is_empty(), "plan wrote: {writes:?}");
    let mark = r.server.mark();
    r.deploy("dev");
    assert_eq!(r.uploaded("dev", mark), ["rag/chunk.py"]);
    assert_eq!(r.remote_files("dev"), r.expected());

    // A removed file is deleted remotely; a changed job is reset, not duplicated.
    std::fs::remove_file(r.repo.bundle().join("README.md")).unwrap();
    r.repo.write(
        "resources/job.yml",
        &JOB_YML.replace("name: train\n", "name: train-renamed\n"),
    );
    let third = r.deploy("dev");
    assert_eq!(r.remote_files("dev"), r.expected());
    assert!(
        r.server
            .status(&format!("{}/files/README.md", root("dev")))
            .is_none()
    );
    assert_eq!(r.server.jobs(), vec![job]);
    assert_eq!(r.server.job(job).unwrap()["name"], "train-renamed");
    assert_eq!(action(&third, "train").as_deref(), Some("update"));
    assert_eq!(
        r.server.requests_matching("POST /api/2.2/jobs/reset").len(),
        1
    );

    // A renamed job key: the old job is deleted, the new one created.
    r.repo.write(
        "resources/job.yml",
        &JOB_YML.replace("    train:\n", "    trainer:\n"),
    );
    r.deploy("dev");
    let new_job = r.job_id("dev", "trainer");
    assert_ne!(new_job, job);
    assert_eq!(r.server.jobs(), vec![new_job]);
    assert!(r.server.job(job).is_none(), "the old job was kept");

    // Status of the remote env: deployed, no history kept.
    let status = r.ok(&["status", "--env", "dev"]);
    assert_eq!(status[0]["deployed"], true);
    // The server lists no folders: drift is unknown, not "none".
    assert_eq!(status[0]["drift"]["unknown"], true, "{status}");
    assert!(status[0]["kept"].as_array().unwrap().is_empty());
    // Rollback says it is a local feature.
    let out = r.run(&["rollback", "--env", "dev"]);
    assert!(!out.status.success());
    assert!(
        text(&out).contains("not available on the remote backend"),
        "{}",
        text(&out)
    );
    r.assert_token_never_leaked("dev");
}

fn action(report: &Value, key: &str) -> Option<String> {
    report["resources"]
        .as_array()?
        .iter()
        .find(|c| c["key"] == key)
        .and_then(|c| c["action"].as_str().map(str::to_string))
}

#[test]
fn state_is_read_and_files_are_sent_as_the_cli_does() {
    let Some(r) = CliRemote::start("state_is_read_and_files_are_sent_as_the_cli_does") else {
        return;
    };
    r.deploy("dev");
    let mark = r.server.mark();
    r.deploy("dev");
    let reqs = &r.server.requests()[mark..];
    let state = format!("{}/state/", root("dev"));
    // Bytes come from workspace-files/<path>, as the CLI's state filer
    // reads them. A state file, the lock or the manifest (plain files) is
    // just read, a 404 meaning absent, where the CLI asks get-status first;
    // a deployed file (maybe a notebook) is asked about first, as the CLI.
    let reads: Vec<&str> = reqs
        .iter()
        .filter(|q| q.method == "GET" && q.path.starts_with("/api/2.0/workspace-files/"))
        .map(|q| q.path.as_str())
        .collect();
    assert!(!reads.is_empty());
    let artifacts = format!("{}/artifacts/", root("dev"));
    for path in &reads {
        let ws = path.trim_start_matches("/api/2.0/workspace-files");
        let asked = reqs.iter().position(|q| {
            q.path == "/api/2.0/workspace/get-status"
                && q.query.contains("return_export_info=true")
                && decode(&q.query).contains(&format!("path={ws}"))
        });
        let read = reqs.iter().position(|q| q.path == *path).unwrap();
        if ws.starts_with(&state) || ws.starts_with(&artifacts) {
            assert!(asked.is_none(), "{path}: a get-status for a plain file");
        } else {
            assert!(
                asked.is_some_and(|a| a < read),
                "{path} read without a get-status first"
            );
        }
    }
    assert!(reads.iter().any(|p| p.contains(&state)));
    assert!(
        reqs.iter().all(|q| !q.path.contains("/workspace/export")),
        "workspace/export is not how the CLI reads"
    );
    // Uploads are import-file with overwrite (the lock alone without).
    for q in r.server.requests_matching("import-file") {
        let lock = q.path.ends_with("/state/deploy.lock");
        assert_eq!(q.query, format!("overwrite={}", !lock), "{}", q.path);
    }
}

/// Percent-decoding of a recorded query, enough for paths.
fn decode(q: &str) -> String {
    let mut out = Vec::new();
    let b = q.as_bytes();
    let mut i = 0;
    while i < b.len() {
        match (
            b[i],
            q.get(i + 1..i + 3)
                .and_then(|h| u8::from_str_radix(h, 16).ok()),
        ) {
            (b'%', Some(v)) => {
                out.push(v);
                i += 3;
            }
            (c, _) => {
                out.push(c);
                i += 1;
            }
        }
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// `dev` is `mode: development`, where the CLI takes no lock: this pins
/// that we do (README, "Where a remote deploy differs from the CLI's").
#[test]
fn a_lock_held_by_another_user_blocks_until_forced() {
    let Some(r) = CliRemote::start("a_lock_held_by_another_user_blocks_until_forced") else {
        return;
    };
    r.deploy("dev");
    let lock = format!("{}/state/deploy.lock", root("dev"));
    r.server.put(
        &lock,
        br#"{"ID":"other-1","AcquisitionTime":"2026-01-01T00:00:00Z","IsForced":false,"User":"someone@else.com","pid":1,"host":"elsewhere"}"#,
    );
    r.repo.write("README.md", "changed\n");
    let out = r.run(&["deploy", "--env", "dev"]);
    assert!(!out.status.success());
    assert!(text(&out).contains("someone@else.com"), "{}", text(&out));
    assert_ne!(r.remote_files("dev")["README.md"], b"changed\n");

    let forced = r.ok(&["deploy", "--env", "dev", "--force-lock"]);
    assert_eq!(forced["forced_lock"], true);
    assert_eq!(r.remote_files("dev")["README.md"], b"changed\n");
    let history = r.server.state(&root("dev"), "history.json");
    let last = history["deployments"].as_array().unwrap().last().unwrap();
    assert_eq!(last["forced_lock"], true);
    assert!(
        r.server.status(&lock).is_none(),
        "the lock was not released"
    );
}

#[test]
fn a_fresh_checkout_converges_with_what_the_workspace_holds() {
    let Some(r) = CliRemote::start("a_fresh_checkout_converges_with_what_the_workspace_holds")
    else {
        return;
    };
    r.deploy("dev");
    let job = r.job_id("dev", "train");
    // A new machine: no local state or caches; a file removed since.
    std::fs::remove_dir_all(r.repo.root()).ok();
    std::fs::remove_file(r.repo.bundle().join("rag/chunk.py")).unwrap();
    let mark = r.server.mark();
    let report = r.deploy("dev");
    assert_eq!(r.remote_files("dev"), r.expected());
    // What the workspace already holds is not sent again.
    assert!(
        r.uploaded("dev", mark).is_empty(),
        "{:?}",
        r.uploaded("dev", mark)
    );
    let deleted = report["files"]["delete"].as_array().unwrap();
    assert!(deleted.iter().any(|p| p == "rag/chunk.py"), "{report}");
    assert!(
        r.server
            .status(&format!("{}/files/rag/chunk.py", root("dev")))
            .is_none()
    );
    assert_eq!(r.server.jobs(), vec![job]);
}

/// The CLI's order (issue 13): the files, then the resources that name
/// them, then the state; a job never points at a notebook not uploaded yet.
#[test]
fn resources_are_created_after_the_files_they_name() {
    let Some(r) = CliRemote::start("resources_are_created_after_the_files_they_name") else {
        return;
    };
    r.deploy("dev");
    let reqs = r.server.requests();
    let at = |what: &str| {
        reqs.iter()
            .position(|q| q.line().contains(what))
            .unwrap_or_else(|| panic!("no request {what}"))
    };
    let notebook = at(
        "import-file/Workspace/Users/tester@databricks.com/.bundle/demo/dev/files/training/train.py",
    );
    // The writes (the state and the manifest are read first).
    let manifest = at(
        "import-file/Workspace/Users/tester@databricks.com/.bundle/demo/dev/artifacts/manifest.json",
    );
    let job = at("POST /api/2.2/jobs/create");
    let experiment = at("POST /api/2.0/mlflow/experiments/create");
    let metadata = at(
        "import-file/Workspace/Users/tester@databricks.com/.bundle/demo/dev/state/metadata.json",
    );
    assert!(
        notebook < job && notebook < experiment,
        "a resource before the files"
    );
    assert!(
        manifest < job && manifest < experiment,
        "a resource before the manifest"
    );
    assert!(
        job < metadata && experiment < metadata,
        "the state before the resources"
    );
    // A file changed with a job: the upload still comes first.
    r.repo.write(
        "training/train.py",
        "# Databricks notebook source\nprint('v2')\n",
    );
    r.repo.write(
        "resources/job.yml",
        &JOB_YML.replace("name: train\n", "name: train2\n"),
    );
    let mark = r.server.mark();
    r.deploy("dev");
    let reqs = &r.server.requests()[mark..];
    let at = |what: &str| reqs.iter().position(|q| q.line().contains(what)).unwrap();
    assert!(at("/dev/files/training/train.py") < at("POST /api/2.2/jobs/reset"));
    let nb = format!("{}/files/training/train", root("dev"));
    assert_eq!(
        r.server.file(&nb).unwrap(),
        b"# Databricks notebook source\nprint('v2')\n"
    );
}

/// Each remote command asks the workspace who we are once (SCIM `Me`): the
/// configuration's SCIM-only fields (`current_user.id`) come from that same
/// answer, not from a second request.
#[test]
fn each_remote_command_asks_who_we_are_once() {
    let Some(r) = CliRemote::start("each_remote_command_asks_who_we_are_once") else {
        return;
    };
    r.repo.write(
        "resources/job.yml",
        "resources:\n  jobs:\n    train:\n      name: train\n      description: by ${workspace.current_user.id}\n      tasks:\n        - task_key: main\n          notebook_task:\n            notebook_path: ../training/train.py\n",
    );
    let commands: [&[&str]; 4] = [
        &["deploy", "--env", "dev"],
        &["status", "--env", "dev"],
        &["summary", "--env", "dev"],
        &["destroy", "--env", "dev", "--auto-approve"],
    ];
    for args in commands {
        let mark = r.server.mark();
        let out = r.run(args);
        assert!(out.status.success(), "xtask {args:?}:\n{}", text(&out));
        let me = r.server.requests()[mark..]
            .iter()
            .filter(|q| q.path == "/api/2.0/preview/scim/v2/Me")
            .count();
        assert_eq!(me, 1, "SCIM Me requests of xtask {args:?}");
        if args[0] == "deploy" {
            let id = r.job_id("dev", "train");
            let job = r
                .server
                .get_json(&format!("/api/2.2/jobs/get?job_id={id}"))
                .expect("the deployed job");
            // The id the CLI's test server gives its user (fake_workspace.go).
            assert_eq!(job["settings"]["description"], "by 1000012345");
        }
    }
}
