//! Resources on the remote backend against the Databricks CLI's own test
//! server: jobs, experiments, Unity Catalog models, grants and permissions
//! read back over its API, and the requests we send beside those the
//! reference CLI sends for the same bundle.

use serde_json::{Value, json};

use crate::support::cli_remote::{CliRemote, UC_MODEL_YML, dev_mode_yml, root};
use crate::support::deploy::text;
use e2e::cli_server::USER;

/// A job and an experiment, each with permissions.
const JOBS_YML: &str = "\
resources:
  jobs:
    train:
      name: train
      permissions:
        - level: CAN_MANAGE_RUN
          user_name: ops@example.com
      tasks:
        - task_key: main
          notebook_task:
            notebook_path: ../training/train.py
  experiments:
    exp:
      name: /Shared/demo-exp
      permissions:
        - level: CAN_READ
          group_name: users
";

/// The job and experiment with their permissions, and a Unity Catalog model.
fn resources_yml() -> String {
    format!("{JOBS_YML}{UC_MODEL_YML}")
}

fn start(test: &str) -> Option<CliRemote> {
    CliRemote::with_files(
        test,
        &[
            ("databricks.yml", dev_mode_yml().as_str()),
            ("resources/job.yml", resources_yml().as_str()),
        ],
    )
}

#[test]
fn jobs_experiments_and_uc_models_are_deployed_as_the_cli_does() {
    let Some(r) = start("jobs_experiments_and_uc_models_are_deployed_as_the_cli_does") else {
        return;
    };
    r.ok(&["deploy"]);
    let job: i64 = r.job_id("dev", "train");
    let s = r.server.job(job).unwrap();
    assert_eq!(s["name"], "[dev tester] train");
    let metadata = format!("{}/state/metadata.json", root("dev"));
    assert_eq!(
        s["deployment"],
        json!({"kind": "BUNDLE", "metadata_file_path": metadata})
    );
    assert_eq!(s["edit_mode"], "UI_LOCKED");
    assert_eq!(s["format"], "MULTI_TASK");
    assert_eq!(s["queue"], json!({"enabled": true}));
    // Permissions as set, with the deploying user as owner (the CLI's rule).
    let acl = r.server.permissions(&format!("jobs/{job}"));
    assert!(has(&acl, "ops@example.com", "CAN_MANAGE_RUN"), "{acl}");
    assert!(has(&acl, USER, "IS_OWNER"), "{acl}");

    let exp = r.id("dev", "databricks_mlflow_experiment", "exp").unwrap();
    let e = r.server.experiment(&exp).expect("the experiment");
    assert_eq!(e["name"], "/Shared/[dev tester] demo-exp");
    let acl = r.server.permissions(&format!("experiments/{exp}"));
    assert!(has(&acl, USER, "CAN_MANAGE"), "{acl}");

    // The model: in Unity Catalog under its full name, never in the legacy registry.
    let full = "main.ml.dev_tester_model";
    assert_eq!(
        r.id("dev", "databricks_registered_model", "model")
            .as_deref(),
        Some(full)
    );
    assert_eq!(
        r.server.uc_model(full).expect("UC model")["comment"],
        "first"
    );
    assert_eq!(
        r.server.uc_grants(full),
        json!({"account users": ["EXECUTE"]})
    );
    assert!(
        r.server
            .requests_matching("mlflow/registered-models")
            .is_empty()
    );

    // No change: nothing created or updated.
    let mark = r.server.mark();
    let again = r.ok(&["deploy"]);
    let actions = again["resources"].as_array().unwrap();
    assert!(
        actions.iter().all(|c| c["action"] == "unchanged"),
        "{again}"
    );
    let writes: Vec<String> = r.server.requests()[mark..]
        .iter()
        .filter(|q| q.path.contains("/jobs/") || q.path.contains("unity-catalog"))
        .filter(|q| q.method != "GET")
        .map(|q| q.line())
        .collect();
    assert!(writes.is_empty(), "{writes:?}");

    // Comment and grants change: the same model is updated, grants follow.
    let changed = resources_yml()
        .replace("comment: first", "comment: second")
        .replace("privileges: [EXECUTE]", "privileges: [APPLY_TAG]");
    r.repo.write("resources/job.yml", &changed);
    r.ok(&["deploy"]);
    assert_eq!(r.server.uc_model(full).unwrap()["comment"], "second");
    assert_eq!(
        r.server.uc_grants(full),
        json!({"account users": ["APPLY_TAG"]})
    );
    assert_eq!(r.job_id("dev", "train"), job);

    // Another target, not in development mode: no prefix, its own model.
    r.ok(&["deploy", "--env", "test"]);
    assert!(r.server.uc_model("main.ml.model").is_some());
    assert_eq!(
        r.server.job(r.job_id("test", "train")).unwrap()["name"],
        "train"
    );
}

fn has(acl: &Value, user: &str, level: &str) -> bool {
    acl.as_array().into_iter().flatten().any(|e| {
        let who = e["user_name"].as_str() == Some(user) || e["group_name"].as_str() == Some(user);
        let levels = e["all_permissions"].as_array().cloned().unwrap_or_default();
        who && (e["permission_level"] == level
            || levels.iter().any(|l| l["permission_level"] == level))
    })
}

#[test]
fn summary_lists_urls_and_destroy_deletes_everything() {
    let Some(r) = start("summary_lists_urls_and_destroy_deletes_everything") else {
        return;
    };
    r.ok(&["deploy"]);
    let job = r.job_id("dev", "train");
    let exp = r.id("dev", "databricks_mlflow_experiment", "exp").unwrap();
    let s = r.ok(&["summary"]);
    let url = |kind: &str| {
        let all = s["resources"].as_array().unwrap();
        let x = all.iter().find(|x| x["kind"] == kind).unwrap();
        x["url"].as_str().unwrap().to_string()
    };
    let host = r.server.url();
    assert_eq!(url("jobs"), format!("{host}/jobs/{job}"));
    assert_eq!(url("experiments"), format!("{host}/ml/experiments/{exp}"));

    // Without a terminal and without --auto-approve: refused, nothing deleted.
    let out = r.run(&["destroy"]);
    assert!(!out.status.success(), "{}", text(&out));
    assert!(text(&out).contains("--auto-approve"), "{}", text(&out));
    assert_eq!(r.server.jobs(), vec![job]);

    let d = r.ok(&["destroy", "--auto-approve"]);
    assert_eq!(d["destroyed"], true);
    assert!(r.server.jobs().is_empty());
    let e = r.server.experiment(&exp);
    assert!(
        e.as_ref().is_none_or(|e| e["lifecycle_stage"] == "deleted"),
        "{e:?}"
    );
    assert!(r.server.uc_model("main.ml.dev_tester_model").is_none());
    assert!(
        r.server.status(&root("dev")).is_none(),
        "the env's folder is left"
    );
    // Nothing left: a second destroy says so; a new deploy starts afresh.
    assert_eq!(r.ok(&["destroy", "--auto-approve"])["destroyed"], false);
    r.ok(&["deploy"]);
    assert_eq!(r.server.jobs().len(), 1);
}

#[test]
fn run_passes_parameters_and_prints_the_run() {
    let Some(r) = start("run_passes_parameters_and_prints_the_run") else {
        return;
    };
    // A task the server does not execute (it runs notebooks with `uv`).
    r.repo.write(
        "resources/job.yml",
        &resources_yml().replace(
            "notebook_task:\n            notebook_path: ../training/train.py",
            "spark_python_task:\n            python_file: ../rag/chunk.py",
        ),
    );
    r.ok(&["deploy"]);
    let job = r.job_id("dev", "train");
    let run = r.ok(&[
        "run",
        "train",
        "--params",
        "a=1,b=x y",
        "--python-params",
        "p1,p2",
    ]);
    assert_eq!(run["result_state"], "SUCCESS");
    assert_eq!(run["job_id"], job);
    let sent = r.server.requests_matching("POST /api/2.2/jobs/run-now");
    let body: Value = serde_json::from_str(&sent[0].body).unwrap();
    assert_eq!(body["job_id"], job);
    assert_eq!(body["job_parameters"], json!({"a": "1", "b": "x y"}));
    assert_eq!(body["python_params"], json!(["p1", "p2"]));

    // --no-wait: started, its URL printed, not followed.
    let mark = r.server.mark();
    let started = r.ok(&["run", "train", "--no-wait"]);
    let id = started["run_id"].as_i64().unwrap();
    let url = started["run_page_url"].as_str().unwrap();
    assert!(
        url.starts_with(r.server.url()) && url.ends_with(&id.to_string()),
        "{url}"
    );
    // One read for its URL; the server ends a run at the second poll.
    let polls = r.server.requests()[mark..]
        .iter()
        .filter(|q| q.path == "/api/2.2/jobs/runs/get")
        .count();
    assert!(polls <= 1, "{polls} polls of a run not waited for");
}

/// The bodies we send for jobs, models, grants and permissions equal those of
/// the reference CLI (direct engine) for the same bundle on the same server.
#[test]
fn resource_requests_equal_the_clis() {
    let Some(r) = start("resource_requests_equal_the_clis") else {
        return;
    };
    let Some((theirs, ours)) = r.deploy_beside_cli("resource_requests_equal_the_clis") else {
        return;
    };
    for pattern in [
        "POST /api/2.2/jobs/create",
        "POST /api/2.1/unity-catalog/models",
        "PATCH /api/2.1/unity-catalog/permissions",
        "PUT /api/2.0/permissions/jobs",
    ] {
        let bodies = |reqs: &[e2e::cli_server::Recorded]| -> Vec<Value> {
            let matching = reqs.iter().filter(|q| q.line().starts_with(pattern));
            matching
                .map(|q| normalize(serde_json::from_str(&q.body).unwrap()))
                .collect()
        };
        assert_eq!(bodies(&ours), bodies(&theirs), "{pattern}");
        assert_eq!(bodies(&ours).len(), 1, "{pattern}");
    }
}

/// Arrays of objects sorted (ACL entries, grant changes: their order is
/// not meaningful to the API), empty `remove` lists dropped.
fn normalize(v: Value) -> Value {
    match v {
        // Keys in order, so that `to_string` is canonical (serde_json may
        // keep insertion order).
        Value::Object(m) => {
            let mut kv: Vec<(String, Value)> = m
                .into_iter()
                .filter(|(k, v)| !(k == "remove" && v.as_array().is_some_and(|a| a.is_empty())))
                .map(|(k, v)| (k, normalize(v)))
                .collect();
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

/// A local env: summary and destroy work on it and never call the workspace.
#[test]
fn destroy_of_a_local_env_removes_it() {
    let Some(r) = start("destroy_of_a_local_env_removes_it") else {
        return;
    };
    let out = r.run_with(&["deploy"], false);
    assert!(out.status.success(), "{}", text(&out));
    assert!(r.repo.env_dir("dev").exists());
    let out = r.run_with(&["summary", "--json"], false);
    assert!(out.status.success(), "{}", text(&out));
    let s: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(s["resources"].as_array().unwrap().len(), 3, "{s}");
    let out = r.run_with(&["destroy", "--auto-approve"], false);
    assert!(out.status.success(), "{}", text(&out));
    assert!(!r.repo.env_dir("dev").exists());
    let sent = r.server.requests();
    assert!(
        sent.is_empty(),
        "a local destroy called the workspace: {sent:?}"
    );
}
