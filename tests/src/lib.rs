//! Support for the end-to-end tests: the real `xtask` binary, temp repositories.

pub mod deploy;
pub mod fake_workspace;
pub mod gitrepo;
pub mod params;
pub mod runner;

use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::OnceLock;

pub mod validate;

/// The workspace root (the repository this test crate lives in).
pub fn workspace_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .expect("tests/ has a parent")
        .to_path_buf()
}

/// `shared/corpus`: real public bundles, beside the repository (or beside the
/// folder that holds a worktree of it). Read-only: copy before use.
pub fn corpus_dir() -> PathBuf {
    workspace_root()
        .ancestors()
        .map(|a| a.join("shared/corpus"))
        .find(|p| p.is_dir())
        .expect("shared/corpus beside the repository")
}

/// The `xtask` binary, built once per test process with the same cargo that
/// runs the tests, so tests exercise the real program as users run it.
pub fn xtask_bin() -> PathBuf {
    static BIN: OnceLock<PathBuf> = OnceLock::new();
    BIN.get_or_init(|| {
        let root = workspace_root();
        let status = Command::new(env!("CARGO"))
            .args(["build", "--quiet", "--package", "xtask"])
            .current_dir(&root)
            .status()
            .expect("running cargo build");
        assert!(status.success(), "cargo build -p xtask failed");
        let target = std::env::var_os("CARGO_TARGET_DIR")
            .map(PathBuf::from)
            .unwrap_or_else(|| root.join("target"));
        let target = if target.is_absolute() {
            target
        } else {
            root.join(target)
        };
        target
            .join("debug")
            .join(format!("xtask{}", std::env::consts::EXE_SUFFIX))
    })
    .clone()
}

/// A `Command` for the xtask binary, with the environment variables that
/// change its behaviour cleared so tests do not depend on the caller's shell.
pub fn xtask() -> Command {
    let mut cmd = Command::new(xtask_bin());
    for var in [
        "XTASK_REMOTE",
        "XTASK_ROOT",
        "DATABRICKS_HOST",
        "DATABRICKS_TOKEN",
        "DATABRICKS_CONFIG_PROFILE",
        // Every other auth input, so a CI job's own credentials stay out.
        "DATABRICKS_CONFIG_FILE",
        "DATABRICKS_AUTH_TYPE",
        "DATABRICKS_CLIENT_ID",
        "DATABRICKS_CLIENT_SECRET",
        "DATABRICKS_WORKSPACE_ID",
        "DATABRICKS_EXPERIMENTAL_IS_UNIFIED_HOST",
        "ARM_TENANT_ID",
        "ARM_CLIENT_ID",
        "ARM_CLIENT_SECRET",
        "AZURE_AUTHORITY_HOST",
        "ACTIONS_ID_TOKEN_REQUEST_URL",
        "ACTIONS_ID_TOKEN_REQUEST_TOKEN",
    ] {
        cmd.env_remove(var);
    }
    cmd
}
