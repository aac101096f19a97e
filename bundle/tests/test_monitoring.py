import json
from collections import Counter

import pytest

from monitoring.monitor import compute_report, drift, js_divergence, monitor, percentile, read_log


def test_percentile_interpolates_like_numpy():
    xs = [1.0, 2.0, 3.0, 4.0]
    assert percentile(xs, 0) == 1.0 and percentile(xs, 100) == 4.0
    assert percentile(xs, 50) == 2.5
    assert percentile(xs, 95) == pytest.approx(3.85)
    assert percentile([7.0], 99) == 7.0
    with pytest.raises(ValueError):
        percentile([], 50)
    with pytest.raises(ValueError):
        percentile(xs, 101)


def test_js_divergence_bounds():
    p = Counter({"a": 2, "b": 2})
    assert js_divergence(p, p) == 0.0
    assert js_divergence(p, Counter({"c": 1})) == pytest.approx(1.0)
    assert 0 < js_divergence(p, Counter({"a": 1, "c": 1})) < 1


def test_drift_counts_terms_unknown_to_the_corpus():
    corpus = {"tea": 5, "water": 3, "brew": 2}
    d = drift(["brew tea", "quantum tea"], corpus)
    assert d["query_terms"] == 4 and d["oov_rate"] == 0.25
    assert drift(["tea water"], corpus)["oov_rate"] == 0.0


def record(latency, no_answer=False, q="tea water"):
    return {"latency_ms": latency, "no_answer": no_answer, "question": q, "model_version": 1}


def test_report_flags_violations_against_thresholds():
    records = [record(1.0), record(2.0), record(100.0, True, "quantum physics")]
    report = compute_report(records, {"tea": 1, "water": 1},
                            {"latency_p95_ms": 50, "no_answer_rate": 0.5, "drift_oov_rate": 0.1})
    assert report["metrics"]["requests"] == 3
    assert report["metrics"]["no_answer_rate"] == pytest.approx(1 / 3)
    assert sorted(v["metric"] for v in report["violations"]) == ["drift_oov_rate", "latency_p95_ms"]
    assert report["is_violated"] and report["model_versions"] == [1]
    calm = compute_report(records[:2], {"tea": 1, "water": 1}, {"latency_p95_ms": 50})
    assert calm["violations"] == [] and not calm["is_violated"]


def test_unknown_threshold_and_empty_log_are_errors():
    with pytest.raises(ValueError, match="unknown metric"):
        compute_report([record(1.0)], {}, {"accuracy": 0.5})
    with pytest.raises(ValueError, match="empty"):
        compute_report([], {}, {})


def test_monitor_writes_reports_over_the_last_records(tmp_path):
    log = tmp_path / "log.jsonl"
    log.write_text("".join(json.dumps(record(float(i))) + "\n" for i in range(1, 11)))
    report = monitor(log, {"tea": 1, "water": 1}, {"latency_p95_ms": 5}, tmp_path / "out", last_n=3)
    assert report["metrics"]["requests"] == 3 and report["metrics"]["latency_p50_ms"] == 9.0
    assert json.loads((tmp_path / "out/report.json").read_text())["is_violated"] is True
    assert "| latency_p95_ms |" in (tmp_path / "out/report.md").read_text()
    assert "VIOLATED" in (tmp_path / "out/report.md").read_text()


def test_corrupt_log_line_is_reported_with_its_position(tmp_path):
    log = tmp_path / "log.jsonl"
    log.write_text(json.dumps(record(1.0)) + "\n{oops\n")
    with pytest.raises(ValueError, match=r"log.jsonl:2:2"):
        read_log(log)


def test_report_is_logged_as_an_mlflow_run(tmp_path, mlflow_store):
    import mlflow

    from monitoring.monitor import log_report

    log = tmp_path / "log.jsonl"
    log.write_text("".join(json.dumps(record(float(i))) + "\n" for i in range(1, 11)))
    report = monitor(log, {"tea": 1, "water": 1}, {"latency_p95_ms": 5, "no_answer_rate": 0.9}, tmp_path / "out")
    run_id = log_report(report, mlflow_store, "/Shared/test-exp", tmp_path / "out",
                        {"model_name": "m", "model_version": "3"})
    client = mlflow.MlflowClient()
    run = client.get_run(run_id)
    assert run.data.metrics["latency_p95_ms"] == report["metrics"]["latency_p95_ms"]
    assert run.data.metrics["is_metric_violated"] == 1.0
    assert run.data.tags["is_metric_violated"] == "true" and run.data.tags["violations"] == "latency_p95_ms"
    assert run.data.tags["model_version"] == "3" and run.data.params["max_latency_p95_ms"] == "5"
    assert sorted(a.path for a in client.list_artifacts(run_id)) == ["report.json", "report.md"]
