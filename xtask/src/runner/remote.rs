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
use crate::workspace::remote::client::Client;

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
/// unless it ends SUCCESS. `print`: task states and the result (human or JSON);
/// without it, a run that fails still has its result printed as text, unless
/// the output is JSON (the caller's one document tells it).
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
    let job_id = deployed_job_id(project, bundle, job_key)?;
    let (client, _) = deploy::env::session(project, bundle)?;
    let human = print && !project.settings.json && !project.settings.quiet;
    if opts.restart {
        cancel_active_runs(&client, job_id, job_key, human)?;
    }
    let (started, first) = start_run(&client, bundle, job_key, job_id, opts)?;
    if human {
        println!(
            "started job {job_key} (id {job_id}) in env {}: run {}",
            started.env, started.run_id
        );
        println!("Run URL: {}", started.url);
    }
    if opts.no_wait {
        if print && project.settings.json {
            crate::util::print_json(&started.json())?;
        }
        return Ok(());
    }
    let run = follow(&client, &started, first, opts.timeout, human)?;
    let result = run
        .state
        .result_state
        .clone()
        .or(run.state.life_cycle_state.clone())
        .unwrap_or_else(|| "UNKNOWN".into());
    if print && project.settings.json {
        crate::util::print_json(&result_json(&started, &run, &result))?;
    } else if !project.settings.json && (human || result != "SUCCESS") {
        // A failure is told even when quiet or not asked to print, but never
        // as text on the stdout of a `--json` run, which owes its caller one
        // JSON document (the gate's, when the gate runs the job).
        print_result(&started, &run, &result);
    }
    if result == "SUCCESS" {
        Ok(())
    } else {
        let msg = run.state.state_message.unwrap_or_default();
        bail!("job {job_key} ended {result} in env {}: {msg}", started.env)
    }
}

/// A run started: what every message and the JSON document name it by.
struct Started {
    job_key: String,
    job_id: i64,
    run_id: i64,
    env: String,
    url: String,
}

impl Started {
    fn json(&self) -> Value {
        json!({
            "job": self.job_key, "job_id": self.job_id, "run_id": self.run_id, "env": self.env,
            "run_page_url": self.url,
        })
    }
}

/// `--restart`: cancel the job's active runs, so the new run is the only one.
fn cancel_active_runs(client: &Client, job_id: i64, job_key: &str, human: bool) -> Result<()> {
    for active in client.runs_active(job_id)? {
        client
            .run_cancel(active)
            .with_context(|| format!("cancelling run {active} of job {job_key}"))?;
        if human {
            println!("cancelled active run {active} of job {job_key}");
        }
    }
    Ok(())
}

/// `run-now` with the options' parameters, and the run's first state (which
/// carries the run's page).
fn start_run(
    client: &Client,
    bundle: &Bundle,
    job_key: &str,
    job_id: i64,
    opts: &RunOptions,
) -> Result<(Started, Run)> {
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
    let started = Started {
        job_key: job_key.to_string(),
        job_id,
        run_id,
        env: bundle.target.clone(),
        url: run_url(client.host(), first.run_page_url.as_deref()),
    };
    Ok((started, first))
}

/// Poll the run (`first` is its state already read) until it can no longer
/// change, printing each task's state as it changes when `human`. An error
/// once `timeout` has passed: the run goes on, we stop waiting.
fn follow(
    client: &Client,
    started: &Started,
    first: Run,
    timeout: Option<Duration>,
    human: bool,
) -> Result<Run> {
    let (job_key, run_id) = (&started.job_key, started.run_id);
    let since = Instant::now();
    let mut seen: Vec<(String, String)> = Vec::new();
    let mut polled = Some(first);
    loop {
        if let Some(limit) = timeout
            && since.elapsed() > limit
        {
            bail!(
                "run {run_id} of job {job_key} did not finish within {:.0}s; it goes on: {}",
                limit.as_secs_f64(),
                started.url
            );
        }
        let run = match polled.take() {
            Some(r) => r,
            None => client
                .runs_get(run_id)
                .with_context(|| format!("polling run {run_id}"))?,
        };
        for (task_key, state) in changed_tasks(&mut seen, &run) {
            if human {
                println!("  task {task_key:<24} {state}");
            }
        }
        if run.state.is_final() {
            return Ok(run);
        }
        std::thread::sleep(poll_interval());
    }
}

/// The tasks of `run` whose state is new or other than in `seen` (the last
/// state of each task), which is brought up to date.
fn changed_tasks(seen: &mut Vec<(String, String)>, run: &Run) -> Vec<(String, String)> {
    let mut changed = Vec::new();
    for t in &run.tasks {
        let state = describe(&t.state);
        match seen.iter_mut().find(|(k, _)| *k == t.task_key) {
            Some((_, s)) if *s == state => continue,
            Some((_, s)) => *s = state.clone(),
            None => seen.push((t.task_key.clone(), state.clone())),
        }
        changed.push((t.task_key.clone(), state));
    }
    changed
}

/// The JSON document of a finished run: its result and each task's.
fn result_json(started: &Started, run: &Run, result: &str) -> Value {
    let tasks: Vec<Value> = run
        .tasks
        .iter()
        .map(|t| json!({"task_key": t.task_key, "state": describe(&t.state)}))
        .collect();
    json!({
        "job": started.job_key, "job_id": started.job_id, "run_id": started.run_id,
        "env": started.env, "result_state": result, "tasks": tasks, "run_page_url": started.url,
    })
}

/// Each task's result with its message, then the run's.
fn print_result(started: &Started, run: &Run, result: &str) {
    for t in &run.tasks {
        let msg = t.state.state_message.as_deref().unwrap_or_default();
        println!("  result {:<22} {} {msg}", t.task_key, describe(&t.state));
    }
    println!(
        "run {} of job {}: {result} {}",
        started.run_id, started.job_key, started.url
    );
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
