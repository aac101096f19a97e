//! `terraform.tfstate` in the shape the Databricks CLI's Terraform engine
//! writes it, on the CLI's test server: a state the CLI recorded is adopted
//! (same ids, nothing created again), and the CLI reads ours.

use std::path::PathBuf;
use std::process::{Command, Output};

use serde_json::{Value, json};

use crate::support::cli_remote::{CliRemote, root, tf_id};
use crate::support::deploy::{DATABRICKS_YML, JOB_YML, text};
use e2e::cli_server::cli_binary;

/// The demo bundle on the Terraform engine (`bundle.engine`).
fn on_terraform(test: &str) -> Option<CliRemote> {
    let yml = DATABRICKS_YML.replace("  name: demo\n", "  name: demo\n  engine: terraform\n");
    CliRemote::with_files(test, &[("databricks.yml", &yml)])
}

/// The CLI's recorded Terraform state of its acceptance case `migrate/permissions`.
fn recorded_permissions_state() -> Option<Value> {
    let out = Command::new("go")
        .args(["env", "GOMODCACHE"])
        .output()
        .ok()?;
    let cache = PathBuf::from(String::from_utf8_lossy(&out.stdout).trim());
    let path = cache.join(
        "github.com/databricks/cli@v0.298.0/acceptance/bundle/migrate/permissions/out.original_state.json",
    );
    let Ok(text) = std::fs::read_to_string(&path) else {
        assert!(
            std::env::var_os("XTASK_REQUIRE_CLI").is_none(),
            "{} is missing",
            path.display()
        );
        eprintln!("skipped: {} is missing", path.display());
        return None;
    };
    serde_json::from_str(&text.replace("[UNIX_TIME_MILLIS]", "0")).ok()
}

fn resources(state: &Value) -> &Vec<Value> {
    state["resources"].as_array().expect("resources")
}

/// The recorded state made the state of our demo's job `train` (id
/// `job_id`) and its experiment: the recorded job and its permissions
/// resource renamed, with those ids.
fn cli_state_for(recorded: &Value, job_id: &str, experiment: &Value) -> Value {
    let mut state = recorded.clone();
    let mut kept = Vec::new();
    for r in resources(recorded) {
        let mut r = r.clone();
        let (ty, name) = (r["type"].clone(), r["name"].clone());
        let attrs = &mut r["instances"][0]["attributes"];
        let new_name = match (ty.as_str(), name.as_str()) {
            (Some("databricks_job"), _) => {
                attrs["id"] = json!(job_id);
                attrs["name"] = json!("train");
                "train"
            }
            (Some("databricks_permissions"), Some("job_test_job")) => {
                attrs["id"] = json!(format!("/jobs/{job_id}"));
                attrs["job_id"] = json!(job_id);
                r["instances"][0]["dependencies"] = json!(["databricks_job.train"]);
                "job_train"
            }
            _ => continue,
        };
        r["name"] = json!(new_name);
        kept.push(r);
    }
    kept.push(experiment.clone());
    state["resources"] = Value::Array(kept);
    state["lineage"] = json!("0c6f3a52-7d1e-4b7a-9a55-3f0e2b9c0001");
    state
}

#[test]
fn a_state_the_clis_terraform_engine_recorded_is_adopted_without_a_duplicate() {
    let test = "a_state_the_clis_terraform_engine_recorded_is_adopted_without_a_duplicate";
    let Some(r) = on_terraform(test) else {
        return;
    };
    let Some(recorded) = recorded_permissions_state() else {
        return;
    };
    r.deploy("dev");
    let job = r.job_id("dev", "train");
    let ours = r.server.state(&root("dev"), "terraform.tfstate");
    let experiment = resources(&ours)
        .iter()
        .find(|x| x["type"] == "databricks_mlflow_experiment")
        .expect("the experiment")
        .clone();
    let experiment_id = experiment["instances"][0]["attributes"]["id"].clone();
    // The workspace as the CLI leaves it: its state file, no `resources.json`.
    let theirs = cli_state_for(&recorded, &job.to_string(), &experiment);
    let path = format!("{}/state/terraform.tfstate", root("dev"));
    r.server.put(&path, theirs.to_string().as_bytes());

    let mark = r.server.mark();
    r.deploy("dev");
    let creates: Vec<String> = r.server.requests()[mark..]
        .iter()
        .map(|q| q.line())
        .filter(|l| l.contains("/create") || l.starts_with("POST /api/2.0/mlflow/experiments"))
        .collect();
    assert!(creates.is_empty(), "created again: {creates:?}");
    assert_eq!(r.server.jobs(), vec![job], "one job, the recorded one");

    let after = r.server.state(&root("dev"), "terraform.tfstate");
    assert_eq!(
        after["lineage"], theirs["lineage"],
        "the CLI's lineage kept"
    );
    assert!(after["serial"].as_u64() > theirs["serial"].as_u64());
    assert_eq!(
        tf_id(&after, "databricks_job", "train"),
        Some(job.to_string())
    );
    assert_eq!(
        tf_id(&after, "databricks_mlflow_experiment", "exp").map(Value::from),
        Some(experiment_id)
    );
    // Written back in the Terraform engine's shape.
    let job_state = resources(&after)
        .iter()
        .find(|x| x["type"] == "databricks_job")
        .unwrap();
    let attrs = &job_state["instances"][0]["attributes"];
    assert_eq!(job_state["instances"][0]["schema_version"], 2);
    assert!(
        attrs["task"].is_array() && attrs.get("tasks").is_none(),
        "{attrs}"
    );
    assert!(attrs["deployment"].is_array(), "{attrs}");
    assert!(
        r.server
            .file(&format!("{}/state/resources.json", root("dev")))
            .is_none()
    );
}

/// `databricks <args>` in `dir` on the Terraform engine, in our workspace.
fn cli_terraform(r: &CliRemote, bin: &PathBuf, dir: &std::path::Path, args: &[&str]) -> Output {
    Command::new(bin)
        .args(args)
        .current_dir(dir)
        .env_clear()
        .env("PATH", std::env::var_os("PATH").unwrap_or_default())
        .env("HOME", r.repo.path())
        .env("DATABRICKS_HOST", r.server.url())
        .env("DATABRICKS_TOKEN", r.server.token())
        .env("DATABRICKS_BUNDLE_ENGINE", "terraform")
        .output()
        .expect("running databricks")
}

/// `xtask deploy` on the Terraform engine by `DATABRICKS_BUNDLE_ENGINE`
/// (the CLI's migration refuses a bundle that sets `bundle.engine`).
fn deploy_on_terraform(r: &CliRemote) {
    let out = r
        .repo
        .xtask(&["deploy", "--env", "dev", "--remote", "--json"])
        .env("DATABRICKS_HOST", r.server.url())
        .env("DATABRICKS_TOKEN", r.server.token())
        .env("DATABRICKS_BUNDLE_ENGINE", "terraform")
        .env("XTASK_POLL_MS", "20")
        .env("HOME", r.repo.path())
        .output()
        .expect("running xtask");
    assert!(out.status.success(), "{}", text(&out));
}

#[test]
fn the_cli_reads_our_terraform_state_and_migrates_it_without_a_duplicate() {
    let test = "the_cli_reads_our_terraform_state_and_migrates_it_without_a_duplicate";
    // The job with permissions: the CLI migrates them from their own
    // `databricks_permissions` resource, not from the job's attributes.
    let job_yml = JOB_YML.replace(
        "      name: train\n",
        "      name: train\n      permissions:\n        - level: CAN_VIEW\n          user_name: viewer@databricks.com\n",
    );
    let Some(r) = CliRemote::with_files(test, &[("resources/job.yml", &job_yml)]) else {
        return;
    };
    let Some(bin) = cli_binary(test) else {
        return;
    };
    deploy_on_terraform(&r);
    let job = r.job_id("dev", "train").to_string();
    let experiment = r
        .id("dev", "databricks_mlflow_experiment", "exp")
        .expect("the experiment");
    let dir = r.bundle_copy();

    let out = cli_terraform(&r, &bin, dir.path(), &["bundle", "summary", "-o", "json"]);
    assert!(out.status.success(), "summary: {}", text(&out));
    let summary: Value = serde_json::from_slice(&out.stdout).expect("summary JSON");
    let res = &summary["resources"];
    assert_eq!(res["jobs"]["train"]["id"], job, "{summary:#}");
    assert_eq!(res["experiments"]["exp"]["id"], experiment);

    let args = ["bundle", "deployment", "migrate", "--noplancheck"];
    let out = cli_terraform(&r, &bin, dir.path(), &args);
    assert!(out.status.success(), "migrate: {}", text(&out));
    assert!(
        text(&out).contains("Migrated 3 resources"),
        "{}",
        text(&out)
    );

    let mut plan = Command::new(&bin);
    plan.args(["bundle", "plan", "-o", "json"]);
    let out = cli_direct(&r, plan, dir.path());
    assert!(out.status.success(), "plan: {}", text(&out));
    let plan: Value = serde_json::from_slice(&out.stdout).expect("plan JSON");
    let actions: Vec<(String, Value)> = plan["plan"]
        .as_object()
        .expect("plan entries")
        .iter()
        .map(|(k, v)| (k.clone(), v["action"].clone()))
        .collect();
    assert!(
        actions.iter().all(|(_, a)| a == "skip"),
        "not all unchanged: {actions:?}"
    );
    assert_eq!(r.server.jobs().len(), 1);
}

/// `cmd` (the CLI) in `dir`, on its direct engine, in our workspace.
fn cli_direct(r: &CliRemote, mut cmd: Command, dir: &std::path::Path) -> Output {
    cmd.current_dir(dir)
        .env_clear()
        .env("PATH", std::env::var_os("PATH").unwrap_or_default())
        .env("HOME", r.repo.path())
        .env("DATABRICKS_HOST", r.server.url())
        .env("DATABRICKS_TOKEN", r.server.token())
        .output()
        .expect("running databricks")
}
