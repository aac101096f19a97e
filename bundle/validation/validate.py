"""Evaluate an index on the labelled questions and compare with thresholds."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path

from rag_code_files.index import VectorIndex
from rag_code_files.retrieval import retrieve_documents
from validation.metrics import mean, recall_at_k, reciprocal_rank


@dataclass
class ValidationResult:
    passed: bool
    metrics: dict
    failures: list[str] = field(default_factory=list)
    per_question: list[dict] = field(default_factory=list)

    def to_dict(self) -> dict:
        return {"passed": self.passed, "metrics": self.metrics, "failures": self.failures,
                "per_question": self.per_question}


def load_questions(path: str | Path) -> list[dict]:
    """JSON lines: {"id", "question", "relevant": [doc ids]}; errors name file:line."""
    out = []
    with open(path, encoding="utf-8") as f:
        for n, line in enumerate(f, start=1):
            if not line.strip():
                continue
            try:
                q = json.loads(line)
            except json.JSONDecodeError as e:
                raise ValueError(f"{path}:{n}:{e.colno}: invalid JSON: {e.msg}") from None
            if not isinstance(q, dict) or not isinstance(q.get("question"), str):
                raise ValueError(f"{path}:{n}: expected an object with a 'question' string")
            rel = q.get("relevant")
            if not isinstance(rel, list) or not rel or not all(isinstance(r, str) for r in rel):
                raise ValueError(f"{path}:{n}: 'relevant' must be a non-empty list of document ids")
            out.append(q)
    if not out:
        raise ValueError(f"{path}: no labelled questions")
    return out


def evaluate(index: VectorIndex, questions: list[dict], k: int) -> tuple[dict, list[dict]]:
    recalls, rrs, rows = [], [], []
    for q in questions:
        ranked = [d.doc_id for d in retrieve_documents(index, q["question"], k)]
        relevant = set(q["relevant"])
        r, rr = recall_at_k(ranked, relevant, k), reciprocal_rank(ranked, relevant)
        recalls.append(r)
        rrs.append(rr)
        rows.append({"id": q.get("id", ""), "recall": r, "reciprocal_rank": rr, "retrieved": ranked})
    metrics = {f"recall_at_{k}": mean(recalls), "mrr": mean(rrs), "num_questions": len(questions)}
    return metrics, rows


def validate(
    index: VectorIndex,
    questions: list[dict],
    k: int,
    min_recall_at_k: float,
    min_mrr: float,
) -> ValidationResult:
    for name, value in (("min_recall_at_k", min_recall_at_k), ("min_mrr", min_mrr)):
        if not 0.0 <= value <= 1.0:
            raise ValueError(f"{name} must be within [0, 1], got {value}")
    if k <= 0:
        raise ValueError(f"k must be positive, got {k}")
    metrics, rows = evaluate(index, questions, k)
    failures = []
    recall = metrics[f"recall_at_{k}"]
    if recall < min_recall_at_k:
        failures.append(f"recall@{k} {recall:.3f} < threshold {min_recall_at_k:.3f}")
    if metrics["mrr"] < min_mrr:
        failures.append(f"MRR {metrics['mrr']:.3f} < threshold {min_mrr:.3f}")
    return ValidationResult(not failures, metrics, failures, rows)


def validate_run(run, questions_path, k, min_recall_at_k, min_mrr) -> ValidationResult:
    """Validate a training run's index and record the metrics and verdict on the run."""
    index_path = run.meta.get("artifacts", {}).get("index")
    if not index_path:
        raise ValueError(f"run {run.run_id} has no index artifact")
    result = validate(VectorIndex.load(index_path), load_questions(questions_path), k, min_recall_at_k, min_mrr)
    run.log_metrics({f"val_{name}": v for name, v in result.metrics.items()})
    run.log_params({"val_k": k, "val_min_recall_at_k": min_recall_at_k, "val_min_mrr": min_mrr})
    run.set_tags({"validation_passed": str(result.passed).lower()})
    return result
