//! What a run is given and what it reports: plain data, serialized as the
//! `--json` output and the run folder's `report.json`.

use std::collections::BTreeMap;
use std::path::PathBuf;

use serde::Serialize;

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
    /// Built wheels (`<env>/artifacts/...*.whl`) that `python_wheel_task`s
    /// import from, ahead of the environment's packages.
    pub wheels: Vec<PathBuf>,
    /// Announce each task's start and end on stderr (human output).
    pub progress: bool,
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
    pub(super) fn failed(self) -> bool {
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
