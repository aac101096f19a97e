"""The served model: an MLflow `pyfunc` wrapping the vector index and the retriever/answerer.

Input: a table with a `question` column. Output: one row per question with the answer, its cited
sources (a JSON list of document ids), the best document score, whether there was no answer, and
the time the model took for that question. `k`, `min_score` and `min_coverage` are inference
parameters (part of the signature, so Unity Catalog accepts the model and callers may tune them).
"""

from __future__ import annotations

import json
import time
import warnings
from pathlib import Path

from rag_code_files import mlflow_store  # noqa: F401  (turns telemetry off before mlflow loads)

import mlflow  # noqa: E402

from rag_code_files.answer import answer_question
from rag_code_files.index import VectorIndex

INDEX_ARTIFACT = "index"
MODEL_ARTIFACT = "model"
DEFAULT_PARAMS = {"k": 3, "min_score": 0.15, "min_coverage": 0.4}
CODE_DIR = Path(__file__).resolve().parent

# MLflow suggests type hints on `predict` (its newer input validation); the model has a signature,
# which is what Unity Catalog needs and what serving validates against.
warnings.filterwarnings("ignore", message=r".*Add type hints to the `predict` method")


class RagModel(mlflow.pyfunc.PythonModel):
    def __init__(self):
        self.index: VectorIndex | None = None

    def load_context(self, context):
        self.index = VectorIndex.load(context.artifacts[INDEX_ARTIFACT])

    def predict(self, context, model_input, params=None):
        import pandas as pd

        p = {**DEFAULT_PARAMS, **(params or {})}
        rows = []
        for question in _questions(model_input):
            started = time.perf_counter()
            ans = answer_question(self.index, question, k=int(p["k"]), min_score=float(p["min_score"]),
                                  min_coverage=float(p["min_coverage"]))
            rows.append({"answer": ans.text, "sources": json.dumps(ans.sources),
                         "top_score": round(ans.top_score, 6), "no_answer": ans.no_answer,
                         "latency_ms": round((time.perf_counter() - started) * 1000.0, 3)})
        return pd.DataFrame(rows, columns=["answer", "sources", "top_score", "no_answer", "latency_ms"])


def _questions(model_input) -> list[str]:
    if hasattr(model_input, "columns"):
        return [str(q) for q in model_input["question"]]
    return [str(q["question"]) if isinstance(q, dict) else str(q) for q in model_input]


def signature():
    from mlflow.models import ModelSignature
    from mlflow.types import ColSpec, ParamSchema, ParamSpec, Schema

    return ModelSignature(
        inputs=Schema([ColSpec("string", "question")]),
        outputs=Schema([ColSpec("string", "answer"), ColSpec("string", "sources"),
                        ColSpec("double", "top_score"), ColSpec("boolean", "no_answer"),
                        ColSpec("double", "latency_ms")]),
        params=ParamSchema([ParamSpec("k", "long", DEFAULT_PARAMS["k"]),
                            ParamSpec("min_score", "double", DEFAULT_PARAMS["min_score"]),
                            ParamSpec("min_coverage", "double", DEFAULT_PARAMS["min_coverage"])]),
    )


def log_model(index_dir: str | Path):
    """Log the model into the active run.

    The package's own code goes with the model (`code_paths`), so it loads wherever MLflow runs,
    not only next to this bundle. Requirements are given, not inferred: inference imports the model
    in a subprocess and costs seconds for nothing.
    """
    kwargs = {"name": MODEL_ARTIFACT} if _mlflow_major() >= 3 else {"artifact_path": MODEL_ARTIFACT}
    return mlflow.pyfunc.log_model(
        python_model=RagModel(),
        artifacts={INDEX_ARTIFACT: str(index_dir)},
        code_paths=[str(CODE_DIR)],
        signature=signature(),
        pip_requirements=[f"mlflow-skinny=={mlflow.__version__}", "pandas", "numpy"],
        **kwargs,
    )


def _mlflow_major() -> int:
    # Databricks runtimes ship their own MLflow (2.x on 15.4 ML): `name=` is MLflow 3's spelling.
    return int(mlflow.__version__.split(".")[0])


def load(model_uri: str) -> mlflow.pyfunc.PyFuncModel:
    return mlflow.pyfunc.load_model(model_uri)


def served_index(model: mlflow.pyfunc.PyFuncModel) -> VectorIndex:
    """The index inside a loaded model (monitoring compares queries with its corpus)."""
    return model.unwrap_python_model().index
