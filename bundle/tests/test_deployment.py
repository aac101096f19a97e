import json

import pytest

from deployment.batch_inference import load_question_file, run_batch
from deployment.deploy import deploy
from deployment.registry import LocalModelRegistry
from rag_code_files.chunking import chunk_documents
from rag_code_files.index import VectorIndex
from training.tracking import ExperimentTracker

MODEL = "test.my_mlops_project_luv_v6.rag_index"


@pytest.fixture
def finished_run(tmp_path, tiny_docs):
    tracker = ExperimentTracker(tmp_path / "mlflow", "exp")
    run = tracker.start_run({"chunk_size": 12})
    index_dir = VectorIndex.build(chunk_documents(tiny_docs, 12, 4)).save(run.artifact_dir / "index")
    run.log_artifact_path("index", index_dir)
    run.log_metrics({"num_chunks": 4})
    run.finish()
    return run


def test_register_numbers_versions_and_copies_artifacts(tmp_path, finished_run):
    reg = LocalModelRegistry(tmp_path / "registry")
    art = finished_run.meta["artifacts"]["index"]
    assert reg.register(MODEL, art, finished_run.run_id) == 1
    assert reg.register(MODEL, art, finished_run.run_id) == 2
    assert reg.versions(MODEL) == [1, 2]
    v1 = reg.get_version(MODEL, 1)
    assert v1["run_id"] == finished_run.run_id
    assert VectorIndex.load(v1["artifact_path"]).doc_ids == ["bikes", "cats", "dogs", "tea"]
    # No staging leftovers.
    assert sorted(p.name for p in (tmp_path / "registry" / MODEL / "versions").iterdir()) == ["1", "2"]


def test_aliases_must_point_at_existing_versions(tmp_path, finished_run):
    reg = LocalModelRegistry(tmp_path / "registry")
    v = reg.register(MODEL, finished_run.meta["artifacts"]["index"])
    reg.set_alias(MODEL, "champion", v)
    assert reg.get_by_alias(MODEL, "champion")["version"] == v
    with pytest.raises(KeyError):
        reg.set_alias(MODEL, "champion", 99)
    with pytest.raises(KeyError, match="no alias 'challenger'"):
        reg.get_by_alias(MODEL, "challenger")
    with pytest.raises(ValueError):
        reg.set_alias(MODEL, "bad alias!", v)
    with pytest.raises(ValueError):
        reg.versions("../escape")


def test_deploy_promotes_only_validated_runs(tmp_path, finished_run):
    reg = LocalModelRegistry(tmp_path / "registry")
    refused = deploy(finished_run, reg, MODEL)  # never validated
    assert not refused.promoted and reg.versions(MODEL) == []
    refused = deploy(finished_run, reg, MODEL, validation_passed=False)
    assert not refused.promoted and "did not pass validation" in refused.reason
    finished_run.set_tags({"validation_passed": "true"})
    first = deploy(finished_run, reg, MODEL)
    assert first.promoted and first.version == 1
    second = deploy(finished_run, reg, MODEL, validation_passed=True)
    assert reg.aliases(MODEL) == {"champion": second.version} == {"champion": 2}
    # A later failed validation leaves the champion where it was.
    deploy(finished_run, reg, MODEL, validation_passed=False)
    assert reg.aliases(MODEL) == {"champion": 2}


def test_deploy_refuses_unfinished_runs(tmp_path):
    run = ExperimentTracker(tmp_path, "exp").start_run()
    result = deploy(run, LocalModelRegistry(tmp_path / "reg"), MODEL, validation_passed=True)
    assert not result.promoted and "did not finish" in result.reason


def test_batch_inference_logs_answers_and_latencies(tmp_path, finished_run):
    reg = LocalModelRegistry(tmp_path / "registry")
    reg.set_alias(MODEL, "champion", reg.register(MODEL, finished_run.meta["artifacts"]["index"]))
    qfile = tmp_path / "questions.txt"
    qfile.write_text("# comment\nHow hot should green tea water be?\n\nstock market forecast\n"
                     + json.dumps({"question": "why do dogs bark"}) + "\n")
    log = tmp_path / "logs" / "inference.jsonl"
    summary = run_batch(reg, MODEL, qfile, log, k=3, min_score=0.1)
    assert summary["questions"] == 3 and summary["no_answers"] == 1 and summary["model_version"] == 1
    records = [json.loads(line) for line in log.read_text().splitlines()]
    assert [r["no_answer"] for r in records] == [False, True, False]
    assert records[0]["sources"] == ["tea"] and "[tea]" in records[0]["answer"]
    assert all(r["latency_ms"] >= 0 and r["batch_id"] == summary["batch_id"] for r in records)
    run_batch(reg, MODEL, qfile, log)  # appends
    assert len(log.read_text().splitlines()) == 6


def test_batch_inference_without_champion_is_a_clear_error(tmp_path):
    with pytest.raises(KeyError, match="champion"):
        run_batch(LocalModelRegistry(tmp_path), MODEL, tmp_path / "q.txt", tmp_path / "log")


def test_question_file_errors_name_the_line(tmp_path):
    f = tmp_path / "q.txt"
    f.write_text("fine question\n{\"nope\": 1}\n")
    with pytest.raises(ValueError, match=r"q.txt:2"):
        load_question_file(f)


CONCURRENT = r"""
import sys
from deployment.registry import LocalModelRegistry
reg = LocalModelRegistry(sys.argv[1])
worker = sys.argv[3]
for i in range(15):
    v = reg.register(sys.argv[2], sys.argv[4], run_id=worker)
    reg.set_alias(sys.argv[2], f"{worker}-{i}", v)
"""


def test_concurrent_registrations_get_distinct_versions_and_keep_every_alias(tmp_path, finished_run):
    import subprocess
    import sys

    from rag_code_files.paths import BUNDLE_ROOT

    art = finished_run.meta["artifacts"]["index"]
    procs = [
        subprocess.Popen([sys.executable, "-c", CONCURRENT, str(tmp_path / "reg"), MODEL, f"w{n}", art],
                         cwd=BUNDLE_ROOT)
        for n in range(3)
    ]
    assert [p.wait(timeout=60) for p in procs] == [0, 0, 0]
    reg = LocalModelRegistry(tmp_path / "reg")
    assert reg.versions(MODEL) == list(range(1, 46))
    aliases = reg.aliases(MODEL)
    assert len(aliases) == 45 and sorted(aliases.values()) == list(range(1, 46))
    for alias, version in aliases.items():
        assert reg.get_version(MODEL, version)["run_id"] == alias.split("-")[0]
