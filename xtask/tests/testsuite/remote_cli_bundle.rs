//! This repository's bundle, deployed by the reference Databricks CLI
//! (direct engine) and by us to the CLI's test server: the requests that
//! create its resources and the files uploaded must be the same.

use std::path::Path;
use std::process::Command;

use serde_json::Value;

use crate::support::deploy::text;
use e2e::cli_server::{Recorded, cli_binary, cli_server};

/// The host `bundle/databricks.yml` names, pointed at the server in a copy.
const HOST: &str = "https://adb-0000000000000000.0.azuredatabricks.net";

/// A copy of the tracked files of `bundle/` in `to`, its host replaced.
fn copy_bundle(to: &Path, url: &str) {
    let root = e2e::workspace_root();
    let out = Command::new("git")
        .args(["ls-files", "-z", "bundle"])
        .current_dir(&root)
        .output()
        .expect("git ls-files");
    assert!(out.status.success(), "{}", text(&out));
    for rel in out.stdout.split(|b| *b == 0).filter(|p| !p.is_empty()) {
        let rel = std::str::from_utf8(rel).unwrap();
        let dest = to.join(rel.strip_prefix("bundle/").unwrap());
        std::fs::create_dir_all(dest.parent().unwrap()).unwrap();
        std::fs::copy(root.join(rel), &dest).unwrap();
    }
    let yml = to.join("databricks.yml");
    let text = std::fs::read_to_string(&yml).unwrap().replace(HOST, url);
    std::fs::write(yml, text).unwrap();
}

#[test]
fn this_bundle_deploys_as_the_cli_does() {
    let Some(server) = cli_server("this_bundle_deploys_as_the_cli_does") else {
        return;
    };
    let Some(cli) = cli_binary("this_bundle_deploys_as_the_cli_does") else {
        return;
    };
    let tmp = tempfile::tempdir().unwrap();
    let (theirs_dir, ours_dir) = (tmp.path().join("cli"), tmp.path().join("ours"));
    copy_bundle(&theirs_dir, server.url());
    copy_bundle(&ours_dir, server.url());
    let out = Command::new(cli)
        .args(["bundle", "deploy"])
        .current_dir(&theirs_dir)
        .env_clear()
        .env("PATH", std::env::var_os("PATH").unwrap_or_default())
        .env("HOME", tmp.path())
        .env("DATABRICKS_TOKEN", format!("{}-cli", server.token()))
        .env("DATABRICKS_BUNDLE_ENGINE", "direct")
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "databricks bundle deploy:\n{}",
        text(&out)
    );
    let mark = server.mark();
    let out = crate::xtask()
        .args(["deploy", "--remote", "--json", "--bundle-dir"])
        .arg(&ours_dir)
        .arg("--root")
        .arg(tmp.path().join("root"))
        .env("DATABRICKS_TOKEN", server.token())
        .env("HOME", tmp.path())
        .output()
        .unwrap();
    assert!(out.status.success(), "xtask deploy:\n{}", text(&out));
    let all = server.requests();
    let (theirs, ours) = all.split_at(mark);
    for pattern in [
        "POST /api/2.2/jobs/create",
        "POST /api/2.1/unity-catalog/models",
        "PATCH /api/2.1/unity-catalog/permissions",
        "PUT /api/2.0/permissions/",
    ] {
        assert_eq!(bodies(ours, pattern), bodies(theirs, pattern), "{pattern}");
        assert!(!bodies(ours, pattern).is_empty(), "{pattern}");
    }
    // Experiments: the same name. (The CLI also tags them `dev: <user>`
    // in development mode; our configuration does not yet.)
    let names = |reqs: &[Recorded]| -> Vec<Value> {
        let b = bodies(reqs, "POST /api/2.0/mlflow/experiments/create");
        b.into_iter().map(|e| e["name"].clone()).collect()
    };
    assert_eq!(names(ours), names(theirs));
    assert_eq!(uploads(ours), uploads(theirs));
    assert!(uploads(ours).len() > 50, "{:?}", uploads(ours));
}

/// The JSON bodies of the requests starting with `pattern`, each with its
/// arrays sorted (ACL entries, grant changes), the whole sorted.
fn bodies(reqs: &[Recorded], pattern: &str) -> Vec<Value> {
    let mut v: Vec<Value> = reqs
        .iter()
        .filter(|q| q.line().starts_with(pattern))
        .map(|q| sorted(serde_json::from_str(&q.body).unwrap_or(Value::Null)))
        .collect();
    v.sort_by_key(Value::to_string);
    v
}

fn sorted(v: Value) -> Value {
    match v {
        // Keys in order, so that `to_string` is canonical (serde_json may
        // keep insertion order).
        Value::Object(m) => {
            let mut kv: Vec<(String, Value)> = m.into_iter().map(|(k, v)| (k, sorted(v))).collect();
            kv.sort_by(|a, b| a.0.cmp(&b.0));
            Value::Object(kv.into_iter().collect())
        }
        Value::Array(a) if a.iter().all(Value::is_object) => {
            let mut a: Vec<Value> = a.into_iter().map(sorted).collect();
            a.sort_by_key(Value::to_string);
            Value::Array(a)
        }
        other => other,
    }
}

/// The files uploaded under the env's `files/`, relative, sorted.
fn uploads(reqs: &[Recorded]) -> Vec<String> {
    let mut v: Vec<String> = reqs
        .iter()
        .filter(|q| q.path.starts_with("/api/2.0/workspace-files/import-file/"))
        .filter_map(|q| q.path.split_once("/dev/files/").map(|(_, p)| p.to_string()))
        .collect();
    v.sort();
    v.dedup();
    v
}
