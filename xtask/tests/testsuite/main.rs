//! The end-to-end test suite: one binary (cargo's `tests/testsuite`) that
//! runs the real `xtask` program, built by cargo for this test
//! (`CARGO_BIN_EXE_xtask`), on real files, git repositories, processes and
//! loopback HTTP. Slow tests (virtualenvs, pip) run only when
//! `XTASK_SLOW_TESTS=1` (`.ci/run` sets it); tests that need `../shared/corpus`
//! say they are skipped when it is missing, and `.ci/run` makes it required.

mod ci_auth;
mod conformance;
mod deploy;
mod fake_workspace_sdk;
mod flow;
mod local_reuse;
mod params;
mod reliability;
mod remote;
mod remote_alert_file_cli;
mod remote_apps_lifecycle_cli;
mod remote_auth;
mod remote_catalogs_cli;
mod remote_cli;
mod remote_cli_bundle;
mod remote_cli_flow;
mod remote_cli_resources;
mod remote_database_catalogs_cli;
mod remote_deploy;
mod remote_drift_cli;
mod remote_drift_kinds_cli;
mod remote_drift_more_cli;
mod remote_interop;
mod remote_kinds;
mod remote_kinds_cli;
mod remote_kinds_more_cli;
mod remote_kinds_serving;
mod remote_models_cli;
mod remote_postgres_cli;
mod remote_rate_limit;
mod remote_refs_fields_cli;
mod remote_refs_remote_fields_cli;
mod remote_resources;
mod remote_serving_wait_cli;
mod remote_tfstate_cli;
mod remote_vector_search_cli;
mod repo;
mod runner;
mod support;
mod validate;
mod validate_apps_cli;
mod validate_cli;
mod watch;

use std::process::Command;

/// The `xtask` binary under test, with a clean environment.
pub fn xtask() -> Command {
    e2e::command(env!("CARGO_BIN_EXE_xtask"))
}
