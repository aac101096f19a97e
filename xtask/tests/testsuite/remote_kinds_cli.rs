//! Quality monitors on the remote backend, and the bodies we send for
//! schemas, volumes, pipelines, clusters and quality monitors beside those
//! the reference CLI (direct engine) sends for the same bundle on the same
//! Databricks CLI test server.

use serde_json::Value;

use crate::remote_kinds::{COMPUTE_YML, UC_YML, start, uc, writes};
use crate::remote_kinds_serving::SERVING_YML;
use crate::support::cli_remote::{CliRemote, CliWorkspace};
use e2e::cli_server::cli_binary;

/// Every kind of these tests in one `resources:` file.
fn all_kinds() -> String {
    let rest = |y: &str| y.trim_start_matches("resources:\n").to_string();
    let more = [COMPUTE_YML, MONITOR_YML, SERVING_YML].map(rest).concat();
    format!("{UC_YML}{more}")
}

/// Updates: each kind deployed by us and by the CLI (from a copy of the
/// bundle), then changed and deployed again by both; the update bodies
/// are the same, but for the ids each workspace gave.
#[test]
fn kind_update_requests_equal_the_clis() {
    let test = "kind_update_requests_equal_the_clis";
    let Some(r) = start(test, &all_kinds()) else {
        return;
    };
    let Some(cli) = cli_binary(test) else {
        return;
    };
    let deploy = ["bundle", "deploy"];
    let copy = r.bundle_copy();
    r.ok(&["deploy"]);
    r.databricks(&cli, copy.path(), &deploy, CliWorkspace::Own);
    let changed = all_kinds()
        .replace("comment: first", "comment: second")
        .replace("comment: raw files", "comment: landed files")
        .replace("k: one", "k: two")
        .replace("num_workers: 1", "num_workers: 2")
        .replace("0 0 5", "0 0 6")
        .replace("value: ml", "value: ops")
        .replace("entity_version: \"1\"", "entity_version: \"2\"");
    r.repo.write("resources/kinds.yml", &changed);
    std::fs::write(copy.path().join("resources/kinds.yml"), &changed).unwrap();
    let m1 = r.server.mark();
    r.ok(&["deploy"]);
    let m2 = r.server.mark();
    r.databricks(&cli, copy.path(), &deploy, CliWorkspace::Own);
    let all = r.server.requests();
    let (ours, theirs) = (&all[m1..m2], &all[m2..]);
    let mut differ = Vec::new();
    for prefix in [
        "PATCH /api/2.1/unity-catalog/schemas/",
        "PATCH /api/2.1/unity-catalog/volumes/",
        "PUT /api/2.0/pipelines/",
        "POST /api/2.1/clusters/edit",
        "PUT /api/2.1/unity-catalog/tables/",
        "PATCH /api/2.0/serving-endpoints/scorer/tags",
        "PUT /api/2.0/serving-endpoints/scorer/config",
    ] {
        let bodies = |reqs: &[e2e::cli_server::Recorded]| -> Vec<Value> {
            let matching = reqs.iter().filter(|q| q.line().starts_with(prefix));
            let parsed = matching.map(|q| serde_json::from_str(&q.body).unwrap());
            parsed.map(|v| without_ids(normalize(v))).collect()
        };
        assert!(!bodies(theirs).is_empty(), "{prefix}: the CLI sent none");
        if bodies(ours) != bodies(theirs) {
            let (o, t) = (bodies(ours), bodies(theirs));
            differ.push(format!("{prefix}:\n ours   {o:?}\n theirs {t:?}"));
        }
    }
    assert!(differ.is_empty(), "{}", differ.join("\n"));
}

/// The ids each workspace gave blanked.
fn without_ids(mut v: Value) -> Value {
    if let Some(m) = v.as_object_mut() {
        for k in ["pipeline_id", "cluster_id"] {
            if m.contains_key(k) {
                m.insert(k.into(), Value::Null);
            }
        }
    }
    v
}

/// The bodies we send equal the reference CLI's (direct engine) for the
/// same bundle on the same server.
#[test]
fn kind_requests_equal_the_clis() {
    let Some(r) = start("kind_requests_equal_the_clis", &all_kinds()) else {
        return;
    };
    let Some((theirs, ours)) = r.deploy_beside_cli("kind_requests_equal_the_clis") else {
        return;
    };
    let mut differ = Vec::new();
    for pattern in [
        "POST /api/2.1/unity-catalog/schemas",
        "POST /api/2.1/unity-catalog/volumes",
        "PATCH /api/2.1/unity-catalog/permissions",
        "POST /api/2.1/clusters/create",
        "PUT /api/2.0/permissions/pipelines",
        "POST /api/2.0/pipelines",
        "POST /api/2.1/unity-catalog/tables/main.ml_s.scores/monitor",
        "POST /api/2.0/serving-endpoints",
        "PUT /api/2.0/permissions/serving-endpoints",
    ] {
        let bodies = |reqs: &[e2e::cli_server::Recorded]| -> Vec<Value> {
            let matching = reqs.iter().filter(|q| {
                q.line() == pattern
                    || q.line().starts_with(&format!("{pattern}/"))
                        && pattern.contains("permissions")
            });
            // The CLI sends independent resources' requests concurrently:
            // the same bodies, in no fixed order between resources.
            let mut v: Vec<Value> = matching
                .map(|q| normalize(serde_json::from_str(&q.body).unwrap()))
                .collect();
            v.sort_by_key(|b| b.to_string());
            v
        };
        if bodies(&ours) != bodies(&theirs) {
            differ.push(format!(
                "{pattern}:\n ours   {:?}\n theirs {:?}",
                bodies(&ours),
                bodies(&theirs)
            ));
        }
        assert!(!bodies(&theirs).is_empty(), "{pattern}: the CLI sent none");
    }
    assert!(differ.is_empty(), "{}", differ.join("\n"));
}

/// Keys in order, arrays of objects sorted (their order means nothing to
/// the API), ids (which differ between the two deploys) blanked.
fn normalize(v: Value) -> Value {
    match v {
        Value::Object(m) => {
            let mut kv: Vec<(String, Value)> =
                m.into_iter().map(|(k, v)| (k, normalize(v))).collect();
            kv.sort_by(|a, b| a.0.cmp(&b.0));
            Value::Object(kv.into_iter().collect())
        }
        Value::Array(a) => {
            let mut a: Vec<Value> = a.into_iter().map(normalize).collect();
            a.sort_by_key(|x| x.to_string());
            Value::Array(a)
        }
        other => other,
    }
}

pub const MONITOR_YML: &str = "\
resources:
  quality_monitors:
    m:
      table_name: main.ml_s.scores
      assets_dir: /Workspace/Shared/monitors/scores
      output_schema_name: main.ml_s
      snapshot: {}
      schedule:
        quartz_cron_expression: 0 0 5 * * ?
        timezone_id: UTC
";

fn monitor(r: &CliRemote, table: &str) -> Option<Value> {
    uc(r, &format!("tables/{table}"), "monitor")
}

#[test]
fn quality_monitors_are_created_updated_and_recreated() {
    let Some(r) = start(
        "quality_monitors_are_created_updated_and_recreated",
        MONITOR_YML,
    ) else {
        return;
    };
    r.ok(&["deploy"]);
    let table = "main.ml_s.scores";
    assert_eq!(
        r.id("test", "databricks_quality_monitor", "m").unwrap(),
        table
    );
    let m = monitor(&r, table).expect("the monitor");
    assert_eq!(m["output_schema_name"], "main.ml_s");
    let body = r
        .server
        .requests_matching("POST /api/2.1/unity-catalog/tables/");
    let body: Value = serde_json::from_str(&body[0].body).unwrap();
    assert!(body.get("table_name").is_none(), "{body}");

    // The schedule: updated in place.
    let changed = MONITOR_YML.replace("0 0 5", "0 0 6");
    r.repo.write("resources/kinds.yml", &changed);
    let mark = r.server.mark();
    r.ok(&["deploy"]);
    let w = writes(&r, mark);
    let put = format!("PUT /api/2.1/unity-catalog/tables/{table}/monitor");
    assert!(w.contains(&put), "{w:?}");
    let m = monitor(&r, table).unwrap();
    assert_eq!(m["schedule"]["quartz_cron_expression"], "0 0 6 * * ?");

    // assets_dir: made anew (deleted, then created).
    let moved = changed.replace("monitors/scores", "monitors/scores2");
    r.repo.write("resources/kinds.yml", &moved);
    let mark = r.server.mark();
    r.ok(&["deploy"]);
    let w = writes(&r, mark);
    let del = format!("DELETE /api/2.1/unity-catalog/tables/{table}/monitor");
    let post = format!("POST /api/2.1/unity-catalog/tables/{table}/monitor");
    let pos = |p: &str| w.iter().position(|x| *x == p).unwrap();
    assert!(pos(&del) < pos(&post), "{w:?}");
    assert_eq!(
        monitor(&r, table).unwrap()["assets_dir"],
        "/Workspace/Shared/monitors/scores2"
    );

    r.repo.write("resources/kinds.yml", "resources: {}\n");
    r.ok(&["deploy"]);
    assert!(monitor(&r, table).is_none());
}
