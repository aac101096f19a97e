"""Batch inference: answer a file of questions with the champion model, logging every answer."""

from __future__ import annotations

import json
import time
import uuid
from pathlib import Path

from deployment.registry import LocalModelRegistry
from rag_code_files.answer import answer_question
from rag_code_files.index import VectorIndex


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


def run_batch(
    registry: LocalModelRegistry,
    model_name: str,
    questions_path: str | Path,
    log_path: str | Path,
    alias: str = "champion",
    k: int = 3,
    min_score: float = 0.15,
    min_coverage: float = 0.4,
) -> dict:
    version = registry.get_by_alias(model_name, alias)
    index = VectorIndex.load(version["artifact_path"])
    questions = load_question_file(questions_path)
    batch_id = uuid.uuid4().hex[:12]
    log_path = Path(log_path)
    log_path.parent.mkdir(parents=True, exist_ok=True)
    records = []
    for q in questions:
        started = time.perf_counter()
        ans = answer_question(index, q, k=k, min_score=min_score, min_coverage=min_coverage)
        latency_ms = (time.perf_counter() - started) * 1000.0
        records.append({
            "timestamp": time.time(), "batch_id": batch_id, "model_name": model_name,
            "model_version": version["version"], "question": q, "answer": ans.text,
            "sources": ans.sources, "top_score": round(ans.top_score, 6), "no_answer": ans.no_answer,
            "latency_ms": round(latency_ms, 3),
        })
    # Appended in one write so that a batch is either in the log or not.
    with open(log_path, "a", encoding="utf-8") as f:
        f.write("".join(json.dumps(r) + "\n" for r in records))
    return {"batch_id": batch_id, "model_version": version["version"], "questions": len(records),
            "no_answers": sum(r["no_answer"] for r in records), "log_path": str(log_path)}
