//! Support for the runner's end-to-end tests: a bundle copied from the
//! fixtures and "deployed" by hand into the local env layout (DESIGN §5), so
//! these tests depend on the config loader but not on the deploy module.

use std::fs;
use std::path::{Path, PathBuf};

/// `tests/fixtures/runner/<name>`.
pub fn fixture(name: &str) -> PathBuf {
    e2e::workspace_root()
        .join("tests/fixtures")
        .join("runner")
        .join(name)
}

/// Copy the folder `from` into `to` (created), recursively.
pub fn copy_tree(from: &Path, to: &Path) -> std::io::Result<()> {
    fs::create_dir_all(to)?;
    for entry in fs::read_dir(from)? {
        let entry = entry?;
        let target = to.join(entry.file_name());
        if entry.file_type()?.is_dir() {
            copy_tree(&entry.path(), &target)?;
        } else {
            fs::copy(entry.path(), &target)?;
        }
    }
    Ok(())
}

/// A temp folder holding `bundle/` (a copy of fixture `name`) and `root/`,
/// the folder for `--root`, with the bundle's files placed in
/// `root/.bundle/<bundle_name>/<env>/files` as a local deploy leaves them.
pub struct Deployed {
    pub dir: tempfile::TempDir,
    pub bundle: PathBuf,
    pub root: PathBuf,
    pub env_dir: PathBuf,
}

pub fn deployed(name: &str, bundle_name: &str, env: &str) -> Deployed {
    let dir = tempfile::tempdir().expect("temp dir");
    let bundle = dir.path().join("bundle");
    copy_tree(&fixture(name), &bundle).expect("copying the fixture");
    let root = dir.path().join("root");
    let env_dir = root.join(".bundle").join(bundle_name).join(env);
    copy_tree(&bundle, &env_dir.join("files")).expect("placing the deployed files");
    Deployed {
        dir,
        bundle,
        root,
        env_dir,
    }
}

impl Deployed {
    /// `xtask --bundle-dir <bundle> --root <root> run <job> --env <env> [extra]`.
    pub fn run(&self, job: &str, env: &str, extra: &[&str]) -> std::process::Output {
        crate::xtask()
            .arg("--bundle-dir")
            .arg(&self.bundle)
            .arg("--root")
            .arg(&self.root)
            .args(["run", job, "--env", env])
            .args(extra)
            .env("XTASK_VENV", self.dir.path().join("venv"))
            .env_remove("XTASK_PYTHON")
            .output()
            .expect("running xtask")
    }
}
