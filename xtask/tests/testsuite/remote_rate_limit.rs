//! The client-side request rate limit, against the CLI's test server: the
//! SDKs keep one (15 requests a second, `DATABRICKS_RATE_LIMIT` to change
//! it), and so must we, or a big deploy asks a workspace for more than the
//! CLI ever does. Lower bounds only: a slow machine cannot make them fail.

use std::time::Instant;

use crate::support::cli_remote::CliRemote;
use crate::support::deploy::text;

/// Deploys env `env` with the limit `limit` (None: the default), and gives
/// the number of requests the server got and the seconds the deploy took.
fn deploy_counted(t: &CliRemote, env: &str, limit: Option<&str>) -> (usize, f64) {
    let mut cmd = t.repo.xtask(&["deploy", "--env", env, "--remote", "-q"]);
    cmd.env("DATABRICKS_HOST", t.server.url())
        .env("DATABRICKS_TOKEN", t.server.token())
        .env("HOME", t.repo.path());
    match limit {
        Some(l) => cmd.env("DATABRICKS_RATE_LIMIT", l),
        None => cmd.env_remove("DATABRICKS_RATE_LIMIT"),
    };
    let mark = t.server.mark();
    let start = Instant::now();
    let out = cmd.output().expect("running xtask");
    let took = start.elapsed().as_secs_f64();
    assert!(out.status.success(), "{}", text(&out));
    (t.server.mark() - mark, took)
}

#[test]
fn remote_requests_keep_to_the_rate_limit() {
    let Some(t) = CliRemote::start("remote_requests_keep_to_the_rate_limit") else {
        return;
    };
    // A first deploy of an env: tens of requests (folders, files, job, state).
    let (n, took) = deploy_counted(&t, "dev", Some("10"));
    assert!(n > 30, "a first deploy sent only {n} requests");
    // A burst of 10, then one every 100 ms.
    let floor = (n - 10) as f64 / 10.0;
    assert!(
        took >= floor,
        "{n} requests at 10/s took {took:.2}s, under the {floor:.2}s the limit allows"
    );
    // Without the variable the SDKs' 15 a second applies.
    let (n, took) = deploy_counted(&t, "test", None);
    let floor = (n - 15) as f64 / 15.0;
    assert!(
        took >= floor,
        "{n} requests at the default 15/s took {took:.2}s, under {floor:.2}s"
    );
}
