//! Support for the end-to-end tests: the real `xtask` binary, temp repositories.

pub mod cli_server;
mod cli_workspace;
pub mod fake_workspace;
pub mod gitrepo;
pub mod params;

use std::path::{Path, PathBuf};
use std::process::Command;

/// The workspace root (the repository this test crate lives in).
pub fn workspace_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .expect("tests/ has a parent")
        .to_path_buf()
}

/// `shared/corpus`: real public bundles, from `XTASK_CORPUS_DIR` or beside
/// the repository (or beside the folder that holds a worktree of it).
/// Read-only: copy before use. A fresh clone has none: the test that asked
/// says it is skipped and why, unless `XTASK_REQUIRE_CORPUS=1` (`.ci/run`),
/// where a missing corpus fails it.
pub fn corpus_dir(test: &str) -> Option<PathBuf> {
    let found = match std::env::var_os("XTASK_CORPUS_DIR") {
        Some(dir) => Some(PathBuf::from(dir)).filter(|p| p.is_dir()),
        None => workspace_root()
            .ancestors()
            .map(|a| a.join("shared/corpus"))
            .find(|p| p.is_dir()),
    };
    if found.is_none() {
        assert!(
            std::env::var_os("XTASK_REQUIRE_CORPUS").is_none_or(|v| v != "1"),
            "{test}: shared/corpus not found beside the repository and XTASK_REQUIRE_CORPUS=1"
        );
        say(&format!(
            "skipped {test}: it needs shared/corpus beside the repository (or XTASK_CORPUS_DIR); CI has it"
        ));
    }
    found
}

/// Whether a slow test (one that builds a virtualenv or runs pip) runs now:
/// only with `XTASK_SLOW_TESTS=1`, which `.ci/run` sets. Otherwise the test
/// says it is skipped and why.
pub fn slow_tests_enabled(test: &str) -> bool {
    let on = std::env::var_os("XTASK_SLOW_TESTS").is_some_and(|v| v == "1");
    if !on {
        say(&format!(
            "skipped {test}: slow (builds a virtualenv); set XTASK_SLOW_TESTS=1 to run it"
        ));
    }
    on
}

/// The reference Databricks CLI and its test server (`tests/cliref/build.sh`
/// builds them into `target/cliref/bin/`, or `XTASK_CLI_BIN` and
/// `XTASK_TESTSERVER_BIN` name them): whether a test that needs them runs.
/// Without them the test says it is skipped and why, unless
/// `XTASK_REQUIRE_CLI=1` (CI), where it runs and fails.
pub fn cli_reference_available(test: &str) -> bool {
    let bin = workspace_root().join("target/cliref/bin");
    let named = ["XTASK_CLI_BIN", "XTASK_TESTSERVER_BIN"]
        .iter()
        .all(|v| std::env::var_os(v).is_some_and(|p| Path::new(&p).is_file()));
    let built = bin.join("databricks").is_file() && bin.join("testserver").is_file();
    let required = std::env::var_os("XTASK_REQUIRE_CLI").is_some_and(|v| v == "1");
    if !(named || built || required) {
        say(&format!(
            "skipped {test}: it needs the reference Databricks CLI (bash tests/cliref/build.sh, which needs Go, \
             or XTASK_CLI_BIN and XTASK_TESTSERVER_BIN); CI has it"
        ));
        return false;
    }
    true
}

/// A `Command` for `bin` (the test suite passes its `CARGO_BIN_EXE_xtask`),
/// with the environment variables that change the tool's behaviour cleared so
/// tests do not depend on the caller's shell.
pub fn command(bin: impl AsRef<Path>) -> Command {
    let mut cmd = Command::new(bin.as_ref());
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
    // The SDKs' 15 requests a second would make each remote test wait on
    // loopback for nothing (163 s against 33 s for the remote group). The
    // limiter has its own tests, which set this variable themselves.
    cmd.env("DATABRICKS_RATE_LIMIT", "2000");
    cmd
}

/// A line on the real stderr: the test harness captures `eprintln!` of a
/// passing test, and a skip must be seen.
pub(crate) fn say(line: &str) {
    use std::io::Write;
    let _ = writeln!(std::io::stderr(), "{line}");
}
