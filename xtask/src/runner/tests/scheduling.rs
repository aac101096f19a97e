//! Order, parallelism, run_if, timeouts, retries, skipped task types.

use std::fs;
use std::path::PathBuf;

use serde_json::{Value, json};

use super::*;
use crate::runner::*;

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
    assert_eq!(
        bad.reason.as_deref(),
        Some("exited with code 1: RuntimeError: boom")
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
    // Long enough for Python to start and print on a loaded 2-core machine.
    t["timeout_seconds"] = json!(3);
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
        log.contains("sleeping") && log.contains("timed out after 3s"),
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
fn job_timeout_bounds_every_task() {
    let env = Env::new(&[
        (
            "sleep.py",
            &nb(&["import time\nprint('napping', flush=True)\ntime.sleep(60)"]),
        ),
        ("ok.py", &nb(&["print(1)"])),
    ]);
    let mut after = task("after", "ok", &["sleep"]);
    after["run_if"] = json!("ALL_DONE");
    let job = json!({"timeout_seconds": 1, "tasks": [task("sleep", "sleep", &[]), after]});
    let report = env.run(job);
    let sleep = report.task("sleep").unwrap();
    assert_eq!(sleep.state, TaskState::TimedOut, "{}", summary(&report));
    assert!(
        sleep
            .reason
            .as_deref()
            .unwrap()
            .contains("job's timeout_seconds passed; the process group")
    );
    // The job's time is up: the task after it does not start.
    let after = report.task("after").unwrap();
    assert_eq!(after.state, TaskState::TimedOut, "{}", summary(&report));
    assert!(
        after
            .reason
            .as_deref()
            .unwrap()
            .contains("before this attempt could start")
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
        source: Default::default(),
    };
    let tagged = bundle(json!({
        "monitoring": {"tags": {"integration": "true"}},
        "training": {"tags": {"integration": "2"}},
        "ingestion": {"tags": {"integration": "1"}},
        "batch": {"tags": {"integration": "false"}},
        "other": {"tags": {"team": "x"}},
        "deploy": {"tags": {"integration": true}},
        "ordered": {"tags": {"integration": "true", "integration_order": "1.5"}},
    }));
    assert_eq!(
        integration_jobs(&tagged),
        ["ingestion", "ordered", "training", "deploy", "monitoring"]
    );
    let untagged = bundle(json!({"ingest": {}, "model_training_job": {}, "monitor": {}}));
    assert_eq!(integration_jobs(&untagged), ["model_training_job"]);
    assert!(integration_jobs(&bundle(json!({}))).is_empty());
}
