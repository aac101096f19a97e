"""The whole pipeline on the shipped data: ingest -> train (register) -> validate (alias) -> batch
inference (champion) -> monitoring, against a local SQLite MLflow store, through the modules, through the notebooks run as plain scripts, and through the notebooks
executed with an injected `dbutils` the way the job runner does."""

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

import mlflow

from DataStreaming.ingest import checkpoint_counts, ingest, seed_landing
from deployment.batch_inference import run_batch
from monitoring.monitor import log_report, monitor
from rag_code_files import model as rag_model
from rag_code_files.mlflow_store import configure, local_store
from rag_code_files.paths import BUNDLE_ROOT
from training.train import train
from validation.validate import validate_version

pytestmark = pytest.mark.integration

DATA = BUNDLE_ROOT / "data"
MODEL = "test.my_mlops_project_luv_v6.rag_index"
N_DOCS = len(list((DATA / "documents").glob("*.json")))


def test_pipeline_through_the_modules(tmp_path, mlflow_store):
    landing, table, quarantine = tmp_path / "landing", tmp_path / "docs.db", tmp_path / "quarantine"
    assert seed_landing(DATA / "documents", landing) == N_DOCS
    (landing / "zz-broken.json").write_text('{"id": "broken"')
    report = ingest(landing, table, quarantine)
    assert len(report.ingested) == N_DOCS and report.quarantined == ["zz-broken.json"]
    assert ingest(landing, table, quarantine).ingested == []  # exactly once
    assert checkpoint_counts(table) == {"ingested": N_DOCS, "quarantined": 1}

    store = mlflow_store
    result = train(table, store, "/Shared/test-exp", MODEL, chunk_size=60, chunk_overlap=15)
    validation = validate_version(MODEL, result.model_version, DATA / "eval/questions.jsonl", k=5,
                                  min_recall_at_k=0.9, min_mrr=0.6)
    assert validation.passed, validation.failures
    assert validation.metrics["recall_at_5"] >= 0.9
    client = mlflow.MlflowClient()
    assert client.get_run(result.run_id).data.metrics["val_recall_at_5"] == validation.metrics["recall_at_5"]
    assert client.get_registered_model(MODEL).aliases == {"champion": 1}

    # A second version that misses the thresholds (its labels point at a document that does not
    # exist) is registered, marked failed, and the champion stays where it was.
    second = train(table, store, "/Shared/test-exp", MODEL, chunk_size=20, chunk_overlap=5)
    mislabelled = tmp_path / "mislabelled.jsonl"
    mislabelled.write_text(json.dumps({"question": "vpn gateway", "relevant": ["kb-999"]}) + "\n")
    assert not validate_version(MODEL, second.model_version, mislabelled, k=5, min_recall_at_k=0.8,
                                min_mrr=0.6).passed
    assert client.get_model_version(MODEL, "2").tags["validation_status"] == "failed"
    assert client.get_registered_model(MODEL).aliases == {"champion": 1}

    log = tmp_path / "inference.jsonl"
    summary = run_batch(MODEL, DATA / "inference/questions.txt", log)
    assert summary["questions"] >= 10 and summary["model_version"] == 1
    records = [json.loads(line) for line in log.read_text().splitlines()]
    answered = [r for r in records if not r["no_answer"]]
    assert answered and all(r["sources"] and f"[{r['sources'][0]}]" in r["answer"] for r in answered)
    assert any(r["no_answer"] for r in records)  # the off-topic questions

    corpus = rag_model.served_index(rag_model.load(f"models:/{MODEL}@champion")).term_counts
    mon = monitor(log, corpus, {"latency_p95_ms": 1000, "no_answer_rate": 0.5, "drift_oov_rate": 0.05},
                  tmp_path / "monitoring")
    assert mon["metrics"]["requests"] == summary["questions"]
    assert [v["metric"] for v in mon["violations"]] == ["drift_oov_rate"]
    run_id = log_report(mon, store, "/Shared/test-exp", tmp_path / "monitoring", {"model_version": "1"})
    assert client.get_run(run_id).data.tags["violations"] == "drift_oov_rate"


NOTEBOOKS = [
    "DataStreaming/notebooks/IngestDocuments.py",
    "training/notebooks/Train.py",
    "validation/notebooks/ModelValidation.py",
    "deployment/notebooks/BatchInference.py",
    "monitoring/notebooks/Monitoring.py",
]


def run_notebook(rel, dbfs_root, *params):
    path = BUNDLE_ROOT / rel
    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "MLFLOW_TRACKING_URI", "MLFLOW_REGISTRY_URI")}
    env["XTASK_DBFS_ROOT"] = str(dbfs_root)
    return subprocess.run([sys.executable, path.name, *params], cwd=path.parent, env=env,
                          capture_output=True, text=True, timeout=120)


def test_notebooks_run_as_plain_python_scripts(tmp_path):
    for rel in NOTEBOOKS:
        proc = run_notebook(rel, tmp_path)
        assert proc.returncode == 0, f"{rel}\n{proc.stdout}\n{proc.stderr}"
    data = tmp_path / "my_mlops_project_luv_v6" / "dev"
    assert (data / "tables/documents.db").is_file()
    configure(data / "mlflow")
    client = mlflow.MlflowClient()
    name = "dev.my_mlops_project_luv_v6.rag_index"
    assert client.get_registered_model(name).aliases == {"champion": 1}
    assert len((data / "inference/inference_log.jsonl").read_text().splitlines()) >= 10
    report = json.loads((data / "monitoring/report.json").read_text())
    assert report["model_versions"] == [1]
    [monitoring] = client.search_runs([client.get_experiment_by_name(
        "/Shared/dev-my_mlops_project_luv_v6-experiment").experiment_id], "tags.job = 'monitoring'")
    assert monitoring.data.metrics["requests"] == report["metrics"]["requests"]

    # Missed thresholds: validation exits non-zero and the champion stays on version 1.
    bad = tmp_path / "mislabelled.jsonl"
    bad.write_text("\n".join(
        json.dumps({"question": q, "relevant": ["kb-999"]}) for q in ("vpn gateway", "parental leave")) + "\n")
    assert run_notebook("training/notebooks/Train.py", tmp_path).returncode == 0
    proc = run_notebook("validation/notebooks/ModelValidation.py", tmp_path, f"questions_path={bad}")
    assert proc.returncode != 0 and "model validation failed" in proc.stderr
    assert client.get_registered_model(name).aliases == {"champion": 1}
    assert client.get_model_version(name, "2").tags["validation_status"] == "failed"
    proc = run_notebook("deployment/notebooks/BatchInference.py", tmp_path)
    assert proc.returncode == 0 and '"model_version": 1' in proc.stdout


class RunnerDbutils:
    """What the job runner injects: widgets from base_parameters, task values shared across tasks."""

    def __init__(self, task_key, params, store):
        outer = self

        class Widgets:
            def text(self, name, default="", label=None):
                pass

            def get(self, name):
                return outer.params[name]

        class TaskValues:
            def set(self, key, value):
                store.setdefault(task_key, {})[key] = value

            def get(self, taskKey, key, default=None, debugValue=None):
                return store.get(taskKey, {}).get(key, default)

        class Jobs:
            taskValues = TaskValues()

        self.params = params
        self.widgets = Widgets()
        self.jobs = Jobs()


def exec_task(rel, task_key, params, store, monkeypatch):
    path = BUNDLE_ROOT / rel
    monkeypatch.chdir(path.parent)
    code = compile(path.read_text(), str(path), "exec")
    # No __file__, as in a notebook: the bootstrap falls back to the working directory.
    exec(code, {"__name__": "__main__", "dbutils": RunnerDbutils(task_key, params, store)})


def test_training_job_under_an_injected_dbutils(tmp_path, monkeypatch):
    for var in ("MLFLOW_TRACKING_URI", "MLFLOW_REGISTRY_URI", "DATABRICKS_RUNTIME_VERSION"):
        monkeypatch.delenv(var, raising=False)
    monkeypatch.setenv("XTASK_DBFS_ROOT", str(tmp_path))
    data = "/dbfs/my_mlops_project_luv_v6/test"
    git = "url:; branch:; commit:"
    store = {}
    exec_task(NOTEBOOKS[0], "IngestDocuments", {
        "landing_dir": f"{data}/landing", "table_path": f"{data}/tables/documents.db",
        "quarantine_dir": f"{data}/quarantine", "seed_dir": "data/documents", "max_files": "",
        "git_source_info": git}, store, monkeypatch)
    assert store["IngestDocuments"] == {"ingested": N_DOCS, "quarantined": 0}
    common = {"tracking_root": f"{data}/mlflow", "model_name": MODEL, "git_source_info": git}
    exec_task(NOTEBOOKS[1], "Train", {**common, "env": "test", "table_path": f"{data}/tables/documents.db",
                                      "experiment_name": "/Shared/test-exp", "chunk_size": "60",
                                      "chunk_overlap": "15"}, store, monkeypatch)
    assert store["Train"]["model_version"] == "1"
    exec_task(NOTEBOOKS[2], "ModelValidation", {**common, "alias": "champion",
                                                "questions_path": "data/eval/questions.jsonl",
                                                "k": "5", "min_recall_at_k": "0.8", "min_mrr": "0.6",
                                                "run_mode": "enabled"}, store, monkeypatch)
    assert store["ModelValidation"] == {"model_version": "1", "validation_passed": "true"}
    client = mlflow.MlflowClient()
    assert mlflow.get_tracking_uri() == local_store(tmp_path / "my_mlops_project_luv_v6/test/mlflow").tracking_uri
    assert client.get_model_version_by_alias(MODEL, "champion").run_id == store["Train"]["run_id"]
    # Nothing escaped into the bundle's own fallback folder.
    assert not any(Path(BUNDLE_ROOT / ".dbfs/my_mlops_project_luv_v6/test").glob("*"))


TELEMETRY_PROBE = r"""
import ast, sys
source = open(sys.argv[1]).read()
# The notebook's own imports, in its order (the bootstrap cell already put the bundle on the path).
for node in ast.parse(source).body:
    if isinstance(node, (ast.Import, ast.ImportFrom)):
        exec(compile(ast.Module([node], []), sys.argv[1], "exec"), {})
import mlflow
from mlflow.telemetry.client import get_telemetry_client
print("telemetry", get_telemetry_client())
"""


@pytest.mark.parametrize("rel", NOTEBOOKS[1:])
def test_notebooks_load_mlflow_with_telemetry_off(rel):
    # MLflow decides on telemetry once, when it is imported, and skips it on CI and under pytest:
    # the child gets an environment without those markers, so only the notebook's import order
    # can turn it off.
    env = {k: v for k, v in os.environ.items()
           if k not in ("PYTEST_CURRENT_TEST", "CI", "GITHUB_ACTIONS", "MLFLOW_DISABLE_TELEMETRY", "DO_NOT_TRACK")}
    # This test's own copy of the bundle, symlinks not followed: a deployed environment links
    # unchanged folders to an earlier deployment, whose notebooks may be older.
    root = Path(os.path.abspath(__file__)).parent.parent
    env["PYTHONPATH"] = str(root)
    proc = subprocess.run([sys.executable, "-c", TELEMETRY_PROBE, str(root / rel)], env=env,
                          capture_output=True, text=True, timeout=120, cwd=root)
    assert proc.returncode == 0, proc.stderr
    assert "telemetry None" in proc.stdout, proc.stdout
