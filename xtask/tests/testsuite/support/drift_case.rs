//! One out-of-band change to a deployed resource, on the Databricks CLI's
//! test server, and what must follow: `plan` and `status` name the fields
//! changed, `deploy` puts the bundle's settings back, a second `plan` is
//! clean; beside it, the reference CLI (direct engine) deployed in a
//! workspace of its own and changed the same way plans an update too and
//! puts it back with the same request bodies.

use serde_json::Value;

use super::cli_remote::{CliRemote, CliWorkspace, assert_same_bodies};
use super::deploy::text;
use e2e::cli_server::cli_binary;

pub struct Case {
    pub yml: &'static str,
    /// More bundle files (`resources/kinds.yml` holds `yml`).
    pub files: &'static [(&'static str, &'static str)],
    pub kind: &'static str,
    pub key: &'static str,
    /// The change, over the API, in the workspace of `token`, to the
    /// resource with id `id` there.
    pub edit: fn(&CliRemote, &str, &str),
    /// The fields `plan` and `status` name.
    pub fields: &'static [&'static str],
    /// True once our workspace has the bundle's settings again (`id` ours);
    /// `None` where the test server cannot take the update back in (its
    /// handler misreads the body): then only the request is checked.
    pub back: Option<fn(&CliRemote, &str) -> bool>,
    /// `METHOD path` prefixes of the requests putting it back, whose bodies
    /// the CLI's deploy sends the same; empty: the CLI is not run beside.
    pub same: &'static [&'static str],
}

/// The plan's entry of `key`.
pub fn planned(r: &CliRemote, key: &str) -> Value {
    let plan = r.ok(&["plan"]);
    let all = plan["resources"].as_array().cloned().unwrap_or_default();
    let found = all.into_iter().find(|c| c["key"] == key);
    found.unwrap_or_else(|| panic!("no {key} in {plan}"))
}

/// The id the CLI recorded for `kind.key` in the bundle copy `dir`.
fn cli_id(dir: &std::path::Path, kind: &str, key: &str) -> String {
    let state = dir.join(".databricks/bundle/test/resources.json");
    let state: Value = serde_json::from_slice(&std::fs::read(state).unwrap()).unwrap();
    let entry = &state["state"][format!("resources.{kind}.{key}")];
    entry["__id__"].as_str().expect("the CLI's id").to_string()
}

pub fn run(test: &str, case: &Case) {
    let Some(r) = crate::remote_kinds::start(test, case.yml) else {
        return;
    };
    for (path, content) in case.files {
        r.repo.write(path, content);
    }
    let cli = match case.same.is_empty() {
        true => None,
        false => match cli_binary(test) {
            Some(cli) => Some((cli, r.bundle_copy())),
            None => return,
        },
    };
    r.ok(&["deploy"]);
    if let Some((bin, copy)) = &cli {
        r.databricks(bin, copy.path(), &["bundle", "deploy"], CliWorkspace::Own);
    }
    let p = planned(&r, case.key);
    assert_eq!(p["action"], "unchanged", "right after a deploy: {p}");
    let id = p["id"].as_str().expect("an id").to_string();
    (case.edit)(&r, r.server.token(), &id);
    if let Some((_, copy)) = &cli {
        let theirs = cli_id(copy.path(), case.kind, case.key);
        (case.edit)(&r, &format!("{}-cli", r.server.token()), &theirs);
    }
    shown(&r, case);
    if let Some((bin, copy)) = &cli {
        let plan = r.databricks(bin, copy.path(), &["bundle", "plan"], CliWorkspace::Own);
        let what = format!("{}.{}", case.kind, case.key);
        let lines = text(&plan);
        let changed = lines
            .lines()
            .any(|l| (l.starts_with("update ") || l.starts_with("recreate ")) && l.contains(&what));
        assert!(changed, "the CLI's plan:\n{lines}");
    }
    let m1 = r.server.mark();
    r.ok(&["deploy"]);
    let m2 = r.server.mark();
    match case.back {
        Some(back) => {
            assert!(back(&r, &id), "not put back");
            let p = planned(&r, case.key);
            assert_eq!(p["action"], "unchanged", "after putting it back: {p}");
            let status = text(&r.run(&["status"]));
            assert!(!status.contains("changed in the workspace"), "{status}");
        }
        None => {
            let all = r.server.requests();
            let sent = all[m1..m2].iter().map(|q| q.line());
            let sent: Vec<String> = sent
                .filter(|l| case.same.iter().any(|p| l.starts_with(p)))
                .collect();
            assert!(!sent.is_empty(), "no update sent");
            // What the test server made of it is no base for more.
            return;
        }
    }
    if let Some((bin, copy)) = &cli {
        // `--force`: the CLI refuses to overwrite a dashboard changed
        // there without it ("modified remotely"); nothing else it changes here.
        let deploy = ["bundle", "deploy", "--force"];
        r.databricks(bin, copy.path(), &deploy, CliWorkspace::Own);
        let all = r.server.requests();
        assert_same_bodies(&all[m1..m2], &all[m2..], case.same, norm);
    }
}

/// `plan` and `status` name the fields changed.
fn shown(r: &CliRemote, case: &Case) {
    let p = planned(r, case.key);
    assert_eq!(p["action"], "update", "{p}");
    assert_eq!(p["drift"], serde_json::json!(case.fields), "{p}");
    let status = text(&r.run(&["status"]));
    let line = format!(
        "resource {}.{} changed in the workspace: {}",
        case.kind,
        case.key,
        case.fields.join(", ")
    );
    assert!(status.contains(&line), "{line}\n{status}");
}

/// `call_as` that must succeed.
pub fn call_ok(r: &CliRemote, token: &str, method: &str, at: &str, body: &Value) -> Value {
    let (status, answer) = r
        .server
        .call_as(token, method, at, body.to_string().as_bytes());
    let answer = String::from_utf8_lossy(&answer).into_owned();
    assert_eq!(status, 200, "{method} {at}: {answer}");
    serde_json::from_str(&answer).unwrap_or(Value::Null)
}

/// `GET at` in our workspace.
pub fn get(r: &CliRemote, at: &str) -> Value {
    r.server.get_json(at).unwrap_or(Value::Null)
}

/// A body with the ids each workspace gives blanked and whole numbers
/// written alike (`10.0` is `10`).
fn norm(v: Value) -> Value {
    match v {
        Value::Object(m) => Value::Object(
            m.into_iter()
                .map(|(k, v)| match k.as_str() {
                    "experiment_id" | "job_id" | "id" => (k, Value::from("<id>")),
                    _ => (k, norm(v)),
                })
                .collect(),
        ),
        Value::Array(a) => Value::Array(a.into_iter().map(norm).collect()),
        Value::Number(n) => match n.as_f64() {
            Some(f) if f.fract() == 0.0 && f.abs() < 1e15 => Value::from(f as i64),
            _ => Value::Number(n),
        },
        other => other,
    }
}
