//! Running a bundle job locally: tasks in dependency order, from the deployed copy.
//!
//! `job` reads a job's settings, `exec` schedules the tasks, `task` runs one
//! with its retries, `process` owns one task process; `shim.py` is the
//! Databricks stand-in each task runs in.

mod exec;
mod job;
mod process;
pub mod remote;
pub use remote::run_deployed;
mod report;
mod rules;
mod task;
#[cfg(test)]
mod tests;

use std::collections::BTreeMap;
use std::path::PathBuf;

use anyhow::{Context, Result, bail};

use crate::config::Bundle;
use crate::project::Project;

#[allow(unused_imports)] // the public API; some items are used only by the gate and tests
pub use exec::run_job;
/// Kill the process groups of the tasks running now. `run` installs a Ctrl-C
/// handler that calls it; a command that installs its own handler first
/// (only one is allowed per process) must call it from there.
#[allow(unused_imports)]
pub use process::interrupt;
#[allow(unused_imports)]
pub use report::{JobReport, RunContext, TaskReport, TaskState};

pub fn run_cmd(project: &Project, job_key: &str) -> Result<()> {
    let tree = crate::deploy::load_target(project, project.settings.env.as_deref())?;
    let Some(deployed) = crate::deploy::open(project, &tree)?.files_dir() else {
        // Deployed to a workspace: the job runs there (never here instead).
        return remote::run_deployed(project, &tree, job_key, true);
    };
    // The jobs run the deployed files: with the configuration deployed with
    // them, not the working tree's (which may have moved on).
    let bundle = if deployed.join("databricks.yml").is_file() {
        crate::deploy::load_target_in(project, &deployed, Some(&tree.target)).with_context(
            || {
                format!(
                    "loading the configuration deployed in {}",
                    deployed.display()
                )
            },
        )?
    } else {
        tree
    };
    let job = bundle.require_job(job_key)?;
    let report = run_in_env(project, &bundle, job_key, job.settings).with_context(|| match &job
        .location
    {
        Some(at) => format!("running job {job_key} (defined at {at})"),
        None => format!("running job {job_key}"),
    })?;
    if project.settings.json {
        crate::util::print_json(&report)?;
    } else if !project.settings.quiet || !report.ok() {
        print!("{}", summary(&report));
    }
    if report.ok() {
        Ok(())
    } else {
        Err(crate::diag::Failed.into())
    }
}

/// Run job `key` of `bundle` against its deployed copy in the environment
/// named by the bundle's target. Shared by `run` and the integration gate.
pub fn run_in_env(
    project: &Project,
    bundle: &Bundle,
    key: &str,
    job: &serde_json::Value,
) -> Result<JobReport> {
    let env_dir = project.env_dir(&bundle.name, &bundle.target);
    let files = env_dir.join("files");
    if !files.is_dir() {
        bail!(
            "nothing is deployed in environment {:?} ({} does not exist): run `cargo xtask deploy --env {}` first",
            bundle.target,
            files.display(),
            bundle.target
        );
    }
    // The repository's Python environment (made from the working tree's
    // requirements), whichever copy of the configuration the job comes from.
    let requirements = project.bundle_dir.join("requirements.txt");
    let python = if requirements.is_file() {
        crate::pyenv::ensure(project, &requirements)?
    } else {
        let found = crate::pyenv::find_python(std::env::var_os("XTASK_PYTHON").as_deref())?;
        PathBuf::from(found)
    };
    let run_id = format!(
        "{}-{}-{}",
        time::OffsetDateTime::now_utc()
            .format(time::macros::format_description!(
                "[year][month][day]T[hour][minute][second]Z"
            ))
            .unwrap_or_default(),
        key,
        &uuid::Uuid::new_v4().simple().to_string()[..6]
    );
    let runs = env_dir.join("state").join("runs");
    keep_newest(&runs, RUNS_KEPT - 1)?;
    let ctx = RunContext {
        files_root: files,
        file_path: bundle.workspace("file_path").map(str::to_string),
        python,
        run_dir: runs.join(run_id),
        env: BTreeMap::new(),
        dbfs_root: env_dir.join("dbfs"),
        job_parameters: BTreeMap::new(),
        wheels: wheels_in(&env_dir.join("artifacts")),
        max_parallel: 0,
        progress: project.human(),
    };
    // Ctrl-C ends the tasks' process groups too, not only this process. A
    // second registration (a gate running several jobs) is refused; the first
    // handler already covers every run.
    let _ = ctrlc::set_handler(|| {
        process::interrupt();
        std::process::exit(130);
    });
    if project.human() {
        eprintln!(
            "Running job {key} from {} (logs in {})",
            ctx.files_root.display(),
            ctx.run_dir.display()
        );
    }
    run_job(job, &ctx).with_context(|| format!("running job {key}"))
}

/// Run folders (`state/runs/`) and test records (`state/test-runs/`) kept
/// per env: the newest, by name (their names start with the time).
pub const RUNS_KEPT: usize = 20;

/// Remove all but the `keep` newest folders of `dir` (by name); files stay.
pub fn keep_newest(dir: &std::path::Path, keep: usize) -> Result<()> {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return Ok(());
    };
    let mut folders: Vec<PathBuf> = entries
        .flatten()
        .filter(|e| e.file_type().is_ok_and(|t| t.is_dir()))
        .map(|e| e.path())
        .collect();
    folders.sort();
    let old = folders.len().saturating_sub(keep);
    for folder in &folders[..old] {
        std::fs::remove_dir_all(folder)
            .with_context(|| format!("removing the old run {}", folder.display()))?;
    }
    Ok(())
}

/// Every `.whl` under `dir` (an env's built artifacts), sorted.
fn wheels_in(dir: &std::path::Path) -> Vec<PathBuf> {
    let mut found = Vec::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        for entry in std::fs::read_dir(&d).into_iter().flatten().flatten() {
            let path = entry.path();
            if path.is_dir() {
                stack.push(path);
            } else if path.extension().is_some_and(|e| e == "whl") {
                found.push(path);
            }
        }
    }
    found.sort();
    found
}

/// The jobs the integration gate runs: those tagged `integration` (any value
/// but `false`/`no`/empty), ordered by their `integration_order` tag, else by
/// the `integration` tag itself when it is a number, unnumbered jobs last by
/// key; with no tag anywhere, the jobs whose key contains `train`.
#[allow(dead_code)] // called by the integration gate (flow), merged separately
pub fn integration_jobs(bundle: &Bundle) -> Vec<String> {
    let tag = |job: &serde_json::Value, name: &str| {
        job["tags"].get(name).map(|v| match v {
            serde_json::Value::String(s) => s.trim().to_string(),
            other => other.to_string(),
        })
    };
    let mut tagged: Vec<(Option<f64>, String)> = bundle
        .jobs()
        .filter_map(|j| {
            let (key, job) = (j.key, j.settings);
            let value = tag(job, "integration")?;
            if matches!(value.to_ascii_lowercase().as_str(), "false" | "no" | "") {
                return None;
            }
            let order = tag(job, "integration_order").and_then(|o| o.parse::<f64>().ok());
            Some((order.or(value.parse::<f64>().ok()), key.to_string()))
        })
        .collect();
    if tagged.is_empty() {
        return bundle
            .jobs()
            .filter(|j| j.key.contains("train"))
            .map(|j| j.key.to_string())
            .collect();
    }
    tagged.sort_by(|a, b| match (a.0, b.0) {
        (Some(x), Some(y)) => x.total_cmp(&y).then_with(|| a.1.cmp(&b.1)),
        (Some(_), None) => std::cmp::Ordering::Less,
        (None, Some(_)) => std::cmp::Ordering::Greater,
        (None, None) => a.1.cmp(&b.1),
    });
    tagged.into_iter().map(|(_, k)| k).collect()
}

/// The human summary: one line per task, then the run's result.
pub fn summary(report: &JobReport) -> String {
    let width = report
        .tasks
        .iter()
        .map(|t| t.task_key.len())
        .max()
        .unwrap_or(4)
        .max(4);
    let mut out = format!(
        "{:<width$}  {:<15}  {:>8}  LOG / REASON\n",
        "TASK", "STATE", "DURATION"
    );
    for t in &report.tasks {
        let duration = if t.attempts == 0 {
            "-".to_string()
        } else {
            format!("{:.1}s", t.duration_ms as f64 / 1000.0)
        };
        let mut detail = t
            .log
            .as_ref()
            .map(|l| l.display().to_string())
            .unwrap_or_default();
        if let Some(reason) = &t.reason {
            if !detail.is_empty() {
                detail.push_str("  ");
            }
            detail.push_str(reason);
        }
        if let Some(v) = &t.exit_value {
            detail.push_str(&format!("  exit value: {v}"));
        }
        if t.attempts > 1 {
            detail.push_str(&format!("  ({} attempts)", t.attempts));
        }
        out.push_str(&format!(
            "{:<width$}  {:<15}  {:>8}  {detail}\n",
            t.task_key,
            t.state.as_str(),
            duration
        ));
    }
    let skipped = report
        .tasks
        .iter()
        .filter(|t| t.state == TaskState::Skipped)
        .count();
    out.push_str(&format!(
        "Run {}: {} in {:.1}s{}\n",
        report.run_id,
        report.result_state,
        report.duration_ms as f64 / 1000.0,
        if skipped > 0 {
            format!(" ({skipped} task(s) SKIPPED: they cannot run locally)")
        } else {
            String::new()
        }
    ));
    out
}
