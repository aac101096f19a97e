"""Batch inference: answer a file of questions with the champion model, logging every answer.

The model is loaded from the registry as `models:/<name>@<alias>`, the way any MLflow consumer
(a Databricks job, a serving endpoint) would load it.
"""

from __future__ import annotations

import json
import time
import uuid
from pathlib import Path

from rag_code_files import model as rag_model


def load_question_file(path: str | Path) -> list[str]:
    """One question per line (blank lines and '#' comments skipped), or JSON lines with 'question'."""
    out = []
    with open(path, encoding="utf-8") as f:
        for n, line in enumerate(f, start=1):
            line = line.strip()
            if not line or line.startswith("#"):
                continue
            if line.startswith("{"):
                try:
                    line = json.loads(line)["question"]
                except (json.JSONDecodeError, KeyError, TypeError):
                    raise ValueError(f"{path}:{n}: expected a JSON object with a 'question' key") from None
            out.append(line)
    return out


def alias_version(model_name: str, alias: str) -> str:
    """The version behind an alias, or an error saying how an alias gets set."""
    import mlflow
    from mlflow.exceptions import MlflowException

    try:
        return str(mlflow.MlflowClient().get_model_version_by_alias(model_name, alias).version)
    except MlflowException as e:
        raise LookupError(f"model {model_name} has no version with alias {alias!r} (the training job's "
                          f"validation sets it on a version that passes): {e.message}") from None


def run_batch(
    model_name: str,
    questions_path: str | Path,
    log_path: str | Path,
    alias: str = "champion",
    k: int = 3,
    min_score: float = 0.15,
    min_coverage: float = 0.4,
) -> dict:
    import pandas as pd

    version = alias_version(model_name, alias)
    model = rag_model.load(f"models:/{model_name}@{alias}")
    questions = load_question_file(questions_path)
    batch_id = uuid.uuid4().hex[:12]
    log_path = Path(log_path)
    log_path.parent.mkdir(parents=True, exist_ok=True)
    out = model.predict(pd.DataFrame({"question": questions}),
                        params={"k": k, "min_score": min_score, "min_coverage": min_coverage})
    now = time.time()
    records = [
        {"timestamp": now, "batch_id": batch_id, "model_name": model_name, "model_version": int(version),
         "question": q, "answer": row.answer, "sources": json.loads(row.sources),
         "top_score": float(row.top_score), "no_answer": bool(row.no_answer), "latency_ms": float(row.latency_ms)}
        for q, row in zip(questions, out.itertuples(index=False))
    ]
    # Appended in one write so that a batch is either in the log or not.
    with open(log_path, "a", encoding="utf-8") as f:
        f.write("".join(json.dumps(r) + "\n" for r in records))
    return {"batch_id": batch_id, "model_version": int(version), "questions": len(records),
            "no_answers": sum(r["no_answer"] for r in records), "log_path": str(log_path)}
