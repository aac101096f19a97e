//! A job's settings (the `resources.jobs.<key>` value of the resolved
//! configuration) read into plain task descriptions, checked for the mistakes
//! that would make a run meaningless: unknown or duplicate task keys, cycles.

use std::collections::BTreeMap;

use anyhow::{Result, bail};
use serde_json::Value;

#[derive(Debug, Clone)]
pub struct Task {
    pub key: String,
    /// `(task_key, outcome)`: `outcome` is set for edges out of a condition task.
    pub depends_on: Vec<(String, Option<String>)>,
    pub run_if: RunIf,
    pub kind: Kind,
    /// `timeout_seconds`; 0 means none.
    pub timeout_seconds: u64,
    pub max_retries: u32,
    pub min_retry_interval_millis: u64,
    pub retry_on_timeout: bool,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum RunIf {
    AllSuccess,
    AtLeastOneSuccess,
    NoneFailed,
    AllDone,
    AtLeastOneFailed,
    AllFailed,
}

#[derive(Debug, Clone)]
pub enum Kind {
    /// `notebook_task`: the translated `notebook_path` and `base_parameters`.
    Notebook {
        path: String,
        base_parameters: BTreeMap<String, String>,
    },
    /// `spark_python_task`: the translated `python_file` and `parameters`.
    PythonFile {
        path: String,
        parameters: Vec<String>,
    },
    /// `python_wheel_task`: an entry point of a package, with `parameters`
    /// (or `named_parameters` as `--key=value`) as its argv.
    Wheel {
        package: String,
        entry_point: String,
        parameters: Vec<String>,
    },
    /// `condition_task`: `left op right`, evaluated by the runner itself.
    Condition {
        op: String,
        left: String,
        right: String,
    },
    /// Anything that cannot run on this machine, with the reason shown to the user.
    Unsupported { kind: String, reason: String },
}

impl Kind {
    pub fn name(&self) -> &str {
        match self {
            Kind::Notebook { .. } => "notebook_task",
            Kind::PythonFile { .. } => "spark_python_task",
            Kind::Wheel { .. } => "python_wheel_task",
            Kind::Condition { .. } => "condition_task",
            Kind::Unsupported { kind, .. } => kind,
        }
    }
}

/// The tasks of `job`, in the order the configuration lists them.
pub fn tasks(job: &Value) -> Result<Vec<Task>> {
    let Some(list) = job["tasks"].as_array() else {
        bail!("the job has no `tasks` list");
    };
    if list.is_empty() {
        bail!("the job's `tasks` list is empty");
    }
    let mut tasks = Vec::new();
    for (i, t) in list.iter().enumerate() {
        let Some(key) = t["task_key"].as_str() else {
            bail!("tasks[{i}] has no `task_key`");
        };
        // The Jobs API's rule; keys also name files in the run folder.
        if key.is_empty()
            || !key
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-')
        {
            bail!("tasks[{i}].task_key {key:?}: use letters, digits, `_` and `-` only");
        }
        if tasks.iter().any(|other: &Task| other.key == key) {
            bail!("tasks[{i}].task_key {key:?} is used by two tasks");
        }
        let mut depends_on = Vec::new();
        for d in t["depends_on"].as_array().into_iter().flatten() {
            let Some(dep) = d["task_key"].as_str() else {
                bail!("task {key:?}: a `depends_on` entry has no `task_key`");
            };
            depends_on.push((dep.to_string(), d["outcome"].as_str().map(str::to_string)));
        }
        let run_if = match t["run_if"].as_str().unwrap_or("ALL_SUCCESS") {
            "ALL_SUCCESS" => RunIf::AllSuccess,
            "AT_LEAST_ONE_SUCCESS" => RunIf::AtLeastOneSuccess,
            "NONE_FAILED" => RunIf::NoneFailed,
            "ALL_DONE" => RunIf::AllDone,
            "AT_LEAST_ONE_FAILED" => RunIf::AtLeastOneFailed,
            "ALL_FAILED" => RunIf::AllFailed,
            other => bail!(
                "task {key:?}: run_if {other:?} is not one of ALL_SUCCESS, AT_LEAST_ONE_SUCCESS, \
                 NONE_FAILED, ALL_DONE, AT_LEAST_ONE_FAILED, ALL_FAILED"
            ),
        };
        let max_retries = match t["max_retries"].as_i64().unwrap_or(0) {
            // -1 means "retry forever" on Databricks; locally that would hang a
            // terminal, so it is capped.
            n if n < 0 => 10,
            n => n.min(100) as u32,
        };
        tasks.push(Task {
            key: key.to_string(),
            depends_on,
            run_if,
            kind: kind(t),
            timeout_seconds: t["timeout_seconds"].as_u64().unwrap_or(0),
            max_retries,
            min_retry_interval_millis: t["min_retry_interval_millis"].as_u64().unwrap_or(0),
            retry_on_timeout: t["retry_on_timeout"].as_bool().unwrap_or(false),
        });
    }
    check_graph(&tasks)?;
    Ok(tasks)
}

fn kind(t: &Value) -> Kind {
    // The first task type present decides, in this order.
    if let Some(nb) = t.get("notebook_task") {
        return notebook(nb);
    }
    if let Some(py) = t.get("spark_python_task") {
        return python_file(py);
    }
    if let Some(w) = t.get("python_wheel_task") {
        return wheel(w);
    }
    if let Some(c) = t.get("condition_task") {
        return Kind::Condition {
            op: c["op"].as_str().unwrap_or("").to_string(),
            left: scalar(&c["left"]),
            right: scalar(&c["right"]),
        };
    }
    match t
        .as_object()
        .and_then(|o| o.keys().find(|k| k.ends_with("_task")))
    {
        Some(k) => unsupported(k, no_local_run(k)),
        None => unsupported(
            "unknown",
            "the task names no task type (notebook_task, spark_python_task, ...)",
        ),
    }
}

fn unsupported(kind: &str, reason: &str) -> Kind {
    Kind::Unsupported {
        kind: kind.into(),
        reason: reason.into(),
    }
}

/// Only files of the deployed bundle are run; a Git source is elsewhere.
fn from_git(v: &Value) -> bool {
    v["source"].as_str() == Some("GIT")
}

fn notebook(nb: &Value) -> Kind {
    if from_git(nb) {
        return unsupported(
            "notebook_task",
            "the notebook comes from a Git source, not the deployed bundle",
        );
    }
    let Some(path) = nb["notebook_path"].as_str() else {
        return unsupported("notebook_task", "no notebook_path");
    };
    let base_parameters = nb["base_parameters"]
        .as_object()
        .map(|m| m.iter().map(|(k, v)| (k.clone(), scalar(v))).collect())
        .unwrap_or_default();
    Kind::Notebook {
        path: path.to_string(),
        base_parameters,
    }
}

fn python_file(py: &Value) -> Kind {
    if from_git(py) {
        return unsupported(
            "spark_python_task",
            "the file comes from a Git source, not the deployed bundle",
        );
    }
    let Some(path) = py["python_file"].as_str() else {
        return unsupported("spark_python_task", "no python_file");
    };
    let parameters = py["parameters"]
        .as_array()
        .map(|a| a.iter().map(scalar).collect())
        .unwrap_or_default();
    Kind::PythonFile {
        path: path.to_string(),
        parameters,
    }
}

/// A wheel's entry point; named parameters, when given, win over the list
/// and are passed as `--name=value`.
fn wheel(w: &Value) -> Kind {
    let (Some(package), Some(entry_point)) =
        (w["package_name"].as_str(), w["entry_point"].as_str())
    else {
        return unsupported("python_wheel_task", "needs package_name and entry_point");
    };
    let parameters = match w["named_parameters"].as_object() {
        Some(named) => named
            .iter()
            .map(|(k, v)| format!("--{k}={}", scalar(v)))
            .collect(),
        None => w["parameters"]
            .as_array()
            .map(|a| a.iter().map(scalar).collect())
            .unwrap_or_default(),
    };
    Kind::Wheel {
        package: package.to_string(),
        entry_point: entry_point.to_string(),
        parameters,
    }
}

/// Why a task type with no local equivalent is not run here.
fn no_local_run(kind: &str) -> &'static str {
    match kind {
        "pipeline_task" => "a Lakeflow/DLT pipeline runs only on Databricks",
        "sql_task" | "dashboard_task" => "needs a Databricks SQL warehouse",
        "dbt_task" => "needs dbt and a Databricks SQL warehouse",
        "run_job_task" => "triggers another job by id, which exists only in a workspace",
        "spark_jar_task" | "spark_submit_task" => "needs a Spark cluster",
        "for_each_task" => "for_each tasks are not run locally",
        _ => "this task type has no local equivalent",
    }
}

/// A parameter value as the text a widget or argv sees.
fn scalar(v: &Value) -> String {
    match v {
        Value::String(s) => s.clone(),
        Value::Null => String::new(),
        other => other.to_string(),
    }
}

/// Every dependency names a task of the job, and there is no cycle.
fn check_graph(tasks: &[Task]) -> Result<()> {
    let index: BTreeMap<&str, usize> = tasks
        .iter()
        .enumerate()
        .map(|(i, t)| (t.key.as_str(), i))
        .collect();
    for t in tasks {
        for (dep, _) in &t.depends_on {
            if !index.contains_key(dep.as_str()) {
                bail!(
                    "task {:?} depends on {dep:?}, which is not a task of this job",
                    t.key
                );
            }
            if dep == &t.key {
                bail!("task {:?} depends on itself", t.key);
            }
        }
    }
    // Depth-first search with colours; the path in progress names the cycle.
    fn visit<'a>(
        i: usize,
        tasks: &'a [Task],
        index: &BTreeMap<&str, usize>,
        colour: &mut [u8],
        path: &mut Vec<&'a str>,
    ) -> Result<()> {
        colour[i] = 1;
        path.push(&tasks[i].key);
        for (dep, _) in &tasks[i].depends_on {
            let j = index[dep.as_str()];
            if colour[j] == 1 {
                let from = path.iter().position(|k| *k == dep).unwrap_or(0);
                bail!(
                    "the tasks' depends_on form a cycle: {} -> {dep}",
                    path[from..].join(" -> ")
                );
            }
            if colour[j] == 0 {
                visit(j, tasks, index, colour, path)?;
            }
        }
        path.pop();
        colour[i] = 2;
        Ok(())
    }
    let mut colour = vec![0u8; tasks.len()];
    for i in 0..tasks.len() {
        if colour[i] == 0 {
            visit(i, tasks, &index, &mut colour, &mut Vec::new())?;
        }
    }
    Ok(())
}
