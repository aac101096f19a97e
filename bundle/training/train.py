"""Training: chunk the ingested documents, embed them, and record it all as an MLflow run.

The run holds the parameters, the metrics, the index (as an artifact) and the model (a pyfunc
wrapping the index); the model is registered as a new version of the registered model. The new
version is only a candidate: validation decides whether it becomes the `champion`.
"""

from __future__ import annotations

import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

from rag_code_files.mlflow_store import Store, experiment_id  # first: telemetry off before mlflow loads

import mlflow  # noqa: E402

from DataStreaming.ingest import read_documents  # noqa: E402
from rag_code_files import model as rag_model  # noqa: E402
from rag_code_files.chunking import chunk_documents  # noqa: E402
from rag_code_files.index import VectorIndex  # noqa: E402


@dataclass
class TrainResult:
    run_id: str
    model_uri: str
    model_name: str
    model_version: str
    metrics: dict


def train(
    table_path: str | Path,
    store: Store,
    experiment_name: str,
    model_name: str,
    chunk_size: int = 60,
    chunk_overlap: int = 15,
    tags: dict | None = None,
) -> TrainResult:
    docs = read_documents(table_path)
    if not docs:
        raise ValueError(f"the documents table {table_path} is empty; nothing to train on")
    params = {
        "chunk_size": chunk_size,
        "chunk_overlap": chunk_overlap,
        "embedding": "tfidf-sublinear",
        "table_path": str(table_path),
    }
    exp = experiment_id(store, experiment_name)
    # The context manager ends the run FAILED when the body raises.
    with mlflow.start_run(experiment_id=exp, tags={k: str(v) for k, v in (tags or {}).items()}) as run:
        mlflow.log_params(params)
        started = time.perf_counter()
        chunks = chunk_documents(docs, chunk_size, chunk_overlap)
        index = VectorIndex.build(chunks, params)
        metrics = {
            "num_documents": len(docs),
            "num_chunks": len(chunks),
            "vocabulary_size": len(index.embedder.idf),
            "build_seconds": round(time.perf_counter() - started, 4),
        }
        mlflow.log_metrics(metrics)
        with tempfile.TemporaryDirectory() as tmp:
            index_dir = index.save(Path(tmp) / rag_model.INDEX_ARTIFACT)
            info = rag_model.log_model(index_dir)
        version = mlflow.register_model(info.model_uri, model_name)
    return TrainResult(run.info.run_id, info.model_uri, model_name, str(version.version), metrics)
