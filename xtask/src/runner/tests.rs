//! The runner on real notebooks and real Python processes in temp folders.

use std::collections::BTreeMap;
use std::fs;
use std::path::PathBuf;

use serde_json::{Value, json};

use super::*;

const FILE_PATH: &str = "/Workspace/Users/u@example.com/.bundle/b/test/files";

struct Env {
    _dir: tempfile::TempDir,
    root: PathBuf,
}

impl Env {
    /// A deployed copy (`files/`) holding `files` as (relative path, content).
    fn new(files: &[(&str, &str)]) -> Env {
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path().to_path_buf();
        for (rel, content) in files {
            let path = root.join("files").join(rel);
            fs::create_dir_all(path.parent().unwrap()).unwrap();
            fs::write(path, content).unwrap();
        }
        Env { _dir: dir, root }
    }

    fn ctx(&self) -> RunContext {
        RunContext {
            files_root: self.root.join("files"),
            file_path: Some(FILE_PATH.to_string()),
            python: PathBuf::from("python3"),
            run_dir: self.root.join("state/runs/r1"),
            env: BTreeMap::new(),
            dbfs_root: self.root.join("dbfs"),
            job_parameters: BTreeMap::new(),
            max_parallel: 0,
        }
    }

    fn run(&self, job: Value) -> JobReport {
        run_job(&job, &self.ctx()).unwrap()
    }

    fn dbfs(&self, rel: &str) -> String {
        fs::read_to_string(self.root.join("dbfs").join(rel))
            .unwrap_or_else(|e| panic!("dbfs {rel}: {e}"))
    }
}

/// A source notebook from cells.
fn nb(cells: &[&str]) -> String {
    format!(
        "# Databricks notebook source\n{}\n",
        cells.join("\n\n# COMMAND ----------\n\n")
    )
}

/// A notebook task on `rel` (given as the CLI translates it: prefix, no extension).
fn task(key: &str, rel: &str, deps: &[&str]) -> Value {
    json!({
        "task_key": key,
        "notebook_task": {"notebook_path": format!("{FILE_PATH}/{rel}")},
        "depends_on": deps.iter().map(|d| json!({"task_key": d})).collect::<Vec<_>>(),
    })
}

fn state(report: &JobReport, key: &str) -> TaskState {
    report
        .task(key)
        .unwrap_or_else(|| panic!("no task {key}"))
        .state
}

/// Writes `<dbfs>/<task>.times`: start and end wall-clock times around a sleep.
const STAMP: &str = "import os, time\n\
root = os.environ['XTASK_DBFS_ROOT']\n\
key = os.environ['XTASK_TASK_KEY']\n\
start = time.time()\n\
time.sleep(0.6)\n\
open(os.path.join(root, key + '.times'), 'w').write('%r %r' % (start, time.time()))\n\
print('stamped', key)";

fn times(env: &Env, key: &str) -> (f64, f64) {
    let text = env.dbfs(&format!("{key}.times"));
    let mut it = text.split(' ').map(|s| s.parse::<f64>().unwrap());
    (it.next().unwrap(), it.next().unwrap())
}

#[test]
fn dependency_order_and_parallel_tasks() {
    let env = Env::new(&[("jobs/stamp.py", &nb(&[STAMP]))]);
    let job = json!({"name": "diamond", "tasks": [
        task("last", "jobs/stamp", &["left", "right"]),
        task("left", "jobs/stamp", &["first"]),
        task("right", "jobs/stamp", &["first"]),
        task("first", "jobs/stamp", &[]),
    ]});
    let report = env.run(job);
    assert!(report.ok(), "{}", summary(&report));
    assert_eq!(report.result_state, "SUCCESS");
    let (first, left, right, last) = (
        times(&env, "first"),
        times(&env, "left"),
        times(&env, "right"),
        times(&env, "last"),
    );
    // Order: each task starts after its upstreams ended.
    assert!(first.1 <= left.0 && first.1 <= right.0);
    assert!(left.1 <= last.0 && right.1 <= last.0);
    // Parallel: the two independent tasks were running at the same time.
    assert!(
        left.0 < right.1 && right.0 < left.1,
        "left {left:?} and right {right:?} did not overlap"
    );
    // Each task has its own log holding its output.
    for key in ["first", "left", "right", "last"] {
        let log = report.task(key).unwrap().log.clone().unwrap();
        assert_eq!(log, report.run_dir.join(format!("{key}.log")));
        assert!(
            fs::read_to_string(&log)
                .unwrap()
                .contains(&format!("stamped {key}"))
        );
    }
    assert!(report.run_dir.join("report.json").is_file());
}

#[test]
fn task_values_pass_between_tasks() {
    let producer = nb(&[
        "dbutils.jobs.taskValues.set('rows', 42)\ndbutils.jobs.taskValues.set('meta', {'model': 'm1', 'ok': True})",
    ]);
    let consumer = nb(&["import os\n\
rows = dbutils.jobs.taskValues.get(taskKey='produce', key='rows', default=0, debugValue=7)\n\
meta = dbutils.jobs.taskValues.get('produce', 'meta')\n\
missing = dbutils.jobs.taskValues.get('produce', 'nope', default='fallback')\n\
open(os.path.join(os.environ['XTASK_DBFS_ROOT'], 'got'), 'w').write('%r %r %r %s' % (rows, meta['model'], missing, dbutils.widgets.get('via_ref')))"]);
    let env = Env::new(&[("produce.py", &producer), ("consume.py", &consumer)]);
    let mut consume = task("consume", "consume", &["produce"]);
    consume["notebook_task"]["base_parameters"] =
        json!({"via_ref": "{{tasks.produce.values.rows}}"});
    let report = env.run(json!({"tasks": [task("produce", "produce", &[]), consume]}));
    assert!(report.ok(), "{}", summary(&report));
    assert_eq!(env.dbfs("got"), "42 'm1' 'fallback' 42");
    // Persisted in the run folder.
    let stored: Value =
        serde_json::from_slice(&fs::read(report.run_dir.join("task_values/produce.json")).unwrap())
            .unwrap();
    assert_eq!(stored["rows"], 42);
}

#[test]
fn run_if_conditions_follow_databricks() {
    let env = Env::new(&[
        ("ok.py", &nb(&["print('fine')"])),
        ("bad.py", &nb(&["raise RuntimeError('boom')"])),
    ]);
    let with = |key: &str, run_if: &str, deps: &[&str]| {
        let mut t = task(key, "ok", deps);
        t["run_if"] = json!(run_if);
        t
    };
    let job = json!({"tasks": [
        task("ok", "ok", &[]),
        task("bad", "bad", &[]),
        with("all_success", "ALL_SUCCESS", &["ok", "bad"]),
        task("after_upstream_failed", "ok", &["all_success"]),
        with("all_success_ok", "ALL_SUCCESS", &["ok"]),
        with("one_success", "AT_LEAST_ONE_SUCCESS", &["ok", "bad"]),
        with("one_success_none", "AT_LEAST_ONE_SUCCESS", &["bad"]),
        with("none_failed", "NONE_FAILED", &["ok", "bad"]),
        with("none_failed_ok", "NONE_FAILED", &["ok"]),
        with("all_done", "ALL_DONE", &["ok", "bad"]),
        with("one_failed", "AT_LEAST_ONE_FAILED", &["ok", "bad"]),
        with("one_failed_none", "AT_LEAST_ONE_FAILED", &["ok"]),
        with("all_failed", "ALL_FAILED", &["bad"]),
        with("all_failed_mixed", "ALL_FAILED", &["ok", "bad"]),
        with("after_excluded", "ALL_DONE", &["one_failed_none"]),
        with("excluded_counts_ok", "ALL_SUCCESS", &["one_failed_none", "ok"]),
        with("none_failed_only_excluded", "NONE_FAILED", &["one_failed_none", "all_failed_mixed"]),
    ]});
    let report = env.run(job);
    let expect = [
        ("ok", TaskState::Success),
        ("bad", TaskState::Failed),
        ("all_success", TaskState::UpstreamFailed),
        ("after_upstream_failed", TaskState::UpstreamFailed),
        ("all_success_ok", TaskState::Success),
        ("one_success", TaskState::Success),
        ("one_success_none", TaskState::UpstreamFailed),
        ("none_failed", TaskState::UpstreamFailed),
        ("none_failed_ok", TaskState::Success),
        ("all_done", TaskState::Success),
        ("one_failed", TaskState::Success),
        ("one_failed_none", TaskState::Excluded),
        ("all_failed", TaskState::Success),
        ("all_failed_mixed", TaskState::Excluded),
        ("after_excluded", TaskState::Excluded),
        ("excluded_counts_ok", TaskState::Success),
        ("none_failed_only_excluded", TaskState::Excluded),
    ];
    for (key, want) in expect {
        assert_eq!(
            state(&report, key),
            want,
            "task {key}\n{}",
            summary(&report)
        );
    }
    assert!(!report.ok());
    // `after_upstream_failed` is a failed leaf.
    assert_eq!(report.result_state, "FAILED");
    let bad = report.task("bad").unwrap();
    assert!(
        fs::read_to_string(bad.log.as_ref().unwrap())
            .unwrap()
            .contains("RuntimeError: boom")
    );
    assert!(
        report.task("all_success").unwrap().log.is_none(),
        "a task that did not run has no log"
    );
}

#[test]
fn failure_handled_by_leaves_is_success_with_failures() {
    let env = Env::new(&[
        ("ok.py", &nb(&["print('fine')"])),
        ("bad.py", &nb(&["raise SystemExit(3)"])),
    ]);
    let mut cleanup = task("cleanup", "ok", &["bad"]);
    cleanup["run_if"] = json!("ALL_FAILED");
    let report = env.run(json!({"tasks": [task("bad", "bad", &[]), cleanup]}));
    assert_eq!(state(&report, "bad"), TaskState::Failed);
    assert!(
        report
            .task("bad")
            .unwrap()
            .reason
            .as_deref()
            .unwrap()
            .contains("code 3")
    );
    assert_eq!(state(&report, "cleanup"), TaskState::Success);
    assert_eq!(report.result_state, "SUCCESS_WITH_FAILURES");
    assert!(
        !report.ok(),
        "a local gate does not pass a run with a failed task"
    );
}

#[test]
fn timeout_kills_the_process_group() {
    let sleeper = nb(&["import os, subprocess, time\n\
child = subprocess.Popen(['sleep', '60'])\n\
open(os.path.join(os.environ['XTASK_DBFS_ROOT'], 'child.pid'), 'w').write(str(child.pid))\n\
print('sleeping', flush=True)\n\
time.sleep(60)"]);
    let env = Env::new(&[("sleep.py", &sleeper), ("ok.py", &nb(&["print('after')"]))]);
    let mut t = task("sleep", "sleep", &[]);
    t["timeout_seconds"] = json!(1);
    let report = env.run(json!({"tasks": [t, task("after", "ok", &["sleep"])]}));
    assert_eq!(
        state(&report, "sleep"),
        TaskState::TimedOut,
        "{}",
        summary(&report)
    );
    assert_eq!(state(&report, "after"), TaskState::UpstreamFailed);
    let log = fs::read_to_string(report.task("sleep").unwrap().log.as_ref().unwrap()).unwrap();
    assert!(
        log.contains("sleeping") && log.contains("timed out after 1s"),
        "{log}"
    );
    // The task's own child was killed with it.
    let pid: i32 = env.dbfs("child.pid").parse().unwrap();
    let alive = || {
        fs::read_to_string(format!("/proc/{pid}/stat")).is_ok_and(|s| {
            !s.rsplit(')')
                .next()
                .unwrap_or("")
                .trim_start()
                .starts_with('Z')
        })
    };
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(5);
    while alive() && std::time::Instant::now() < deadline {
        std::thread::sleep(std::time::Duration::from_millis(50));
    }
    assert!(
        !alive(),
        "the task's child process {pid} survived the timeout"
    );
}

#[test]
fn tasks_that_cannot_run_locally_are_skipped_with_a_reason() {
    let env = Env::new(&[("ok.py", &nb(&["print('ran')"]))]);
    let job = json!({"tasks": [
        {"task_key": "pipeline", "pipeline_task": {"pipeline_id": "${resources.pipelines.p.id}"}},
        {"task_key": "query", "sql_task": {"warehouse_id": "w", "query": {"query_id": "q"}}},
        {"task_key": "other_job", "run_job_task": {"job_id": 1}},
        task("after", "ok", &["pipeline", "query"]),
    ]});
    let report = env.run(job);
    for (key, kind) in [
        ("pipeline", "pipeline_task"),
        ("query", "sql_task"),
        ("other_job", "run_job_task"),
    ] {
        let t = report.task(key).unwrap();
        assert_eq!(t.state, TaskState::Skipped);
        assert_eq!(t.kind, kind);
        assert!(t.reason.as_deref().is_some_and(|r| !r.is_empty()));
    }
    assert_eq!(state(&report, "after"), TaskState::Success);
    assert!(report.ok());
    let text = summary(&report);
    assert!(
        text.contains("SKIPPED") && text.contains("3 task(s) SKIPPED"),
        "{text}"
    );
}

#[test]
fn widgets_from_base_parameters_job_parameters_and_defaults() {
    let notebook = nb(&[
        "dbutils.widgets.text('env', 'dev', 'Environment')\n\
dbutils.widgets.dropdown('mode', 'fast', ['fast', 'slow'])\n\
dbutils.widgets.text('unset', 'the-default')",
        "import os\n\
vals = [dbutils.widgets.get(n) for n in ('env', 'mode', 'unset', 'catalog', 'shared', 'ref')]\n\
open(os.path.join(os.environ['XTASK_DBFS_ROOT'], 'widgets'), 'w').write(' '.join(vals))",
    ]);
    let env = Env::new(&[("nb.py", &notebook)]);
    let mut t = task("w", "nb", &[]);
    t["notebook_task"]["base_parameters"] = json!({"env": "test", "mode": "slow", "shared": "from-task", "ref": "{{job.parameters.catalog}}-{{task.name}}"});
    let job = json!({
        "parameters": [{"name": "catalog", "default": "main"}, {"name": "shared", "default": "from-job"}],
        "tasks": [t],
    });
    let report = env.run(job.clone());
    assert!(report.ok(), "{}", summary(&report));
    assert_eq!(
        env.dbfs("widgets"),
        "test slow the-default main from-job main-w"
    );

    // Values given for the run override the job parameters' defaults.
    let mut ctx = env.ctx();
    ctx.run_dir = env.root.join("state/runs/r2");
    ctx.job_parameters.insert("catalog".into(), "other".into());
    assert!(run_job(&job, &ctx).unwrap().ok());
    assert_eq!(
        env.dbfs("widgets"),
        "test slow the-default other from-job other-w"
    );

    // An undefined widget is an error naming it.
    let env = Env::new(&[("nb.py", &nb(&["dbutils.widgets.get('nowhere')"]))]);
    let report = env.run(json!({"tasks": [task("w", "nb", &[])]}));
    let log = fs::read_to_string(report.task("w").unwrap().log.as_ref().unwrap()).unwrap();
    assert!(
        log.contains("InputWidgetNotDefined") && log.contains("'nowhere'"),
        "{log}"
    );
}

#[test]
fn notebook_exit_value_ends_the_notebook() {
    let notebook = nb(&[
        "print('before')",
        "dbutils.notebook.exit('trained: 0.93')",
        "raise RuntimeError('not reached')",
    ]);
    let env = Env::new(&[("nb.py", &notebook)]);
    let report = env.run(json!({"tasks": [task("t", "nb", &[])]}));
    let t = report.task("t").unwrap();
    assert_eq!(t.state, TaskState::Success, "{}", summary(&report));
    assert_eq!(t.exit_value.as_deref(), Some("trained: 0.93"));
    assert!(summary(&report).contains("exit value: trained: 0.93"));
}

#[test]
fn magic_cells_md_sh_run_pip_and_unsupported() {
    let helper = nb(&["HELPER = 'from helper'"]);
    let main = nb(&[
        "# MAGIC %md\n# MAGIC # Title\n# MAGIC raise would fail if run",
        "# MAGIC %pip install nothing-here",
        "# MAGIC %run ./lib/helper",
        "# MAGIC %sh\n# MAGIC echo shell-ran > \"$XTASK_DBFS_ROOT/sh\"",
        "import os\nopen(os.path.join(os.environ['XTASK_DBFS_ROOT'], 'helper'), 'w').write(HELPER + ' ' + os.getcwd())",
    ]);
    let env = Env::new(&[
        ("nbs/main.py", &main),
        ("nbs/lib/helper.py", &helper),
        ("nbs/sql.py", &nb(&["# MAGIC %sql\n# MAGIC SELECT 1"])),
    ]);
    let report =
        env.run(json!({"tasks": [task("main", "nbs/main", &[]), task("sql", "nbs/sql", &[])]}));
    assert_eq!(
        state(&report, "main"),
        TaskState::Success,
        "{}",
        summary(&report)
    );
    assert_eq!(env.dbfs("sh").trim(), "shell-ran");
    let files = fs::canonicalize(env.root.join("files/nbs")).unwrap();
    assert_eq!(
        env.dbfs("helper"),
        format!("from helper {}", files.display()),
        "cwd is the notebook's folder"
    );
    let log = fs::read_to_string(report.task("main").unwrap().log.as_ref().unwrap()).unwrap();
    assert!(log.contains("%pip skipped"), "{log}");
    assert_eq!(state(&report, "sql"), TaskState::Failed);
    let log = fs::read_to_string(report.task("sql").unwrap().log.as_ref().unwrap()).unwrap();
    assert!(log.contains("%sql cells cannot run"), "{log}");
}

#[test]
fn python_file_tasks_get_parameters_and_the_bundle_on_the_path() {
    let script = "import os, sys\nfrom pkg.util import twice\n\
open(os.path.join(os.environ['XTASK_DBFS_ROOT'], 'argv'), 'w').write(' '.join(sys.argv[1:]) + ' ' + twice('x') + ' ' + __name__)";
    let env = Env::new(&[
        ("scripts/run.py", script),
        ("pkg/__init__.py", ""),
        ("pkg/util.py", "def twice(s):\n    return s * 2\n"),
    ]);
    let job = json!({"parameters": [{"name": "p", "default": "v"}], "tasks": [
        {"task_key": "py", "spark_python_task": {
            "python_file": format!("{FILE_PATH}/scripts/run.py"),
            "parameters": ["--rows", "3", "{{job.parameters.p}}"]}},
    ]});
    let report = env.run(job);
    assert!(report.ok(), "{}", summary(&report));
    assert_eq!(env.dbfs("argv"), "--rows 3 v xx __main__");
    // Nothing written into the deployed copy (no __pycache__).
    assert!(!env.root.join("files/pkg/__pycache__").exists());
}

#[test]
fn paths_resolve_like_the_cli_translates_them() {
    let env = Env::new(&[
        ("a/nb.py", &nb(&["print(1)"])),
        (
            "a/plain.ipynb",
            r#"{"nbformat": 4, "cells": [{"cell_type": "code", "source": ["print('from ipynb')"]}]}"#,
        ),
    ]);
    let job = json!({"tasks": [
        // Without the /Workspace prefix, relative, and an .ipynb notebook.
        {"task_key": "short", "notebook_task": {"notebook_path": "/Users/u@example.com/.bundle/b/test/files/a/nb"}},
        {"task_key": "relative", "notebook_task": {"notebook_path": "a/nb.py"}},
        task("ipynb", "a/plain", &[]),
        task("missing", "a/none", &[]),
        {"task_key": "outside", "notebook_task": {"notebook_path": "/Workspace/Shared/nb"}},
        {"task_key": "escape", "notebook_task": {"notebook_path": format!("{FILE_PATH}/../secret")}},
    ]});
    let report = env.run(job);
    for key in ["short", "relative", "ipynb"] {
        assert_eq!(
            state(&report, key),
            TaskState::Success,
            "{key}\n{}",
            summary(&report)
        );
    }
    let ipynb_log =
        fs::read_to_string(report.task("ipynb").unwrap().log.as_ref().unwrap()).unwrap();
    assert!(ipynb_log.contains("from ipynb"));
    for (key, words) in [
        ("missing", "not found"),
        ("outside", "outside the bundle's files"),
        ("escape", "leaves"),
    ] {
        let t = report.task(key).unwrap();
        assert_eq!(t.state, TaskState::Failed);
        assert!(
            t.reason.as_deref().unwrap().contains(words),
            "{key}: {:?}",
            t.reason
        );
    }
}

#[test]
fn retries_until_success() {
    let flaky = nb(&["import os\n\
p = os.path.join(os.environ['XTASK_DBFS_ROOT'], 'tries')\n\
n = int(open(p).read()) + 1 if os.path.exists(p) else 1\n\
open(p, 'w').write(str(n))\n\
print('try', n)\n\
assert n >= 2, 'first try fails'"]);
    let env = Env::new(&[("flaky.py", &flaky)]);
    let mut t = task("flaky", "flaky", &[]);
    t["max_retries"] = json!(2);
    let report = env.run(json!({"tasks": [t]}));
    let t = report.task("flaky").unwrap();
    assert_eq!(t.state, TaskState::Success, "{}", summary(&report));
    assert_eq!(t.attempts, 2);
    let log = fs::read_to_string(t.log.as_ref().unwrap()).unwrap();
    assert!(log.contains("try 1") && log.contains("first try fails") && log.contains("try 2"));
}

#[test]
fn condition_tasks_choose_a_branch() {
    let env = Env::new(&[
        (
            "set.py",
            &nb(&["dbutils.jobs.taskValues.set('score', 0.9)"]),
        ),
        ("ok.py", &nb(&["print(1)"])),
    ]);
    let branch = |key: &str, outcome: &str| {
        let mut t = task(key, "ok", &[]);
        t["depends_on"] = json!([{"task_key": "check", "outcome": outcome}]);
        t
    };
    let job = json!({"tasks": [
        task("set", "set", &[]),
        {"task_key": "check", "depends_on": [{"task_key": "set"}],
         "condition_task": {"op": "GREATER_THAN", "left": "{{tasks.set.values.score}}", "right": "0.8"}},
        branch("good", "true"),
        branch("bad", "false"),
    ]});
    let report = env.run(job);
    assert_eq!(
        report.task("check").unwrap().outcome.as_deref(),
        Some("true")
    );
    assert_eq!(state(&report, "good"), TaskState::Success);
    assert_eq!(state(&report, "bad"), TaskState::Excluded);
    assert!(report.ok());
}

#[test]
fn bad_jobs_are_refused_before_running() {
    let env = Env::new(&[("ok.py", &nb(&["print(1)"]))]);
    let err = |job: Value| format!("{:#}", run_job(&job, &env.ctx()).unwrap_err());
    let cycle = err(json!({"tasks": [task("a", "ok", &["b"]), task("b", "ok", &["a"])]}));
    assert!(
        cycle.contains("cycle") && cycle.contains("a -> b -> a"),
        "{cycle}"
    );
    assert!(
        err(json!({"tasks": [task("a", "ok", &["zzz"])]})).contains("\"zzz\", which is not a task")
    );
    assert!(err(json!({"tasks": []})).contains("empty"));
    assert!(
        err(json!({"tasks": [task("a", "ok", &[]), task("a", "ok", &[])]}))
            .contains("used by two tasks")
    );
    let mut t = task("a", "ok", &[]);
    t["run_if"] = json!("SOMETIMES");
    assert!(err(json!({"tasks": [t]})).contains("SOMETIMES"));
    assert!(
        !env.root.join("state/runs/r1").exists(),
        "a refused job writes nothing"
    );

    let mut ctx = env.ctx();
    ctx.files_root = env.root.join("not-deployed");
    let e = format!(
        "{:#}",
        run_job(&json!({"tasks": [task("a", "ok", &[])]}), &ctx).unwrap_err()
    );
    assert!(e.contains("not-deployed"), "{e}");
}

#[test]
fn files_root_symlink_is_pinned() {
    // Deploys switch `files` (a symlink) atomically; a run keeps the version it started with.
    let env = Env::new(&[]);
    let v1 = env.root.join("v1");
    fs::create_dir_all(&v1).unwrap();
    fs::write(
        v1.join("nb.py"),
        nb(&["import os\nprint('cwd', os.getcwd())"]),
    )
    .unwrap();
    fs::remove_dir_all(env.root.join("files")).ok();
    std::os::unix::fs::symlink(&v1, env.root.join("files")).unwrap();
    let report = env.run(json!({"tasks": [task("t", "nb", &[])]}));
    let log = fs::read_to_string(report.task("t").unwrap().log.as_ref().unwrap()).unwrap();
    assert!(
        log.contains(&format!("cwd {}", fs::canonicalize(&v1).unwrap().display())),
        "{log}"
    );
}

#[test]
fn integration_jobs_by_tag_then_training() {
    let bundle = |jobs: Value| crate::config::Bundle {
        root: PathBuf::from("/b"),
        name: "b".into(),
        target: "test".into(),
        mode: None,
        config: json!({"resources": {"jobs": jobs}}),
        resource_files: Default::default(),
    };
    let tagged = bundle(json!({
        "monitoring": {"tags": {"integration": "true"}},
        "training": {"tags": {"integration": "2"}},
        "ingestion": {"tags": {"integration": "1"}},
        "batch": {"tags": {"integration": "false"}},
        "other": {"tags": {"team": "x"}},
        "deploy": {"tags": {"integration": true}},
    }));
    assert_eq!(
        integration_jobs(&tagged),
        ["ingestion", "training", "deploy", "monitoring"]
    );
    let untagged = bundle(json!({"ingest": {}, "model_training_job": {}, "monitor": {}}));
    assert_eq!(integration_jobs(&untagged), ["model_training_job"]);
    assert!(integration_jobs(&bundle(json!({}))).is_empty());
}
