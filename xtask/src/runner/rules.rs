//! Databricks' rules, evaluated without running anything: `run_if` against
//! the upstream tasks' states, the run's result state, condition tasks, and
//! `{{...}}` dynamic value references.

use std::fs;

use serde_json::Value;

use super::exec::{Shared, now_rfc3339};
use super::job::{RunIf, Task};
use super::report::{TaskReport, TaskState};

/// How an upstream counts for `run_if`.
#[derive(Clone, Copy, PartialEq, Eq)]
pub(super) enum Upstream {
    Succeeded,
    Failed,
    /// Excluded (or the other branch of a condition): treated as a success
    /// that did not run.
    Excluded,
}

pub(super) fn upstream(r: &TaskReport, outcome: Option<&str>) -> Upstream {
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
pub(super) fn gate(run_if: RunIf, ups: &[Upstream]) -> Option<(TaskState, String)> {
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

pub(super) fn not_run(task: &Task, state: TaskState, reason: String) -> TaskReport {
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
pub(super) fn result_state(tasks: &[Task], reports: &[TaskReport]) -> &'static str {
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
pub(super) fn condition(
    task: &Task,
    shared: &Shared,
    op: &str,
    left: &str,
    right: &str,
) -> TaskReport {
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
    pub(super) fn substitute(&self, s: &str, task_key: &str) -> String {
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
pub(super) fn text(v: &Value) -> String {
    match v {
        Value::String(s) => s.clone(),
        Value::Null => String::new(),
        other => other.to_string(),
    }
}
