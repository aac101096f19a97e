//! The delivery gates end to end, in temp git repositories: `test` runs the
//! chain and records it, `stage` promotes exactly what passed, `release`
//! promotes exactly what staging holds, from the release branch only.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::Output;
use std::sync::Mutex;

use crate::xtask;
use e2e::gitrepo::Repo;
use e2e::workspace_root;

/// The gates share one Python environment (made by the first `test`); this
/// keeps the tests of this file from creating it concurrently.
static VENV: Mutex<()> = Mutex::new(());

const DATABRICKS_YML: &str = r#"bundle:
  name: flowdemo
include:
  - resources/*.yml
targets:
  dev:
    default: true
    mode: development
  test:
    workspace:
      host: https://example.cloud.databricks.com
  staging:
    workspace:
      host: https://example.cloud.databricks.com
  prod:
    mode: production
    workspace:
      host: https://example.cloud.databricks.com
      root_path: /Workspace/Shared/.bundle/flowdemo/prod
"#;

const JOBS_YML: &str = r#"resources:
  jobs:
    train:
      name: train-${bundle.target}
      tags:
        integration: "true"
      tasks:
        - task_key: make
          notebook_task:
            notebook_path: ../notebooks/make.py
            base_parameters:
              greeting: hello-${bundle.target}
        - task_key: check
          depends_on:
            - task_key: make
          notebook_task:
            notebook_path: ../notebooks/check.py
"#;

const MAKE_PY: &str = r#"# Databricks notebook source
dbutils.widgets.text("greeting", "hi")

# COMMAND ----------
import os, pathlib
out = pathlib.Path(os.environ["XTASK_DBFS_ROOT"]) / "greeting.txt"
out.parent.mkdir(parents=True, exist_ok=True)
out.write_text(dbutils.widgets.get("greeting"))
dbutils.jobs.taskValues.set(key="answer", value=42)
"#;

const CHECK_PY: &str = r#"# Databricks notebook source
answer = dbutils.jobs.taskValues.get(taskKey="make", key="answer", default=0)
assert answer == 42, f"task value not passed: {answer!r}"
"#;

fn project(repo: &Repo) {
    repo.write(".gitignore", ".bundle/\n.venv/\n__pycache__/\n");
    repo.write("bundle/databricks.yml", DATABRICKS_YML);
    repo.write("bundle/resources/jobs.yml", JOBS_YML);
    repo.write("bundle/notebooks/make.py", MAKE_PY);
    repo.write("bundle/notebooks/check.py", CHECK_PY);
    // The bundle's own pins of pytest and its dependencies: all this small
    // bundle needs (the project's heavier libraries would only slow the venv).
    let pins = std::fs::read_to_string(workspace_root().join("bundle/requirements.txt"))
        .expect("bundle requirements");
    let pytest_pins: String = pins
        .lines()
        .filter(|l| {
            let name = l.split(['=', '<', '>', '~', '[', ' ']).next().unwrap_or("");
            ["pytest", "pluggy", "iniconfig", "packaging"].contains(&name.to_lowercase().as_str())
        })
        .map(|l| format!("{l}\n"))
        .collect();
    assert!(
        pytest_pins.contains("pytest"),
        "bundle/requirements.txt pins pytest"
    );
    repo.write("bundle/requirements.txt", &pytest_pins);
    repo.write(
        "bundle/pytest.ini",
        "[pytest]\nmarkers =\n    integration: runs the pipeline\n",
    );
    repo.write(
        "bundle/tests/test_unit.py",
        "def test_adds():\n    assert 1 + 1 == 2\n",
    );
    repo.write(
        "bundle/tests/test_integration.py",
        "import pytest\n\n@pytest.mark.integration\ndef test_pipeline():\n    assert True\n",
    );
    repo.commit("a bundle");
}

fn venv() -> PathBuf {
    let target = std::env::var_os("CARGO_TARGET_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| workspace_root().join("target"));
    let target = if target.is_absolute() {
        target
    } else {
        workspace_root().join(target)
    };
    target.join("e2e-venv")
}

fn run(repo: &Repo, args: &[&str]) -> Output {
    let out = xtask()
        .arg("--bundle-dir")
        .arg(repo.join("bundle"))
        .args(args)
        .env("XTASK_VENV", venv())
        .current_dir(repo.path())
        .output()
        .expect("running xtask");
    eprintln!(
        "$ xtask {args:?} → {}\n{}{}",
        out.status,
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    out
}

fn stderr(out: &Output) -> String {
    String::from_utf8_lossy(&out.stderr).into_owned()
}

fn env_dir(repo: &Repo, env: &str) -> PathBuf {
    repo.join(".bundle/flowdemo").join(env)
}

fn metadata(repo: &Repo, env: &str) -> serde_json::Value {
    let path = env_dir(repo, env).join("state/metadata.json");
    let text = std::fs::read_to_string(&path)
        .unwrap_or_else(|e| panic!("reading {}: {e}", path.display()));
    serde_json::from_str(&text).expect("metadata.json is JSON")
}

/// Every file under `dir` (following the env's `files`/`artifacts` links) with
/// its content hash.
fn tree(dir: &Path) -> BTreeMap<String, blake3::Hash> {
    fn walk(base: &Path, dir: &Path, out: &mut BTreeMap<String, blake3::Hash>) {
        for entry in std::fs::read_dir(dir).expect("reading a folder").flatten() {
            let path = entry.path();
            if path.is_dir() {
                walk(base, &path, out);
            } else {
                let rel = path
                    .strip_prefix(base)
                    .expect("inside")
                    .to_string_lossy()
                    .into_owned();
                out.insert(
                    rel,
                    blake3::hash(&std::fs::read(&path).expect("reading a file")),
                );
            }
        }
    }
    let mut out = BTreeMap::new();
    walk(dir, dir, &mut out);
    out
}

#[test]
fn test_then_stage_promotes_the_tested_bytes() {
    let _guard = VENV.lock().unwrap_or_else(|e| e.into_inner());
    let repo = Repo::new();
    project(&repo);

    let out = run(&repo, &["test"]);
    assert!(out.status.success(), "test failed: {}", stderr(&out));
    let meta = metadata(&repo, "test");
    let record = &meta["test"];
    assert_eq!(record["passed"], true);
    assert_eq!(record["digest"], meta["digest"]);
    assert_eq!(
        record["commit"].as_str(),
        Some(repo.git(&["rev-parse", "HEAD"]).as_str())
    );
    assert_eq!(record["branch"], "main");
    let steps: Vec<&str> = record["steps"]
        .as_array()
        .expect("steps")
        .iter()
        .filter_map(|s| s["name"].as_str())
        .collect();
    assert_eq!(
        steps,
        [
            "python environment",
            "unit tests",
            "deploy to test",
            "integration job train",
            "integration tests"
        ]
    );
    // The job really ran from the deployed copy: its output is in test's dbfs.
    let greeting = std::fs::read_to_string(env_dir(&repo, "test").join("dbfs/greeting.txt"))
        .expect("job output");
    assert_eq!(greeting, "hello-test");

    let out = run(&repo, &["stage"]);
    assert!(out.status.success(), "stage failed: {}", stderr(&out));
    assert!(
        stderr(&out).contains("promoting it"),
        "stage re-ran test although it had passed"
    );
    let staged = metadata(&repo, "staging");
    assert_eq!(staged["digest"], meta["digest"]);
    assert_eq!(staged["promoted_from"]["env"], "test");
    assert_eq!(staged["promoted_from"]["test"]["passed"], true);
    for part in ["files", "artifacts"] {
        let tested = tree(&env_dir(&repo, "test").join(part));
        assert!(!tested.is_empty(), "test holds no {part}");
        assert_eq!(
            tested,
            tree(&env_dir(&repo, "staging").join(part)),
            "staging's {part} differ from test's"
        );
    }
}

#[test]
fn a_failing_unit_test_stops_test_and_blocks_stage() {
    let _guard = VENV.lock().unwrap_or_else(|e| e.into_inner());
    let repo = Repo::new();
    project(&repo);
    repo.write(
        "bundle/tests/test_unit.py",
        "def test_adds():\n    assert 1 + 1 == 3\n",
    );
    repo.commit("break a unit test");

    let out = run(&repo, &["test"]);
    assert_eq!(out.status.code(), Some(1));
    let err = stderr(&out);
    assert!(err.contains("step `unit tests` failed"), "{err}");
    // The failing test is named with its assertion, not only a log path.
    assert!(
        err.contains("FAILED tests/test_unit.py::test_adds - assert (1 + 1) == 3")
            || err.contains("FAILED tests/test_unit.py::test_adds - assert 2 == 3"),
        "{err}"
    );
    let log_line = err
        .lines()
        .find(|l| l.trim_start().starts_with("log: "))
        .expect("the failing step's log is named");
    let log = log_line.trim_start().trim_start_matches("log: ");
    assert!(
        std::fs::read_to_string(log)
            .expect("the log exists")
            .contains("assert 1 + 1 == 3")
    );
    assert!(
        !env_dir(&repo, "test").join("state/metadata.json").exists(),
        "a failed unit test must not deploy"
    );
    let latest =
        std::fs::read_to_string(env_dir(&repo, "test").join("state/test-runs/latest.json"))
            .expect("record");
    let latest: serde_json::Value = serde_json::from_str(&latest).expect("record is JSON");
    assert_eq!(latest["passed"], false);
    assert_eq!(latest["failed_step"], "unit tests");

    let out = run(&repo, &["stage"]);
    assert_eq!(out.status.code(), Some(1));
    assert!(
        stderr(&out).contains("running `test` first"),
        "{}",
        stderr(&out)
    );
    assert!(
        !env_dir(&repo, "staging").exists(),
        "stage must not promote a failed test"
    );
}

#[test]
fn a_change_after_test_makes_stage_run_test_again() {
    let _guard = VENV.lock().unwrap_or_else(|e| e.into_inner());
    let repo = Repo::new();
    project(&repo);
    assert!(run(&repo, &["test"]).status.success());
    let first = metadata(&repo, "test")["digest"].clone();

    repo.write("bundle/notebooks/extra.py", "print('new')\n");
    repo.commit("a change after test");
    let out = run(&repo, &["stage"]);
    assert!(out.status.success(), "{}", stderr(&out));
    assert!(
        stderr(&out).contains("running `test` first"),
        "{}",
        stderr(&out)
    );
    let staged = metadata(&repo, "staging")["digest"].clone();
    assert_ne!(staged, first, "staging must hold the new digest");
    assert_eq!(staged, metadata(&repo, "test")["digest"]);
}

/// The ids of the deployments kept in `env`.
fn kept(repo: &Repo, env: &str) -> Vec<String> {
    let mut v: Vec<String> = std::fs::read_dir(env_dir(repo, env).join(".deployments"))
        .map(|d| {
            d.flatten()
                .map(|e| e.file_name().to_string_lossy().into_owned())
                .collect()
        })
        .unwrap_or_default();
    v.sort();
    v
}

#[test]
fn a_stage_with_nothing_new_makes_no_deployment_and_prunes_nothing() {
    let _guard = VENV.lock().unwrap_or_else(|e| e.into_inner());
    let repo = Repo::new();
    project(&repo);
    assert!(run(&repo, &["stage"]).status.success());
    let before = kept(&repo, "staging");
    let history = metadata(&repo, "staging");
    for _ in 0..3 {
        let out = run(&repo, &["stage", "--json"]);
        assert!(out.status.success(), "{}", stderr(&out));
        let doc: serde_json::Value = serde_json::from_slice(&out.stdout).expect("JSON");
        assert_eq!(doc["staged"]["noop"], true, "{doc}");
    }
    assert_eq!(kept(&repo, "staging"), before);
    assert_eq!(metadata(&repo, "staging"), history);
}

#[test]
fn gates_write_only_their_env_and_refuse_overrides_deploy_to_a_gated_env_needs_force() {
    let repo = Repo::new();
    project(&repo);
    for (args, says) in [
        (&["test", "-t", "prod"][..], "deploys only to env `test`"),
        (&["test", "-t", "dev"][..], "deploys only to env `test`"),
        (
            &["stage", "-t", "prod"][..],
            "deploys only to env `staging`",
        ),
        (
            &["release", "-t", "staging"][..],
            "deploys only to env `prod`",
        ),
        (&["stage", "--var", "x=1"][..], "drop --var"),
        (&["release", "--var", "x=1"][..], "drop --var"),
        (&["deploy", "-t", "staging"][..], "--force"),
        (&["deploy", "-t", "prod"][..], "--force"),
    ] {
        let out = run(&repo, args);
        assert_eq!(out.status.code(), Some(1), "{args:?}: {}", stderr(&out));
        assert!(stderr(&out).contains(says), "{args:?}: {}", stderr(&out));
        assert!(
            !repo.join(".bundle").exists(),
            "{args:?} wrote {:?}",
            kept(&repo, "prod")
        );
    }
    // Forced: done, and recorded as ungated; a dirty tree is recorded as dirty.
    repo.write("bundle/notebooks/extra.py", "print('uncommitted')\n");
    let out = run(&repo, &["deploy", "-t", "prod", "--force"]);
    assert!(out.status.success(), "{}", stderr(&out));
    let meta = metadata(&repo, "prod");
    assert_eq!(meta["ungated"]["bypassed"], "release", "{meta}");
    let history: serde_json::Value = serde_json::from_str(
        &std::fs::read_to_string(env_dir(&repo, "prod").join("state/history.json")).unwrap(),
    )
    .unwrap();
    let last = history["deployments"]
        .as_array()
        .unwrap()
        .last()
        .unwrap()
        .clone();
    assert_eq!(
        last["flags"],
        serde_json::json!(["dirty", "ungated"]),
        "{last}"
    );
    // A clean tree carries no flag.
    repo.commit("extra");
    let out = run(&repo, &["deploy", "-t", "dev"]);
    assert!(out.status.success(), "{}", stderr(&out));
    let history: serde_json::Value = serde_json::from_str(
        &std::fs::read_to_string(env_dir(&repo, "dev").join("state/history.json")).unwrap(),
    )
    .unwrap();
    assert!(
        history["deployments"][0].get("flags").is_none(),
        "{history}"
    );
}

#[test]
fn a_skipped_task_fails_the_integration_gate_with_its_reason() {
    let _guard = VENV.lock().unwrap_or_else(|e| e.into_inner());
    let repo = Repo::new();
    project(&repo);
    // A misspelled task type: nothing runs it locally, so nothing tested it.
    repo.write(
        "bundle/resources/jobs.yml",
        &format!(
            "{JOBS_YML}        - task_key: typo\n          notebok_task:\n            notebook_path: ../notebooks/check.py\n"
        ),
    );
    repo.commit("a typo");
    let out = run(&repo, &["test"]);
    assert_eq!(out.status.code(), Some(1), "{}", stderr(&out));
    let err = stderr(&out);
    assert!(err.contains("SKIPPED") && err.contains("typo"), "{err}");
    assert_eq!(metadata(&repo, "test")["test"]["passed"], false);
    let out = run(&repo, &["stage"]);
    assert_eq!(out.status.code(), Some(1), "{}", stderr(&out));
    assert!(!env_dir(&repo, "staging").exists());
}

#[test]
fn release_is_refused_unless_everything_holds_then_promotes_staging() {
    let _guard = VENV.lock().unwrap_or_else(|e| e.into_inner());
    let repo = Repo::new();
    project(&repo);
    assert!(run(&repo, &["stage"]).status.success());

    // On main: refused.
    let out = run(&repo, &["release"]);
    assert_eq!(out.status.code(), Some(1));
    assert!(
        stderr(&out).contains("only from the release branch `release`, and this is `main`"),
        "{}",
        stderr(&out)
    );

    // On a release branch made from main, with a dirty tree: refused.
    repo.git(&["switch", "-q", "-c", "release"]);
    repo.write(
        "bundle/notebooks/make.py",
        &format!("{MAKE_PY}\n# local edit\n"),
    );
    let out = run(&repo, &["release"]);
    assert_eq!(out.status.code(), Some(1));
    assert!(
        stderr(&out).contains("uncommitted changes"),
        "{}",
        stderr(&out)
    );
    assert!(!env_dir(&repo, "prod").exists());

    // Committed on the release branch only: not from main, and staging holds another digest.
    repo.commit("a fix made on the release branch");
    let out = run(&repo, &["release"]);
    assert_eq!(out.status.code(), Some(1));
    let err = stderr(&out);
    assert!(err.contains("not on `main`'s history"), "{err}");
    assert!(err.contains("staging holds digest"), "{err}");
    assert!(!env_dir(&repo, "prod").exists());

    // Reset the release branch to main and merge main into it: accepted.
    repo.git(&["reset", "-q", "--hard", "main"]);
    let out = run(&repo, &["release", "--dry-run"]);
    assert!(out.status.success(), "{}", stderr(&out));
    assert!(
        !env_dir(&repo, "prod").exists(),
        "--dry-run must write nothing"
    );
    let out = run(&repo, &["release"]);
    assert!(out.status.success(), "{}", stderr(&out));
    let prod = metadata(&repo, "prod");
    let staging = metadata(&repo, "staging");
    assert_eq!(prod["digest"], staging["digest"]);
    assert_eq!(prod["promoted_from"]["env"], "staging");
    assert_eq!(
        prod["release"]["commit"].as_str(),
        Some(repo.git(&["rev-parse", "HEAD"]).as_str())
    );
    assert_eq!(prod["release"]["branch"], "release");
    assert_eq!(
        tree(&env_dir(&repo, "prod").join("files")),
        tree(&env_dir(&repo, "staging").join("files"))
    );
}

#[test]
fn release_accepts_a_merge_of_main_into_the_release_branch() {
    let _guard = VENV.lock().unwrap_or_else(|e| e.into_inner());
    let repo = Repo::new();
    project(&repo);
    repo.git(&["branch", "release"]);
    repo.write("bundle/notebooks/extra.py", "print('feature')\n");
    repo.commit("a feature merged to main");
    assert!(run(&repo, &["stage"]).status.success());
    repo.git(&["switch", "-q", "release"]);
    repo.git(&[
        "merge",
        "-q",
        "--no-ff",
        "-m",
        "Merge main into release",
        "main",
    ]);
    let out = run(&repo, &["release"]);
    assert!(out.status.success(), "{}", stderr(&out));
    assert_eq!(
        metadata(&repo, "prod")["digest"],
        metadata(&repo, "staging")["digest"]
    );
}

/// `test --remote`: the bundle is deployed to the workspace, each integration
/// job runs there (run-now, polled to its end) and the record is kept in the
/// workspace's state; a job that fails there fails the gate.
#[test]
fn test_remote_runs_the_jobs_in_the_workspace_and_records_there() {
    use e2e::fake_workspace::{DEFAULT_USER, FakeWorkspace};
    let _guard = VENV.lock().unwrap_or_else(|e| e.into_inner());
    let fake = FakeWorkspace::start();
    let repo = Repo::new();
    project(&repo);
    repo.write(
        "bundle/databricks.yml",
        &DATABRICKS_YML.replace("https://example.cloud.databricks.com", fake.url()),
    );
    repo.commit("the fake workspace");
    let remote_test_with = |repo: &Repo, extra: &[&str]| {
        xtask()
            .arg("--bundle-dir")
            .arg(repo.join("bundle"))
            .args(["test", "--remote"])
            .args(extra)
            .env("XTASK_VENV", venv())
            .env("DATABRICKS_HOST", fake.url())
            .env("DATABRICKS_TOKEN", fake.token())
            .env("XTASK_POLL_MS", "20")
            .env("HOME", repo.path())
            .current_dir(repo.path())
            .output()
            .expect("running xtask")
    };
    let remote_test = |repo: &Repo| remote_test_with(repo, &[]);
    let state = |name: &str| -> serde_json::Value {
        let path = format!("/Workspace/Users/{DEFAULT_USER}/.bundle/flowdemo/test/state/{name}");
        serde_json::from_slice(
            &fake
                .file(&path)
                .unwrap_or_else(|| panic!("no remote {name}")),
        )
        .expect("state JSON")
    };

    let out = remote_test(&repo);
    assert!(
        out.status.success(),
        "test --remote failed: {}",
        stderr(&out)
    );
    assert_eq!(fake.requests_matching("jobs/run-now").len(), 1);
    let meta = state("metadata.json");
    assert_eq!(meta["test"]["passed"], true, "{meta}");
    assert_eq!(meta["test"]["digest"], meta["digest"]);
    assert!(
        !env_dir(&repo, "test").join("state/metadata.json").exists(),
        "the record went to a local env"
    );

    // The same job failing in the workspace fails the gate, and says where.
    fake.fail_task("check");
    repo.write(
        "bundle/tests/test_unit.py",
        "def test_adds():\n    assert 2 + 2 == 4\n",
    );
    let out = remote_test(&repo);
    assert_eq!(out.status.code(), Some(1), "{}", stderr(&out));
    assert!(
        stderr(&out).contains("integration job train"),
        "{}",
        stderr(&out)
    );
    let meta = state("metadata.json");
    assert_eq!(meta["test"]["passed"], false, "{meta}");
    assert_eq!(meta["test"]["failed_step"], "integration job train");

    // With `--json`, the failed job's run is told in the one JSON document on
    // stdout, never in lines of text before it.
    let out = remote_test_with(&repo, &["--json"]);
    assert_eq!(out.status.code(), Some(1), "{}", stderr(&out));
    let doc: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap_or_else(|e| {
        panic!(
            "stdout is not one JSON document ({e}):\n{}",
            String::from_utf8_lossy(&out.stdout)
        )
    });
    assert!(doc.to_string().contains("integration job train"), "{doc}");
}
