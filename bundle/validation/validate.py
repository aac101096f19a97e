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


def latest_version(model_name: str) -> str:
    """The newest version of a registered model (validation run outside a job validates it)."""
    import mlflow

    versions = mlflow.MlflowClient().search_model_versions(f"name = '{model_name}'")
    if not versions:
        raise RuntimeError(f"model {model_name} has no version; run the Train task first")
    return str(max(int(v.version) for v in versions))


def validate_version(model_name: str, version: str, questions_path, k: int, min_recall_at_k: float,
                     min_mrr: float, alias: str = "champion", promote_anyway: bool = False) -> ValidationResult:
    """Validate a registered version, record the outcome, and point `alias` at it only if it passed.

    The candidate is loaded from the registry, as batch inference will load it. The metrics go onto
    the run that trained it (`val_` prefix) and the verdict and thresholds onto the version
    (`validation_status`, `validation_min_*` tags). `promote_anyway` is the operator's `dry_run`: report, and move the alias regardless.
    """
    import mlflow

    from rag_code_files import model as rag_model

    client = mlflow.MlflowClient()
    mv = client.get_model_version(model_name, version)
    loaded = rag_model.load(f"models:/{model_name}/{version}")
    result = validate(rag_model.served_index(loaded), load_questions(questions_path), k, min_recall_at_k, min_mrr)
    if mv.run_id:
        # Metrics, not params: a version may be validated again (other thresholds, a new question
        # set), and MLflow refuses to change a logged param.
        for name, value in result.metrics.items():
            client.log_metric(mv.run_id, f"val_{name}", float(value))
    verdict = {"validation_status": "passed" if result.passed else "failed", "validation_k": k,
               "validation_min_recall_at_k": min_recall_at_k, "validation_min_mrr": min_mrr}
    for name, value in verdict.items():
        client.set_model_version_tag(model_name, version, name, str(value))
    if result.passed or promote_anyway:
        client.set_registered_model_alias(model_name, alias, version)
    return result
