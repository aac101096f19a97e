//! The Databricks CLI (direct engine) and this tool taking turns on one
//! workspace target of the CLI's test server: each finds what the other
//! deployed through `state/resources.json` and updates it, never creating
//! a second job, experiment or model.

use std::process::Output;

use e2e::cli_server::cli_binary;
use serde_json::{Value, json};

use crate::support::cli_remote::{CliRemote, CliWorkspace, root};

const RESOURCES: &str = "\
resources:
  jobs:
    train:
      name: train
      tasks:
        - task_key: main
          notebook_task:
            notebook_path: ../training/train.py
      permissions:
        - level: CAN_VIEW
          group_name: users
  experiments:
    exp:
      name: /Shared/demo-exp
  registered_models:
    model:
      name: demo_model
      catalog_name: main
      schema_name: default
";

/// The demo bundle with a job (and its permissions), an experiment and a
/// Unity Catalog model, on a server of its own; `None` when not built.
fn start(test: &str) -> Option<CliRemote> {
    let r = CliRemote::with_files(test, &[("resources/job.yml", RESOURCES)])?;
    r.repo.git(&["commit", "-qam", "resources"]);
    Some(r)
}

/// `databricks <args>` in the bundle, on the same workspace and user as
/// our deploys; `None` (with a note) when the CLI is not built.
fn cli(r: &CliRemote, test: &str, args: &[&str]) -> Option<Output> {
    let bin = cli_binary(test)?;
    Some(r.databricks(&bin, &r.repo.bundle(), args, CliWorkspace::Ours))
}

/// How many times each kind was created, by either tool: one each.
fn assert_created_once(r: &CliRemote) {
    for create in [
        "POST /api/2.2/jobs/create",
        "POST /api/2.0/mlflow/experiments/create",
        "POST /api/2.1/unity-catalog/models",
    ] {
        let n = r.server.requests_matching(create).len();
        assert_eq!(n, 1, "{create} sent {n} times");
    }
    let jobs = r.server.get_json("/api/2.2/jobs/list").unwrap_or_default();
    assert_eq!(jobs["jobs"].as_array().map_or(0, Vec::len), 1, "{jobs}");
}

fn resources_json(r: &CliRemote) -> Value {
    r.server.state(&root("dev"), "resources.json")
}

fn id_in(d: &Value, key: &str) -> String {
    d["state"][key]["__id__"]
        .as_str()
        .unwrap_or_default()
        .to_string()
}

#[test]
fn after_the_cli_we_update_what_it_created() {
    const T: &str = "after_the_cli_we_update_what_it_created";
    let Some(r) = start(T) else { return };
    if cli(&r, T, &["bundle", "deploy"]).is_none() {
        return;
    }
    let theirs = resources_json(&r);
    let job_id = id_in(&theirs, "resources.jobs.train");
    // A change the CLI did not deploy: our deploy must put it on its job.
    r.repo.write(
        "resources/job.yml",
        &RESOURCES.replace("name: train", "name: train2"),
    );
    r.deploy("dev");
    assert_created_once(&r);
    assert_eq!(r.job_id("dev", "train").to_string(), job_id);
    let job = r.server.job(job_id.parse().unwrap()).expect("the job");
    assert_eq!(job["name"], "train2");
    let ours = resources_json(&r);
    assert_eq!(ours["lineage"], theirs["lineage"], "its lineage kept");
    assert_eq!(
        ours["serial"],
        json!(theirs["serial"].as_u64().unwrap() + 1)
    );
    assert_eq!(id_in(&ours, "resources.jobs.train"), job_id);
    // And back: the CLI takes our state, no lineage or serial error.
    cli(&r, T, &["bundle", "deploy"]).unwrap();
    assert_created_once(&r);
}

#[test]
fn after_us_the_cli_updates_what_we_created() {
    const T: &str = "after_us_the_cli_updates_what_we_created";
    let Some(r) = start(T) else { return };
    r.deploy("dev");
    let ours = resources_json(&r);
    let job_id = r.job_id("dev", "train").to_string();
    r.repo.write(
        "resources/job.yml",
        &RESOURCES.replace("name: train", "name: train2"),
    );
    if cli(&r, T, &["bundle", "deploy"]).is_none() {
        return;
    }
    assert_created_once(&r);
    let job = r.server.job(job_id.parse().unwrap()).expect("our job");
    assert_eq!(job["name"], "train2", "the CLI updated our job");
    let theirs = resources_json(&r);
    assert_eq!(theirs["lineage"], ours["lineage"]);
    assert!(theirs["serial"].as_u64() > ours["serial"].as_u64());
    // Our turn again: the CLI's record is read, nothing duplicated.
    r.deploy("dev");
    assert_created_once(&r);
    assert_eq!(r.job_id("dev", "train").to_string(), job_id);
}

#[test]
fn the_clis_summary_and_destroy_find_what_we_deployed() {
    const T: &str = "the_clis_summary_and_destroy_find_what_we_deployed";
    let Some(r) = start(T) else { return };
    r.deploy("dev");
    let job_id = r.job_id("dev", "train");
    let Some(out) = cli(&r, T, &["bundle", "summary", "-o", "json"]) else {
        return;
    };
    let summary: Value = serde_json::from_slice(&out.stdout).expect("summary JSON");
    let jobs = &summary["resources"]["jobs"]["train"];
    assert_eq!(jobs["id"], job_id.to_string(), "{summary}");
    cli(&r, T, &["bundle", "destroy", "--auto-approve"]).unwrap();
    assert!(r.server.job(job_id).is_none(), "the CLI deleted our job");
    assert!(r.server.status(&root("dev")).is_none());
}

/// Without the CLI: the file we write is the CLI's shape, its lineage is
/// that of our `terraform.tfstate` and its serial one past it, each deploy.
#[test]
fn resources_json_follows_each_deploy() {
    let Some(r) = start("resources_json_follows_each_deploy") else {
        return;
    };
    r.deploy("dev");
    let first = resources_json(&r);
    let tf = r.server.state(&root("dev"), "terraform.tfstate");
    assert_eq!(first["state_version"], 2);
    assert_eq!(first["lineage"], tf["lineage"]);
    assert_eq!(first["serial"], json!(tf["serial"].as_u64().unwrap() + 1));
    let job_id = r.job_id("dev", "train").to_string();
    assert_eq!(id_in(&first, "resources.jobs.train"), job_id);
    let acl = &first["state"]["resources.jobs.train.permissions"];
    assert_eq!(acl["__id__"], format!("/jobs/{job_id}"));
    assert_eq!(
        acl["state"]["__embed__"][0],
        json!({"level": "CAN_VIEW", "group_name": "users"})
    );
    assert_eq!(
        id_in(&first, "resources.registered_models.model"),
        "main.default.demo_model"
    );
    assert!(!id_in(&first, "resources.experiments.exp").is_empty());
    r.deploy("dev");
    let second = resources_json(&r);
    assert_eq!(second["lineage"], first["lineage"]);
    assert_eq!(
        second["serial"],
        json!(first["serial"].as_u64().unwrap() + 1)
    );
}

/// A job only `resources.json` records (as the CLI leaves it) is the one
/// our first deploy updates and our destroy deletes, with the file.
#[test]
fn a_job_only_resources_json_records_is_adopted_and_destroyed() {
    let Some(r) = start("a_job_only_resources_json_records_is_adopted_and_destroyed") else {
        return;
    };
    let (status, body) = r.server.call(
        "POST",
        "/api/2.2/jobs/create",
        br#"{"name": "train", "tasks": []}"#,
    );
    assert_eq!(status, 200, "{}", String::from_utf8_lossy(&body));
    let job_id = serde_json::from_slice::<Value>(&body).unwrap()["job_id"].clone();
    let state = json!({
        "state_version": 2, "cli_version": "0.298.0", "serial": 1,
        "lineage": "6b1f9f0e-0000-4000-8000-000000000001",
        "state": {"resources.jobs.train": {"__id__": job_id.to_string(), "state": {"name": "train"}}}
    });
    let path = format!("{}/state/resources.json", root("dev"));
    r.server.put(&path, state.to_string().as_bytes());
    r.deploy("dev");
    assert_eq!(
        r.server
            .requests_matching("POST /api/2.2/jobs/create")
            .len(),
        1
    );
    assert_eq!(r.job_id("dev", "train").to_string(), job_id.to_string());
    let ours = resources_json(&r);
    assert_eq!(ours["lineage"], state["lineage"]);
    assert_eq!(ours["serial"], 2);
    r.ok(&["destroy", "--auto-approve"]);
    assert!(r.server.job(job_id.as_i64().unwrap()).is_none());
    assert!(r.server.file(&path).is_none(), "resources.json removed");
}

/// A project on the CLI's Terraform engine gets no `resources.json`: with
/// its higher serial it would switch the CLI to the direct engine.
#[test]
fn a_project_on_the_terraform_engine_gets_no_resources_json() {
    let Some(r) = start("a_project_on_the_terraform_engine_gets_no_resources_json") else {
        return;
    };
    let yml = crate::support::deploy::DATABRICKS_YML;
    r.repo.write(
        "databricks.yml",
        &yml.replace("  name: demo\n", "  name: demo\n  engine: terraform\n"),
    );
    r.deploy("dev");
    let path = format!("{}/state/resources.json", root("dev"));
    assert!(r.server.file(&path).is_none());
    assert!(r.job_id("dev", "train") > 0);
}
