import json

import pytest

from DataStreaming.ingest import ingest
from rag_code_files.index import VectorIndex
from tests.helpers import write_doc
from training.tracking import ExperimentTracker, experiment_dir_name
from training.train import train


@pytest.fixture
def table(tmp_path, landing, tiny_docs):
    for d in tiny_docs:
        write_doc(landing, f"{d['id']}.json", d)
    table = tmp_path / "docs.db"
    ingest(landing, table, tmp_path / "q")
    return table


def test_train_records_params_metrics_and_artifact(table, tmp_path):
    result = train(table, tmp_path / "mlflow", "/Shared/dev-exp", chunk_size=12, chunk_overlap=4,
                   tags={"env": "dev"})
    run = ExperimentTracker(tmp_path / "mlflow", "/Shared/dev-exp").get_run(result.run_id)
    assert run.meta["status"] == "FINISHED"
    assert run.meta["tags"] == {"env": "dev"}
    assert run.params["chunk_size"] == "12" and run.params["chunk_overlap"] == "4"
    assert run.metrics["num_documents"] == 4.0
    assert run.metrics["num_chunks"] == result.metrics["num_chunks"] >= 4
    assert run.meta["artifacts"]["index"] == str(result.index_path)
    index = VectorIndex.load(result.index_path)
    assert index.doc_ids == ["bikes", "cats", "dogs", "tea"]
    assert index.params["chunk_size"] == 12


def test_failed_training_is_recorded_as_failed(table, tmp_path):
    with pytest.raises(ValueError):
        train(table, tmp_path / "mlflow", "exp", chunk_size=5, chunk_overlap=5)
    runs = ExperimentTracker(tmp_path / "mlflow", "exp").list_runs()
    assert [r.meta["status"] for r in runs] == ["FAILED"]


def test_training_on_empty_table_is_an_error(tmp_path, landing):
    ingest(landing, tmp_path / "empty.db", tmp_path / "q")
    with pytest.raises(ValueError, match="empty"):
        train(tmp_path / "empty.db", tmp_path / "mlflow", "exp")


def test_tracker_orders_runs_and_finds_the_latest_finished(tmp_path):
    tracker = ExperimentTracker(tmp_path, "exp")
    a = tracker.start_run({"p": 1})
    a.finish()
    b = tracker.start_run({"p": 2})
    b.finish("FAILED")
    assert [r.run_id for r in tracker.list_runs()] == sorted([a.run_id, b.run_id])
    assert tracker.latest_run().run_id == a.run_id
    a.log_metrics({"m": 1})
    a.log_metrics({"n": 2})
    assert a.metrics == {"m": 1.0, "n": 2.0}
    with pytest.raises(KeyError):
        tracker.get_run("20990101T000000-deadbeef")
    with pytest.raises(ValueError):
        tracker.get_run("../../etc")
    assert json.loads((tracker.folder / "meta.json").read_text())["name"] == "exp"


def test_experiment_names_become_safe_folder_names():
    assert experiment_dir_name("/Users/a@b.com/dev-exp") == "Users_a_b.com_dev-exp"
    with pytest.raises(ValueError):
        experiment_dir_name("//")
