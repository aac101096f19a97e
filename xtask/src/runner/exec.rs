//! The scheduler: tasks start as soon as their dependencies are done and their
//! `run_if` holds, up to a bounded number at a time, each in its own thread
//! that owns one Python process.

use std::collections::BTreeMap;
use std::fs;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::mpsc;
use std::time::{Duration, Instant};

use anyhow::{Context, Result};
use serde_json::{Value, json};

use super::job::{Kind, Task};
use super::process::{self, Exit};
use super::report::{JobReport, RunContext, TaskReport, TaskState};
use super::rules::{Upstream, condition, gate, not_run, result_state, text, upstream};

const SHIM: &str = include_str!("shim.py");

/// Run `job` (a job's settings) to the end. An `Err` means the job could not
/// be run at all (bad settings, missing files folder); task failures are in
/// the report.
pub fn run_job(job: &Value, ctx: &RunContext) -> Result<JobReport> {
    let tasks = super::job::tasks(job)?;
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
    let mut params: BTreeMap<String, String> = job["parameters"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(|p| Some((p["name"].as_str()?.to_string(), text(&p["default"]))))
        .collect();
    params.extend(ctx.job_parameters.clone());
    let shared = Shared {
        ctx,
        files_root,
        dbfs_root: fs::canonicalize(&ctx.dbfs_root)?,
        run_dir: run_dir.clone(),
        run_id: run_id.clone(),
        job_name: job["name"].as_str().unwrap_or("").to_string(),
        params,
        deadline: job["timeout_seconds"]
            .as_u64()
            .filter(|s| *s > 0)
            .map(|s| Instant::now() + Duration::from_secs(s)),
    };

    let started_at = now_rfc3339();
    let start = Instant::now();
    let cap = match ctx.max_parallel {
        0 => std::thread::available_parallelism()
            .map_or(2, |n| n.get())
            .clamp(2, 8),
        n => n,
    };
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
            // Start (or settle without running) every task whose upstreams are done.
            let mut progressed = true;
            while progressed {
                progressed = false;
                for (i, task) in tasks.iter().enumerate() {
                    if started[i] || running >= cap {
                        continue;
                    }
                    let ups: Option<Vec<Upstream>> = task
                        .depends_on
                        .iter()
                        .map(|(k, outcome)| {
                            done[index[k.as_str()]]
                                .as_ref()
                                .map(|r| upstream(r, outcome.as_deref()))
                        })
                        .collect();
                    let Some(ups) = ups else { continue };
                    started[i] = true;
                    progressed = true;
                    if let Some((state, reason)) = gate(task.run_if, &ups) {
                        done[i] = Some(settled(ctx, not_run(task, state, reason)));
                    } else if let Kind::Unsupported { reason, .. } = &task.kind {
                        done[i] = Some(settled(
                            ctx,
                            not_run(task, TaskState::Skipped, reason.clone()),
                        ));
                    } else if let Kind::Condition { op, left, right } = &task.kind {
                        done[i] = Some(settled(ctx, condition(task, &shared, op, left, right)));
                    } else {
                        running += 1;
                        if ctx.progress {
                            eprintln!("  {:<15}  {}", "RUNNING", task.key);
                        }
                        let (tx, shared) = (tx.clone(), &shared);
                        scope.spawn(move || {
                            let report = run_task(task, shared);
                            let _ = tx.send((i, report));
                        });
                    }
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

    let reports: Vec<TaskReport> = done.into_iter().flatten().collect();
    let report = JobReport {
        job_name: job["name"].as_str().map(str::to_string),
        run_id,
        run_dir: run_dir.clone(),
        result_state: result_state(&tasks, &reports).to_string(),
        started_at,
        duration_ms: start.elapsed().as_millis() as u64,
        tasks: reports,
    };
    let json = serde_json::to_vec_pretty(&report)?;
    fs::write(run_dir.join("report.json"), json).context("writing the run report")?;
    Ok(report)
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

/// Run a notebook or Python file task with its retries.
fn run_task(task: &Task, shared: &Shared) -> TaskReport {
    let mut report = not_run(task, TaskState::Failed, String::new());
    report.reason = None;
    let log_path = shared.run_dir.join(format!("{}.log", task.key));
    report.log = Some(log_path.clone());
    report.started_at = Some(now_rfc3339());
    let start = Instant::now();
    let finish = |mut report: TaskReport, state, reason: Option<String>| {
        report.state = state;
        report.reason = reason;
        report.duration_ms = start.elapsed().as_millis() as u64;
        report
    };
    let mut log = match fs::File::create(&log_path) {
        Ok(f) => f,
        Err(e) => {
            return finish(
                report,
                TaskState::Failed,
                Some(format!("creating {}: {e}", log_path.display())),
            );
        }
    };

    let file_path = shared.ctx.file_path.as_deref();
    let sub = |v: &String| shared.substitute(v, &task.key);
    // (shim kind, the file it runs or the folder it runs in, widgets, argv, extra spec)
    let prepared = match &task.kind {
        Kind::Notebook {
            path,
            base_parameters,
        } => {
            let mut widgets: BTreeMap<String, String> = base_parameters
                .iter()
                .map(|(k, v)| (k.clone(), sub(v)))
                .collect();
            // Job parameters win over task parameters of the same name.
            widgets.extend(shared.params.clone());
            process::resolve(&shared.files_root, file_path, path, true)
                .map(|p| ("notebook", p, widgets, Vec::new(), json!({})))
        }
        Kind::PythonFile { path, parameters } => {
            let argv = parameters.iter().map(sub).collect();
            process::resolve(&shared.files_root, file_path, path, false)
                .map(|p| ("python_file", p, shared.params.clone(), argv, json!({})))
        }
        Kind::Wheel {
            package,
            entry_point,
            parameters,
        } => {
            let argv = parameters.iter().map(sub).collect();
            let extra = json!({"package": package, "entry_point": entry_point, "wheels": shared.ctx.wheels});
            Ok((
                "wheel",
                shared.files_root.clone(),
                shared.params.clone(),
                argv,
                extra,
            ))
        }
        Kind::Condition { .. } | Kind::Unsupported { .. } => {
            Err("settled by the scheduler".to_string())
        }
    };
    let (kind, path, widgets, argv, extra) = match prepared {
        Ok(p) => p,
        Err(e) => {
            process::note(&mut log, &format!("[xtask] {e}"));
            return finish(report, TaskState::Failed, Some(e));
        }
    };
    let internal = shared.run_dir.join(".internal");
    let result_file = internal.join(format!("{}.result.json", task.key));
    let mut spec = json!({
        "kind": kind, "path": path, "widgets": widgets, "argv": argv, "task_key": task.key,
        "run_dir": shared.run_dir, "result": result_file,
    });
    if let (Some(spec), Some(extra)) = (spec.as_object_mut(), extra.as_object()) {
        spec.extend(extra.clone());
    }
    let spec_file = internal.join(format!("{}.spec.json", task.key));
    if let Err(e) = fs::write(&spec_file, spec.to_string()) {
        return finish(
            report,
            TaskState::Failed,
            Some(format!("writing {}: {e}", spec_file.display())),
        );
    }

    let task_timeout =
        (task.timeout_seconds > 0).then(|| Duration::from_secs(task.timeout_seconds));
    let mut attempt = 0;
    loop {
        // The job's own timeout bounds every attempt of every task.
        let left = shared
            .deadline
            .map(|d| d.saturating_duration_since(Instant::now()));
        if left.is_some_and(|l| l.is_zero()) {
            let msg =
                "the job's timeout_seconds passed before this attempt could start".to_string();
            process::note(&mut log, &format!("[xtask] {msg}"));
            return finish(report, TaskState::TimedOut, Some(msg));
        }
        let timeout = match (task_timeout, left) {
            (Some(t), Some(l)) => Some(t.min(l)),
            (t, l) => t.or(l),
        };
        let job_bound = left.is_some_and(|l| task_timeout.is_none_or(|t| l < t));
        attempt += 1;
        report.attempts = attempt;
        let _ = fs::remove_file(&result_file);
        let rel = path.strip_prefix(&shared.files_root).unwrap_or(&path);
        process::note(
            &mut log,
            &format!(
                "[xtask] {} {} (attempt {attempt})",
                task.kind.name(),
                match &task.kind {
                    Kind::Wheel {
                        package,
                        entry_point,
                        ..
                    } => format!("{package}:{entry_point}"),
                    _ => rel.display().to_string(),
                }
            ),
        );
        let cmd = command(shared, task, &path, &spec_file);
        let (state, reason) = match process::run(cmd, &log, timeout) {
            Ok(Exit::Code(0)) => match read_result(&result_file) {
                Ok(exit_value) => {
                    report.exit_value = exit_value;
                    (TaskState::Success, None)
                }
                Err(e) => (TaskState::Failed, Some(e)),
            },
            Ok(Exit::Code(code)) => {
                let hint = last_words(&log_path)
                    .map(|l| format!(": {l}"))
                    .unwrap_or_default();
                (
                    TaskState::Failed,
                    Some(format!("exited with code {code}{hint}")),
                )
            }
            Ok(Exit::Signal(sig)) => (TaskState::Failed, Some(format!("killed by signal {sig}"))),
            Ok(Exit::TimedOut) => {
                let msg = if job_bound {
                    "the job's timeout_seconds passed; the process group was killed".to_string()
                } else {
                    format!(
                        "timed out after {}s; the process group was killed",
                        task.timeout_seconds
                    )
                };
                process::note(&mut log, &format!("[xtask] {msg}"));
                (TaskState::TimedOut, Some(msg))
            }
            Err(e) => (TaskState::Failed, Some(format!("{e:#}"))),
        };
        let retry = match state {
            TaskState::Failed => true,
            TaskState::TimedOut => task.retry_on_timeout && !job_bound,
            _ => false,
        };
        if !retry || attempt > task.max_retries {
            return finish(report, state, reason);
        }
        process::note(
            &mut log,
            &format!("[xtask] attempt {attempt} failed; retrying"),
        );
        std::thread::sleep(Duration::from_millis(task.min_retry_interval_millis));
    }
}

fn command(shared: &Shared, task: &Task, path: &Path, spec_file: &Path) -> Command {
    let mut cmd = Command::new(&shared.ctx.python);
    cmd.arg(shared.run_dir.join("shim.py")).arg(spec_file);
    let folder = if path.is_dir() {
        path
    } else {
        path.parent().unwrap_or(&shared.files_root)
    };
    cmd.current_dir(folder);
    // Tasks see only what they need of ours: never DATABRICKS_TOKEN, a
    // client secret or any other credential the caller happens to hold.
    cmd.env_clear().envs(inherited(std::env::vars_os()));
    cmd.env("PYTHONPATH", &shared.files_root)
        .env("PYTHONUNBUFFERED", "1")
        // The deployed copy must stay byte-identical to its manifest.
        .env("PYTHONDONTWRITEBYTECODE", "1")
        .env("XTASK_DBFS_ROOT", &shared.dbfs_root)
        .env("XTASK_RUN_DIR", &shared.run_dir)
        .env("XTASK_TASK_KEY", &task.key)
        .env("XTASK_FILES_ROOT", &shared.files_root)
        .envs(&shared.ctx.env);
    if let Some(prefix) = &shared.ctx.file_path {
        cmd.env("XTASK_WORKSPACE_FILE_PATH", prefix);
    }
    cmd
}

/// The variables of this process a task inherits: the system's basics
/// (where programs are, the user, the locale, the temp folder, the terminal).
/// Everything else, credentials first, stays out.
pub(super) fn inherited(
    vars: impl Iterator<Item = (std::ffi::OsString, std::ffi::OsString)>,
) -> Vec<(std::ffi::OsString, std::ffi::OsString)> {
    const KEEP: &[&str] = &[
        "PATH", "HOME", "USER", "LOGNAME", "SHELL", "LANG", "LANGUAGE", "TZ", "TMPDIR", "TERM",
        "NO_COLOR",
    ];
    vars.filter(|(k, _)| {
        k.to_str()
            .is_some_and(|k| KEEP.contains(&k) || k.starts_with("LC_"))
    })
    .collect()
}

/// The last line the task printed (for a traceback, the exception), so the
/// summary says why without opening the log.
fn last_words(log: &Path) -> Option<String> {
    let text = fs::read_to_string(log).ok()?;
    let line = text
        .lines()
        .rev()
        .map(str::trim)
        .find(|l| !l.is_empty() && !l.starts_with("[xtask]"))?;
    Some(line.chars().take(200).collect())
}

fn read_result(file: &Path) -> Result<Option<String>, String> {
    let bytes = fs::read(file).map_err(|_| {
        "the task's process exited without finishing the notebook (did it call os._exit?)"
            .to_string()
    })?;
    let value: Value =
        serde_json::from_slice(&bytes).map_err(|e| format!("reading {}: {e}", file.display()))?;
    Ok(value["exit_value"].as_str().map(str::to_string))
}

pub use crate::util::now_rfc3339;
