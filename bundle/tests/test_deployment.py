import json

import mlflow
import pytest

from deployment.batch_inference import load_question_file, run_batch
from tests.conftest import TEST_MODEL as MODEL


def test_batch_inference_serves_the_champion_and_logs_answers(tmp_path, candidate, tiny_table, mlflow_store):
    from training.train import train

    client = mlflow.MlflowClient()
    client.set_registered_model_alias(MODEL, "champion", candidate.model_version)
    # A newer version without the alias is not served.
    newer = train(tiny_table, mlflow_store, "/Shared/test-exp", MODEL, chunk_size=12, chunk_overlap=4)
    assert newer.model_version == "2"
    qfile = tmp_path / "questions.txt"
    qfile.write_text("# comment\nHow hot should green tea water be?\n\nstock market forecast\n"
                     + json.dumps({"question": "why do dogs bark"}) + "\n")
    log = tmp_path / "logs" / "inference.jsonl"
    summary = run_batch(MODEL, qfile, log, k=3, min_score=0.1)
    assert summary["questions"] == 3 and summary["no_answers"] == 1 and summary["model_version"] == 1
    records = [json.loads(line) for line in log.read_text().splitlines()]
    assert [r["no_answer"] for r in records] == [False, True, False]
    assert records[0]["sources"] == ["tea"] and "[tea]" in records[0]["answer"]
    assert all(r["latency_ms"] >= 0 and r["batch_id"] == summary["batch_id"] for r in records)
    # Moving the alias moves what is served; the log appends.
    client.set_registered_model_alias(MODEL, "champion", "2")
    assert run_batch(MODEL, qfile, log)["model_version"] == 2
    assert len(log.read_text().splitlines()) == 6


def test_batch_inference_without_champion_is_a_clear_error(tmp_path, mlflow_store):
    (tmp_path / "q.txt").write_text("a question\n")
    with pytest.raises(LookupError, match="no version with alias 'champion'"):
        run_batch(MODEL, tmp_path / "q.txt", tmp_path / "log")
    assert not (tmp_path / "log").exists()


def test_question_file_errors_name_the_line(tmp_path):
    f = tmp_path / "q.txt"
    f.write_text("fine question\n{\"nope\": 1}\n")
    with pytest.raises(ValueError, match=r"q.txt:2"):
        load_question_file(f)
