//! `run <job> --remote`: the deployed job runs in the workspace (`jobs/run-now`),
//! and `runs/get` is polled, printing each task's state as it changes.
//!
//! The job id comes from the env's remote `terraform.tfstate`, so the run is of
//! what was deployed, never of the working tree: deploy first.
//!
//! Options as `databricks bundle run`: job parameters (`--params k=v,...`),
//! `--python-params`, `--no-wait` (print the run URL and return),
//! `--timeout` (stop waiting; the run goes on), `--restart` (cancel the
//! job's active runs first).

use std::time::{Duration, Instant};

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

/// How to start a remote run and how long to follow it.
#[derive(Debug, Clone, Default)]
pub struct RunOptions {
    /// Job parameters, `name=value`.
    pub params: Vec<(String, String)>,
    /// Parameters for Python tasks (`python_params` of `run-now`).
    pub python_params: Vec<String>,
    /// Return once the run has started.
    pub no_wait: bool,
    /// Stop waiting after this long (the run itself goes on).
    pub timeout: Option<Duration>,
    /// Cancel the job's active runs before starting.
    pub restart: bool,
}

impl RunOptions {
    /// True if any option only a workspace run has is set.
    pub fn is_remote_only(&self) -> bool {
        !self.params.is_empty()
            || !self.python_params.is_empty()
            || self.no_wait
            || self.timeout.is_some()
            || self.restart
    }
}

pub fn run_remote(project: &Project, job_key: &str, opts: &RunOptions) -> Result<()> {
    // No `--env`: the default target, as `deploy` picks it.
    let bundle = deploy::load_target(project, project.settings.env.as_deref())?;
    run_deployed_with(project, &bundle, job_key, true, opts)
}

/// Run job `job_key` as deployed in `bundle`'s env and wait for it; an error
/// unless it ends SUCCESS. `print`: task states and the result (human or JSON).
pub fn run_deployed(project: &Project, bundle: &Bundle, job_key: &str, print: bool) -> Result<()> {
    run_deployed_with(project, bundle, job_key, print, &RunOptions::default())
}

/// The job id `job_key` has in the env's state.
fn deployed_job_id(project: &Project, bundle: &Bundle, job_key: &str) -> Result<i64> {
    let env = &bundle.target;
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
    Ok(job_id)
}

fn run_deployed_with(
    project: &Project,
    bundle: &Bundle,
    job_key: &str,
    print: bool,
    opts: &RunOptions,
) -> Result<()> {
    let env = bundle.target.clone();
    let job_id = deployed_job_id(project, bundle, job_key)?;
    let (client, _) = deploy::env::session(project, bundle)?;
    let human = print && !project.settings.json && !project.settings.quiet;
    if opts.restart {
        for active in client.runs_active(job_id)? {
            client
                .run_cancel(active)
                .with_context(|| format!("cancelling run {active} of job {job_key}"))?;
            if human {
                println!("cancelled active run {active} of job {job_key}");
            }
        }
    }
    let params: Map<String, Value> = opts
        .params
        .iter()
        .map(|(k, v)| (k.clone(), json!(v)))
        .collect();
    let run_id = client
        .run_now_with(job_id, &params, &opts.python_params)
        .with_context(|| format!("starting job {job_key} (id {job_id})"))?;
    let first = client
        .runs_get(run_id)
        .with_context(|| format!("reading run {run_id}"))?;
    let url = run_url(client.host(), first.run_page_url.as_deref());
    if human {
        println!("started job {job_key} (id {job_id}) in env {env}: run {run_id}");
        println!("Run URL: {url}");
    }
    if opts.no_wait {
        if print && project.settings.json {
            println!(
                "{}",
                serde_json::to_string_pretty(&json!({
                    "job": job_key, "job_id": job_id, "run_id": run_id, "env": env,
                    "run_page_url": url,
                }))?
            );
        }
        return Ok(());
    }
    let started = Instant::now();
    let mut seen: Vec<(String, String)> = Vec::new();
    let mut polled = Some(first);
    let run: Run = loop {
        if let Some(limit) = opts.timeout
            && started.elapsed() > limit
        {
            bail!(
                "run {run_id} of job {job_key} did not finish within {:.0}s; it goes on: {url}",
                limit.as_secs_f64()
            );
        }
        let run = match polled.take() {
            Some(r) => r,
            None => client
                .runs_get(run_id)
                .with_context(|| format!("polling run {run_id}"))?,
        };
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
            "result_state": result, "tasks": tasks, "run_page_url": url,
        }))?;
    } else if human || result != "SUCCESS" {
        for t in &run.tasks {
            let msg = t.state.state_message.as_deref().unwrap_or_default();
            println!("  result {:<22} {} {msg}", t.task_key, describe(&t.state));
        }
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

/// The run's page: the API gives an absolute URL; a relative one is the host's.
fn run_url(host: &str, page: Option<&str>) -> String {
    match page {
        Some(p) if p.starts_with('/') => format!("{}{p}", host.trim_end_matches('/')),
        Some(p) => p.to_string(),
        None => String::new(),
    }
}
