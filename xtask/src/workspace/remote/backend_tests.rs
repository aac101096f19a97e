//! The remote backend against the fake workspace over loopback HTTP.

use std::time::Duration;

use super::auth::{Credentials, Secret};
use super::backend::{RemoteWorkspace, expand_root};
use super::client::{Client, ClientOptions};
use super::fake_workspace::FakeWorkspace;
use crate::package::manifest::{ArtifactRecord, FileRecord};
use crate::package::{self, Manifest};
use crate::workspace::local::{hostname, process_identity};
use crate::workspace::{LockInfo, Replaced, STATE_FILES, Workspace};

fn open(fake: &FakeWorkspace) -> RemoteWorkspace {
    let creds = Credentials {
        host: fake.url().to_string(),
        token: Secret::new(fake.token()),
    };
    let opts = ClientOptions {
        backoff_base: Duration::from_millis(10),
        rate_limit: 10_000,
        ..ClientOptions::default()
    };
    let client = Client::new(&creds, opts).unwrap();
    let root = expand_root("~/.bundle/b/dev", &client.me().unwrap()).unwrap();
    RemoteWorkspace::new(client, root)
}

fn lock(id: &str, forced: bool) -> LockInfo {
    LockInfo {
        id: id.into(),
        acquisition_time: "2026-11-26T20:00:00Z".into(),
        is_forced: forced,
        user: format!("user-{id}"),
        host: hostname(),
        ..process_identity()
    }
}

fn file(path: &str, bytes: &[u8], notebook: bool) -> FileRecord {
    FileRecord {
        path: path.into(),
        size: bytes.len() as u64,
        hash: package::hash_bytes(bytes),
        notebook,
    }
}

const NB: &[u8] = b"# Databricks notebook source\nprint('hi')\n";

fn state(id: &str) -> Vec<(&'static str, Vec<u8>)> {
    STATE_FILES
        .iter()
        .map(|n| {
            (
                *n,
                if *n == "metadata.json" {
                    format!("{{\"deployment_id\":\"{id}\"}}").into_bytes()
                } else {
                    format!("{n} of {id}").into_bytes()
                },
            )
        })
        .collect()
}

/// Deploys `files` (path, bytes, notebook) plus one artifact, as the engine would.
fn deploy(
    ws: &RemoteWorkspace,
    id: &str,
    files: &[(&str, &[u8], bool)],
    deletes: &[&str],
) -> Manifest {
    let wheel = b"PK wheel".to_vec();
    let records = files.iter().map(|(p, b, nb)| file(p, b, *nb)).collect();
    let artifacts = vec![ArtifactRecord {
        path: ".internal/w-0.1-py3-none-any.whl".into(),
        size: wheel.len() as u64,
        hash: package::hash_bytes(&wheel),
        name: "wheel".into(),
        inputs: None,
    }];
    let manifest = Manifest::new(records, artifacts);
    let txn = ws.begin(id).unwrap();
    for (p, b, _) in files {
        txn.put(&format!("files/{p}"), b).unwrap();
    }
    for d in deletes {
        txn.delete(&format!("files/{d}")).unwrap();
    }
    txn.put("artifacts/.internal/w-0.1-py3-none-any.whl", &wheel)
        .unwrap();
    txn.put(
        "artifacts/manifest.json",
        &serde_json::to_vec(&manifest).unwrap(),
    )
    .unwrap();
    txn.commit(&manifest, &state(id)).unwrap();
    manifest
}

#[test]
fn remote_backend_lock_follows_the_cli() {
    let fake = FakeWorkspace::start();
    let ws = open(&fake);
    // First lock: the state folder does not exist yet (404 → mkdirs → retry).
    assert!(matches!(
        ws.lock(&lock("a", false)).unwrap(),
        Replaced::Nothing
    ));
    let lock_path = format!("{}/state/deploy.lock", ws.root());
    let held: LockInfo = serde_json::from_slice(&fake.file(&lock_path).unwrap()).unwrap();
    assert_eq!(held.id, "a");
    assert!(
        fake.requests_matching("deploy.lock")
            .iter()
            .all(|r| r.query.contains("overwrite=false") || r.method == "GET")
    );

    let err = ws.lock(&lock("b", false)).unwrap_err();
    assert!(
        format!("{err:#}").starts_with("deploy lock acquired by user-a at 2026-11-26T20:00:00Z"),
        "{err:#}"
    );
    assert!(format!("{err:#}").contains("Use --force-lock to override"));

    match ws.lock(&lock("c", true)).unwrap() {
        Replaced::Forced(prev) => assert_eq!(prev.id, "a"),
        other => panic!("{other:?}"),
    }
    let warning = ws.unlock(&lock("a", false)).unwrap().unwrap();
    assert!(
        warning.contains("taken over") && warning.contains("user-c"),
        "{warning}"
    );
    assert!(ws.unlock(&lock("c", true)).unwrap().is_none());
    assert!(fake.file(&lock_path).is_none());
    assert!(
        ws.unlock(&lock("c", true))
            .unwrap()
            .unwrap()
            .contains("disappeared")
    );
}

#[test]
fn remote_backend_replaces_a_lock_of_a_dead_local_process() {
    let fake = FakeWorkspace::start();
    let ws = open(&fake);
    let mut child = std::process::Command::new("true").spawn().unwrap();
    let dead = child.id();
    child.wait().unwrap();
    let mut old = lock("old", false);
    old.pid = dead;
    assert!(matches!(ws.lock(&old).unwrap(), Replaced::Nothing));
    match ws.lock(&lock("new", false)).unwrap() {
        Replaced::Stale(h) => assert_eq!(h.pid, dead),
        other => panic!("{other:?}"),
    }
    // A holder on another host is never presumed dead.
    let mut remote_holder = lock("far", true);
    remote_holder.host = "elsewhere".into();
    remote_holder.pid = dead;
    ws.lock(&remote_holder).unwrap();
    assert!(ws.lock(&lock("mine", false)).is_err());
}

#[test]
fn remote_backend_commit_writes_in_the_cli_order_and_state_last() {
    let fake = FakeWorkspace::start();
    let ws = open(&fake);
    let root = ws.root().to_string();
    assert_eq!(
        root,
        format!("/Workspace/Users/{}/.bundle/b/dev", fake.user())
    );
    assert!(ws.current().unwrap().is_none());
    deploy(
        &ws,
        "0001",
        &[
            ("a.txt", b"A", false),
            ("nb.py", NB, true),
            ("src/pkg/deep/x.py", b"x = 1\n", false),
        ],
        &[],
    );

    assert_eq!(
        fake.object_type(&format!("{root}/files/nb")),
        Some("NOTEBOOK")
    );
    assert_eq!(
        fake.file(&format!("{root}/files/src/pkg/deep/x.py"))
            .unwrap(),
        b"x = 1\n"
    );
    assert_eq!(ws.current().unwrap().as_deref(), Some("0001"));
    assert_eq!(
        ws.read_state("deployment.json").unwrap().unwrap(),
        b"deployment.json of 0001"
    );

    // mkdirs only for leaf folders; state files after every other upload, in order.
    let log = fake.requests();
    let mkdirs: Vec<_> = log.iter().filter(|r| r.path.ends_with("/mkdirs")).collect();
    assert_eq!(
        mkdirs.len(),
        3,
        "files/, files/src/pkg/deep, artifacts/.internal: {mkdirs:?}"
    );
    let uploads: Vec<String> = log
        .iter()
        .filter(|r| r.path.contains("import-file") && r.status == 200)
        .map(|r| r.path.rsplit(".bundle/b/dev/").next().unwrap().to_string())
        .collect();
    let first_state = uploads
        .iter()
        .position(|p| p.starts_with("state/"))
        .unwrap();
    assert!(
        uploads[..first_state]
            .iter()
            .all(|p| !p.starts_with("state/"))
    );
    let states: Vec<&str> = uploads[first_state..]
        .iter()
        .map(|p| &p["state/".len()..])
        .collect();
    let mut want: Vec<&str> = STATE_FILES.to_vec();
    want.push("remote-snapshot.json");
    assert_eq!(states, want);

    // Second deploy: the notebook is removed (by its workspace name), a file changes.
    fake.clear_log();
    deploy(
        &ws,
        "0002",
        &[
            ("a.txt", b"A2", false),
            ("src/pkg/deep/x.py", b"x = 1\n", false),
        ],
        &["nb.py"],
    );
    assert!(fake.object_type(&format!("{root}/files/nb")).is_none());
    let log = fake.requests();
    let first_delete = log
        .iter()
        .position(|r| r.path.ends_with("/delete"))
        .unwrap();
    let first_put = log
        .iter()
        .position(|r| r.path.contains("import-file"))
        .unwrap();
    assert!(first_delete < first_put, "deletes go before puts");
    assert_eq!(ws.current().unwrap().as_deref(), Some("0002"));
}

#[test]
fn remote_backend_drift_finds_out_of_band_changes() {
    let fake = FakeWorkspace::start();
    let ws = open(&fake);
    let root = ws.root().to_string();
    let manifest = deploy(
        &ws,
        "0001",
        &[
            ("a.txt", b"A", false),
            ("b.txt", b"B", false),
            ("nb.py", NB, true),
        ],
        &[],
    );
    fake.clear_log();
    assert!(ws.drift(&manifest).unwrap().is_empty());
    assert!(
        fake.requests_matching("export")
            .iter()
            .all(|r| !r.query.contains("/files/")),
        "untouched files are not downloaded"
    );

    std::thread::sleep(Duration::from_millis(5));
    let c = ws.client();
    c.import_file(&format!("{root}/files/a.txt"), b"edited".to_vec(), true)
        .unwrap();
    c.delete(&format!("{root}/files/b.txt"), false).unwrap();
    c.import_file(&format!("{root}/files/extra.txt"), b"new".to_vec(), true)
        .unwrap();
    let drift = ws.drift(&manifest).unwrap();
    assert_eq!(drift.changed, ["files/a.txt"]);
    assert_eq!(drift.missing, ["files/b.txt"]);
    assert_eq!(drift.added, ["files/extra.txt"]);
}

#[test]
fn remote_backend_refuses_big_files_and_foreign_switches() {
    let fake = FakeWorkspace::start();
    let ws = open(&fake);
    let txn = ws.begin("0001").unwrap();
    let err = txn
        .put("files/big.bin", &vec![0; 10 * 1024 * 1024 + 1])
        .unwrap_err();
    assert!(
        format!("{err:#}").contains("files/big.bin: 10485761 bytes"),
        "{err:#}"
    );
    txn.abort().unwrap();
    assert!(fake.requests_matching("import-file").is_empty());
    deploy(&ws, "0001", &[("a.txt", b"A", false)], &[]);
    assert!(ws.versions().unwrap().is_empty());
    assert!(ws.switch("0000", &state("0000")).is_err());
    ws.switch("0001", &state("0001")).unwrap();
}

#[test]
fn remote_backend_root_paths() {
    assert_eq!(
        expand_root("~/.bundle/x/dev", "me@x.com").unwrap(),
        "/Workspace/Users/me@x.com/.bundle/x/dev"
    );
    assert_eq!(
        expand_root("/Users/me/b/", "u").unwrap(),
        "/Workspace/Users/me/b"
    );
    assert_eq!(
        expand_root("/Workspace/Shared/b", "u").unwrap(),
        "/Workspace/Shared/b"
    );
    assert_eq!(
        expand_root("/Volumes/c/s/v", "u").unwrap(),
        "/Volumes/c/s/v"
    );
    assert!(expand_root("relative/x", "u").is_err());
    assert!(expand_root("/Workspace/../etc", "u").is_err());
}

#[test]
fn remote_backend_opens_the_env_of_a_loaded_bundle() {
    let fake = FakeWorkspace::start();
    let dir = std::env::temp_dir().join(format!("xtask-remote-open-{}", uuid::Uuid::new_v4()));
    std::fs::create_dir_all(&dir).unwrap();
    let yml = format!(
        "bundle:\n  name: rag\ntargets:\n  dev:\n    default: true\n    workspace:\n      host: {}\n  prod:\n    workspace:\n      host: {}\n      root_path: /Shared/rag/prod\n",
        fake.url(),
        fake.url()
    );
    std::fs::write(dir.join("databricks.yml"), yml).unwrap();
    let creds = Credentials {
        host: fake.url().to_string(),
        token: Secret::new(fake.token()),
    };
    let client = Client::new(&creds, ClientOptions::default()).unwrap();
    let user = client.me().unwrap();
    let load = |target: &str| {
        let opts = crate::config::LoadOptions {
            bundle_dir: dir.clone(),
            target: Some(target.into()),
            vars: Vec::new(),
            current_user: Some(user.clone()),
        };
        let (bundle, diags) = crate::config::load(&opts);
        bundle.unwrap_or_else(|| panic!("{diags:?}"))
    };
    let dev = load("dev");
    assert_eq!(
        super::backend::target_auth(&dev, None).host.as_deref(),
        Some(fake.url())
    );
    let ws = RemoteWorkspace::open(client.clone(), &user, &dev).unwrap();
    assert_eq!(
        ws.root(),
        format!("/Workspace/Users/{user}/.bundle/rag/dev")
    );
    let ws = RemoteWorkspace::open(client.clone(), &user, &load("prod")).unwrap();
    assert_eq!(ws.root(), "/Workspace/Shared/rag/prod");
    let err = RemoteWorkspace::open(client, "someone@else.com", &dev)
        .err()
        .unwrap();
    assert!(format!("{err:#}").contains("resolved for user"), "{err:#}");
    let _ = std::fs::remove_dir_all(&dir);
}

/// Issue 18: a deploy displaced by a `--force-lock` (another process, its
/// own connection) stops before its deletes and its state write.
#[test]
fn remote_backend_a_displaced_deploy_does_not_commit() {
    let fake = FakeWorkspace::start();
    let ws = open(&fake);
    let other = open(&fake);
    deploy(&ws, "0001", &[("a.txt", b"A", false)], &[]);
    ws.lock(&lock("mine", false)).unwrap();
    assert!(matches!(
        other.lock(&lock("theirs", true)).unwrap(),
        Replaced::Forced(_)
    ));
    let txn = ws.begin("0002").unwrap();
    txn.delete("files/a.txt").unwrap();
    let manifest = Manifest::new(Vec::new(), Vec::new());
    let err = format!("{:#}", txn.commit(&manifest, &state("0002")).unwrap_err());
    assert!(
        err.contains("lost its lock") && err.contains("user-theirs"),
        "{err}"
    );
    let root = ws.root().to_string();
    assert_eq!(fake.file(&format!("{root}/files/a.txt")).unwrap(), b"A");
    assert_eq!(ws.current().unwrap().as_deref(), Some("0001"));
}

#[test]
fn remote_state_is_read_once_under_the_lock_and_afresh_after_it() {
    let fake = FakeWorkspace::start();
    let ws = open(&fake);
    let l = lock("a", false);
    ws.lock(&l).unwrap();
    ws.write_state("history.json", b"one").unwrap();
    fake.clear_log();
    // Read twice and write the same bytes back: not one request.
    for _ in 0..2 {
        assert_eq!(ws.read_state("history.json").unwrap().unwrap(), b"one");
    }
    ws.write_state("history.json", b"one").unwrap();
    assert!(fake.requests_matching("history.json").is_empty());
    // Other bytes are written, and read back as written.
    ws.write_state("history.json", b"two").unwrap();
    assert_eq!(fake.requests_matching("history.json").len(), 1);
    assert_eq!(ws.read_state("history.json").unwrap().unwrap(), b"two");
    assert!(ws.unlock(&l).unwrap().is_none());
    // Without the lock another client may write: its bytes are seen.
    fake.put(&format!("{}/state/history.json", ws.root()), b"three");
    assert_eq!(ws.read_state("history.json").unwrap().unwrap(), b"three");
    // And a new lock starts afresh.
    ws.lock(&lock("b", false)).unwrap();
    fake.put(&format!("{}/state/history.json", ws.root()), b"four");
    assert_eq!(ws.read_state("history.json").unwrap().unwrap(), b"four");
}

/// A walk lists each folder holding a file and every folder above it, up
/// to the root (not included): the count a deploy's look is bounded by.
#[test]
fn a_walk_lists_each_folder_and_those_above_it_once() {
    let root = "/W/.bundle/b/dev";
    let dirs = [
        "/W/.bundle/b/dev/files/a/b",
        "/W/.bundle/b/dev/files/a/c",
        "/W/.bundle/b/dev/artifacts",
    ];
    let dirs = dirs.iter().map(|d| d.to_string()).collect();
    // files, files/a, files/a/b, files/a/c, artifacts.
    assert_eq!(super::backend::all_folders(root, dirs), 5);
}
