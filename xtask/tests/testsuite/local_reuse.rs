//! Issue 14, guarantee 2: a local deploy that rewrites the oldest kept
//! version into the new one never carries over bytes edited out of band,
//! in that old version or in an inode it shares with newer ones.

use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};

use crate::support::deploy::{Repo, strings, text};

const CHUNK: &str = "rag/chunk.py";

/// A new version: only README.md changes, so every other file is linked
/// (or, once history is full, kept from the oldest version).
fn deploy(repo: &Repo, n: usize) -> String {
    repo.write("README.md", &format!("v{n}\n"));
    let r = repo.deploy("dev");
    r["deployment_id"]
        .as_str()
        .expect("deployment_id")
        .to_string()
}

fn version_dir(repo: &Repo, id: &str) -> PathBuf {
    repo.env_dir("dev").join(".deployments").join(id)
}

fn current(repo: &Repo) -> String {
    let link = std::fs::read_link(repo.env_dir("dev").join("current")).unwrap();
    link.file_name().unwrap().to_string_lossy().into_owned()
}

/// An edit in place: the read-only mode does not stop root, nor `chmod u+w`.
fn tamper(path: &Path) {
    let mode = std::fs::metadata(path).unwrap().permissions();
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o644)).unwrap();
    std::fs::write(path, "tampered\n").unwrap();
    std::fs::set_permissions(path, mode).unwrap();
}

/// The current version holds the source's bytes and `status` sees no drift.
fn assert_clean(repo: &Repo, when: &str) {
    let want = std::fs::read(repo.bundle().join(CHUNK)).unwrap();
    let got = std::fs::read(repo.env_dir("dev").join("files").join(CHUNK)).unwrap();
    assert_eq!(
        String::from_utf8_lossy(&got),
        String::from_utf8_lossy(&want),
        "{when}: the current version's {CHUNK}"
    );
    let status = repo.json(&["status", "--env", "dev"]);
    assert_eq!(
        status[0]["drift"],
        serde_json::json!({"changed": [], "added": [], "missing": []}),
        "{when}"
    );
}

fn kept(repo: &Repo) -> Vec<String> {
    let mut v: Vec<String> = std::fs::read_dir(repo.env_dir("dev").join(".deployments"))
        .unwrap()
        .flatten()
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .collect();
    v.sort();
    v
}

/// (a) A file edited in an old version where it is no longer the current
/// version's inode (its path changed since, then changed back): the deploy
/// that rewrites that version into the new one does not keep the edit.
#[test]
fn an_edit_in_an_old_version_never_reaches_the_version_rewritten_from_it() {
    let repo = Repo::new();
    let source = std::fs::read_to_string(repo.bundle().join(CHUNK)).unwrap();
    let oldest = deploy(&repo, 0);
    repo.write(CHUNK, "def chunk(s):\n    return [s]\n");
    deploy(&repo, 1);
    repo.write(CHUNK, &source);
    for n in 2..5 {
        deploy(&repo, n);
    }
    assert_eq!(kept(&repo).len(), 5);
    let old = version_dir(&repo, &oldest).join("files").join(CHUNK);
    tamper(&old);
    // The current version is untouched: nothing to see yet.
    assert_clean(&repo, "after the edit");
    deploy(&repo, 5);
    assert!(
        !kept(&repo).contains(&oldest),
        "the oldest version was not reused: {:?}",
        kept(&repo)
    );
    assert_clean(&repo, "after the deploy that reused the edited version");
}

/// (b) A file of the current version edited in place, shared by every kept
/// version: the next deploy repairs it, and the older versions that still
/// hold the edited inode never bring it back when they are reused.
#[test]
fn an_edit_repaired_once_never_comes_back_from_the_versions_that_shared_it() {
    let repo = Repo::new();
    for n in 0..5 {
        deploy(&repo, n);
    }
    tamper(&repo.env_dir("dev").join("files").join(CHUNK));
    let status = repo.json(&["status", "--env", "dev"]);
    assert_eq!(
        strings(&status[0]["drift"]["changed"]),
        [format!("files/{CHUNK}")]
    );
    let r = repo.deploy("dev");
    assert_eq!(strings(&r["files"]["put"]), [CHUNK], "{r}");
    assert_clean(&repo, "after the repair");
    // Each of the next five deploys rewrites one of the versions that
    // shared the edited inode.
    for n in 5..11 {
        deploy(&repo, n);
        assert_clean(&repo, &format!("deploy {n}"));
    }
}

/// Five versions sharing one inode of [`CHUNK`], edited in place and
/// repaired by a sixth deploy; the ids, oldest first.
fn edited_history(repo: &Repo) -> Vec<String> {
    let mut ids = Vec::new();
    for n in 0..5 {
        ids.push(deploy(repo, n));
    }
    tamper(&repo.env_dir("dev").join("files").join(CHUNK));
    ids.push(deploy(repo, 5));
    assert_clean(repo, "after the repair");
    ids
}

/// After a rollback to `ids[2]`: the deploys that follow build on it and
/// reuse versions both on its line (older) and off it (newer than it).
fn deploy_after_rollback(repo: &Repo, ids: &[String]) {
    assert_eq!(current(repo), ids[2]);
    assert_clean(repo, "after the rollback");
    for n in 6..13 {
        deploy(repo, n);
        assert_clean(repo, &format!("deploy {n} after the rollback"));
    }
    assert!(kept(repo).len() <= 5, "{:?}", kept(repo));
}

/// A rollback to the middle of the history repairs that version from
/// another (its copy of the file is the edited inode); the current version
/// stays clean through the deploys that follow.
#[test]
fn deploys_after_a_rollback_to_the_middle_reuse_only_what_they_can_trust() {
    let repo = Repo::new();
    let ids = edited_history(&repo);
    let seq = ids[2][..4].parse::<u64>().unwrap().to_string();
    let out = repo.run(&["rollback", "--env", "dev", "--to", &seq]);
    assert!(out.status.success(), "{}", text(&out));
    deploy_after_rollback(&repo, &ids);
}

/// The same rollback killed at each of its steps, then run again: a repair
/// is recorded before it is made, so none is ever trusted unrecorded.
#[test]
fn a_rollback_that_repairs_killed_at_any_step_still_leaves_reuse_safe() {
    for n in 1..40 {
        let repo = Repo::new();
        let ids = edited_history(&repo);
        let killed = repo
            .xtask(&["rollback", "--env", "dev", "--to", &ids[2]])
            .env("XTASK_FAULT_AFTER_STEP", n.to_string())
            .output()
            .unwrap();
        if !killed.status.success() {
            assert_eq!(killed.status.code(), None, "step {n}: {}", text(&killed));
            let again = repo.run(&["rollback", "--env", "dev", "--to", &ids[2]]);
            assert!(again.status.success(), "step {n}: {}", text(&again));
            assert_no_temp_files(&repo.env_dir("dev"), n);
        }
        deploy_after_rollback(&repo, &ids);
        if killed.status.success() {
            assert!(n > 3, "a rollback of only {n} steps?");
            return;
        }
    }
    panic!("the rollback never finished");
}

/// Nothing a killed run wrote for itself is left once a command has run
/// again: no temp file anywhere in the env, in its trees or beside them.
fn assert_no_temp_files(dir: &Path, step: usize) {
    for e in std::fs::read_dir(dir).unwrap().flatten() {
        let name = e.file_name().to_string_lossy().into_owned();
        assert!(
            !name.contains(".tmp"),
            "step {step}: {}",
            e.path().display()
        );
        if e.file_type().unwrap().is_dir() {
            assert_no_temp_files(&e.path(), step);
        }
    }
}

/// Versions written before lineages were recorded (or whose lineage is
/// damaged) vouch for nothing: the deploys that drop them build the new
/// version from the current one, and the current version stays clean.
#[test]
fn versions_without_a_lineage_are_never_rewritten_into_a_new_one() {
    let repo = Repo::new();
    let mut ids = Vec::new();
    for n in 0..5 {
        ids.push(deploy(&repo, n));
    }
    tamper(&repo.env_dir("dev").join("files").join(CHUNK));
    deploy(&repo, 5);
    for id in &ids[1..] {
        let lineage = version_dir(&repo, id).join(".lineage");
        assert!(lineage.is_file(), "{}", lineage.display());
        std::fs::remove_file(lineage).unwrap();
    }
    std::fs::write(version_dir(&repo, &ids[4]).join(".lineage"), "{").unwrap();
    for n in 6..11 {
        deploy(&repo, n);
        assert_clean(&repo, &format!("deploy {n}"));
    }
    assert_eq!(kept(&repo).len(), 5, "{:?}", kept(&repo));
}
