//! Resources on the remote backend as the Databricks CLI deploys them: the
//! real `xtask` binary with `--remote` against the fake workspace on
//! loopback. Checked on the fake's side: jobs' settings, experiments, Unity
//! Catalog models and their grants.

use std::process::Output;

use crate::support::deploy::{Repo, text};
use e2e::fake_workspace::{DEFAULT_USER, FakeWorkspace};
use serde_json::{Value, json};

const DATABRICKS_YML: &str = "\
bundle:
  name: demo
include:
  - resources/*.yml
targets:
  dev:
    default: true
    mode: development
  test: {}
";

const RESOURCES_YML: &str = "\
resources:
  jobs:
    train:
      name: train
      tasks:
        - task_key: main
          notebook_task:
            notebook_path: ../training/train.py
  experiments:
    exp:
      name: /Shared/demo-exp
  registered_models:
    model:
      name: model
      catalog_name: main
      schema_name: ml
      comment: first
      grants:
        - principal: account users
          privileges: [EXECUTE]
";

struct Remote {
    repo: Repo,
    fake: FakeWorkspace,
}

impl Remote {
    fn new(resources: &str) -> Remote {
        let repo = Repo::new();
        repo.write("databricks.yml", DATABRICKS_YML);
        repo.write("resources/job.yml", resources);
        Remote {
            repo,
            fake: FakeWorkspace::start(),
        }
    }

    fn run(&self, args: &[&str], remote: bool) -> Output {
        let mut cmd = self.repo.xtask(args);
        if remote {
            cmd.arg("--remote");
        }
        cmd.env("DATABRICKS_HOST", self.fake.url())
            .env("DATABRICKS_TOKEN", self.fake.token())
            .env("HOME", self.repo.path())
            .env("XTASK_POLL_MS", "20")
            .output()
            .expect("running xtask")
    }

    fn ok(&self, args: &[&str]) -> Value {
        let mut a = args.to_vec();
        a.push("--json");
        let out = self.run(&a, true);
        assert!(out.status.success(), "xtask {args:?}:\n{}", text(&out));
        serde_json::from_slice(&out.stdout).unwrap_or_else(|e| panic!("{e}: {}", text(&out)))
    }

    fn tfstate(&self, env: &str) -> Value {
        let path =
            format!("/Workspace/Users/{DEFAULT_USER}/.bundle/demo/{env}/state/terraform.tfstate");
        serde_json::from_slice(&self.fake.file(&path).expect("remote tfstate")).unwrap()
    }

    fn id(&self, env: &str, ty: &str, name: &str) -> Option<String> {
        self.tfstate(env)["resources"]
            .as_array()?
            .iter()
            .find(|r| r["type"] == ty && r["name"] == name)
            .and_then(|r| r["instances"][0]["attributes"]["id"].as_str())
            .map(str::to_string)
    }
}

#[test]
fn a_kind_not_deployed_yet_is_refused_remotely_with_its_location() {
    let r = Remote::new(&format!(
        "{RESOURCES_YML}  volumes:\n    landing:\n      name: landing\n      catalog_name: main\n      schema_name: ml\n"
    ));
    let out = r.run(&["validate"], true);
    assert!(!out.status.success(), "{}", text(&out));
    let t = text(&out);
    assert!(
        t.contains("resources.volumes.landing: volumes are not deployed by this tool yet"),
        "{t}"
    );
    assert!(t.contains("resources/job.yml:"), "no location: {t}");
    // deploy refuses before writing anything.
    let out = r.run(&["deploy"], true);
    assert!(!out.status.success(), "{}", text(&out));
    assert_eq!(r.fake.job_count(), 0);
    assert!(r.fake.requests_matching("import-file").is_empty());

    // Locally, where resources are only recorded, a warning; nothing recorded for it.
    let out = r.run(&["validate"], false);
    assert!(out.status.success(), "{}", text(&out));
    assert!(
        text(&out).contains("the local env does not record it"),
        "{}",
        text(&out)
    );
    let out = r.run(&["deploy", "--json"], false);
    assert!(out.status.success(), "{}", text(&out));
    let tf: Value = serde_json::from_slice(
        &std::fs::read(r.repo.env_dir("dev").join("state/terraform.tfstate")).unwrap(),
    )
    .unwrap();
    let types: Vec<&str> = tf["resources"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["type"].as_str().unwrap())
        .collect();
    assert!(!types.contains(&"databricks_volume"), "{types:?}");
    assert!(types.contains(&"databricks_job"), "{types:?}");
}

#[test]
fn jobs_experiments_and_uc_models_are_deployed_as_the_cli_does() {
    let r = Remote::new(RESOURCES_YML);
    let first = r.ok(&["deploy"]);
    let state_path = format!("/Workspace/Users/{DEFAULT_USER}/.bundle/demo/dev/state");

    // The job: what the CLI adds, and the development-mode prefix.
    let job: i64 = r
        .id("dev", "databricks_job", "train")
        .unwrap()
        .parse()
        .unwrap();
    let s = r.fake.job_settings(job).unwrap();
    assert_eq!(s["name"], "[dev tester] train");
    assert_eq!(
        s["deployment"],
        json!({"kind": "BUNDLE", "metadata_file_path": format!("{state_path}/metadata.json")})
    );
    assert_eq!(s["edit_mode"], "UI_LOCKED");
    assert_eq!(s["format"], "MULTI_TASK");
    assert_eq!(s["queue"], json!({"enabled": true}));

    // The experiment: the prefix goes into the last path segment.
    let exp = r.id("dev", "databricks_mlflow_experiment", "exp").unwrap();
    let exps = r.fake.experiments();
    assert!(
        exps.contains(&(
            exp.clone(),
            "/Shared/[dev tester] demo-exp".into(),
            "active".into()
        )),
        "{exps:?}"
    );

    // The model: in Unity Catalog under its full name, never in the legacy registry.
    let full = "main.ml.dev_tester_model";
    assert_eq!(
        r.id("dev", "databricks_registered_model", "model")
            .as_deref(),
        Some(full)
    );
    let m = r.fake.uc_model(full).expect("UC model");
    assert_eq!(m["comment"], "first");
    assert_eq!(
        r.fake.uc_grants(full),
        json!({"account users": ["EXECUTE"]})
    );
    assert!(r.fake.legacy_models().is_empty());
    assert!(r.fake.requests_matching("registered-models").is_empty());
    let ids: Vec<&str> = first["resources"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c["id"].as_str().unwrap())
        .collect();
    assert!(
        ids.contains(&full) && ids.contains(&exp.as_str()),
        "{ids:?}"
    );

    // No change: nothing created or updated.
    r.fake.clear_log();
    let again = r.ok(&["deploy"]);
    assert!(
        again["resources"]
            .as_array()
            .unwrap()
            .iter()
            .all(|c| c["action"] == "unchanged"),
        "{again}"
    );
    assert!(
        r.fake
            .requests_matching("POST /api/2.1/unity-catalog")
            .is_empty()
    );

    // Comment and grants change: the same model is updated, grants follow.
    r.repo.write(
        "resources/job.yml",
        &RESOURCES_YML
            .replace("comment: first", "comment: second")
            .replace("privileges: [EXECUTE]", "privileges: [APPLY_TAG]"),
    );
    r.ok(&["deploy"]);
    assert_eq!(r.fake.uc_model(full).unwrap()["comment"], "second");
    assert_eq!(
        r.fake.uc_grants(full),
        json!({"account users": ["APPLY_TAG"]})
    );
    assert_eq!(
        r.id("dev", "databricks_job", "train").unwrap(),
        job.to_string()
    );

    // Removed from the bundle: deleted from Unity Catalog and the state.
    let without: String = RESOURCES_YML
        .split("  registered_models:")
        .next()
        .unwrap()
        .into();
    r.repo.write("resources/job.yml", &without);
    r.ok(&["deploy"]);
    assert!(r.fake.uc_model(full).is_none());
    assert!(
        r.id("dev", "databricks_registered_model", "model")
            .is_none()
    );

    // Another target, not in development mode: no prefix, its own model.
    r.repo.write("resources/job.yml", RESOURCES_YML);
    r.ok(&["deploy", "--env", "test"]);
    assert!(r.fake.uc_model("main.ml.model").is_some());
    let job: i64 = r
        .id("test", "databricks_job", "train")
        .unwrap()
        .parse()
        .unwrap();
    assert_eq!(r.fake.job_settings(job).unwrap()["name"], "train");
}

#[test]
fn a_deploy_failing_halfway_records_what_it_created() {
    let r = Remote::new(RESOURCES_YML);
    // Experiments, then jobs, then models: the model's create fails (500, not retried).
    r.fake
        .fault("POST /api/2.1/unity-catalog/models", 500, 1, None);
    let out = r.run(&["deploy"], true);
    assert!(!out.status.success(), "{}", text(&out));
    assert!(
        text(&out).contains("/api/2.1/unity-catalog/models"),
        "{}",
        text(&out)
    );
    let job = r
        .id("dev", "databricks_job", "train")
        .expect("the created job is recorded");
    let exp = r
        .id("dev", "databricks_mlflow_experiment", "exp")
        .expect("and the experiment");
    assert!(
        r.id("dev", "databricks_registered_model", "model")
            .is_none()
    );
    // The next deploy converges: nothing created twice.
    r.ok(&["deploy"]);
    assert_eq!(r.fake.job_count(), 1);
    assert_eq!(r.id("dev", "databricks_job", "train").unwrap(), job);
    assert_eq!(
        r.id("dev", "databricks_mlflow_experiment", "exp").unwrap(),
        exp
    );
    assert_eq!(r.fake.experiments().len(), 1);
    assert!(r.fake.uc_model("main.ml.dev_tester_model").is_some());
}

#[test]
fn summary_lists_urls_and_destroy_deletes_everything() {
    let r = Remote::new(RESOURCES_YML);
    r.ok(&["deploy"]);
    let job = r.id("dev", "databricks_job", "train").unwrap();
    let exp = r.id("dev", "databricks_mlflow_experiment", "exp").unwrap();
    let s = r.ok(&["summary"]);
    let url = |kind: &str| {
        s["resources"]
            .as_array()
            .unwrap()
            .iter()
            .find(|x| x["kind"] == kind)
            .map(|x| x["url"].as_str().unwrap().to_string())
            .unwrap()
    };
    let host = r.fake.url();
    assert_eq!(url("jobs"), format!("{host}/jobs/{job}"));
    assert_eq!(url("experiments"), format!("{host}/ml/experiments/{exp}"));
    assert_eq!(
        url("registered_models"),
        format!("{host}/explore/data/models/main/ml/dev_tester_model")
    );
    let human = r.run(&["summary"], true);
    assert!(
        text(&human).contains(&format!("URL:  {host}/jobs/{job}")),
        "{}",
        text(&human)
    );

    // Without a terminal and without --auto-approve: refused, nothing deleted.
    let out = r.run(&["destroy"], true);
    assert!(!out.status.success(), "{}", text(&out));
    assert!(text(&out).contains("--auto-approve"), "{}", text(&out));
    assert_eq!(r.fake.job_count(), 1);

    let d = r.ok(&["destroy", "--auto-approve"]);
    assert_eq!(d["destroyed"], true);
    assert_eq!(r.fake.job_count(), 0);
    assert_eq!(r.fake.experiments()[0].2, "deleted");
    assert!(r.fake.uc_model("main.ml.dev_tester_model").is_none());
    let root = format!("/Workspace/Users/{DEFAULT_USER}/.bundle/demo/dev");
    assert!(
        r.fake.paths().iter().all(|p| !p.starts_with(&root)),
        "{:?}",
        r.fake.paths()
    );
    // Nothing left: a second destroy says so and succeeds.
    let again = r.ok(&["destroy", "--auto-approve"]);
    assert_eq!(again["destroyed"], false);
    // And a new deploy starts afresh.
    r.ok(&["deploy"]);
    assert_eq!(r.fake.job_count(), 1);
}

#[test]
fn destroy_of_a_local_env_removes_it() {
    let r = Remote::new(RESOURCES_YML);
    let out = r.run(&["deploy"], false);
    assert!(out.status.success(), "{}", text(&out));
    assert!(r.repo.env_dir("dev").exists());
    let out = r.run(&["summary", "--json"], false);
    assert!(out.status.success(), "{}", text(&out));
    let s: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(s["resources"].as_array().unwrap().len(), 3, "{s}");
    let out = r.run(&["destroy", "--auto-approve"], false);
    assert!(out.status.success(), "{}", text(&out));
    assert!(!r.repo.env_dir("dev").exists());
    assert!(
        r.fake.requests().is_empty(),
        "a local destroy called the workspace"
    );
}

#[test]
fn run_passes_parameters_and_follows_or_leaves_the_run() {
    let r = Remote::new(RESOURCES_YML);
    r.ok(&["deploy"]);
    let job: i64 = r
        .id("dev", "databricks_job", "train")
        .unwrap()
        .parse()
        .unwrap();
    let host = r.fake.url().to_string();

    let run = r.ok(&[
        "run",
        "train",
        "--params",
        "a=1,b=x y",
        "--python-params",
        "p1,p2",
    ]);
    assert_eq!(run["result_state"], "SUCCESS");
    let id = run["run_id"].as_i64().unwrap();
    assert_eq!(run["run_page_url"], format!("{host}/jobs/{job}/runs/{id}"));
    let runs = r.fake.runs();
    assert_eq!(runs[0].2, json!({"a": "1", "b": "x y"}));
    assert_eq!(runs[0].3, json!(["p1", "p2"]));
    let human = r.run(&["run", "train"], true);
    assert!(human.status.success(), "{}", text(&human));
    assert!(
        text(&human).contains(&format!("Run URL: {host}/jobs/{job}/runs/")),
        "{}",
        text(&human)
    );
    assert!(text(&human).contains("result main"), "{}", text(&human));

    // --no-wait: started, URL printed, still running.
    r.fake.set_run_polls(1000);
    let started = r.ok(&["run", "train", "--no-wait"]);
    let waiting = started["run_id"].as_i64().unwrap();
    assert!(
        started["run_page_url"]
            .as_str()
            .unwrap()
            .ends_with(&format!("/runs/{waiting}"))
    );
    assert!(!r.fake.runs().iter().find(|x| x.0 == waiting).unwrap().4);

    // --timeout: stops waiting, says the run goes on.
    let t0 = std::time::Instant::now();
    let out = r.run(&["run", "train", "--timeout", "1s"], true);
    assert!(!out.status.success());
    assert!(
        text(&out).contains("did not finish within 1s"),
        "{}",
        text(&out)
    );
    assert!(t0.elapsed() < std::time::Duration::from_secs(15));

    // --restart: the active runs are cancelled first, the new one is followed.
    r.fake.set_run_polls(2);
    let restarted = r.ok(&["run", "train", "--restart"]);
    assert_eq!(restarted["result_state"], "SUCCESS");
    let runs = r.fake.runs();
    assert!(
        runs.iter().find(|x| x.0 == waiting).unwrap().4,
        "not cancelled: {runs:?}"
    );

    // A local run has no such options.
    let out = r.run(&["run", "train", "--params", "a=1"], false);
    assert!(!out.status.success());
    assert!(text(&out).contains("add --remote"), "{}", text(&out));
    let out = r.run(&["run", "train", "--params", "novalue", "--json"], true);
    assert!(!out.status.success());
    assert!(text(&out).contains("is not NAME=VALUE"), "{}", text(&out));
}

#[test]
fn permissions_of_jobs_and_experiments_are_set_and_retried_after_a_failure() {
    let with_permissions = RESOURCES_YML
        .replace(
            "      name: train\n",
            "      name: train\n      permissions:\n        - level: CAN_MANAGE_RUN\n          user_name: ops@example.com\n",
        )
        .replace(
            "      name: /Shared/demo-exp\n",
            "      name: /Shared/demo-exp\n      permissions:\n        - level: CAN_READ\n          group_name: users\n",
        );
    let r = Remote::new(&with_permissions);
    r.ok(&["deploy"]);
    let job = r.id("dev", "databricks_job", "train").unwrap();
    let exp = r.id("dev", "databricks_mlflow_experiment", "exp").unwrap();
    // The deployer keeps managing what it deploys, as the CLI's
    // `FixPermissions` adds it: owner of a job, CAN_MANAGE elsewhere.
    assert_eq!(
        r.fake.permissions(&format!("jobs/{job}")).unwrap(),
        json!([
            {"user_name": "ops@example.com", "permission_level": "CAN_MANAGE_RUN"},
            {"user_name": "tester@example.com", "permission_level": "IS_OWNER"}
        ])
    );
    assert_eq!(
        r.fake.permissions(&format!("experiments/{exp}")).unwrap(),
        json!([
            {"group_name": "users", "permission_level": "CAN_READ"},
            {"user_name": "tester@example.com", "permission_level": "CAN_MANAGE"}
        ])
    );

    // A failed permissions call: the job is kept, and the next deploy sets them.
    r.repo.write(
        "resources/job.yml",
        &with_permissions.replace("CAN_MANAGE_RUN", "CAN_MANAGE"),
    );
    r.fake.fault("PUT /api/2.0/permissions/jobs", 500, 1, None);
    let out = r.run(&["deploy"], true);
    assert!(!out.status.success(), "{}", text(&out));
    assert!(
        text(&out).contains("permissions of jobs.train"),
        "{}",
        text(&out)
    );
    r.ok(&["deploy"]);
    assert_eq!(r.id("dev", "databricks_job", "train").unwrap(), job);
    assert_eq!(r.fake.job_count(), 1);
    assert_eq!(
        r.fake.permissions(&format!("jobs/{job}")).unwrap()[0]["permission_level"],
        "CAN_MANAGE"
    );
}
