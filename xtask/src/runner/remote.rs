//! `run <job> --remote`: the deployed job runs in the workspace (`jobs/run-now`),
//! and `runs/get` is polled, printing each task's state as it changes.
//!
//! The job id comes from the env's remote `terraform.tfstate`, so the run is of
//! what was deployed, never of the working tree: deploy first.

use std::time::Duration;

use anyhow::{Context, Result, bail};
use serde_json::{Map, Value, json};

use crate::config::Bundle;
use crate::deploy;
use crate::project::Project;
use crate::workspace::remote::api::Run;

/// Seconds between polls (`XTASK_POLL_MS` overrides, for tests).
fn poll_interval() -> Duration {
    std::env::var("XTASK_POLL_MS")
        .ok()
        .and_then(|v| v.parse().ok())
        .map(Duration::from_millis)
        .unwrap_or(Duration::from_secs(1))
}

pub fn run_remote(project: &Project, job_key: &str) -> Result<()> {
    // No `--env`: the default target, as `deploy` picks it.
    let bundle = deploy::load_target(project, project.settings.env.as_deref())?;
    run_deployed(project, &bundle, job_key, true)
}

/// Run job `job_key` as deployed in `bundle`'s env and wait for it; an error
/// unless it ends SUCCESS. `print`: task states and the result (human or JSON).
pub fn run_deployed(project: &Project, bundle: &Bundle, job_key: &str, print: bool) -> Result<()> {
    let env = bundle.target.clone();
    bundle.require_job(job_key)?;
    let ws = deploy::open(project, bundle)?;
    let tfstate: Value = match ws.read_state("terraform.tfstate")? {
        Some(b) => serde_json::from_slice(&b).context("reading the env's terraform.tfstate")?,
        None => Value::Null,
    };
    let job_id = tfstate["resources"]
        .as_array()
        .into_iter()
        .flatten()
        .find(|r| r["type"] == "databricks_job" && r["name"] == job_key)
        .and_then(|r| r["instances"][0]["attributes"]["id"].as_str())
        .and_then(|id| id.parse::<i64>().ok())
        .with_context(|| {
            format!(
                "job {job_key} is not deployed in env {env} ({}); run `cargo xtask deploy --env {env} --remote` first",
                ws.location()
            )
        })?;
    let (client, _) = deploy::env::session(bundle)?;
    let run_id = client
        .run_now(job_id, &Map::new())
        .with_context(|| format!("starting job {job_key} (id {job_id})"))?;
    let human = print && !project.settings.json && !project.settings.quiet;
    if human {
        println!("started job {job_key} (id {job_id}) in env {env}: run {run_id}");
    }
    let mut seen: Vec<(String, String)> = Vec::new();
    let run: Run = loop {
        let run = client
            .runs_get(run_id)
            .with_context(|| format!("polling run {run_id}"))?;
        for t in &run.tasks {
            let state = describe(&t.state);
            match seen.iter_mut().find(|(k, _)| *k == t.task_key) {
                Some((_, s)) if *s == state => {}
                Some((_, s)) => {
                    *s = state.clone();
                    if human {
                        println!("  task {:<24} {state}", t.task_key);
                    }
                }
                None => {
                    seen.push((t.task_key.clone(), state.clone()));
                    if human {
                        println!("  task {:<24} {state}", t.task_key);
                    }
                }
            }
        }
        if run.state.is_final() {
            break run;
        }
        std::thread::sleep(poll_interval());
    };
    let result = run
        .state
        .result_state
        .clone()
        .or(run.state.life_cycle_state.clone())
        .unwrap_or_else(|| "UNKNOWN".into());
    if print && project.settings.json {
        let tasks: Vec<Value> = run
            .tasks
            .iter()
            .map(|t| json!({"task_key": t.task_key, "state": describe(&t.state)}))
            .collect();
        crate::util::print_json(&json!({
            "job": job_key, "job_id": job_id, "run_id": run_id, "env": env,
            "result_state": result, "tasks": tasks, "run_page_url": run.run_page_url,
        }))?;
    } else if human || result != "SUCCESS" {
        let url = run.run_page_url.as_deref().unwrap_or_default();
        println!("run {run_id} of job {job_key}: {result} {url}");
    }
    if result == "SUCCESS" {
        Ok(())
    } else {
        let msg = run.state.state_message.unwrap_or_default();
        bail!("job {job_key} ended {result} in env {env}: {msg}")
    }
}

fn describe(s: &crate::workspace::remote::api::RunState) -> String {
    match (&s.life_cycle_state, &s.result_state) {
        (_, Some(r)) => r.clone(),
        (Some(l), None) => l.clone(),
        (None, None) => "UNKNOWN".into(),
    }
}
