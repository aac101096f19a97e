//! The local deploy lock against the findings of issue 18: a live holder is
//! never taken over (not even with `--force-lock`), a pid alone never makes a
//! holder dead, an empty or cut-short lock file does not wedge the env, and a
//! displaced holder neither prunes nor switches.

use std::fs;
use std::process::{Child, Command};

use super::*;
use crate::workspace::local::lockfile::process_identity;

fn lock(id: &str, forced: bool) -> LockInfo {
    LockInfo {
        id: id.into(),
        user: format!("user-{id}"),
        is_forced: forced,
        host: hostname(),
        ..process_identity()
    }
}

fn env() -> (tempfile::TempDir, LocalWorkspace) {
    let dir = tempfile::tempdir().unwrap();
    let ws = LocalWorkspace::new(dir.path().join("env"));
    fs::create_dir_all(dir.path().join("env")).unwrap();
    (dir, ws)
}

fn put_lock(ws: &LocalWorkspace, body: &[u8]) {
    fs::create_dir_all(ws.state_dir()).unwrap();
    fs::write(ws.state_dir().join("deploy.lock"), body).unwrap();
}

fn dead_pid() -> u32 {
    let mut child = Command::new("true").spawn().unwrap();
    let pid = child.id();
    child.wait().unwrap();
    pid
}

fn sleeper() -> Child {
    Command::new("sleep").arg("30").spawn().unwrap()
}

#[test]
fn a_live_holder_is_never_taken_over_even_forced() {
    let (_dir, a) = env();
    let b = LocalWorkspace::new(a.env.clone());
    assert!(matches!(
        a.lock(&lock("a", false)).unwrap(),
        Replaced::Nothing
    ));
    for forced in [false, true] {
        let err = format!("{:#}", b.lock(&lock("b", forced)).unwrap_err());
        assert!(err.contains("user-a") && err.contains("running"), "{err}");
    }
    assert_eq!(a.unlock(&lock("a", false)).unwrap(), None);
    // A child another test forks in this process holds a copy of every open
    // descriptor, `.lock-held` included, until it execs: the flock may
    // outlive the unlock by that window, so allow it a moment to close.
    let mut taken = b.lock(&lock("b", false));
    for _ in 0..100 {
        if taken.is_ok() {
            break;
        }
        std::thread::sleep(std::time::Duration::from_millis(20));
        taken = b.lock(&lock("b", false));
    }
    assert!(matches!(taken.unwrap(), Replaced::Nothing));
}

#[test]
fn a_pid_alone_never_makes_a_holder_dead() {
    let (_dir, ws) = env();
    // Same host name, dead pid, but another PID namespace (a container) or
    // another boot (a clone of this machine): presumed alive.
    for (ns, boot) in [("pid:[1]", None), ("", Some("another-boot"))] {
        let mut h = lock("old", false);
        h.pid = dead_pid();
        if !ns.is_empty() {
            h.pid_ns = ns.into();
        }
        if let Some(b) = boot {
            h.boot_id = b.into();
        }
        put_lock(&ws, &serde_json::to_vec(&h).unwrap());
        let err = format!("{:#}", ws.lock(&lock("new", false)).unwrap_err());
        assert!(err.contains("--force-lock"), "{err}");
    }
    // A lock without the identity fields (an older writer): not presumed dead.
    put_lock(
        &ws,
        format!(
            r#"{{"ID":"x","AcquisitionTime":"","IsForced":false,"User":"u","pid":{},"host":"{}"}}"#,
            dead_pid(),
            hostname()
        )
        .as_bytes(),
    );
    assert!(ws.lock(&lock("new", false)).is_err());

    // This machine, this namespace, the pid gone: stale.
    let mut h = lock("old", false);
    h.pid = dead_pid();
    put_lock(&ws, &serde_json::to_vec(&h).unwrap());
    assert!(matches!(
        ws.lock(&lock("new", false)).unwrap(),
        Replaced::Stale(_)
    ));
    ws.unlock(&lock("new", false)).unwrap();

    // The pid alive, but a process started at another time (pid reuse): stale.
    let mut child = sleeper();
    let mut h = lock("old", false);
    h.pid = child.id();
    h.start_time = 1;
    put_lock(&ws, &serde_json::to_vec(&h).unwrap());
    let replaced = ws.lock(&lock("new", false));
    let _ = child.kill();
    let _ = child.wait();
    assert!(matches!(replaced.unwrap(), Replaced::Stale(_)));
    ws.unlock(&lock("new", false)).unwrap();

    // The pid alive with its own start time: held.
    let mut child = sleeper();
    let mut h = lock("old", false);
    h.pid = child.id();
    h.start_time = lockfile::process_identity_of(child.id()).start_time;
    put_lock(&ws, &serde_json::to_vec(&h).unwrap());
    let refused = ws.lock(&lock("new", false));
    let _ = child.kill();
    let _ = child.wait();
    assert!(refused.is_err());
}

#[test]
fn an_empty_or_cut_short_lock_is_recovered() {
    let (_dir, ws) = env();
    for body in [&b""[..], b"{\"ID\":\"abc\",\"Acq"] {
        put_lock(&ws, body);
        match ws.lock(&lock("new", false)).unwrap() {
            Replaced::Unreadable(_) => {}
            other => panic!("{other:?}"),
        }
        assert_eq!(ws.unlock(&lock("new", false)).unwrap(), None);
    }
    // Something else entirely is still left for a person to look at.
    put_lock(&ws, b"not a lock");
    assert!(ws.lock(&lock("new", false)).is_err());
}

#[test]
fn a_displaced_holder_neither_prunes_nor_switches() {
    let (_dir, ws) = env();
    for id in ["v1", "v2"] {
        fs::create_dir_all(ws.version_dir(id).join("files")).unwrap();
        fs::create_dir_all(ws.version_dir(id).join("artifacts")).unwrap();
        fs::write(ws.version_dir(id).join("files/a.txt"), id).unwrap();
        // The manifest a switch checks the version against.
        let manifest = serde_json::json!({
            "version": 1,
            "digest": id,
            "files": [{
                "path": "a.txt",
                "size": id.len(),
                "hash": blake3::hash(id.as_bytes()).to_hex().to_string(),
            }],
            "artifacts": [],
        });
        fs::write(
            ws.version_dir(id).join("artifacts/manifest.json"),
            manifest.to_string(),
        )
        .unwrap();
    }
    ws.lock(&lock("mine", false)).unwrap();
    // A `--force-lock` from another host replaces the lock file meanwhile.
    let mut other = lock("theirs", true);
    other.host = "elsewhere".into();
    put_lock(&ws, &serde_json::to_vec(&other).unwrap());

    let err = format!("{:#}", ws.prune(&[]).unwrap_err());
    assert!(
        err.contains("lost its lock") && err.contains("user-theirs"),
        "{err}"
    );
    assert!(ws.version_dir("v1").join("files/a.txt").is_file());
    let err = format!("{:#}", ws.switch("v2", &[]).unwrap_err());
    assert!(err.contains("lost its lock"), "{err}");
    assert_eq!(ws.current().unwrap(), None, "nothing switched in");
    let warning = ws.unlock(&lock("mine", false)).unwrap().unwrap();
    assert!(warning.contains("taken over"), "{warning}");

    // Holding the lock, the same steps go through.
    fs::remove_file(ws.state_dir().join("deploy.lock")).unwrap();
    ws.lock(&lock("again", false)).unwrap();
    ws.switch("v2", &[]).unwrap();
    ws.prune(&[]).unwrap();
    assert_eq!(ws.current().unwrap().as_deref(), Some("v2"));
    assert!(!ws.version_dir("v1").join("files/a.txt").exists());
}

/// A lock released a moment after it is asked for (a forked child of the
/// holder closing its copy at `exec`) is taken, not reported as a live
/// deploy; one held on is refused.
#[test]
fn a_lock_released_within_a_moment_is_taken() {
    let (_dir, ws) = env();
    let held = ws.env.join(".lock-held");
    let holder = lockfile::try_hold(&held).unwrap().expect("free");
    let releaser = std::thread::spawn(move || {
        std::thread::sleep(std::time::Duration::from_millis(60));
        drop(holder);
    });
    assert!(lockfile::try_hold(&held).unwrap().is_some());
    releaser.join().unwrap();

    let _holder = lockfile::try_hold(&held).unwrap().expect("free");
    assert!(lockfile::try_hold(&held).unwrap().is_none());
}
