import pytest

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
