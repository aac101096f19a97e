import pytest

import rag_code_files.mlflow_store  # noqa: F401  (before any test imports mlflow: telemetry off)
from rag_code_files.paths import BUNDLE_ROOT

DATA = BUNDLE_ROOT / "data"

TINY_DOCS = [
    {"id": "cats", "title": "Cats", "text": "Cats are small domestic felines. They purr and chase mice at night."},
    {"id": "dogs", "title": "Dogs", "text": "Dogs are loyal companions. They bark at strangers and love long walks."},
    {"id": "tea", "title": "Green tea", "text": "Green tea is brewed at eighty degrees for two minutes. Boiling water makes it bitter."},
    {"id": "bikes", "title": "Bicycle repair", "text": "To fix a flat tyre, remove the wheel, patch the inner tube and pump it up."},
]


@pytest.fixture
def tiny_docs():
    return [dict(d) for d in TINY_DOCS]


@pytest.fixture
def tiny_index(tiny_docs):
    from rag_code_files.chunking import chunk_documents
    from rag_code_files.index import VectorIndex

    return VectorIndex.build(chunk_documents(tiny_docs, chunk_size=12, overlap=4))


@pytest.fixture
def landing(tmp_path):
    d = tmp_path / "landing"
    d.mkdir()
    return d


@pytest.fixture(scope="session")
def _migrated_store(tmp_path_factory):
    """An empty, fully migrated SQLite MLflow store to copy for each test.

    Creating MLflow's tables runs every Alembic migration (seconds on a busy machine); copying the
    file takes milliseconds. The migrated file is kept in the temp folder, keyed by the MLflow and
    SQLAlchemy versions, so later sessions skip the migrations too.
    """
    import os
    import shutil
    import tempfile
    from pathlib import Path

    import mlflow
    import sqlalchemy

    from rag_code_files.mlflow_store import configure

    cached = Path(tempfile.gettempdir()) / f"rag-mlflow-{mlflow.__version__}-sa{sqlalchemy.__version__}.db"
    if cached.is_file():
        return cached
    root = tmp_path_factory.mktemp("mlflow-template")
    configure(root)
    mlflow.MlflowClient().search_experiments()  # creates and migrates the database
    partial = cached.with_name(f".{cached.name}.{os.getpid()}.tmp")
    shutil.copy(root / "mlflow.db", partial)
    os.replace(partial, cached)  # another session may race us; either copy is complete
    return cached


@pytest.fixture
def mlflow_store(tmp_path, _migrated_store, monkeypatch):
    """A fresh local MLflow store (SQLite + artifact folder) in the test's own folder."""
    import shutil

    from rag_code_files.mlflow_store import configure

    monkeypatch.delenv("MLFLOW_TRACKING_URI", raising=False)
    monkeypatch.delenv("MLFLOW_REGISTRY_URI", raising=False)
    monkeypatch.delenv("DATABRICKS_RUNTIME_VERSION", raising=False)
    root = tmp_path / "mlflow"
    root.mkdir()
    shutil.copy(_migrated_store, root / "mlflow.db")
    return configure(root)


TEST_MODEL = "test.my_mlops_project_luv_v6.rag_index"


@pytest.fixture
def tiny_table(tmp_path, tiny_docs):
    from DataStreaming.ingest import ingest
    from tests.helpers import write_doc

    landing = tmp_path / "tiny-landing"
    landing.mkdir()
    for d in tiny_docs:
        write_doc(landing, f"{d['id']}.json", d)
    ingest(landing, tmp_path / "tiny.db", tmp_path / "tiny-quarantine")
    return tmp_path / "tiny.db"


@pytest.fixture
def candidate(tiny_table, mlflow_store):
    """Version 1 of TEST_MODEL trained on the tiny documents, with no alias yet."""
    from training.train import train

    return train(tiny_table, mlflow_store, "/Shared/test-exp", TEST_MODEL, chunk_size=12, chunk_overlap=4)
