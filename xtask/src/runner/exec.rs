//! The scheduler: tasks start as soon as their dependencies are done and their
//! `run_if` holds, up to a bounded number at a time, each in its own thread
//! that owns one Python process.

use std::collections::BTreeMap;
use std::fs;
use std::path::PathBuf;
use std::sync::mpsc;
use std::time::{Duration, Instant};

use anyhow::{Context, Result};
use serde_json::Value;

use super::job::{Kind, Task};
use super::report::{JobReport, RunContext, TaskReport, TaskState};
use super::rules::{Upstream, condition, gate, not_run, result_state, text, upstream};
use super::task::run_task;

const SHIM: &str = include_str!("shim.py");

/// Run `job` (a job's settings) to the end. An `Err` means the job could not
/// be run at all (bad settings, missing files folder); task failures are in
/// the report.
pub fn run_job(job: &Value, ctx: &RunContext) -> Result<JobReport> {
    let tasks = super::job::tasks(job)?;
    let shared = prepare_run(job, ctx)?;
    let started_at = now_rfc3339();
    let start = Instant::now();
    let reports = schedule(&tasks, &shared, parallel_cap(ctx.max_parallel));
    let report = JobReport {
        job_name: job["name"].as_str().map(str::to_string),
        run_id: shared.run_id.clone(),
        run_dir: shared.run_dir.clone(),
        result_state: result_state(&tasks, &reports).to_string(),
        started_at,
        duration_ms: start.elapsed().as_millis() as u64,
        tasks: reports,
    };
    let json = serde_json::to_vec_pretty(&report)?;
    fs::write(shared.run_dir.join("report.json"), json).context("writing the run report")?;
    Ok(report)
}

/// The run folder made ready (with the shim every task runs in) and what
/// every task thread needs, its paths made absolute: tasks run in other
/// folders than ours.
fn prepare_run<'a>(job: &Value, ctx: &'a RunContext) -> Result<Shared<'a>> {
    let files_root = fs::canonicalize(&ctx.files_root).with_context(|| {
        format!(
            "the deployed files {} are not there",
            ctx.files_root.display()
        )
    })?;
    for dir in [&ctx.run_dir, &ctx.dbfs_root] {
        fs::create_dir_all(dir).with_context(|| format!("creating {}", dir.display()))?;
    }
    let run_dir = fs::canonicalize(&ctx.run_dir)?;
    fs::create_dir_all(run_dir.join("task_values"))?;
    fs::create_dir_all(run_dir.join(".internal"))?;
    fs::write(run_dir.join("shim.py"), SHIM).context("writing the runner's shim")?;
    let run_id = run_dir
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    Ok(Shared {
        ctx,
        files_root,
        dbfs_root: fs::canonicalize(&ctx.dbfs_root)?,
        run_dir,
        run_id,
        job_name: job["name"].as_str().unwrap_or("").to_string(),
        params: job_params(job, ctx),
        deadline: job["timeout_seconds"]
            .as_u64()
            .filter(|s| *s > 0)
            .map(|s| Instant::now() + Duration::from_secs(s)),
    })
}

/// The job's parameters: their defaults, overridden by the caller's values.
fn job_params(job: &Value, ctx: &RunContext) -> BTreeMap<String, String> {
    let mut params: BTreeMap<String, String> = job["parameters"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(|p| Some((p["name"].as_str()?.to_string(), text(&p["default"]))))
        .collect();
    params.extend(ctx.job_parameters.clone());
    params
}

/// How many task processes may run at once: `max_parallel`, or by default
/// one a core, at least 2 (so independent tasks overlap) and at most 8.
fn parallel_cap(max_parallel: usize) -> usize {
    match max_parallel {
        0 => std::thread::available_parallelism()
            .map_or(2, |n| n.get())
            .clamp(2, 8),
        n => n,
    }
}

/// Start every task as soon as its upstreams are done, at most `cap`
/// processes at a time, each in a thread of its own; the reports come back
/// in the tasks' order.
fn schedule(tasks: &[Task], shared: &Shared, cap: usize) -> Vec<TaskReport> {
    let ctx = shared.ctx;
    let mut done: Vec<Option<TaskReport>> = vec![None; tasks.len()];
    let mut started = vec![false; tasks.len()];
    let index: BTreeMap<&str, usize> = tasks
        .iter()
        .enumerate()
        .map(|(i, t)| (t.key.as_str(), i))
        .collect();

    std::thread::scope(|scope| {
        let (tx, rx) = mpsc::channel::<(usize, TaskReport)>();
        let mut running = 0;
        loop {
            // Start (or settle without running) every task whose upstreams are
            // done; settling one may make others ready, hence the repeat.
            let mut progressed = true;
            while progressed {
                progressed = false;
                for (i, task) in tasks.iter().enumerate() {
                    if started[i] || running >= cap {
                        continue;
                    }
                    let Some(ups) = upstreams(task, &done, &index) else {
                        continue;
                    };
                    started[i] = true;
                    progressed = true;
                    if let Some(report) = settle_without_running(task, &ups, shared) {
                        done[i] = Some(settled(ctx, report));
                        continue;
                    }
                    running += 1;
                    if ctx.progress {
                        eprintln!("  {:<15}  {}", "RUNNING", task.key);
                    }
                    let tx = tx.clone();
                    scope.spawn(move || {
                        let report = run_task(task, shared);
                        let _ = tx.send((i, report));
                    });
                }
            }
            if running == 0 {
                break;
            }
            if let Ok((i, report)) = rx.recv() {
                running -= 1;
                done[i] = Some(settled(ctx, report));
            }
        }
    });
    done.into_iter().flatten().collect()
}

/// How each upstream of `task` counts for its `run_if`; `None` while one of
/// them is not done.
fn upstreams(
    task: &Task,
    done: &[Option<TaskReport>],
    index: &BTreeMap<&str, usize>,
) -> Option<Vec<Upstream>> {
    task.depends_on
        .iter()
        .map(|(k, outcome)| {
            done[index[k.as_str()]]
                .as_ref()
                .map(|r| upstream(r, outcome.as_deref()))
        })
        .collect()
}

/// The report of a task that ends without a process of its own: its
/// `run_if` does not hold, it cannot run here, or it is a condition, which
/// the runner evaluates itself. `None`: it runs.
fn settle_without_running(task: &Task, ups: &[Upstream], shared: &Shared) -> Option<TaskReport> {
    if let Some((state, reason)) = gate(task.run_if, ups) {
        return Some(not_run(task, state, reason));
    }
    match &task.kind {
        Kind::Unsupported { reason, .. } => Some(not_run(task, TaskState::Skipped, reason.clone())),
        Kind::Condition { op, left, right } => Some(condition(task, shared, op, left, right)),
        _ => None,
    }
}

/// A task's final report, announced on stderr as it happens when asked to.
fn settled(ctx: &RunContext, report: TaskReport) -> TaskReport {
    if ctx.progress {
        let why = match (&report.reason, report.state) {
            (Some(reason), s) if s != TaskState::Success => format!(": {reason}"),
            _ => String::new(),
        };
        eprintln!("  {:<15}  {}{why}", report.state.as_str(), report.task_key);
    }
    report
}

/// What the run needs from every task thread.
pub(super) struct Shared<'a> {
    pub(super) ctx: &'a RunContext,
    pub(super) files_root: PathBuf,
    pub(super) dbfs_root: PathBuf,
    pub(super) run_dir: PathBuf,
    pub(super) run_id: String,
    pub(super) job_name: String,
    pub(super) params: BTreeMap<String, String>,
    /// When the job's `timeout_seconds` runs out.
    pub(super) deadline: Option<Instant>,
}

pub use crate::util::now_rfc3339;
