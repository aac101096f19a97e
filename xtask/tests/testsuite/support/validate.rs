//! Support for the `validate` tests: small bundles written into temp folders
//! and a runner for `xtask validate` with a controlled environment.

use std::path::Path;
use std::process::Output;

use tempfile::TempDir;

#[path = "validate_cases.rs"]
pub mod cases;

/// What one run of the binary produced.
#[derive(Debug)]
pub struct Run {
    pub code: i32,
    pub stdout: String,
    pub stderr: String,
}

impl Run {
    pub fn all(&self) -> String {
        format!("{}{}", self.stdout, self.stderr)
    }
    /// The stdout of a `--json` run, parsed.
    pub fn json(&self) -> serde_json::Value {
        serde_json::from_str(&self.stdout)
            .unwrap_or_else(|e| panic!("stdout is not JSON ({e}):\n{}", self.all()))
    }
}

/// A bundle folder holding `files` (path, content); parents are created.
pub fn bundle(files: &[(&str, &[u8])]) -> TempDir {
    let dir = tempfile::Builder::new()
        .prefix("xtask-validate-")
        .tempdir()
        .expect("temp dir");
    write_files(dir.path(), files);
    dir
}

pub fn write_files(root: &Path, files: &[(&str, &[u8])]) {
    for (path, content) in files {
        let p = root.join(path);
        if let Some(parent) = p.parent() {
            std::fs::create_dir_all(parent).expect("create parent");
        }
        std::fs::write(&p, content).expect("write file");
    }
}

/// Run `xtask --bundle-dir DIR validate <args...>` with a user that does not
/// depend on the machine: no global git config, `USER=tester`, unless `env`
/// says otherwise.
pub fn validate(dir: &Path, args: &[&str], env: &[(&str, &str)]) -> Run {
    let mut cmd = crate::xtask();
    cmd.arg("--bundle-dir").arg(dir).arg("validate").args(args);
    cmd.env("HOME", dir.join(".no-home")).env("USER", "tester");
    for var in [
        "GIT_CONFIG_GLOBAL",
        "XDG_CONFIG_HOME",
        "GIT_DIR",
        "GIT_WORK_TREE",
    ] {
        cmd.env_remove(var);
    }
    for (k, _) in std::env::vars() {
        if k.starts_with("BUNDLE_VAR_") {
            cmd.env_remove(k);
        }
    }
    for (k, v) in env {
        cmd.env(k, v);
    }
    let Output {
        status,
        stdout,
        stderr,
    } = cmd.output().expect("running xtask");
    Run {
        code: status.code().unwrap_or(-1),
        stdout: String::from_utf8_lossy(&stdout).into_owned(),
        stderr: String::from_utf8_lossy(&stderr).into_owned(),
    }
}

/// Copy a folder tree (the corpus is read-only: tests work on copies).
pub fn copy_tree(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).expect("create dir");
    for entry in std::fs::read_dir(from).expect("read dir").flatten() {
        let target = to.join(entry.file_name());
        if entry.file_type().is_ok_and(|t| t.is_dir()) {
            copy_tree(&entry.path(), &target);
        } else {
            std::fs::copy(entry.path(), &target).expect("copy file");
        }
    }
}

/// The target names of a bundle, read from its root file's `targets:` block
/// (two-space indented keys), so the corpus test follows the corpus.
pub fn target_names(root_file: &str) -> Vec<String> {
    let mut out = Vec::new();
    let mut inside = false;
    for line in root_file.lines() {
        if line.starts_with("targets:") {
            inside = true;
            continue;
        }
        if inside {
            if !line.starts_with(' ') && !line.trim().is_empty() && !line.starts_with('#') {
                break;
            }
            let indent = line.len() - line.trim_start().len();
            let t = line.trim();
            if indent == 2
                && !t.starts_with('#')
                && let Some((name, _)) = t.split_once(':')
            {
                out.push(name.trim().to_string());
            }
        }
    }
    out
}
