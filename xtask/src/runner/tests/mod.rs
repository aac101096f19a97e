//! The runner on real notebooks and real Python processes in temp folders:
//! `scheduling` covers order, parallelism and Databricks' rules, `tasks` what
//! a task sees (widgets, task values, magics, files, wheels).

mod scheduling;
mod tasks;

use std::collections::BTreeMap;
use std::fs;
use std::path::PathBuf;

use serde_json::{Value, json};

use super::*;

pub(super) const FILE_PATH: &str = "/Workspace/Users/u@example.com/.bundle/b/test/files";

pub(super) struct Env {
    _dir: tempfile::TempDir,
    pub(super) root: PathBuf,
}

impl Env {
    /// A deployed copy (`files/`) holding `files` as (relative path, content).
    pub(super) fn new(files: &[(&str, &str)]) -> Env {
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path().to_path_buf();
        for (rel, content) in files {
            let path = root.join("files").join(rel);
            fs::create_dir_all(path.parent().unwrap()).unwrap();
            fs::write(path, content).unwrap();
        }
        Env { _dir: dir, root }
    }

    pub(super) fn ctx(&self) -> RunContext {
        RunContext {
            files_root: self.root.join("files"),
            file_path: Some(FILE_PATH.to_string()),
            python: PathBuf::from("python3"),
            run_dir: self.root.join("state/runs/r1"),
            env: BTreeMap::new(),
            dbfs_root: self.root.join("dbfs"),
            job_parameters: BTreeMap::new(),
            wheels: Vec::new(),
            max_parallel: 0,
            progress: false,
        }
    }

    pub(super) fn run(&self, job: Value) -> JobReport {
        run_job(&job, &self.ctx()).unwrap()
    }

    pub(super) fn dbfs(&self, rel: &str) -> String {
        fs::read_to_string(self.root.join("dbfs").join(rel))
            .unwrap_or_else(|e| panic!("dbfs {rel}: {e}"))
    }
}

/// A source notebook from cells.
pub(super) fn nb(cells: &[&str]) -> String {
    format!(
        "# Databricks notebook source\n{}\n",
        cells.join("\n\n# COMMAND ----------\n\n")
    )
}

/// A notebook task on `rel` (given as the CLI translates it: prefix, no extension).
pub(super) fn task(key: &str, rel: &str, deps: &[&str]) -> Value {
    json!({
        "task_key": key,
        "notebook_task": {"notebook_path": format!("{FILE_PATH}/{rel}")},
        "depends_on": deps.iter().map(|d| json!({"task_key": d})).collect::<Vec<_>>(),
    })
}

pub(super) fn state(report: &JobReport, key: &str) -> TaskState {
    report
        .task(key)
        .unwrap_or_else(|| panic!("no task {key}"))
        .state
}

/// Writes `<dbfs>/<task>.times`: start and end wall-clock times around a sleep.
pub(super) const STAMP: &str = "import os, time\n\
root = os.environ['XTASK_DBFS_ROOT']\n\
key = os.environ['XTASK_TASK_KEY']\n\
start = time.time()\n\
time.sleep(0.6)\n\
open(os.path.join(root, key + '.times'), 'w').write('%r %r' % (start, time.time()))\n\
print('stamped', key)";

pub(super) fn times(env: &Env, key: &str) -> (f64, f64) {
    let text = env.dbfs(&format!("{key}.times"));
    let mut it = text.split(' ').map(|s| s.parse::<f64>().unwrap());
    (it.next().unwrap(), it.next().unwrap())
}

#[test]
fn only_the_newest_run_folders_are_kept() {
    let dir = tempfile::tempdir().unwrap();
    let runs = dir.path().join("runs");
    for i in 0..25 {
        fs::create_dir_all(runs.join(format!("20261126T1200{i:02}Z-job-abc/task"))).unwrap();
    }
    fs::write(runs.join("latest.json"), "{}").unwrap();
    keep_newest(&runs, 19).unwrap();
    let mut left: Vec<String> = fs::read_dir(&runs)
        .unwrap()
        .flatten()
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .collect();
    left.sort();
    assert_eq!(left.len(), 20, "{left:?}");
    assert_eq!(left[0], "20261126T120006Z-job-abc", "the oldest went first");
    assert_eq!(left[19], "latest.json", "files stay");
    // A missing folder is nothing to prune.
    keep_newest(&dir.path().join("none"), 3).unwrap();
}
