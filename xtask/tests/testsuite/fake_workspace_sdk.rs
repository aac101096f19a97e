//! The fake workspace checked against the official Python SDK
//! (`databricks-sdk`): if the real client library accepts the fake's answers
//! and gets the expected results, the fake speaks the real API.
//!
//! Python comes from `XTASK_SDK_PYTHON` (CI sets it); otherwise a venv is
//! made once in `target/sdk-venv` with `pip install databricks-sdk`.

use std::path::PathBuf;
use std::process::Command;
use std::sync::OnceLock;

use e2e::fake_workspace::FakeWorkspace;
use serde_json::Value;

/// The SDK's Python, when there is one to use without a slow install.
fn sdk_ready(test: &str) -> bool {
    std::env::var_os("XTASK_SDK_PYTHON").is_some() || e2e::slow_tests_enabled(test)
}

fn sdk_python() -> PathBuf {
    static PY: OnceLock<PathBuf> = OnceLock::new();
    PY.get_or_init(|| {
        if let Some(py) = std::env::var_os("XTASK_SDK_PYTHON") {
            return PathBuf::from(py);
        }
        let target = std::env::var_os("CARGO_TARGET_DIR")
            .map(PathBuf::from)
            .unwrap_or_else(|| e2e::workspace_root().join("target"));
        let venv = target.join("sdk-venv");
        let py = venv.join("bin").join("python");
        let has_sdk = |py: &PathBuf| {
            Command::new(py)
                .args(["-c", "import databricks.sdk"])
                .status()
                .is_ok_and(|s| s.success())
        };
        if !has_sdk(&py) {
            let ok = Command::new("python3")
                .args(["-m", "venv"])
                .arg(&venv)
                .status()
                .is_ok_and(|s| s.success());
            assert!(
                ok,
                "python3 -m venv {} failed (set XTASK_SDK_PYTHON)",
                venv.display()
            );
            let ok = Command::new(&py)
                .args([
                    "-m",
                    "pip",
                    "install",
                    "--quiet",
                    "--disable-pip-version-check",
                    "databricks-sdk",
                ])
                .status()
                .is_ok_and(|s| s.success());
            assert!(
                ok,
                "pip install databricks-sdk failed (set XTASK_SDK_PYTHON)"
            );
        }
        py
    })
    .clone()
}

/// Runs `script` with the SDK pointed at `fake`; returns its last stdout line as JSON.
fn run_sdk(fake: &FakeWorkspace, script: &str) -> Value {
    let out = Command::new(sdk_python())
        .args(["-c", script])
        .env("DATABRICKS_HOST", fake.url())
        .env("DATABRICKS_TOKEN", fake.token())
        .env_remove("DATABRICKS_CONFIG_PROFILE")
        .env("DATABRICKS_CONFIG_FILE", "/nonexistent/databrickscfg")
        .output()
        .expect("running the SDK python");
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        out.status.success(),
        "SDK script failed:\n{stdout}\n{stderr}"
    );
    let last = stdout.lines().last().unwrap_or_default();
    serde_json::from_str(last)
        .unwrap_or_else(|e| panic!("bad script output {last:?}: {e}\n{stderr}"))
}

const SCRIPT: &str = r##"
import io, json, os
from databricks.sdk import WorkspaceClient
from databricks.sdk.errors import NotFound
from databricks.sdk.service import jobs
from databricks.sdk.service.workspace import ImportFormat

w = WorkspaceClient(host=os.environ["DATABRICKS_HOST"], token=os.environ["DATABRICKS_TOKEN"])
out = {}
me = w.current_user.me().user_name
out["me"] = me
root = f"/Workspace/Users/{me}/sdk"
w.workspace.mkdirs(f"{root}/sub")
w.workspace.upload(f"{root}/sub/data.bin", io.BytesIO(bytes(range(256)) * 4), format=ImportFormat.AUTO)
w.workspace.upload(f"{root}/nb.py", io.BytesIO(b"# Databricks notebook source\nprint(1)\n"))
w.workspace.upload(f"{root}/nb.py", io.BytesIO(b"# Databricks notebook source\nprint(2)\n"), overwrite=True)
out["download"] = list(w.workspace.download(f"{root}/sub/data.bin").read())
out["notebook"] = w.workspace.download(f"{root}/nb").read().decode()
out["list"] = sorted([o.path, o.object_type.value] for o in w.workspace.list(root))
out["recursive"] = sorted(o.path for o in w.workspace.list(root, recursive=True))
try:
    w.workspace.get_status(f"{root}/missing")
    out["missing"] = "found"
except NotFound as e:
    out["missing"] = str(e)

created = w.jobs.create(name="train", tasks=[
    jobs.Task(task_key="prep", notebook_task=jobs.NotebookTask(notebook_path=f"{root}/nb")),
    jobs.Task(task_key="fit", depends_on=[jobs.TaskDependency(task_key="prep")],
              notebook_task=jobs.NotebookTask(notebook_path=f"{root}/nb")),
])
job = w.jobs.get(created.job_id)
out["job"] = {"id": created.job_id, "name": job.settings.name,
              "tasks": [t.task_key for t in job.settings.tasks]}
run = w.jobs.run_now(created.job_id).result()
out["run"] = {"state": run.state.result_state.value,
              "tasks": sorted([t.task_key, t.state.result_state.value] for t in run.tasks)}
w.jobs.delete(created.job_id)
print(json.dumps(out))
"##;

#[test]
fn sdk_upload_download_list_and_jobs_work_against_the_fake() {
    if !sdk_ready("sdk_upload_download_list_and_jobs_work_against_the_fake") {
        return;
    }
    let fake = FakeWorkspace::start();
    fake.set_run_polls(2);
    let out = run_sdk(&fake, SCRIPT);
    let user = fake.user();
    let root = format!("/Workspace/Users/{user}/sdk");
    assert_eq!(out["me"], user.as_str());

    let expected: Vec<u8> = (0..=255u8).cycle().take(1024).collect();
    let downloaded: Vec<u8> = serde_json::from_value(out["download"].clone()).unwrap();
    assert_eq!(downloaded, expected);
    assert_eq!(
        fake.file(&format!("{root}/sub/data.bin")).unwrap(),
        expected
    );
    assert_eq!(out["notebook"], "# Databricks notebook source\nprint(2)\n");
    assert_eq!(
        out["list"],
        serde_json::json!([
            [format!("{root}/nb"), "NOTEBOOK"],
            [format!("{root}/sub"), "DIRECTORY"]
        ])
    );
    assert_eq!(
        out["recursive"],
        serde_json::json!([format!("{root}/nb"), format!("{root}/sub/data.bin")])
    );
    assert_eq!(
        out["missing"],
        format!("Path ({root}/missing) doesn't exist.")
    );

    assert_eq!(out["job"]["name"], "train");
    assert_eq!(out["job"]["tasks"], serde_json::json!(["prep", "fit"]));
    assert_eq!(out["run"]["state"], "SUCCESS");
    assert_eq!(
        out["run"]["tasks"],
        serde_json::json!([["fit", "SUCCESS"], ["prep", "SUCCESS"]])
    );
    assert_eq!(fake.job_count(), 0, "the SDK deleted the job");
    // The SDK polled the run through PENDING and RUNNING.
    assert!(fake.requests_matching("jobs/runs/get").len() >= 3);
}

#[test]
fn sdk_with_a_wrong_token_is_refused() {
    if !sdk_ready("sdk_with_a_wrong_token_is_refused") {
        return;
    }
    let fake = FakeWorkspace::start();
    let out = Command::new(sdk_python())
        .args([
            "-c",
            "import os\nfrom databricks.sdk import WorkspaceClient\n\
             w = WorkspaceClient(host=os.environ['DATABRICKS_HOST'], token='dapi-wrong')\n\
             w.current_user.me()",
        ])
        .env("DATABRICKS_HOST", fake.url())
        .env("DATABRICKS_CONFIG_FILE", "/nonexistent/databrickscfg")
        .output()
        .unwrap();
    assert!(!out.status.success());
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("Invalid access token"), "{stderr}");
    assert_eq!(fake.requests_matching("scim/v2/Me")[0].status, 401);
}
