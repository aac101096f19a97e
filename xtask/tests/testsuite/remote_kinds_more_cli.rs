//! Secret scopes (with their ACLs), SQL warehouses, database instances,
//! alerts, dashboards and apps
//! on the remote backend, beside the reference CLI (direct engine) on the
//! same Databricks CLI test server: the bodies each tool sends, the
//! `resources.json` each records, and either tool redeploying what the
//! other deployed without a duplicate.

use std::path::Path;
use std::process::Command;

use serde_json::{Value, json};

use crate::remote_kinds::{start, writes};
use crate::support::cli_remote::{CliRemote, assert_same_bodies, bodies_by, root};
use crate::support::deploy::text;
use e2e::cli_server::{Recorded, USER, cli_binary};

pub const MORE_YML: &str = "\
resources:
  secret_scopes:
    sc:
      name: ml-secrets
      permissions:
        - user_name: deco@databricks.com
          level: WRITE
        - group_name: users
          level: READ
  sql_warehouses:
    wh:
      name: serve
      cluster_size: X-Small
      max_num_clusters: 1
      permissions:
        - group_name: users
          level: CAN_USE
  database_instances:
    db:
      name: features-db
      capacity: CU_1
      permissions:
        - group_name: users
          level: CAN_USE
  apps:
    app:
      name: scorer-app
      description: first app
      source_code_path: ./app
      permissions:
        - group_name: users
          level: CAN_USE
  dashboards:
    d:
      display_name: scores
      warehouse_id: ${resources.sql_warehouses.wh.id}
      file_path: d.lvdash.json
      permissions:
        - group_name: users
          level: CAN_READ
  alerts:
    a:
      display_name: rows seen
      custom_summary: first
      query_text: select count(*) as c from main.ml_s.scores
      warehouse_id: ${resources.sql_warehouses.wh.id}
      evaluation:
        comparison_operator: GREATER_THAN
        source:
          name: c
        threshold:
          value:
            double_value: 10
      schedule:
        quartz_cron_schedule: 0 0 5 * * ?
        timezone_id: UTC
      permissions:
        - group_name: users
          level: CAN_RUN
  jobs:
    j:
      name: report
      tasks:
        - task_key: t
          sql_task:
            warehouse_id: ${resources.sql_warehouses.wh.id}
            query:
              query_id: abc
";

const DASHBOARD: &str = "{\"pages\":[{\"name\":\"p1\",\"displayName\":\"first\"}]}\n";

/// The bundle of these kinds, its dashboard's file beside its YAML.
fn start_more(test: &str) -> Option<CliRemote> {
    let r = start(test, MORE_YML)?;
    r.repo.write("resources/d.lvdash.json", DASHBOARD);
    r.repo.write("resources/app/app.py", "print('serving')\n");
    Some(r)
}

/// `databricks bundle deploy` (direct engine) of the bundle in `dir` with
/// token `token` (a workspace of its own per token).
fn cli_deploy(cli: &Path, dir: &Path, r: &CliRemote, token: &str) {
    let home = tempfile::tempdir().unwrap();
    let out = Command::new(cli)
        .args(["bundle", "deploy"])
        .current_dir(dir)
        .env_clear()
        .env("PATH", std::env::var_os("PATH").unwrap_or_default())
        .env("HOME", home.path())
        .env("DATABRICKS_HOST", r.server.url())
        .env("DATABRICKS_TOKEN", token)
        .env("DATABRICKS_BUNDLE_ENGINE", "direct")
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "databricks bundle deploy:\n{}",
        text(&out)
    );
}

/// The bodies of the requests whose `METHOD path` starts with `prefix`,
/// ids blanked, as a sorted set.
fn bodies(reqs: &[Recorded], prefix: &str) -> Vec<Value> {
    bodies_by(reqs, prefix, blank)
}

/// Ids the two workspaces gave blanked, keys in order, whole numbers as integers.
fn blank(v: Value) -> Value {
    match v {
        Value::Object(m) => {
            let mut kv: Vec<(String, Value)> = m
                .into_iter()
                .map(|(k, v)| match k.as_str() {
                    "warehouse_id" | "__id__" | "object_id" => (k, json!("<id>")),
                    _ => (k, blank(v)),
                })
                .collect();
            kv.sort_by(|a, b| a.0.cmp(&b.0));
            Value::Object(kv.into_iter().collect())
        }
        Value::Array(a) => Value::Array(a.into_iter().map(blank).collect()),
        Value::String(s) if s.starts_with("/sql/warehouses/") => json!("/sql/warehouses/<id>"),
        // The same number: a typed float is written `10.0` by us, `10` by Go.
        Value::Number(n)
            if n.as_f64()
                .is_some_and(|f| f.fract() == 0.0 && f.abs() < 1e15) =>
        {
            json!(n.as_f64().unwrap_or_default() as i64)
        }
        other => other,
    }
}

fn compare(ours: &[Recorded], theirs: &[Recorded], prefixes: &[&str]) {
    assert_same_bodies(ours, theirs, prefixes, blank);
}

/// The entries of a `resources.json`, ids blanked.
fn entries(state: &Value) -> Value {
    let all = state["state"].as_object().cloned().unwrap_or_default();
    let kept = all
        .into_iter()
        .filter(|(k, _)| !k.starts_with("resources.jobs."));
    blank(Value::Object(kept.collect()))
}

/// Creates: the same bodies as the CLI's, and the same `resources.json`
/// entries (so the CLI, reading ours, plans nothing for them).
#[test]
fn more_kinds_create_as_the_cli_and_record_its_state() {
    let test = "more_kinds_create_as_the_cli_and_record_its_state";
    let Some(r) = start_more(test) else {
        return;
    };
    let Some(cli) = cli_binary(test) else {
        return;
    };
    cli_deploy(
        &cli,
        &r.repo.bundle(),
        &r,
        &format!("{}-cli", r.server.token()),
    );
    let local = r
        .repo
        .bundle()
        .join(".databricks/bundle/test/resources.json");
    let theirs_state: Value = serde_json::from_slice(&std::fs::read(&local).unwrap()).unwrap();
    std::fs::remove_dir_all(r.repo.bundle().join(".databricks")).ok();
    let mark = r.server.mark();
    r.ok(&["deploy"]);
    let all = r.server.requests();
    let (theirs, ours) = all.split_at(mark);
    compare(
        ours,
        theirs,
        &[
            "POST /api/2.0/secrets/scopes/create",
            "POST /api/2.0/secrets/acls/put",
            "POST /api/2.0/sql/warehouses",
            "PUT /api/2.0/permissions/sql/warehouses/",
            "POST /api/2.0/database/instances",
            "PUT /api/2.0/permissions/database-instances/",
            "POST /api/2.0/alerts",
            "PUT /api/2.0/permissions/alertsv2/",
            "POST /api/2.0/lakeview/dashboards",
            "PUT /api/2.0/permissions/dashboards/",
            "POST /api/2.0/apps",
            "PUT /api/2.0/permissions/apps/",
            "POST /api/2.2/jobs/create",
        ],
    );
    let ours_state = r.server.state(&root("test"), "resources.json");
    let etag = |s: &Value| s["state"]["resources.dashboards.d"]["state"]["etag"].clone();
    assert!(etag(&ours_state).is_string(), "{ours_state}");
    // Each workspace gave an etag of its own.
    let (mut ours_state, mut theirs_state) = (ours_state, theirs_state);
    for s in [&mut ours_state, &mut theirs_state] {
        s["state"]["resources.dashboards.d"]["state"]["etag"] = json!("<etag>");
    }
    // An app's `source_code_path` is recorded as its workspace folder (no
    // code is deployed without `lifecycle`), translated as the CLI does.
    let code = &theirs_state["state"]["resources.apps.app"]["state"]["source_code_path"];
    assert_eq!(
        code,
        &json!(format!("{}/files/resources/app", root("test")))
    );
    assert_eq!(
        &ours_state["state"]["resources.apps.app"]["state"]["source_code_path"],
        code
    );
    assert_eq!(entries(&ours_state), entries(&theirs_state));
    // The job names the warehouse the workspace made.
    let wh = r.id("test", "databricks_sql_endpoint", "wh").unwrap();
    let job = r.job_id("test", "j");
    let job = r
        .server
        .get_json(&format!("/api/2.2/jobs/get?job_id={job}"))
        .unwrap();
    assert_eq!(
        job["settings"]["tasks"][0]["sql_task"]["warehouse_id"],
        json!(wh)
    );
}

/// Updates: both tools change the same bundle the same way; the bodies
/// are the same. A scope's ACLs are put and deleted per principal; its new
/// name makes another scope (there is no update call).
#[test]
fn more_kinds_update_as_the_cli() {
    let test = "more_kinds_update_as_the_cli";
    let Some(r) = start_more(test) else {
        return;
    };
    let Some(cli) = cli_binary(test) else {
        return;
    };
    let copy = r.bundle_copy();
    let cli_token = format!("{}-cli", r.server.token());
    r.ok(&["deploy"]);
    cli_deploy(&cli, copy.path(), &r, &cli_token);
    let changed = MORE_YML
        .replace("level: READ", "level: MANAGE")
        .replace(
            "user_name: deco@databricks.com\n          level: WRITE\n        - ",
            "",
        )
        .replace("X-Small", "Small")
        .replace("CU_1", "CU_2")
        .replace("custom_summary: first", "custom_summary: second")
        .replace("first app", "second app");
    r.repo.write("resources/kinds.yml", &changed);
    std::fs::write(copy.path().join("resources/kinds.yml"), &changed).unwrap();
    let page = DASHBOARD.replace("first", "second");
    r.repo.write("resources/d.lvdash.json", &page);
    std::fs::write(copy.path().join("resources/d.lvdash.json"), &page).unwrap();
    let m1 = r.server.mark();
    r.ok(&["deploy"]);
    let m2 = r.server.mark();
    cli_deploy(&cli, copy.path(), &r, &cli_token);
    let all = r.server.requests();
    compare(
        &all[m1..m2],
        &all[m2..],
        &[
            "POST /api/2.0/secrets/acls/put",
            "POST /api/2.0/secrets/acls/delete",
            "POST /api/2.0/sql/warehouses/",
            "PATCH /api/2.0/database/instances/",
            "PATCH /api/2.0/alerts/",
            "PATCH /api/2.0/lakeview/dashboards/",
            "POST /api/2.0/lakeview/dashboards/",
            "POST /api/2.0/apps/",
        ],
    );
    let acls = r
        .server
        .get_json("/api/2.0/secrets/acls/list?scope=ml-secrets")
        .unwrap();
    let mut got: Vec<String> = acls["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|a| {
            format!(
                "{}={}",
                a["principal"].as_str().unwrap(),
                a["permission"].as_str().unwrap()
            )
        })
        .collect();
    got.sort();
    assert_eq!(got, [format!("{USER}=MANAGE"), "users=MANAGE".to_string()]);

    // Another name: the old scope deleted, the new one created.
    r.repo.write(
        "resources/kinds.yml",
        &changed.replace("ml-secrets", "ml-secrets-2"),
    );
    let mark = r.server.mark();
    r.ok(&["deploy"]);
    let w = writes(&r, mark);
    let pos = |p: &str| w.iter().position(|x| x == p).unwrap();
    assert!(
        pos("POST /api/2.0/secrets/scopes/delete") < pos("POST /api/2.0/secrets/scopes/create"),
        "{w:?}"
    );
    assert_eq!(scopes(&r), ["ml-secrets-2"]);
}

fn scopes(r: &CliRemote) -> Vec<String> {
    let list = r
        .server
        .get_json("/api/2.0/secrets/scopes/list")
        .unwrap_or_default();
    let names = list["scopes"].as_array().into_iter().flatten();
    names
        .filter_map(|s| s["name"].as_str().map(str::to_string))
        .collect()
}

fn count(r: &CliRemote, path: &str, field: &str) -> usize {
    let list = r.server.get_json(path).unwrap_or_default();
    list[field].as_array().map_or(0, Vec::len)
}

/// The CLI deploys, we redeploy, the CLI redeploys: one of each, and
/// neither tool creates anything again; then `destroy` removes them all.
#[test]
fn more_kinds_interop_with_the_cli_and_destroy() {
    let test = "more_kinds_interop_with_the_cli_and_destroy";
    let Some(r) = start_more(test) else {
        return;
    };
    let Some(cli) = cli_binary(test) else {
        return;
    };
    let token = r.server.token().to_string();
    // The fake workspace starts with a warehouse of its own.
    let warehouses = || count(&r, "/api/2.0/sql/warehouses", "warehouses");
    let before = warehouses();
    cli_deploy(&cli, &r.repo.bundle(), &r, &token);
    let created = |from: usize| {
        let all = r.server.requests();
        let later = all[from..].iter().map(Recorded::line);
        later
            .filter(|l| {
                l == "POST /api/2.0/secrets/scopes/create"
                    || l == "POST /api/2.0/sql/warehouses"
                    || l == "POST /api/2.0/database/instances"
                    || l == "POST /api/2.0/alerts"
                    || l == "POST /api/2.0/lakeview/dashboards"
                    || l == "POST /api/2.0/apps"
                    || l.starts_with("POST /api/2.0/secrets/scopes/delete")
                    || l.starts_with("DELETE ")
            })
            .collect::<Vec<_>>()
    };
    let mark = r.server.mark();
    r.ok(&["deploy"]);
    assert_eq!(created(mark), Vec::<String>::new());
    // Again, nothing changed: no resource written.
    let mark = r.server.mark();
    r.ok(&["deploy"]);
    let w = writes(&r, mark);
    let written: Vec<&String> = w.iter().filter(|l| !l.contains("/workspace")).collect();
    assert!(written.is_empty(), "{written:?}");
    let mark = r.server.mark();
    cli_deploy(&cli, &r.repo.bundle(), &r, &token);
    assert_eq!(created(mark), Vec::<String>::new());
    assert_eq!(scopes(&r), ["ml-secrets"]);
    assert_eq!(warehouses(), before + 1);
    assert_eq!(
        count(&r, "/api/2.0/database/instances/", "database_instances"),
        1
    );

    r.ok(&["destroy", "--auto-approve"]);
    assert!(scopes(&r).is_empty());
    assert_eq!(warehouses(), before);
    assert_eq!(
        count(&r, "/api/2.0/database/instances/", "database_instances"),
        0
    );
}

/// `mode: development`: the names the CLI's presets give (a warehouse,
/// an alert and a dashboard prefixed, the others as written) and the
/// preset tags, in the same create bodies as the CLI's.
#[test]
fn more_kinds_in_development_mode_are_named_as_the_cli_names_them() {
    let test = "more_kinds_in_development_mode_are_named_as_the_cli_names_them";
    let Some(r) = start_more(test) else {
        return;
    };
    let Some(cli) = cli_binary(test) else {
        return;
    };
    let yml = crate::remote_kinds::DATABRICKS_YML;
    let dev = "targets:\n  test:\n    default: true\n    mode: development\n    presets:\n      tags:\n        team: ml\n";
    r.repo.write(
        "databricks.yml",
        &format!("{}{dev}", &yml[..yml.find("targets:").unwrap()]),
    );
    cli_deploy(
        &cli,
        &r.repo.bundle(),
        &r,
        &format!("{}-cli", r.server.token()),
    );
    std::fs::remove_dir_all(r.repo.bundle().join(".databricks")).ok();
    let mark = r.server.mark();
    r.ok(&["deploy"]);
    let all = r.server.requests();
    let (theirs, ours) = all.split_at(mark);
    compare(
        ours,
        theirs,
        &[
            "POST /api/2.0/secrets/scopes/create",
            "POST /api/2.0/sql/warehouses",
            "POST /api/2.0/database/instances",
            "POST /api/2.0/alerts",
            "POST /api/2.0/lakeview/dashboards",
            "POST /api/2.0/apps",
        ],
    );
    let names = bodies(ours, "POST /api/2.0/sql/warehouses");
    assert_eq!(names[0]["name"], "[dev tester] serve", "{names:?}");
}
