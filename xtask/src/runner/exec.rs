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
use serde::Serialize;
use serde_json::{Value, json};

use super::job::{Kind, RunIf, Task};
use super::process::{self, Exit};

const SHIM: &str = include_str!("shim.py");

/// Everything a run needs besides the job's settings.
#[derive(Debug, Clone)]
pub struct RunContext {
    /// The deployed copy of the bundle (`<env>/files`). Canonicalized once at
    /// the start, so a deploy switching the folder mid-run does not mix versions.
    pub files_root: PathBuf,
    /// `workspace.file_path` of the resolved configuration: the prefix of the
    /// translated task paths.
    pub file_path: Option<String>,
    /// The Python that runs the tasks (the venv's).
    pub python: PathBuf,
    /// The run folder, e.g. `<env>/state/runs/<run-id>`; created if missing.
    pub run_dir: PathBuf,
    /// Extra environment variables for every task.
    pub env: BTreeMap<String, String>,
    /// The local stand-in for DBFS (`<env>/dbfs`); created if missing.
    pub dbfs_root: PathBuf,
    /// Values for the job's `parameters`, overriding their defaults.
    pub job_parameters: BTreeMap<String, String>,
    /// At most this many tasks at once (0: the machine's parallelism, 2 to 8).
    pub max_parallel: usize,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum TaskState {
    Success,
    Failed,
    TimedOut,
    /// Not run: its `run_if` needed upstream successes that did not happen.
    UpstreamFailed,
    /// Not run: a failure-handling `run_if` did not hold, or every upstream
    /// was excluded. Counts as a success downstream, as on Databricks.
    Excluded,
    /// Not run: the task type cannot run on this machine (the reason says why).
    Skipped,
}

impl TaskState {
    pub fn as_str(self) -> &'static str {
        match self {
            TaskState::Success => "SUCCESS",
            TaskState::Failed => "FAILED",
            TaskState::TimedOut => "TIMEDOUT",
            TaskState::UpstreamFailed => "UPSTREAM_FAILED",
            TaskState::Excluded => "EXCLUDED",
            TaskState::Skipped => "SKIPPED",
        }
    }
    fn failed(self) -> bool {
        matches!(
            self,
            TaskState::Failed | TaskState::TimedOut | TaskState::UpstreamFailed
        )
    }
}

#[derive(Debug, Clone, Serialize)]
pub struct TaskReport {
    pub task_key: String,
    /// `notebook_task`, `spark_python_task`, `pipeline_task`, ...
    pub kind: String,
    pub state: TaskState,
    /// Why it failed or did not run.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
    pub attempts: u32,
    /// RFC 3339; absent for tasks that did not run.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub started_at: Option<String>,
    pub duration_ms: u64,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub log: Option<PathBuf>,
    /// The value given to `dbutils.notebook.exit`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub exit_value: Option<String>,
    /// A condition task's result, `"true"` or `"false"`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub outcome: Option<String>,
}

#[derive(Debug, Clone, Serialize)]
pub struct JobReport {
    /// The job's `name` setting, when it has one.
    pub job_name: Option<String>,
    pub run_id: String,
    pub run_dir: PathBuf,
    /// Databricks' rule: `FAILED` when a leaf task failed, `SUCCESS_WITH_FAILURES`
    /// when only inner tasks failed, else `SUCCESS`.
    pub result_state: String,
    pub started_at: String,
    pub duration_ms: u64,
    pub tasks: Vec<TaskReport>,
}

impl JobReport {
    /// No task failed or timed out. Stricter than Databricks'
    /// `SUCCESS_WITH_FAILURES`, which a local gate must not take for a pass.
    pub fn ok(&self) -> bool {
        !self.tasks.iter().any(|t| t.state.failed())
    }
    #[allow(dead_code)] // for the gate and tests
    pub fn task(&self, key: &str) -> Option<&TaskReport> {
        self.tasks.iter().find(|t| t.task_key == key)
    }
}

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
                        done[i] = Some(not_run(task, state, reason));
                    } else if let Kind::Unsupported { reason, .. } = &task.kind {
                        done[i] = Some(not_run(task, TaskState::Skipped, reason.clone()));
                    } else if let Kind::Condition { op, left, right } = &task.kind {
                        done[i] = Some(condition(task, &shared, op, left, right));
                    } else {
                        running += 1;
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
                done[i] = Some(report);
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

/// What the run needs from every task thread.
struct Shared<'a> {
    ctx: &'a RunContext,
    files_root: PathBuf,
    dbfs_root: PathBuf,
    run_dir: PathBuf,
    run_id: String,
    job_name: String,
    params: BTreeMap<String, String>,
}

/// How an upstream counts for `run_if`.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Upstream {
    Succeeded,
    Failed,
    /// Excluded (or the other branch of a condition): treated as a success
    /// that did not run.
    Excluded,
}

fn upstream(r: &TaskReport, outcome: Option<&str>) -> Upstream {
    match r.state {
        TaskState::Success => match outcome {
            Some(wanted) if r.outcome.as_deref() != Some(wanted) => Upstream::Excluded,
            _ => Upstream::Succeeded,
        },
        // A task that cannot run here does not block the tasks after it; the
        // summary shows it as SKIPPED, never as a success.
        TaskState::Skipped => Upstream::Succeeded,
        TaskState::Excluded => Upstream::Excluded,
        TaskState::Failed | TaskState::TimedOut | TaskState::UpstreamFailed => Upstream::Failed,
    }
}

/// Databricks' `run_if` rules: `None` means run; otherwise the state the task
/// ends in without running, and why.
fn gate(run_if: RunIf, ups: &[Upstream]) -> Option<(TaskState, String)> {
    if ups.is_empty() {
        return None;
    }
    if ups.iter().all(|u| *u == Upstream::Excluded) {
        return Some((
            TaskState::Excluded,
            "every upstream task was excluded".into(),
        ));
    }
    let failed = ups.iter().filter(|u| **u == Upstream::Failed).count();
    let ok = ups.len() - failed;
    let ran = ups.iter().filter(|u| **u != Upstream::Excluded).count();
    let (holds, miss) = match run_if {
        RunIf::AllSuccess => (failed == 0, TaskState::UpstreamFailed),
        RunIf::AtLeastOneSuccess => (ok > 0, TaskState::UpstreamFailed),
        RunIf::NoneFailed => (failed == 0 && ran > 0, TaskState::UpstreamFailed),
        RunIf::AllDone => (true, TaskState::UpstreamFailed),
        RunIf::AtLeastOneFailed => (failed > 0, TaskState::Excluded),
        RunIf::AllFailed => (failed == ups.len(), TaskState::Excluded),
    };
    let name = serde_json::to_value(run_if)
        .ok()
        .and_then(|v| v.as_str().map(str::to_string))
        .unwrap_or_default();
    (!holds).then(|| {
        (
            miss,
            format!(
                "run_if {name} does not hold ({failed} of {} upstream tasks failed)",
                ups.len()
            ),
        )
    })
}

fn not_run(task: &Task, state: TaskState, reason: String) -> TaskReport {
    TaskReport {
        task_key: task.key.clone(),
        kind: task.kind.name().to_string(),
        state,
        reason: Some(reason),
        attempts: 0,
        started_at: None,
        duration_ms: 0,
        log: None,
        exit_value: None,
        outcome: None,
    }
}

/// Databricks' rule for the run's result, from its leaf tasks.
fn result_state(tasks: &[Task], reports: &[TaskReport]) -> &'static str {
    let is_leaf = |key: &str| {
        !tasks
            .iter()
            .any(|t| t.depends_on.iter().any(|(d, _)| d == key))
    };
    if reports
        .iter()
        .any(|r| r.state.failed() && is_leaf(&r.task_key))
    {
        "FAILED"
    } else if reports.iter().any(|r| r.state.failed()) {
        "SUCCESS_WITH_FAILURES"
    } else {
        "SUCCESS"
    }
}

/// A `condition_task`: operands after `{{...}}` references, compared as the
/// Jobs service does (`==`/`!=` on text, the others on numbers).
fn condition(task: &Task, shared: &Shared, op: &str, left: &str, right: &str) -> TaskReport {
    let (l, r) = (
        shared.substitute(left, &task.key),
        shared.substitute(right, &task.key),
    );
    let num = |s: &str| s.trim().parse::<f64>().ok();
    let result = match op {
        "EQUAL_TO" => Ok(l == r),
        "NOT_EQUAL" => Ok(l != r),
        "GREATER_THAN" | "GREATER_THAN_OR_EQUAL" | "LESS_THAN" | "LESS_THAN_OR_EQUAL" => {
            match (num(&l), num(&r)) {
                (Some(a), Some(b)) => Ok(match op {
                    "GREATER_THAN" => a > b,
                    "GREATER_THAN_OR_EQUAL" => a >= b,
                    "LESS_THAN" => a < b,
                    _ => a <= b,
                }),
                _ => Err(format!("{op} needs numbers, got {l:?} and {r:?}")),
            }
        }
        other => Err(format!("unknown condition op {other:?}")),
    };
    let mut report = not_run(task, TaskState::Success, String::new());
    report.started_at = Some(now_rfc3339());
    report.attempts = 1;
    match result {
        Ok(b) => {
            report.reason = Some(format!("{l:?} {op} {r:?} is {b}"));
            report.outcome = Some(b.to_string());
        }
        Err(e) => {
            report.state = TaskState::Failed;
            report.reason = Some(e);
        }
    }
    report
}

impl Shared<'_> {
    /// Dynamic value references: `{{job.parameters.x}}`, `{{job.run_id}}`,
    /// `{{job.name}}`, `{{task.name}}`, `{{tasks.<key>.values.<name>}}`.
    /// Unknown references stay as written, as text.
    fn substitute(&self, s: &str, task_key: &str) -> String {
        let mut out = String::new();
        let mut rest = s;
        while let Some(start) = rest.find("{{") {
            let Some(len) = rest[start..].find("}}") else {
                break;
            };
            out.push_str(&rest[..start]);
            let whole = &rest[start..start + len + 2];
            let name = whole[2..whole.len() - 2].trim();
            out.push_str(
                &self
                    .reference(name, task_key)
                    .unwrap_or_else(|| whole.to_string()),
            );
            rest = &rest[start + len + 2..];
        }
        out.push_str(rest);
        out
    }

    fn reference(&self, name: &str, task_key: &str) -> Option<String> {
        let parts: Vec<&str> = name.split('.').collect();
        match parts.as_slice() {
            ["job", "parameters", p] => self.params.get(*p).cloned(),
            ["job", "run_id"] | ["job", "id"] | ["task", "run_id"] => Some(self.run_id.clone()),
            ["job", "name"] => Some(self.job_name.clone()),
            ["task", "name"] => Some(task_key.to_string()),
            ["tasks", key, "values", value] => {
                let file = self.run_dir.join("task_values").join(format!("{key}.json"));
                let values: Value = serde_json::from_slice(&fs::read(file).ok()?).ok()?;
                Some(text(values.get(*value)?))
            }
            _ => None,
        }
    }
}

/// A JSON value as text: strings bare, the rest as JSON.
fn text(v: &Value) -> String {
    match v {
        Value::String(s) => s.clone(),
        Value::Null => String::new(),
        other => other.to_string(),
    }
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

    let (kind, raw, widgets, argv) = match &task.kind {
        Kind::Notebook {
            path,
            base_parameters,
        } => {
            let mut widgets: BTreeMap<String, String> = base_parameters
                .iter()
                .map(|(k, v)| (k.clone(), shared.substitute(v, &task.key)))
                .collect();
            // Job parameters win over task parameters of the same name.
            widgets.extend(shared.params.clone());
            ("notebook", path, widgets, Vec::new())
        }
        Kind::PythonFile { path, parameters } => {
            let argv = parameters
                .iter()
                .map(|p| shared.substitute(p, &task.key))
                .collect();
            ("python_file", path, shared.params.clone(), argv)
        }
        Kind::Condition { .. } | Kind::Unsupported { .. } => {
            unreachable!("settled by the scheduler")
        }
    };
    let path = match process::resolve(
        &shared.files_root,
        shared.ctx.file_path.as_deref(),
        raw,
        kind == "notebook",
    ) {
        Ok(p) => p,
        Err(e) => {
            process::note(&mut log, &format!("[xtask] {e}"));
            return finish(report, TaskState::Failed, Some(e));
        }
    };
    let internal = shared.run_dir.join(".internal");
    let result_file = internal.join(format!("{}.result.json", task.key));
    let spec = json!({
        "kind": kind, "path": path, "widgets": widgets, "argv": argv, "task_key": task.key,
        "run_dir": shared.run_dir, "result": result_file,
    });
    let spec_file = internal.join(format!("{}.spec.json", task.key));
    if let Err(e) = fs::write(&spec_file, spec.to_string()) {
        return finish(
            report,
            TaskState::Failed,
            Some(format!("writing {}: {e}", spec_file.display())),
        );
    }

    let timeout = (task.timeout_seconds > 0).then(|| Duration::from_secs(task.timeout_seconds));
    let mut attempt = 0;
    loop {
        attempt += 1;
        report.attempts = attempt;
        let _ = fs::remove_file(&result_file);
        let rel = path.strip_prefix(&shared.files_root).unwrap_or(&path);
        process::note(
            &mut log,
            &format!(
                "[xtask] {} {} (attempt {attempt})",
                task.kind.name(),
                rel.display()
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
            Ok(Exit::Code(code)) => (
                TaskState::Failed,
                Some(format!("exited with code {code}; see the log")),
            ),
            Ok(Exit::Signal(sig)) => (TaskState::Failed, Some(format!("killed by signal {sig}"))),
            Ok(Exit::TimedOut) => {
                let msg = format!(
                    "timed out after {}s; the process group was killed",
                    task.timeout_seconds
                );
                process::note(&mut log, &format!("[xtask] {msg}"));
                (TaskState::TimedOut, Some(msg))
            }
            Err(e) => (TaskState::Failed, Some(format!("{e:#}"))),
        };
        let retry = match state {
            TaskState::Failed => true,
            TaskState::TimedOut => task.retry_on_timeout,
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
    cmd.current_dir(path.parent().unwrap_or(&shared.files_root));
    cmd.env("PYTHONPATH", &shared.files_root)
        .env("PYTHONUNBUFFERED", "1")
        // The deployed copy must stay byte-identical to its manifest.
        .env("PYTHONDONTWRITEBYTECODE", "1")
        .env("XTASK_DBFS_ROOT", &shared.dbfs_root)
        .env("XTASK_RUN_DIR", &shared.run_dir)
        .env("XTASK_TASK_KEY", &task.key)
        .env("XTASK_FILES_ROOT", &shared.files_root)
        .envs(&shared.ctx.env);
    cmd
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

pub fn now_rfc3339() -> String {
    time::OffsetDateTime::now_utc()
        .format(&time::format_description::well_known::Rfc3339)
        .unwrap_or_default()
}
