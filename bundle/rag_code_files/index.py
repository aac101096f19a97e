"""A vector index over chunks, saved to and loaded from a folder."""

from __future__ import annotations

import hashlib
import json
from collections import Counter, defaultdict
from dataclasses import dataclass
from pathlib import Path

from rag_code_files.chunking import Chunk
from rag_code_files.embedding import SparseVector, TfidfEmbedder
from rag_code_files.paths import atomic_write_text
from rag_code_files.text import tokenize

INDEX_FILE = "index.json"
FORMAT_VERSION = 2


@dataclass(frozen=True)
class Hit:
    chunk: Chunk
    score: float


class VectorIndex:
    def __init__(
        self,
        embedder: TfidfEmbedder,
        chunks: list[Chunk],
        vectors: list[SparseVector],
        params: dict | None = None,
        term_counts: dict[str, int] | None = None,
    ):
        if len(chunks) != len(vectors):
            raise ValueError("chunks and vectors differ in length")
        self.embedder = embedder
        self.chunks = chunks
        self.vectors = vectors
        self.params = dict(params or {})
        # Corpus term frequencies: the training distribution that monitoring compares queries with.
        self.term_counts = dict(term_counts or {})
        self._doc_words: dict[str, list[str]] | None = None
        self._postings: dict[str, list[tuple[int, float]]] = defaultdict(list)
        for i, vec in enumerate(vectors):
            for term, w in vec.items():
                self._postings[term].append((i, w))

    @classmethod
    def build(cls, chunks: list[Chunk], params: dict | None = None) -> "VectorIndex":
        if not chunks:
            raise ValueError("cannot build an index without chunks")
        texts = [_indexed_text(c) for c in chunks]
        embedder = TfidfEmbedder().fit(texts)
        counts: Counter[str] = Counter()
        for t in texts:
            counts.update(tokenize(t))
        return cls(embedder, chunks, [embedder.embed(t) for t in texts], params, dict(counts))

    def search(self, query: str, k: int) -> list[Hit]:
        """Top-k chunks by cosine similarity; chunks sharing no term with the query are not returned."""
        if k <= 0:
            return []
        qvec = self.embedder.embed(query)
        scores: dict[int, float] = defaultdict(float)
        for term, qw in qvec.items():
            for i, w in self._postings.get(term, ()):
                scores[i] += qw * w
        # Ties broken by chunk id so that results are reproducible.
        ranked = sorted(scores.items(), key=lambda iv: (-iv[1], self.chunks[iv[0]].chunk_id))
        return [Hit(self.chunks[i], s) for i, s in ranked[:k] if s > 0]

    @property
    def doc_ids(self) -> list[str]:
        return sorted({c.doc_id for c in self.chunks})

    def document_words(self, doc_id: str) -> list[str]:
        """The document's words, put back together from its windows (which cover it entirely)."""
        if self._doc_words is None:
            rebuilt: dict[str, list[str]] = {}
            for c in self.chunks:
                words = rebuilt.setdefault(c.doc_id, [])
                if len(words) < c.end:
                    words.extend([""] * (c.end - len(words)))
                words[c.start : c.end] = c.text.split()
            self._doc_words = rebuilt
        return self._doc_words.get(doc_id, [])

    def save(self, folder: str | Path) -> Path:
        folder = Path(folder)
        folder.mkdir(parents=True, exist_ok=True)
        body = {
            "format_version": FORMAT_VERSION,
            "params": self.params,
            "embedder": self.embedder.to_dict(),
            "chunks": [c.to_dict() for c in self.chunks],
            "vectors": self.vectors,
            "term_counts": self.term_counts,
        }
        text = json.dumps(body, sort_keys=True)
        atomic_write_text(folder / INDEX_FILE, text)
        manifest = {
            "format_version": FORMAT_VERSION,
            "sha256": hashlib.sha256(text.encode()).hexdigest(),
            "num_chunks": len(self.chunks),
            "num_documents": len(self.doc_ids),
        }
        atomic_write_text(folder / "manifest.json", json.dumps(manifest, indent=2) + "\n")
        return folder

    @classmethod
    def load(cls, folder: str | Path) -> "VectorIndex":
        folder = Path(folder)
        path = folder / INDEX_FILE
        try:
            text = path.read_text(encoding="utf-8")
        except FileNotFoundError:
            raise FileNotFoundError(f"no index at {path}") from None
        manifest_path = folder / "manifest.json"
        if manifest_path.exists():
            expected = json.loads(manifest_path.read_text())["sha256"]
            if hashlib.sha256(text.encode()).hexdigest() != expected:
                raise ValueError(f"index {path} does not match its manifest checksum")
        body = json.loads(text)
        if body.get("format_version") != FORMAT_VERSION:
            raise ValueError(f"index {path}: unsupported format_version {body.get('format_version')}")
        return cls(
            TfidfEmbedder.from_dict(body["embedder"]),
            [Chunk.from_dict(c) for c in body["chunks"]],
            body["vectors"],
            body.get("params"),
            body.get("term_counts"),
        )


def _indexed_text(chunk: Chunk) -> str:
    # The title is part of every chunk's text: it names the topic even when the window does not.
    return f"{chunk.title}. {chunk.text}" if chunk.title else chunk.text
