import json

import mlflow
import pytest

from DataStreaming.ingest import ingest
from rag_code_files import model as rag_model
from rag_code_files.mlflow_store import choose_store, local_store
from tests.helpers import write_doc
from training.train import train

MODEL = "test.my_mlops_project_luv_v6.rag_index"


@pytest.fixture
def table(tmp_path, landing, tiny_docs):
    for d in tiny_docs:
        write_doc(landing, f"{d['id']}.json", d)
    table = tmp_path / "docs.db"
    ingest(landing, table, tmp_path / "q")
    return table


def test_train_records_a_run_and_registers_a_candidate_version(table, mlflow_store, tmp_path):
    result = train(table, mlflow_store, "/Shared/dev-exp", MODEL, chunk_size=12, chunk_overlap=4,
                   tags={"env": "dev"})
    client = mlflow.MlflowClient()
    run = client.get_run(result.run_id)
    assert run.info.status == "FINISHED"
    assert run.data.tags["env"] == "dev"
    assert run.data.params["chunk_size"] == "12" and run.data.params["chunk_overlap"] == "4"
    assert run.data.metrics["num_documents"] == 4.0
    assert run.data.metrics["num_chunks"] == result.metrics["num_chunks"] >= 4
    assert client.get_experiment(run.info.experiment_id).name == "/Shared/dev-exp"
    # The version comes from this run, and no alias points at it yet: validation decides that.
    mv = client.get_model_version(MODEL, result.model_version)
    assert (mv.run_id, result.model_version) == (result.run_id, "1")
    assert client.get_registered_model(MODEL).aliases == {}
    # Artifacts live in the store's folder, and the registered model answers from the index.
    assert any((tmp_path / "mlflow" / "artifacts").rglob("index.json"))
    model = rag_model.load(f"models:/{MODEL}/1")
    assert rag_model.served_index(model).doc_ids == ["bikes", "cats", "dogs", "tea"]
    out = model.predict([{"question": "how hot should the water for green tea be"}], params={"min_score": 0.05})
    assert json.loads(out["sources"][0]) == ["tea"] and not out["no_answer"][0]
    again = train(table, mlflow_store, "/Shared/dev-exp", MODEL, chunk_size=12, chunk_overlap=4)
    assert again.model_version == "2"


def test_failed_training_is_recorded_as_failed_and_registers_nothing(table, mlflow_store):
    with pytest.raises(ValueError):
        train(table, mlflow_store, "exp", MODEL, chunk_size=5, chunk_overlap=5)
    client = mlflow.MlflowClient()
    exp = client.get_experiment_by_name("exp")
    assert [r.info.status for r in client.search_runs([exp.experiment_id])] == ["FAILED"]
    assert client.search_model_versions(f"name = '{MODEL}'") == []


def test_training_on_empty_table_is_an_error(tmp_path, landing, mlflow_store):
    ingest(landing, tmp_path / "empty.db", tmp_path / "q")
    with pytest.raises(ValueError, match="empty"):
        train(tmp_path / "empty.db", mlflow_store, "exp", MODEL)


def test_store_is_sqlite_locally_and_the_workspace_on_databricks(tmp_path, monkeypatch):
    for var in ("MLFLOW_TRACKING_URI", "MLFLOW_REGISTRY_URI", "DATABRICKS_RUNTIME_VERSION"):
        monkeypatch.delenv(var, raising=False)
    local = choose_store(tmp_path / "m")
    assert local == local_store(tmp_path / "m")
    assert local.tracking_uri == f"sqlite:///{tmp_path / 'm' / 'mlflow.db'}" == local.registry_uri
    assert local.artifact_root == (tmp_path / "m" / "artifacts").as_uri()
    monkeypatch.setenv("DATABRICKS_RUNTIME_VERSION", "15.4")
    remote = choose_store(tmp_path / "m")
    assert (remote.tracking_uri, remote.registry_uri, remote.artifact_root) == ("databricks", "databricks-uc", None)
    # What an earlier configure left in the environment does not decide the next one.
    monkeypatch.delenv("DATABRICKS_RUNTIME_VERSION")
    monkeypatch.setenv("MLFLOW_TRACKING_URI", "sqlite:///elsewhere.db")
    assert choose_store(tmp_path / "m") == local
