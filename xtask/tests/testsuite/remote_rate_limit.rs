//! The client-side request rate limit, against the CLI's test server: the
//! SDKs keep one (15 requests a second, `DATABRICKS_RATE_LIMIT` to change
//! it) per API client, and the CLI's deploy holds one client for the
//! workspace API and one per filer (files, state, lock): so must we, or a
//! big deploy asks a workspace for more than the CLI ever does. Lower
//! bounds only: a slow machine cannot make them fail.

use std::collections::BTreeMap;
use std::time::Instant;

use e2e::cli_server::Recorded;

use crate::support::cli_remote::CliRemote;
use crate::support::deploy::text;

/// The bucket a request takes its token from, as the CLI's clients divide
/// them: a filer's own client sends its `import-file` writes, `get-status`
/// stats and `workspace-files` downloads; all else is the workspace client's.
fn bucket(q: &Recorded) -> &'static str {
    let filer = q.path.starts_with("/api/2.0/workspace-files/")
        || q.path.starts_with("/api/2.0/workspace/get-status");
    let target = format!("{} {}", q.path, q.query);
    match () {
        _ if !filer => "api",
        _ if target.contains("deploy.lock") => "lock",
        _ if target.contains("/state/") || target.contains("%2Fstate%2F") => "state",
        _ => "files",
    }
}

/// Deploys env `env` with the limit `limit` (None: the default), and gives
/// the requests the server got per bucket and the seconds the deploy took.
fn deploy_counted(
    t: &CliRemote,
    env: &str,
    limit: Option<&str>,
) -> (BTreeMap<&'static str, usize>, f64) {
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
    let mut per = BTreeMap::new();
    for q in &t.server.requests()[mark..] {
        *per.entry(bucket(q)).or_insert(0) += 1;
    }
    (per, took)
}

/// The least time `per` requests take at `rate` a second per bucket: each
/// bucket lets `rate` go at once, then one every `1 / rate` s.
fn floor(per: &BTreeMap<&str, usize>, rate: f64) -> f64 {
    per.values()
        .map(|&n| (n as f64 - rate).max(0.0) / rate)
        .fold(0.0, f64::max)
}

#[test]
fn remote_requests_keep_to_the_rate_limit() {
    let Some(t) = CliRemote::start("remote_requests_keep_to_the_rate_limit") else {
        return;
    };
    // A first deploy of an env: tens of requests (folders, files, jobs, state).
    let (per, took) = deploy_counted(&t, "dev", Some("5"));
    let busiest = per.values().copied().max().unwrap_or(0);
    assert!(busiest > 15, "a first deploy sent only {per:?}");
    let least = floor(&per, 5.0);
    assert!(
        took >= least,
        "{per:?} requests at 5/s per bucket took {took:.2}s, under the {least:.2}s the limit allows"
    );
    // Without the variable the SDKs' 15 a second applies.
    let (per, took) = deploy_counted(&t, "test", None);
    let least = floor(&per, 15.0);
    assert!(
        took >= least,
        "{per:?} requests at the default 15/s per bucket took {took:.2}s, under {least:.2}s"
    );
}
