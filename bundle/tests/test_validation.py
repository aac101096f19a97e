import json

import pytest

from validation.metrics import recall_at_k, reciprocal_rank
from validation.validate import load_questions, validate


def test_recall_at_k():
    assert recall_at_k(["a", "b", "c"], {"a"}, 1) == 1.0
    assert recall_at_k(["b", "a"], {"a"}, 1) == 0.0
    assert recall_at_k(["a", "x", "b"], {"a", "b"}, 2) == 0.5
    with pytest.raises(ValueError):
        recall_at_k(["a"], set(), 1)


def test_reciprocal_rank():
    assert reciprocal_rank(["x", "y", "a"], {"a"}) == pytest.approx(1 / 3)
    assert reciprocal_rank(["x"], {"a"}) == 0.0
    assert reciprocal_rank([], {"a"}) == 0.0


QUESTIONS = [
    {"id": "1", "question": "green tea brewing temperature", "relevant": ["tea"]},
    {"id": "2", "question": "flat tyre on my bicycle", "relevant": ["bikes"]},
    {"id": "3", "question": "barking pets", "relevant": ["dogs"]},
    {"id": "4", "question": "purring felines", "relevant": ["cats"]},
]


def test_validation_passes_at_and_above_thresholds(tiny_index):
    result = validate(tiny_index, QUESTIONS, k=2, min_recall_at_k=1.0, min_mrr=1.0)
    assert result.passed and result.failures == []
    assert result.metrics == {"recall_at_2": 1.0, "mrr": 1.0, "num_questions": 4}


def test_validation_fails_below_thresholds(tiny_index):
    wrong = [dict(q, relevant=["nonexistent"]) for q in QUESTIONS[:2]] + QUESTIONS[2:]
    result = validate(tiny_index, wrong, k=2, min_recall_at_k=0.8, min_mrr=0.6)
    assert not result.passed
    assert result.metrics["recall_at_2"] == 0.5
    assert len(result.failures) == 2 and "recall@2 0.500 < threshold 0.800" in result.failures[0]


@pytest.mark.parametrize("k,rec,mrr", [(0, 0.5, 0.5), (2, 1.5, 0.5), (2, 0.5, -0.1)])
def test_invalid_thresholds_are_rejected(tiny_index, k, rec, mrr):
    with pytest.raises(ValueError):
        validate(tiny_index, QUESTIONS, k=k, min_recall_at_k=rec, min_mrr=mrr)


def test_load_questions_reports_file_and_line(tmp_path):
    good = tmp_path / "q.jsonl"
    good.write_text("\n".join(json.dumps(q) for q in QUESTIONS) + "\n\n")
    assert len(load_questions(good)) == 4
    bad = tmp_path / "bad.jsonl"
    bad.write_text(json.dumps(QUESTIONS[0]) + "\n" + '{"question": "x", "relevant": []}\n')
    with pytest.raises(ValueError, match=r"bad.jsonl:2: 'relevant'"):
        load_questions(bad)
    broken = tmp_path / "broken.jsonl"
    broken.write_text("{not json\n")
    with pytest.raises(ValueError, match=r"broken.jsonl:1:2: invalid JSON"):
        load_questions(broken)
    empty = tmp_path / "empty.jsonl"
    empty.write_text("")
    with pytest.raises(ValueError, match="no labelled questions"):
        load_questions(empty)


def test_shipped_labelled_set_is_well_formed():
    from rag_code_files.paths import BUNDLE_ROOT

    questions = load_questions(BUNDLE_ROOT / "data/eval/questions.jsonl")
    doc_ids = {p.stem for p in (BUNDLE_ROOT / "data/documents").glob("*.json")}
    assert len(questions) >= 30 and len(doc_ids) >= 30
    assert all(set(q["relevant"]) <= doc_ids for q in questions)
    assert len({q["id"] for q in questions}) == len(questions)


def test_validation_of_a_registered_version_sets_the_alias_only_when_it_passes(tmp_path, candidate,
                                                                                tiny_table, mlflow_store):
    import mlflow

    from tests.conftest import TEST_MODEL
    from training.train import train
    from validation.validate import latest_version, validate_version

    good = tmp_path / "good.jsonl"
    good.write_text("".join(json.dumps(q) + "\n" for q in QUESTIONS))
    bad = tmp_path / "bad.jsonl"
    bad.write_text("".join(json.dumps(dict(q, relevant=["nonexistent"])) + "\n" for q in QUESTIONS))
    client = mlflow.MlflowClient()

    result = validate_version(TEST_MODEL, "1", good, k=2, min_recall_at_k=0.8, min_mrr=0.6)
    assert result.passed
    assert client.get_registered_model(TEST_MODEL).aliases == {"champion": 1}
    assert client.get_model_version(TEST_MODEL, "1").tags["validation_status"] == "passed"
    run = client.get_run(candidate.run_id)
    assert run.data.metrics["val_recall_at_2"] == 1.0
    assert client.get_model_version(TEST_MODEL, "1").tags["validation_min_mrr"] == "0.6"

    second = train(tiny_table, mlflow_store, "/Shared/test-exp", TEST_MODEL, chunk_size=12, chunk_overlap=4)
    assert latest_version(TEST_MODEL) == second.model_version == "2"
    failed = validate_version(TEST_MODEL, "2", bad, k=2, min_recall_at_k=0.8, min_mrr=0.6)
    assert not failed.passed
    assert client.get_model_version(TEST_MODEL, "2").tags["validation_status"] == "failed"
    assert client.get_registered_model(TEST_MODEL).aliases == {"champion": 1}  # unchanged

    # dry_run, with other thresholds on the same version: the verdict is still recorded as failed,
    # but the operator asked for the alias to move.
    validate_version(TEST_MODEL, "2", bad, k=2, min_recall_at_k=0.5, min_mrr=0.5, promote_anyway=True)
    assert client.get_registered_model(TEST_MODEL).aliases == {"champion": 2}
    assert client.get_model_version(TEST_MODEL, "2").tags["validation_min_mrr"] == "0.5"


def test_latest_version_of_an_unknown_model_is_a_clear_error(mlflow_store):
    from validation.validate import latest_version

    with pytest.raises(RuntimeError, match="no version"):
        latest_version("nobody.nowhere.model")
