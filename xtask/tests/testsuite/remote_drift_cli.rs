//! Resource drift on the remote backend, beside the reference CLI (direct
//! engine) on the same Databricks CLI test server: a job edited over the
//! API between two deploys is shown by `plan` and `status` and put back by
//! `deploy` with the same request as the CLI's; a job deleted there is
//! created again; a job already as the bundle wants it gets no request.

use serde_json::{Value, json};

use crate::remote_kinds::{start, writes};
use crate::support::cli_remote::{CliRemote, CliWorkspace};
use crate::support::deploy::text;
use e2e::cli_server::cli_binary;

const JOB_YML: &str = "\
resources:
  jobs:
    j:
      name: nightly
      max_concurrent_runs: 1
      tags:
        team: ml
      tasks:
        - task_key: b
          notebook_task:
            notebook_path: /Shared/b
        - task_key: a
          notebook_task:
            notebook_path: /Shared/a
";

/// The job's settings edited as a user would in the UI: a tag added, the
/// concurrency raised, the first task's timeout set (the API keeps
/// tasks in `task_key` order).
fn edited(settings: &Value) -> Value {
    let mut s = settings.clone();
    s["tags"]["new_tag"] = json!("new_value");
    s["max_concurrent_runs"] = json!(3);
    if let Some(tasks) = s["tasks"].as_array_mut() {
        tasks[0]["timeout_seconds"] = json!(600);
    }
    s
}

/// The job named `nightly` in the workspace of `token`, reset over the
/// API to `edited` settings (as a user would change it in the UI).
fn edit(r: &CliRemote, token: &str) {
    let (status, list) = r.server.call_as(token, "GET", "/api/2.2/jobs/list", b"");
    assert_eq!(status, 200);
    let list: Value = serde_json::from_slice(&list).unwrap();
    let jobs = list["jobs"].as_array().cloned().unwrap_or_default();
    let job = jobs.iter().find(|j| j["settings"]["name"] == "nightly");
    let id = job.and_then(|j| j["job_id"].as_i64()).expect("the job");
    let get = format!("/api/2.2/jobs/get?job_id={id}");
    let (status, job) = r.server.call_as(token, "GET", &get, b"");
    assert_eq!(status, 200);
    let job: Value = serde_json::from_slice(&job).unwrap();
    let body = json!({"job_id": id, "new_settings": edited(&job["settings"])});
    let reset = body.to_string();
    let (status, answer) = r
        .server
        .call_as(token, "POST", "/api/2.2/jobs/reset", reset.as_bytes());
    assert_eq!(status, 200, "{}", String::from_utf8_lossy(&answer));
}

/// The `new_settings` of each `jobs/reset` in `reqs`, the job id blanked.
fn resets(reqs: &[e2e::cli_server::Recorded]) -> Vec<Value> {
    let matching = reqs
        .iter()
        .filter(|q| q.line() == "POST /api/2.2/jobs/reset");
    matching
        .map(|q| {
            let mut b: Value = serde_json::from_str(&q.body).unwrap();
            b["job_id"] = json!("<id>");
            b
        })
        .collect()
}

fn planned(r: &CliRemote) -> Value {
    let plan = r.ok(&["plan"]);
    let all = plan["resources"].as_array().cloned().unwrap_or_default();
    let job = all.into_iter().find(|c| c["key"] == "j");
    job.unwrap_or_else(|| panic!("no jobs.j in {plan}"))
}

#[test]
fn a_job_edited_in_the_workspace_is_shown_and_put_back_as_the_cli_does() {
    let test = "a_job_edited_in_the_workspace_is_shown_and_put_back_as_the_cli_does";
    let Some(r) = start(test, JOB_YML) else {
        return;
    };
    let Some(cli) = cli_binary(test) else {
        return;
    };
    let copy = r.bundle_copy();
    r.ok(&["deploy"]);
    r.databricks(&cli, copy.path(), &["bundle", "deploy"], CliWorkspace::Own);
    let p = planned(&r);
    assert_eq!(p["action"], "unchanged", "{p}");

    let id = r.job_id("test", "j");
    edit(&r, r.server.token());
    edit(&r, &format!("{}-cli", r.server.token()));

    // Both tools see the edit.
    let job = planned(&r);
    assert_eq!(job["action"], "update", "{job}");
    let drift: Vec<&str> = job["drift"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(Value::as_str)
        .collect();
    assert_eq!(
        drift,
        [
            "max_concurrent_runs",
            "tags.new_tag",
            "tasks[task_key='a'].timeout_seconds"
        ],
        "{job}"
    );
    let theirs = r.databricks(&cli, copy.path(), &["bundle", "plan"], CliWorkspace::Own);
    assert!(text(&theirs).contains("update jobs.j"), "{}", text(&theirs));
    let status = text(&r.run(&["status"]));
    assert!(
        status.contains("resource jobs.j changed in the workspace: max_concurrent_runs"),
        "{status}"
    );

    // Both put it back with the same reset.
    let m1 = r.server.mark();
    r.ok(&["deploy"]);
    let m2 = r.server.mark();
    r.databricks(&cli, copy.path(), &["bundle", "deploy"], CliWorkspace::Own);
    let all = r.server.requests();
    let (ours, theirs) = (resets(&all[m1..m2]), resets(&all[m2..]));
    assert_eq!(ours.len(), 1, "{ours:?}");
    assert_eq!(ours, theirs);
    let job = r
        .server
        .get_json(&format!("/api/2.2/jobs/get?job_id={id}"))
        .unwrap();
    assert_eq!(job["settings"]["tags"], json!({"team": "ml"}));
    assert_eq!(job["settings"]["max_concurrent_runs"], 1);
    let p = planned(&r);
    assert_eq!(p["action"], "unchanged", "{p}");
    assert!(!text(&r.run(&["status"])).contains("changed in the workspace"));
}

#[test]
fn a_job_deleted_in_the_workspace_is_created_again() {
    let test = "a_job_deleted_in_the_workspace_is_created_again";
    let Some(r) = start(test, JOB_YML) else {
        return;
    };
    r.ok(&["deploy"]);
    let id = r.job_id("test", "j");
    let body = json!({ "job_id": id }).to_string();
    let (status, _) = r
        .server
        .call("POST", "/api/2.2/jobs/delete", body.as_bytes());
    assert_eq!(status, 200);
    let p = planned(&r);
    assert_eq!(p["action"], "create", "{p}");
    assert!(text(&r.run(&["status"])).contains("resource jobs.j deleted in the workspace"));
    let mark = r.server.mark();
    r.ok(&["deploy"]);
    let w = writes(&r, mark);
    assert_eq!(
        w.iter()
            .filter(|l| *l == "POST /api/2.2/jobs/create")
            .count(),
        1,
        "{w:?}"
    );
    let again = r.job_id("test", "j");
    assert_ne!(again, id);
    assert!(
        r.server
            .get_json(&format!("/api/2.2/jobs/get?job_id={again}"))
            .is_some()
    );
    let p = planned(&r);
    assert_eq!(p["action"], "unchanged", "{p}");
}

/// Changed in the bundle and in the workspace alike: nothing to send, as
/// the CLI's `remote_matches_config` case. The state takes the new value,
/// the workspace's now, where the CLI keeps the old one (on purpose, README
/// "Resource drift"): either tool then plans no change.
#[test]
fn a_job_changed_there_as_the_bundle_now_says_gets_no_request() {
    let test = "a_job_changed_there_as_the_bundle_now_says_gets_no_request";
    let Some(r) = start(test, JOB_YML) else {
        return;
    };
    r.ok(&["deploy"]);
    let id = r.job_id("test", "j");
    let job = r
        .server
        .get_json(&format!("/api/2.2/jobs/get?job_id={id}"))
        .unwrap();
    let mut settings = job["settings"].clone();
    settings["max_concurrent_runs"] = json!(2);
    let body = json!({"job_id": id, "new_settings": settings}).to_string();
    let (status, _) = r
        .server
        .call("POST", "/api/2.2/jobs/reset", body.as_bytes());
    assert_eq!(status, 200);
    r.repo.write(
        "resources/kinds.yml",
        &JOB_YML.replace("max_concurrent_runs: 1", "max_concurrent_runs: 2"),
    );
    let p = planned(&r);
    assert_eq!(p["action"], "unchanged", "{p}");
    let mark = r.server.mark();
    r.ok(&["deploy"]);
    let w = writes(&r, mark);
    assert!(!w.iter().any(|l| l.contains("/jobs/")), "{w:?}");
    let p = planned(&r);
    assert_eq!(p["action"], "unchanged", "{p}");
    let state = r
        .server
        .state(&crate::support::cli_remote::root("test"), "resources.json");
    let recorded = &state["state"]["resources.jobs.j"]["state"]["max_concurrent_runs"];
    assert_eq!(recorded, 2, "{state}");
}

const STORE_YML: &str = "\
resources:
  sql_warehouses:
    wh:
      name: serve
      cluster_size: X-Small
      max_num_clusters: 1
";

/// Schemas, volumes, pipelines, clusters and warehouses are read back too: nothing drifts right after a deploy; a
/// schema's comment and a pipeline's configuration changed there are shown
/// and put back with the CLI's requests.
#[test]
fn other_kinds_edited_in_the_workspace_are_put_back_as_the_cli_does() {
    let test = "other_kinds_edited_in_the_workspace_are_put_back_as_the_cli_does";
    let Some(r) = start(test, crate::remote_kinds::UC_YML) else {
        return;
    };
    let Some(cli) = cli_binary(test) else {
        return;
    };
    r.repo
        .write("resources/compute.yml", crate::remote_kinds::COMPUTE_YML);
    r.repo.write("resources/store.yml", STORE_YML);
    let copy = r.bundle_copy();
    r.ok(&["deploy"]);
    r.databricks(&cli, copy.path(), &["bundle", "deploy"], CliWorkspace::Own);
    let plan = r.ok(&["plan"]);
    let changed: Vec<&Value> = plan["resources"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|c| c["action"] != "unchanged")
        .collect();
    assert!(changed.is_empty(), "{changed:?}");
    let mark = r.server.mark();
    r.ok(&["deploy"]);
    assert_eq!(
        writes(&r, mark)
            .iter()
            .filter(|l| !l.contains("/workspace"))
            .count(),
        0
    );

    let ours = r.id("test", "databricks_pipeline", "p").unwrap();
    let state = copy.path().join(".databricks/bundle/test/resources.json");
    let state: Value = serde_json::from_slice(&std::fs::read(state).unwrap()).unwrap();
    let theirs = state["state"]["resources.pipelines.p"]["__id__"]
        .as_str()
        .unwrap();
    let cli_token = format!("{}-cli", r.server.token());
    for (token, id) in [(r.server.token(), ours.as_str()), (&cli_token, theirs)] {
        let patch = json!({"comment": "set in the UI"}).to_string();
        let schema = "/api/2.1/unity-catalog/schemas/main.ml_s";
        let (status, _) = r.server.call_as(token, "PATCH", schema, patch.as_bytes());
        assert_eq!(status, 200);
        let at = format!("/api/2.0/pipelines/{id}");
        let (_, got) = r.server.call_as(token, "GET", &at, b"");
        let mut spec: Value = serde_json::from_slice::<Value>(&got).unwrap()["spec"].clone();
        spec["configuration"]["k"] = json!("two");
        let (status, _) = r
            .server
            .call_as(token, "PUT", &at, spec.to_string().as_bytes());
        assert_eq!(status, 200);
    }
    let plan = r.ok(&["plan"]);
    let of = |key: &str| {
        let all = plan["resources"].as_array().unwrap();
        all.iter().find(|c| c["key"] == key).cloned().unwrap()
    };
    assert_eq!(of("s")["drift"], json!(["comment"]), "{plan}");
    assert_eq!(of("p")["drift"], json!(["configuration.k"]), "{plan}");
    for key in ["v", "c", "j", "wh"] {
        assert_eq!(of(key)["action"], "unchanged", "{plan}");
    }
    let m1 = r.server.mark();
    r.ok(&["deploy"]);
    let m2 = r.server.mark();
    r.databricks(&cli, copy.path(), &["bundle", "deploy"], CliWorkspace::Own);
    let all = r.server.requests();
    let bodies = |reqs: &[e2e::cli_server::Recorded], prefix: &str| -> Vec<Value> {
        let m = reqs.iter().filter(|q| q.line().starts_with(prefix));
        m.map(|q| {
            let mut b: Value = serde_json::from_str(&q.body).unwrap_or_default();
            if let Some(o) = b.as_object_mut() {
                o.remove("id");
            }
            b
        })
        .collect()
    };
    for prefix in [
        "PATCH /api/2.1/unity-catalog/schemas/",
        "PUT /api/2.0/pipelines/",
    ] {
        let (ours, theirs) = (bodies(&all[m1..m2], prefix), bodies(&all[m2..], prefix));
        assert_eq!(ours.len(), 1, "{prefix}: {ours:?}");
        assert_eq!(ours, theirs, "{prefix}");
    }
    let schema = r
        .server
        .get_json("/api/2.1/unity-catalog/schemas/main.ml_s")
        .unwrap();
    assert_eq!(schema["comment"], "first");
    let p = r.id("test", "databricks_pipeline", "p").unwrap();
    let got = r
        .server
        .get_json(&format!("/api/2.0/pipelines/{p}"))
        .unwrap();
    assert_eq!(got["spec"]["configuration"]["k"], "one");
}
