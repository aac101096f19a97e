//! One task's process: what the shim is told to run, the attempts with their
//! timeouts, and the retries. The scheduler (`exec`) starts one per thread.

use std::collections::BTreeMap;
use std::fs;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

use anyhow::Result;
use serde_json::{Value, json};

use super::exec::{Shared, now_rfc3339};
use super::job::{Kind, Task};
use super::process::{self, Exit};
use super::report::{TaskReport, TaskState};
use super::rules::not_run;

/// What the shim runs for one task: its kind, the file it runs (for a wheel,
/// the folder it runs in), the widgets, the argv, and any fields only that
/// kind has.
struct Prepared {
    kind: &'static str,
    path: PathBuf,
    widgets: BTreeMap<String, String>,
    argv: Vec<String>,
    extra: Value,
}

/// The files of one task in the run folder: the log the user reads, the spec
/// the shim reads, the result it writes when the notebook finishes.
struct TaskFiles {
    log: PathBuf,
    spec: PathBuf,
    result: PathBuf,
}

/// How one attempt ended.
struct Ended {
    state: TaskState,
    reason: Option<String>,
    /// The notebook's `dbutils.notebook.exit` value, on success.
    exit_value: Option<String>,
}

/// The bound on one attempt: the task's `timeout_seconds` or what is left of
/// the job's, whichever ends first.
struct Bound {
    timeout: Option<Duration>,
    /// The job's timeout ends first: a timeout then is the job's, never retried.
    job_bound: bool,
}

/// Run a notebook or Python file task with its retries.
pub(super) fn run_task(task: &Task, shared: &Shared) -> TaskReport {
    let internal = shared.run_dir.join(".internal");
    let files = TaskFiles {
        log: shared.run_dir.join(format!("{}.log", task.key)),
        spec: internal.join(format!("{}.spec.json", task.key)),
        result: internal.join(format!("{}.result.json", task.key)),
    };
    let mut report = not_run(task, TaskState::Failed, String::new());
    report.reason = None;
    report.log = Some(files.log.clone());
    report.started_at = Some(now_rfc3339());
    let start = Instant::now();
    let (state, reason) = prepare_and_attempt(task, shared, &files, &mut report);
    report.state = state;
    report.reason = reason;
    report.duration_ms = start.elapsed().as_millis() as u64;
    report
}

/// Everything between opening the log and the last attempt's end: each step
/// that fails ends the task FAILED with the reason (in the log too when the
/// log could be opened).
fn prepare_and_attempt(
    task: &Task,
    shared: &Shared,
    files: &TaskFiles,
    report: &mut TaskReport,
) -> (TaskState, Option<String>) {
    let failed = |why: String| (TaskState::Failed, Some(why));
    let mut log = match fs::File::create(&files.log) {
        Ok(f) => f,
        Err(e) => return failed(format!("creating {}: {e}", files.log.display())),
    };
    let prepared = match prepare(task, shared) {
        Ok(p) => p,
        Err(e) => {
            process::note(&mut log, &format!("[xtask] {e}"));
            return failed(e);
        }
    };
    if let Err(e) = fs::write(
        &files.spec,
        spec(task, shared, &prepared, files).to_string(),
    ) {
        return failed(format!("writing {}: {e}", files.spec.display()));
    }
    attempts(task, shared, &prepared.path, files, &mut log, report)
}

/// Resolve the task's file in the deployed copy and its parameters, after
/// `{{...}}` references.
fn prepare(task: &Task, shared: &Shared) -> Result<Prepared, String> {
    let file_path = shared.ctx.file_path.as_deref();
    let sub = |v: &String| shared.substitute(v, &task.key);
    match &task.kind {
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
            let path = process::resolve(&shared.files_root, file_path, path, true)?;
            Ok(Prepared {
                kind: "notebook",
                path,
                widgets,
                argv: Vec::new(),
                extra: json!({}),
            })
        }
        Kind::PythonFile { path, parameters } => Ok(Prepared {
            kind: "python_file",
            path: process::resolve(&shared.files_root, file_path, path, false)?,
            widgets: shared.params.clone(),
            argv: parameters.iter().map(sub).collect(),
            extra: json!({}),
        }),
        Kind::Wheel {
            package,
            entry_point,
            parameters,
        } => Ok(Prepared {
            kind: "wheel",
            path: shared.files_root.clone(),
            widgets: shared.params.clone(),
            argv: parameters.iter().map(sub).collect(),
            extra: json!({"package": package, "entry_point": entry_point, "wheels": shared.ctx.wheels}),
        }),
        Kind::Condition { .. } | Kind::Unsupported { .. } => {
            Err("settled by the scheduler".to_string())
        }
    }
}

/// The spec `shim.py` reads: what to run, with what, and where to write the result.
fn spec(task: &Task, shared: &Shared, prepared: &Prepared, files: &TaskFiles) -> Value {
    let mut spec = json!({
        "kind": prepared.kind, "path": prepared.path, "widgets": prepared.widgets,
        "argv": prepared.argv, "task_key": task.key, "run_dir": shared.run_dir,
        "result": files.result,
    });
    if let (Some(spec), Some(extra)) = (spec.as_object_mut(), prepared.extra.as_object()) {
        spec.extend(extra.clone());
    }
    spec
}

/// Run attempts until one succeeds, one may not be retried, or the retries
/// are used up; `report` gets the number of attempts and the exit value.
fn attempts(
    task: &Task,
    shared: &Shared,
    path: &Path,
    files: &TaskFiles,
    log: &mut fs::File,
    report: &mut TaskReport,
) -> (TaskState, Option<String>) {
    let mut attempt = 0;
    loop {
        let Some(bound) = attempt_bound(task, shared.deadline) else {
            let msg =
                "the job's timeout_seconds passed before this attempt could start".to_string();
            process::note(log, &format!("[xtask] {msg}"));
            return (TaskState::TimedOut, Some(msg));
        };
        attempt += 1;
        report.attempts = attempt;
        // A result left by an earlier attempt must not pass for this one's.
        let _ = fs::remove_file(&files.result);
        process::note(
            log,
            &format!(
                "[xtask] {} {} (attempt {attempt})",
                task.kind.name(),
                what_runs(task, shared, path)
            ),
        );
        let cmd = command(shared, task, path, &files.spec);
        let ended = ended(
            task,
            process::run(cmd, log, bound.timeout),
            files,
            log,
            &bound,
        );
        if ended.state == TaskState::Success {
            report.exit_value = ended.exit_value;
        }
        if !retried(task, ended.state, &bound) || attempt > task.max_retries {
            return (ended.state, ended.reason);
        }
        process::note(log, &format!("[xtask] attempt {attempt} failed; retrying"));
        std::thread::sleep(Duration::from_millis(task.min_retry_interval_millis));
    }
}

/// The bound on the next attempt. `None`: the job's timeout has passed already.
fn attempt_bound(task: &Task, deadline: Option<Instant>) -> Option<Bound> {
    let task_timeout =
        (task.timeout_seconds > 0).then(|| Duration::from_secs(task.timeout_seconds));
    // The job's own timeout bounds every attempt of every task.
    let left = deadline.map(|d| d.saturating_duration_since(Instant::now()));
    if left.is_some_and(|l| l.is_zero()) {
        return None;
    }
    let timeout = match (task_timeout, left) {
        (Some(t), Some(l)) => Some(t.min(l)),
        (t, l) => t.or(l),
    };
    let job_bound = left.is_some_and(|l| task_timeout.is_none_or(|t| l < t));
    Some(Bound { timeout, job_bound })
}

/// What an attempt's log header names: the entry point of a wheel, else the
/// file, relative to the deployed files.
fn what_runs(task: &Task, shared: &Shared, path: &Path) -> String {
    match &task.kind {
        Kind::Wheel {
            package,
            entry_point,
            ..
        } => format!("{package}:{entry_point}"),
        _ => {
            let rel = path.strip_prefix(&shared.files_root).unwrap_or(path);
            rel.display().to_string()
        }
    }
}

/// The attempt's state from how its process ended: exit code 0 is a success
/// only if the shim wrote the result (the notebook ran to its end).
fn ended(
    task: &Task,
    exit: Result<Exit>,
    files: &TaskFiles,
    log: &mut fs::File,
    bound: &Bound,
) -> Ended {
    let failed = |why: String| Ended {
        state: TaskState::Failed,
        reason: Some(why),
        exit_value: None,
    };
    match exit {
        Ok(Exit::Code(0)) => match read_result(&files.result) {
            Ok(exit_value) => Ended {
                state: TaskState::Success,
                reason: None,
                exit_value,
            },
            Err(e) => failed(e),
        },
        Ok(Exit::Code(code)) => {
            let hint = last_words(&files.log)
                .map(|l| format!(": {l}"))
                .unwrap_or_default();
            failed(format!("exited with code {code}{hint}"))
        }
        Ok(Exit::Signal(sig)) => failed(format!("killed by signal {sig}")),
        Ok(Exit::TimedOut) => {
            let msg = if bound.job_bound {
                "the job's timeout_seconds passed; the process group was killed".to_string()
            } else {
                format!(
                    "timed out after {}s; the process group was killed",
                    task.timeout_seconds
                )
            };
            process::note(log, &format!("[xtask] {msg}"));
            Ended {
                state: TaskState::TimedOut,
                reason: Some(msg),
                exit_value: None,
            }
        }
        Err(e) => failed(format!("{e:#}")),
    }
}

/// Whether an attempt that ended in `state` is retried (while retries are
/// left): a failure always, a timeout only when the task asks for it and the
/// job's own timeout did not end it (no time is left for another attempt).
fn retried(task: &Task, state: TaskState, bound: &Bound) -> bool {
    match state {
        TaskState::Failed => true,
        TaskState::TimedOut => task.retry_on_timeout && !bound.job_bound,
        _ => false,
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
