//! Resources on the remote backend, the cases that need our own fake
//! workspace (fault injection, runs that stay active, run cancellation):
//! each test says why. The rest runs against the Databricks CLI's test
//! server, in `remote_cli_resources`.

use std::process::Output;

use crate::support::cli_remote::{
    dev_mode_yml, job_and_model_yml, json_ok, tf_id, with_json, xtask_on,
};
use crate::support::deploy::{Repo, text};
use e2e::fake_workspace::{DEFAULT_USER, FakeWorkspace};
use serde_json::{Value, json};

struct Remote {
    repo: Repo,
    fake: FakeWorkspace,
}

impl Remote {
    fn new(resources: &str) -> Remote {
        let repo = Repo::new();
        repo.write("databricks.yml", &dev_mode_yml());
        repo.write("resources/job.yml", resources);
        Remote {
            repo,
            fake: FakeWorkspace::start(),
        }
    }

    fn run(&self, args: &[&str], remote: bool) -> Output {
        xtask_on(&self.repo, self.fake.url(), self.fake.token(), args, remote)
    }

    fn ok(&self, args: &[&str]) -> Value {
        json_ok(args, &self.run(&with_json(args), true))
    }

    fn id(&self, env: &str, ty: &str, name: &str) -> Option<String> {
        let path =
            format!("/Workspace/Users/{DEFAULT_USER}/.bundle/demo/{env}/state/terraform.tfstate");
        let tfstate: Value =
            serde_json::from_slice(&self.fake.file(&path).expect("remote tfstate")).unwrap();
        tf_id(&tfstate, ty, name)
    }
}

/// Our fake, not the CLI's test server: this injects a failure (a 500 on
/// the model's create).
#[test]
fn a_deploy_failing_halfway_records_what_it_created() {
    let r = Remote::new(&job_and_model_yml());
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

/// Our fake, not the CLI's test server: this needs runs that stay active
/// (`set_run_polls`), `runs/list?active_only` and `runs/cancel`, which that
/// server does not serve (its runs end at the second poll). Parameters and
/// `--no-wait` are tested against it in `remote_cli_resources`.
#[test]
fn run_follows_or_leaves_the_run() {
    let r = Remote::new(&job_and_model_yml());
    r.ok(&["deploy"]);
    let job: i64 = r
        .id("dev", "databricks_job", "train")
        .unwrap()
        .parse()
        .unwrap();
    let host = r.fake.url().to_string();
    let human = r.run(&["run", "train"], true);
    assert!(human.status.success(), "{}", text(&human));
    assert!(
        text(&human).contains(&format!("Run URL: {host}/jobs/{job}/runs/")),
        "{}",
        text(&human)
    );
    assert!(text(&human).contains("result main"), "{}", text(&human));

    // --no-wait: started, still running.
    r.fake.set_run_polls(1000);
    let started = r.ok(&["run", "train", "--no-wait"]);
    let waiting = started["run_id"].as_i64().unwrap();
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

/// Our fake, not the CLI's test server: this injects a failure into the
/// permissions call. (Permissions as set are checked against the CLI's
/// server in `remote_cli_resources`.)
#[test]
fn permissions_of_jobs_and_experiments_are_set_and_retried_after_a_failure() {
    let with_permissions = job_and_model_yml()
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
            {"user_name": DEFAULT_USER, "permission_level": "IS_OWNER"},
        ])
    );
    assert_eq!(
        r.fake.permissions(&format!("experiments/{exp}")).unwrap(),
        json!([
            {"group_name": "users", "permission_level": "CAN_READ"},
            {"user_name": DEFAULT_USER, "permission_level": "CAN_MANAGE"},
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
