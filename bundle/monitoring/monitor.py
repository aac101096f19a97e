"""Monitoring over the inference log: latency, no-answer rate and query drift.

Drift compares the words of the questions asked in production with the training corpus the served
index was built from: the out-of-vocabulary rate (share of query terms the index has never seen) and
the Jensen-Shannon divergence (base 2, in [0, 1]) between the query and corpus term distributions.
"""

from __future__ import annotations

import json
import math
from collections import Counter
from pathlib import Path

from rag_code_files.paths import atomic_write_text
from rag_code_files.text import tokenize


def percentile(values: list[float], q: float) -> float:
    """Linear interpolation between closest ranks (numpy's default method)."""
    if not values:
        raise ValueError("percentile of an empty list")
    if not 0 <= q <= 100:
        raise ValueError(f"percentile must be in [0, 100], got {q}")
    xs = sorted(values)
    pos = (len(xs) - 1) * q / 100.0
    lo, hi = math.floor(pos), math.ceil(pos)
    return xs[lo] + (xs[hi] - xs[lo]) * (pos - lo)


def js_divergence(p: Counter, q: Counter) -> float:
    """Jensen-Shannon divergence of two count distributions, base 2 (0 = same, 1 = disjoint)."""
    tp, tq = sum(p.values()), sum(q.values())
    if not tp or not tq:
        return 0.0
    div = 0.0
    for term in set(p) | set(q):
        a, b = p.get(term, 0) / tp, q.get(term, 0) / tq
        m = (a + b) / 2
        if a:
            div += 0.5 * a * math.log2(a / m)
        if b:
            div += 0.5 * b * math.log2(b / m)
    return max(0.0, min(1.0, div))


def read_log(path: str | Path, last_n: int | None = None) -> list[dict]:
    records = []
    with open(path, encoding="utf-8") as f:
        for n, line in enumerate(f, start=1):
            if not line.strip():
                continue
            try:
                records.append(json.loads(line))
            except json.JSONDecodeError as e:
                raise ValueError(f"{path}:{n}:{e.colno}: invalid JSON in inference log: {e.msg}") from None
    return records[-last_n:] if last_n else records


def drift(questions: list[str], corpus_term_counts: dict[str, int]) -> dict:
    query_counts: Counter[str] = Counter()
    for q in questions:
        query_counts.update(tokenize(q))
    total = sum(query_counts.values())
    oov = sum(c for t, c in query_counts.items() if t not in corpus_term_counts)
    return {
        "oov_rate": oov / total if total else 0.0,
        "js_divergence": js_divergence(query_counts, Counter(corpus_term_counts)),
        "query_terms": total,
    }


def compute_report(records: list[dict], corpus_term_counts: dict[str, int], thresholds: dict) -> dict:
    """Metrics and the thresholds they violate. `thresholds` maps metric name -> maximum allowed."""
    if not records:
        raise ValueError("the inference log is empty; run batch inference first")
    latencies = [float(r["latency_ms"]) for r in records]
    metrics = {
        "requests": len(records),
        "latency_p50_ms": percentile(latencies, 50),
        "latency_p95_ms": percentile(latencies, 95),
        "latency_p99_ms": percentile(latencies, 99),
        "no_answer_rate": sum(bool(r["no_answer"]) for r in records) / len(records),
        **{f"drift_{k}": v for k, v in drift([r["question"] for r in records], corpus_term_counts).items()},
    }
    violations = []
    for name, limit in thresholds.items():
        if name not in metrics:
            raise ValueError(f"threshold for unknown metric {name!r}; known: {sorted(metrics)}")
        if metrics[name] > limit:
            violations.append({"metric": name, "value": metrics[name], "threshold": limit})
    versions = sorted({r.get("model_version") for r in records if r.get("model_version") is not None})
    return {"metrics": metrics, "thresholds": thresholds, "violations": violations,
            "is_violated": bool(violations), "model_versions": versions}


def render_markdown(report: dict) -> str:
    lines = ["# Monitoring report", "", f"Model versions seen: {report['model_versions']}", "",
             "| metric | value | threshold | status |", "|---|---|---|---|"]
    violated = {v["metric"] for v in report["violations"]}
    for name, value in report["metrics"].items():
        limit = report["thresholds"].get(name)
        status = "VIOLATED" if name in violated else ("ok" if limit is not None else "")
        shown = f"{value:.4f}" if isinstance(value, float) else str(value)
        lines.append(f"| {name} | {shown} | {'' if limit is None else limit} | {status} |")
    lines += ["", "Violations: " + (", ".join(sorted(violated)) if violated else "none"), ""]
    return "\n".join(lines)


def monitor(log_path: str | Path, corpus_term_counts: dict[str, int], thresholds: dict, report_dir: str | Path,
            last_n: int | None = None) -> dict:
    """Compute the report over the last `last_n` log records and write report.json and report.md."""
    report = compute_report(read_log(log_path, last_n), corpus_term_counts, thresholds)
    report_dir = Path(report_dir)
    atomic_write_text(report_dir / "report.json", json.dumps(report, indent=2) + "\n")
    atomic_write_text(report_dir / "report.md", render_markdown(report))
    return report


def log_report(report: dict, store, experiment_name: str, report_dir: str | Path, tags: dict) -> str:
    """Record a monitoring report as an MLflow run of the experiment; returns the run id.

    Metrics are the report's, plus `is_metric_violated` (0/1) so a chart or an alert can follow it
    over time; the violated metrics are a tag, and report.json/report.md are the run's artifacts.
    """
    import mlflow

    from rag_code_files.mlflow_store import experiment_id

    violated = sorted(v["metric"] for v in report["violations"])
    run_tags = {**{k: str(v) for k, v in tags.items()}, "job": "monitoring",
                "is_metric_violated": str(report["is_violated"]).lower(), "violations": ",".join(violated)}
    with mlflow.start_run(experiment_id=experiment_id(store, experiment_name), run_name="monitoring",
                          tags=run_tags) as run:
        mlflow.log_metrics({**{k: float(v) for k, v in report["metrics"].items()},
                            "is_metric_violated": float(report["is_violated"])})
        mlflow.log_params({f"max_{k}": v for k, v in report["thresholds"].items()})
        for name in ("report.json", "report.md"):
            mlflow.log_artifact(str(Path(report_dir) / name))
    return run.info.run_id
