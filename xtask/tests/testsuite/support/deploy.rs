//! Support for the deploy tests: a bundle in a temp git repository, the
//! xtask binary run against it, and views of the environment it deploys to.

use std::collections::BTreeMap;
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use serde_json::Value;

/// A temp git repository holding a bundle in `bundle/`, deployed under `<tmp>/root`.
pub struct Repo {
    pub dir: tempfile::TempDir,
}

pub const DATABRICKS_YML: &str = "\
bundle:
  name: demo
include:
  - resources/*.yml
targets:
  dev:
    default: true
  test: {}
  staging: {}
";

pub const JOB_YML: &str = "\
resources:
  jobs:
    train:
      name: train
      tasks:
        - task_key: main
          notebook_task:
            notebook_path: ../training/train.py
  experiments:
    exp:
      name: /Shared/demo-exp
";

impl Repo {
    /// A bundle with a job, an experiment, a notebook, a package and plain files, committed.
    pub fn new() -> Repo {
        let repo = Repo {
            dir: tempfile::tempdir().expect("tempdir"),
        };
        repo.write("databricks.yml", DATABRICKS_YML);
        repo.write("resources/job.yml", JOB_YML);
        repo.write(
            "training/train.py",
            "# Databricks notebook source\nprint('train')\n",
        );
        repo.write("rag/__init__.py", "VERSION = 1\n");
        repo.write("rag/chunk.py", "def chunk(s):\n    return s.split()\n");
        repo.write("README.md", "demo\n");
        repo.git(&["init", "-q", "-b", "main"]);
        repo.git(&["add", "-A"]);
        repo.git(&["commit", "-q", "-m", "init"]);
        repo
    }

    /// An empty directory (no git), for tests that write their own bundle.
    pub fn empty() -> Repo {
        Repo {
            dir: tempfile::tempdir().expect("tempdir"),
        }
    }

    pub fn path(&self) -> &Path {
        self.dir.path()
    }
    pub fn bundle(&self) -> PathBuf {
        self.path().join("bundle")
    }
    pub fn root(&self) -> PathBuf {
        self.path().join("root")
    }
    pub fn env_dir(&self, env: &str) -> PathBuf {
        self.root().join(".bundle/demo").join(env)
    }

    pub fn write(&self, rel: &str, content: &str) {
        let p = self.bundle().join(rel);
        std::fs::create_dir_all(p.parent().expect("parent")).expect("mkdir");
        std::fs::write(&p, content).expect("write");
    }

    pub fn git(&self, args: &[&str]) {
        let out = Command::new("git")
            .args(["-c", "user.email=dev@example.com", "-c", "user.name=Dev"])
            .args(args)
            .current_dir(self.path())
            .output()
            .expect("git");
        assert!(
            out.status.success(),
            "git {args:?}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
    }

    /// `xtask <args> --bundle-dir bundle --root root`.
    pub fn xtask(&self, args: &[&str]) -> Command {
        let mut cmd = crate::xtask();
        cmd.args(args)
            .arg("--bundle-dir")
            .arg(self.bundle())
            .arg("--root")
            .arg(self.root());
        cmd.env_remove("XTASK_FAULT_AFTER_STEP")
            .env_remove("XTASK_FAULT_ERROR_AT_STEP");
        cmd.env_remove("XTASK_DEPLOY_HISTORY")
            .env_remove("XTASK_FAULT_UNREADABLE");
        cmd.current_dir(self.path());
        cmd
    }

    pub fn run(&self, args: &[&str]) -> Output {
        self.xtask(args).output().expect("running xtask")
    }

    /// Run with `--json`, expect success, parse stdout.
    pub fn json(&self, args: &[&str]) -> Value {
        let mut a = args.to_vec();
        a.push("--json");
        let out = self.run(&a);
        assert!(
            out.status.success(),
            "xtask {args:?} failed:\n{}",
            text(&out)
        );
        serde_json::from_slice(&out.stdout)
            .unwrap_or_else(|e| panic!("bad JSON from {args:?}: {e}\n{}", text(&out)))
    }

    pub fn deploy(&self, env: &str) -> Value {
        self.json(&["deploy", "--env", env])
    }

    /// `<env>/files` content: relative path → bytes, following the env's links.
    pub fn deployed(&self, env: &str) -> BTreeMap<String, Vec<u8>> {
        files_under(&self.env_dir(env).join("files"))
    }

    pub fn state(&self, env: &str, name: &str) -> Value {
        let p = self.env_dir(env).join("state").join(name);
        serde_json::from_slice(
            &std::fs::read(&p).unwrap_or_else(|e| panic!("{}: {e}", p.display())),
        )
        .expect("state JSON")
    }
}

impl Default for Repo {
    fn default() -> Self {
        Repo::new()
    }
}

pub fn text(out: &Output) -> String {
    format!(
        "status {}\nstdout:\n{}\nstderr:\n{}",
        out.status,
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    )
}

/// Every regular file under `dir` (following symlinks at the top), relative path → bytes.
pub fn files_under(dir: &Path) -> BTreeMap<String, Vec<u8>> {
    let mut out = BTreeMap::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        let Ok(entries) = std::fs::read_dir(&d) else {
            continue;
        };
        for e in entries.flatten() {
            let p = e.path();
            if p.is_dir() {
                stack.push(p);
            } else {
                let rel = p
                    .strip_prefix(dir)
                    .expect("under")
                    .to_string_lossy()
                    .into_owned();
                out.insert(rel, std::fs::read(&p).expect("read"));
            }
        }
    }
    out
}

/// A fingerprint of everything under `dir`, links not followed: paths,
/// kinds, link targets, modes, sizes, mtimes and content hashes of files.
/// (Folder mtimes are left out: taking and releasing the lock touches `state/`.)
/// Equal before and after means nothing was written.
pub fn tree_hash(dir: &Path) -> Vec<String> {
    use std::hash::{Hash, Hasher};
    let mut lines = Vec::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        let Ok(entries) = std::fs::read_dir(&d) else {
            continue;
        };
        for e in entries.flatten() {
            let p = e.path();
            let m = std::fs::symlink_metadata(&p).expect("lstat");
            let rel = p
                .strip_prefix(dir)
                .expect("under")
                .to_string_lossy()
                .into_owned();
            if m.file_type().is_symlink() {
                lines.push(format!(
                    "L {rel} -> {}",
                    std::fs::read_link(&p).expect("readlink").display()
                ));
            } else if m.is_dir() {
                lines.push(format!("D {rel} {:o}", m.mode()));
                stack.push(p);
            } else {
                let mut h = std::collections::hash_map::DefaultHasher::new();
                std::fs::read(&p).unwrap_or_default().hash(&mut h);
                let mtime = m.mtime_nsec() + m.mtime() * 1_000_000_000;
                lines.push(format!(
                    "F {rel} {:o} {} {mtime} {:x}",
                    m.mode(),
                    m.size(),
                    h.finish()
                ));
            }
        }
    }
    lines.sort();
    lines
}

/// Assert two `tree_hash`es are equal, showing only the differing lines.
pub fn assert_same_tree(before: &[String], after: &[String]) {
    let gone: Vec<&String> = before.iter().filter(|l| !after.contains(l)).collect();
    let new: Vec<&String> = after.iter().filter(|l| !before.contains(l)).collect();
    assert!(
        gone.is_empty() && new.is_empty(),
        "the tree changed:\n- {gone:?}\n+ {new:?}"
    );
}

pub fn strings(v: &Value) -> Vec<String> {
    v.as_array()
        .map(|a| {
            a.iter()
                .filter_map(|s| s.as_str().map(str::to_string))
                .collect()
        })
        .unwrap_or_default()
}
