//! `cargo xtask run <job>`: the real binary on a bundle deployed into a temp
//! root, real Python processes, real files.

use std::fs;
use std::path::PathBuf;

use crate::support::runner::deployed;
use serde_json::Value;

fn text(out: &std::process::Output) -> String {
    format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    )
}

fn task(report: &Value, key: &str) -> Value {
    report["tasks"]
        .as_array()
        .and_then(|tasks| tasks.iter().find(|t| t["task_key"] == key))
        .unwrap_or_else(|| panic!("no task {key} in {report:#}"))
        .clone()
}

#[test]
fn runs_a_job_from_the_deployed_copy() {
    let d = deployed("mini", "mini_runner", "test");
    let out = d.run("train", "test", &["--json"]);
    assert!(out.status.success(), "{}", text(&out));
    let report: Value = serde_json::from_slice(&out.stdout).expect("one JSON document on stdout");
    for key in ["prepare", "fit", "report"] {
        assert_eq!(task(&report, key)["state"], "SUCCESS", "{key}: {report:#}");
    }
    assert_eq!(task(&report, "refresh")["state"], "SKIPPED");
    assert_eq!(task(&report, "fit")["exit_value"], "total=10");
    assert_eq!(report["result_state"], "SUCCESS");

    // The run folder lives in the env's state; logs hold each task's output.
    let run_dir = PathBuf::from(report["run_dir"].as_str().unwrap());
    assert!(run_dir.starts_with(fs::canonicalize(d.env_dir.join("state/runs")).unwrap()));
    let log = |key: &str| fs::read_to_string(run_dir.join(format!("{key}.log"))).unwrap();
    assert!(
        log("prepare").contains("prepared 5 rows for local_catalog"),
        "{}",
        log("prepare")
    );
    assert!(log("fit").contains("fit on 5 rows, total 10"));
    assert!(log("report").contains("report args: --catalog local_catalog"));
    // /dbfs paths landed in the env's local DBFS.
    assert!(d.env_dir.join("dbfs/mini/rows.txt").is_file());
    // The bundle has no requirements.txt: no venv is made.
    assert!(!d.dir.path().join("venv").exists());
}

#[test]
fn a_failed_job_exits_non_zero_with_a_summary() {
    let d = deployed("mini", "mini_runner", "test");
    let out = d.run("broken", "test", &[]);
    assert_eq!(out.status.code(), Some(1), "{}", text(&out));
    let all = text(&out);
    let line = |key: &str| {
        all.lines()
            .find(|l| l.starts_with(key))
            .unwrap_or_else(|| panic!("{key}: {all}"))
            .to_string()
    };
    assert!(line("explode").contains("FAILED"), "{all}");
    assert!(line("never").contains("UPSTREAM_FAILED"), "{all}");
    assert!(line("cleanup").contains("SUCCESS"), "{all}");
    // `never` is a leaf that did not run: the run failed, as on Databricks.
    assert!(all.contains(": FAILED in"), "{all}");
}

#[test]
fn unknown_job_and_missing_deployment_are_clear_errors() {
    let d = deployed("mini", "mini_runner", "test");
    let out = d.run("nope", "test", &[]);
    assert_eq!(out.status.code(), Some(1));
    let all = text(&out);
    assert!(
        all.contains("no job \"nope\"") && all.contains("train") && all.contains("broken"),
        "{all}"
    );

    fs::remove_dir_all(d.env_dir.join("files")).unwrap();
    let out = d.run("train", "test", &[]);
    assert_eq!(out.status.code(), Some(1));
    let all = text(&out);
    assert!(
        all.contains("nothing is deployed") && all.contains("cargo xtask deploy --env test"),
        "{all}"
    );
    assert!(
        !d.env_dir.join("state").exists(),
        "a refused run writes nothing"
    );
}

#[test]
fn tasks_run_under_the_bundle_venv() {
    if !e2e::slow_tests_enabled("tasks_run_under_the_bundle_venv") {
        return;
    }
    let d = deployed("mini", "mini_runner", "test");
    fs::write(d.bundle.join("requirements.txt"), "pytest\n").unwrap();
    let out = d.run("train", "test", &["--json"]);
    assert!(out.status.success(), "{}", text(&out));
    let report: Value = serde_json::from_slice(&out.stdout).unwrap();
    let run_dir = PathBuf::from(report["run_dir"].as_str().unwrap());
    let log = fs::read_to_string(run_dir.join("prepare.log")).unwrap();
    let venv = d.dir.path().join("venv");
    assert!(
        log.contains(&format!("with {}", venv.join("bin/python").display())),
        "{log}"
    );

    // Without a usable Python 3 the run stops with the way out, creating nothing.
    let d = deployed("mini", "mini_runner", "test");
    fs::write(d.bundle.join("requirements.txt"), "pytest\n").unwrap();
    let out = crate::xtask()
        .arg("--bundle-dir")
        .arg(&d.bundle)
        .arg("--root")
        .arg(&d.root)
        .args(["run", "train", "--env", "test"])
        .env("XTASK_VENV", d.dir.path().join("venv"))
        .env("XTASK_PYTHON", "/nonexistent")
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1));
    let all = text(&out);
    assert!(
        all.contains("Python 3 is required") && all.contains("XTASK_PYTHON"),
        "{all}"
    );
    assert!(!d.dir.path().join("venv").exists());
}

#[test]
fn ctrl_c_ends_the_tasks_too() {
    let d = deployed("mini", "mini_runner", "test");
    let mut child = crate::xtask()
        .arg("--bundle-dir")
        .arg(&d.bundle)
        .arg("--root")
        .arg(&d.root)
        .args(["run", "sleepy", "--env", "test"])
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn()
        .unwrap();
    let pid_file = d.env_dir.join("dbfs/nap.pid");
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(60);
    while !pid_file.is_file() && std::time::Instant::now() < deadline {
        std::thread::sleep(std::time::Duration::from_millis(50));
    }
    let pids: Vec<u32> = fs::read_to_string(&pid_file)
        .expect("the task started")
        .split(' ')
        .map(|p| p.parse().unwrap())
        .collect();
    let status = std::process::Command::new("kill")
        .args(["-INT", &child.id().to_string()])
        .status()
        .unwrap();
    assert!(status.success());
    let exit = child.wait().unwrap();
    assert_eq!(exit.code(), Some(130));
    // The notebook's process and its own child are gone (or zombies awaiting a reaper).
    let alive = |pid: u32| {
        fs::read_to_string(format!("/proc/{pid}/stat")).is_ok_and(|s| {
            !s.rsplit(')')
                .next()
                .unwrap_or("")
                .trim_start()
                .starts_with('Z')
        })
    };
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(5);
    while pids.iter().any(|p| alive(*p)) && std::time::Instant::now() < deadline {
        std::thread::sleep(std::time::Duration::from_millis(50));
    }
    for pid in pids {
        assert!(!alive(pid), "process {pid} survived Ctrl-C");
    }
}

#[test]
fn run_uses_the_configuration_deployed_in_the_env_not_the_working_tree() {
    let d = deployed("mini", "mini_runner", "test");
    // The working tree moved on after the deploy: its job takes another catalog.
    let jobs = d.bundle.join("resources/jobs.yml");
    let text_now = fs::read_to_string(&jobs).unwrap();
    fs::write(&jobs, text_now.replace("local_catalog", "tree_catalog")).unwrap();
    let out = d.run("train", "test", &["--json"]);
    assert!(out.status.success(), "{}", text(&out));
    let report: Value = serde_json::from_slice(&out.stdout).expect("one JSON document on stdout");
    let run_dir = PathBuf::from(report["run_dir"].as_str().unwrap());
    let log = fs::read_to_string(run_dir.join("report.log")).unwrap();
    assert!(log.contains("--catalog local_catalog"), "{log}");
}
