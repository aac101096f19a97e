"""Training: chunk the ingested documents, embed them, save the index as the run's artifact."""

from __future__ import annotations

import time
from dataclasses import dataclass
from pathlib import Path

from DataStreaming.ingest import read_documents
from rag_code_files.chunking import chunk_documents
from rag_code_files.index import VectorIndex
from training.tracking import ExperimentTracker

INDEX_ARTIFACT = "index"


@dataclass
class TrainResult:
    run_id: str
    index_path: Path
    metrics: dict


def train(
    table_path: str | Path,
    tracking_root: str | Path,
    experiment_name: str,
    chunk_size: int = 60,
    chunk_overlap: int = 15,
    tags: dict | None = None,
) -> TrainResult:
    docs = read_documents(table_path)
    if not docs:
        raise ValueError(f"the documents table {table_path} is empty; nothing to train on")
    tracker = ExperimentTracker(tracking_root, experiment_name)
    params = {
        "chunk_size": chunk_size,
        "chunk_overlap": chunk_overlap,
        "embedding": "tfidf-sublinear",
        "table_path": str(table_path),
    }
    run = tracker.start_run(params, tags)
    try:
        started = time.perf_counter()
        chunks = chunk_documents(docs, chunk_size, chunk_overlap)
        index = VectorIndex.build(chunks, params)
        index_path = index.save(run.artifact_dir / INDEX_ARTIFACT)
        metrics = {
            "num_documents": len(docs),
            "num_chunks": len(chunks),
            "vocabulary_size": len(index.embedder.idf),
            "build_seconds": round(time.perf_counter() - started, 4),
        }
        run.log_metrics(metrics)
        run.log_artifact_path(INDEX_ARTIFACT, index_path)
        run.finish("FINISHED")
    except BaseException:
        run.finish("FAILED")
        raise
    return TrainResult(run.run_id, index_path, metrics)
