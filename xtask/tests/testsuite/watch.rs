//! `cargo xtask watch` as a child process on a temp repository: after each
//! kind of change, the env's files and manifest match the working tree.
//! Every wait polls the env with a deadline; no sleep stands in for a check.

use std::collections::BTreeMap;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Stdio};
use std::time::{Duration, Instant};

use crate::xtask;
use e2e::gitrepo::Repo;

const DEADLINE: Duration = Duration::from_secs(20);

const DATABRICKS_YML: &str = "bundle:\n  name: watchdemo\ntargets:\n  test:\n    default: true\n";

struct Watch {
    child: Child,
    log: PathBuf,
}

impl Watch {
    fn start(repo: &Repo, extra: &[&str]) -> Watch {
        Watch::start_with(repo, extra, &[])
    }

    fn start_with(repo: &Repo, extra: &[&str], env: &[(&str, &str)]) -> Watch {
        let log = repo.join("watch.log");
        let file = std::fs::File::create(&log).expect("creating the log");
        let child = xtask()
            .envs(env.iter().copied())
            .arg("--bundle-dir")
            .arg(repo.join("bundle"))
            .args(["watch", "--env", "test"])
            .args(extra)
            .stdout(Stdio::from(file.try_clone().expect("cloning")))
            .stderr(Stdio::from(file))
            .spawn()
            .expect("starting watch");
        Watch { child, log }
    }

    fn output(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }

    /// Wait until `cond` holds, or fail with what watch printed.
    fn until(&mut self, what: &str, mut cond: impl FnMut() -> bool) {
        let start = Instant::now();
        while start.elapsed() < DEADLINE {
            if cond() {
                return;
            }
            if let Ok(Some(status)) = self.child.try_wait() {
                panic!(
                    "watch exited ({status}) while waiting for {what}:\n{}",
                    self.output()
                );
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        panic!(
            "timed out waiting for {what}; watch printed:\n{}",
            self.output()
        );
    }
}

impl Drop for Watch {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Relative path → content of every regular file under `dir`, skipping what
/// the predicate rejects.
fn tree(dir: &Path, keep: &dyn Fn(&str) -> bool) -> BTreeMap<String, Vec<u8>> {
    fn walk(
        base: &Path,
        dir: &Path,
        keep: &dyn Fn(&str) -> bool,
        out: &mut BTreeMap<String, Vec<u8>>,
    ) {
        let Ok(entries) = std::fs::read_dir(dir) else {
            return;
        };
        for entry in entries.flatten() {
            let path = entry.path();
            let rel = path
                .strip_prefix(base)
                .expect("inside")
                .to_string_lossy()
                .into_owned();
            if !keep(&rel) {
                continue;
            }
            if path.is_dir() {
                walk(base, &path, keep, out);
            } else if let Ok(bytes) = std::fs::read(&path) {
                out.insert(rel, bytes);
            }
        }
    }
    let mut out = BTreeMap::new();
    walk(dir, dir, keep, &mut out);
    out
}

fn env_files(repo: &Repo) -> BTreeMap<String, Vec<u8>> {
    tree(&repo.join(".bundle/watchdemo/test/files"), &|_| true)
}

fn manifest_paths(repo: &Repo) -> Vec<String> {
    let path = repo.join(".bundle/watchdemo/test/artifacts/manifest.json");
    let Ok(text) = std::fs::read_to_string(path) else {
        return Vec::new();
    };
    let Ok(doc) = serde_json::from_str::<serde_json::Value>(&text) else {
        return Vec::new();
    };
    let mut paths: Vec<String> = doc["files"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(|f| f["path"].as_str().map(str::to_string))
        .collect();
    paths.sort();
    paths
}

/// The env holds exactly the bundle's files (minus `ignored`), with the same
/// bytes, and the manifest lists exactly them.
fn in_sync(repo: &Repo, ignored: &[&str]) -> bool {
    let want = tree(&repo.join("bundle"), &|rel| !ignored.contains(&rel));
    let got = env_files(repo);
    got == want && manifest_paths(repo) == want.keys().cloned().collect::<Vec<_>>()
}

fn project() -> Repo {
    let repo = Repo::new();
    repo.write(".gitignore", ".bundle/\nwatch.log\n");
    repo.write("bundle/databricks.yml", DATABRICKS_YML);
    repo.write("bundle/src/app.py", "print('v1')\n");
    repo.write("bundle/src/util.py", "X = 1\n");
    repo.commit("a bundle");
    repo
}

#[test]
fn every_kind_of_change_lands_in_the_env() {
    let repo = project();
    let mut watch = Watch::start(&repo, &[]);
    watch.until("the initial sync", || in_sync(&repo, &[]));

    // A same-size edit right after the sync (same second, same size).
    repo.write("bundle/src/app.py", "print('v2')\n");
    watch.until("a same-size edit", || in_sync(&repo, &[]));

    // An editor's atomic save: write a temp file, rename it over the original.
    let tmp = repo.join("bundle/src/.app.py.swp");
    std::fs::write(&tmp, "print('saved atomically')\n").expect("writing");
    std::fs::rename(&tmp, repo.join("bundle/src/app.py")).expect("renaming");
    watch.until("an atomic save", || in_sync(&repo, &[]));

    // A new folder, then a file in it (the folder must be watched as it appears).
    std::fs::create_dir_all(repo.join("bundle/pkg/deep")).expect("mkdir");
    repo.write("bundle/pkg/deep/mod.py", "Y = 2\n");
    watch.until("a file in a new folder", || in_sync(&repo, &[]));
    repo.write("bundle/pkg/deep/later.py", "Z = 3\n");
    watch.until("a second file in the new folder", || in_sync(&repo, &[]));

    // A rename and a delete.
    std::fs::rename(
        repo.join("bundle/src/util.py"),
        repo.join("bundle/src/helpers.py"),
    )
    .expect("renaming");
    watch.until("a rename", || in_sync(&repo, &[]));
    std::fs::remove_file(repo.join("bundle/pkg/deep/mod.py")).expect("deleting");
    watch.until("a delete", || in_sync(&repo, &[]));

    // .gitignore edits re-resolve the file set.
    repo.write("bundle/.gitignore", "*.log\n");
    repo.write("bundle/debug.log", "noise\n");
    watch.until("an ignore rule", || in_sync(&repo, &["debug.log"]));

    // An invalid databricks.yml is reported with its location; the loop
    // waits for the fix, and the env keeps what it had.
    let before = env_files(&repo);
    repo.write("bundle/databricks.yml", "bundle:\n  name: [unclosed\n");
    watch.until("the configuration error", || {
        watch_output_has(&repo, "databricks.yml:2:")
    });
    assert_eq!(
        env_files(&repo),
        before,
        "a broken configuration must not change the env"
    );
    // A change made while broken lands once the configuration is fixed.
    repo.write("bundle/src/app.py", "print('while broken')\n");
    repo.write("bundle/databricks.yml", DATABRICKS_YML);
    watch.until("recovery after the fix", || in_sync(&repo, &["debug.log"]));
}

fn watch_output_has(repo: &Repo, needle: &str) -> bool {
    std::fs::read_to_string(repo.join("watch.log"))
        .unwrap_or_default()
        .contains(needle)
}

#[test]
fn sigterm_exits_cleanly_and_releases_the_lock() {
    let repo = project();
    let mut watch = Watch::start(&repo, &[]);
    watch.until("the initial sync", || in_sync(&repo, &[]));
    let pid = watch.child.id() as i32;
    // SAFETY: sending a signal to our own child process.
    assert_eq!(unsafe { libc_kill(pid, 15) }, 0);
    let start = Instant::now();
    let status = loop {
        if let Some(status) = watch.child.try_wait().expect("waiting") {
            break status;
        }
        assert!(start.elapsed() < DEADLINE, "watch did not exit on SIGTERM");
        std::thread::sleep(Duration::from_millis(20));
    };
    assert!(
        status.success(),
        "watch exited with {status}: {}",
        watch.output()
    );
    assert!(
        !repo
            .join(".bundle/watchdemo/test/state/deploy.lock")
            .exists(),
        "the lock was left behind"
    );
}

fn synced_lines(watch: &Watch) -> usize {
    watch.output().matches(" synced test: ").count()
}

fn kept_versions(repo: &Repo) -> usize {
    let dir = repo.join(".bundle/watchdemo/test/.deployments");
    std::fs::read_dir(dir)
        .map(|entries| {
            entries
                .flatten()
                .filter(|e| !e.path().join(".husk").exists())
                .count()
        })
        .unwrap_or(0)
}

#[test]
fn one_sync_per_save_and_old_versions_pruned_when_idle() {
    let repo = project();
    let mut watch = Watch::start(&repo, &[]);
    watch.until("the initial sync", || in_sync(&repo, &[]));
    for i in 0..8 {
        repo.write("bundle/src/app.py", &format!("print({i})\n"));
        watch.until("a save", || in_sync(&repo, &[]));
    }
    // Syncs leave old versions for an idle moment; then history is 5 again.
    watch.until("pruning when idle", || kept_versions(&repo) == 5);
    // The sync's own reads of the tree raise no events worth a sync: one
    // sync for the start, one per save (a feedback loop would add more
    // while the loop waited for the idle prune above).
    assert_eq!(synced_lines(&watch), 9, "{}", watch.output());
    // The prune releases the lock a moment after its last version is gone.
    let lock = repo.join(".bundle/watchdemo/test/state/deploy.lock");
    watch.until("the lock released", || !lock.exists());
}

#[test]
fn saves_trust_the_env_and_an_idle_check_repairs_it() {
    let repo = project();
    // Idle after 3 s, not 1: on a loaded machine the whole-tree check must
    // not slip in between the save's sync and the look at the env below.
    let mut watch = Watch::start_with(&repo, &[], &[("XTASK_WATCH_IDLE_MS", "3000")]);
    watch.until("the initial sync", || in_sync(&repo, &[]));
    // Out of band: a deployed file edited in place.
    let tampered = repo.join(".bundle/watchdemo/test/files/src/util.py");
    std::fs::set_permissions(&tampered, std::fs::Permissions::from_mode(0o644)).expect("chmod");
    std::fs::write(&tampered, "EVIL\n").expect("writing into the env");
    // A save syncs its folder only, taking the env to be as the last sync
    // left it: the new content lands, the edit is not looked for...
    repo.write("bundle/src/app.py", "print('saved')\n");
    watch.until("the save", || {
        env_files(&repo).get("src/app.py").map(Vec::as_slice) == Some(&b"print('saved')\n"[..])
    });
    assert_eq!(
        std::fs::read_to_string(&tampered).expect("reading"),
        "EVIL\n",
        "a save's sync checked the whole env"
    );
    // ...until the loop is idle: then the whole env is checked and repaired.
    watch.until("the idle check", || in_sync(&repo, &[]));
    // The line is printed once the sync has returned, a moment after the switch.
    let log = repo.join("watch.log");
    watch.until("the repair reported", || {
        std::fs::read_to_string(&log).is_ok_and(|o| o.contains("1 repaired"))
    });
}

#[test]
fn a_file_still_being_written_waits_for_its_close() {
    use std::io::Write;
    let repo = project();
    // A long window: only the close of the file may end the batch early.
    let mut watch = Watch::start(&repo, &["--debounce-ms", "3000"]);
    watch.until("the initial sync", || in_sync(&repo, &[]));
    let path = repo.join("bundle/src/app.py");
    let mut f = std::fs::File::create(&path).expect("opening");
    f.write_all(b"print('half").expect("writing");
    f.flush().expect("flushing");
    // A writer at work, far longer than the settle time: nothing syncs.
    std::thread::sleep(Duration::from_millis(400));
    assert_eq!(synced_lines(&watch), 1, "{}", watch.output());
    f.write_all(b" and whole')\n").expect("writing");
    drop(f);
    let closed = Instant::now();
    watch.until("the closed file", || in_sync(&repo, &[]));
    assert!(
        closed.elapsed() < Duration::from_millis(2500),
        "the close did not end the debounce window early"
    );
    // The line comes once the sync has returned, a moment after the switch.
    let log = watch.log.clone();
    watch.until("the sync reported", || {
        std::fs::read_to_string(&log).is_ok_and(|o| o.matches(" synced test: ").count() >= 2)
    });
    assert_eq!(synced_lines(&watch), 2, "{}", watch.output());
}

#[test]
fn poll_mode_compares_content() {
    let repo = project();
    let mut watch = Watch::start(&repo, &["--poll"]);
    watch.until("the initial sync", || in_sync(&repo, &[]));
    repo.write("bundle/src/app.py", "print('v3')\n");
    watch.until("a same-size edit, polled", || in_sync(&repo, &[]));
    repo.write("bundle/new/file.txt", "hello\n");
    watch.until("a new file, polled", || in_sync(&repo, &[]));
}

unsafe extern "C" {
    #[link_name = "kill"]
    fn libc_kill(pid: i32, sig: i32) -> i32;
}

/// A sync refused because a manual deploy holds the lock is tried again
/// once the lock is free, without waiting for another save (issue 18).
#[test]
fn a_sync_refused_by_the_lock_is_retried() {
    let repo = project();
    let state = repo.join(".bundle/watchdemo/test/state");
    std::fs::create_dir_all(&state).expect("state folder");
    // Held by this (live) test process, as another deploy would hold it.
    let lock = format!(
        r#"{{"ID":"manual","AcquisitionTime":"","IsForced":false,"User":"alice","pid":{},"host":"h"}}"#,
        std::process::id()
    );
    std::fs::write(state.join("deploy.lock"), lock).expect("lock");
    let mut watch = Watch::start(&repo, &[]);
    watch.until("the refused sync", || {
        watch_output_has(&repo, "sync failed")
    });
    assert!(!in_sync(&repo, &[]));
    std::fs::remove_file(state.join("deploy.lock")).expect("unlock");
    watch.until("the retried sync", || in_sync(&repo, &[]));
}

/// The stale-lock warning reaches watch's output too (issue 18).
#[test]
fn watch_says_when_it_takes_over_a_stale_lock() {
    let repo = project();
    let state = repo.join(".bundle/watchdemo/test/state");
    std::fs::create_dir_all(&state).expect("state folder");
    let mut child = std::process::Command::new("true").spawn().expect("true");
    let dead = child.id();
    child.wait().expect("waiting");
    let boot = std::fs::read_to_string("/proc/sys/kernel/random/boot_id").expect("boot id");
    let ns = std::fs::read_link("/proc/self/ns/pid").expect("pid ns");
    let host = std::fs::read_to_string("/proc/sys/kernel/hostname").expect("hostname");
    let lock = format!(
        r#"{{"ID":"old","AcquisitionTime":"","IsForced":false,"User":"alice","pid":{dead},"host":"{}","boot_id":"{}","pid_ns":"{}"}}"#,
        host.trim(),
        boot.trim(),
        ns.display()
    );
    std::fs::write(state.join("deploy.lock"), lock).expect("lock");
    let mut watch = Watch::start(&repo, &[]);
    watch.until("the initial sync", || in_sync(&repo, &[]));
    let log = watch.log.clone();
    watch.until("the warning", || {
        std::fs::read_to_string(&log).is_ok_and(|o| o.contains("took over a stale lock"))
    });
}
