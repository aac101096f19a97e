"""Top-k retrieval of chunks and of documents."""

from __future__ import annotations

from dataclasses import dataclass

from rag_code_files.index import Hit, VectorIndex


@dataclass(frozen=True)
class DocHit:
    doc_id: str
    title: str
    score: float
    chunks: tuple[Hit, ...]


def retrieve_chunks(index: VectorIndex, question: str, k: int) -> list[Hit]:
    return index.search(question, k)


def retrieve_documents(index: VectorIndex, question: str, k: int, fanout: int = 4) -> list[DocHit]:
    """Top-k distinct documents, each scored by its best chunk.

    Several chunks of one document may rank high, so more chunks than k are fetched (`fanout` times
    as many) before grouping.
    """
    if k <= 0:
        return []
    hits = index.search(question, k * fanout)
    grouped: dict[str, list[Hit]] = {}
    for h in hits:
        grouped.setdefault(h.chunk.doc_id, []).append(h)
    docs = [DocHit(d, hs[0].chunk.title, hs[0].score, tuple(hs)) for d, hs in grouped.items()]
    docs.sort(key=lambda d: (-d.score, d.doc_id))
    return docs[:k]
