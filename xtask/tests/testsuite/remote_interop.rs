//! The Databricks CLI (direct engine) and this tool taking turns on one
//! workspace target of the CLI's test server: each finds what the other
//! deployed through `state/resources.json` and updates it, never creating
//! a second job, experiment or model.

use std::process::{Command, Output};

use e2e::cli_server::cli_binary;
use serde_json::{Value, json};

use crate::support::cli_remote::{CliRemote, root};
use crate::support::deploy::text;

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
    let r = CliRemote::start(test)?;
    r.repo.write("resources/job.yml", RESOURCES);
    r.repo.git(&["commit", "-qam", "resources"]);
    Some(r)
}

/// `databricks <args>` in the bundle, on the same workspace and user as
/// our deploys; `None` (with a note) when the CLI is not built.
fn cli(r: &CliRemote, test: &str, args: &[&str]) -> Option<Output> {
    let bin = cli_binary(test)?;
    let out = Command::new(bin)
        .args(args)
        .current_dir(r.repo.bundle())
        .env_clear()
        .env("PATH", std::env::var_os("PATH").unwrap_or_default())
        .env("HOME", r.repo.path())
        .env("DATABRICKS_HOST", r.server.url())
        .env("DATABRICKS_TOKEN", r.server.token())
        .env("DATABRICKS_BUNDLE_ENGINE", "direct")
        .output()
        .expect("running databricks");
    assert!(out.status.success(), "databricks {args:?}:\n{}", text(&out));
    Some(out)
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
