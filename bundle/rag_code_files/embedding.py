"""TF-IDF embedding in pure Python: runs anywhere, downloads nothing.

Vectors are sparse dicts term -> weight, L2-normalised, so a dot product is the cosine similarity.
"""

from __future__ import annotations

import math
from collections import Counter

from rag_code_files.text import tokenize

SparseVector = dict[str, float]


class TfidfEmbedder:
    def __init__(self, idf: dict[str, float] | None = None, n_docs: int = 0, sublinear_tf: bool = True):
        self.idf: dict[str, float] = dict(idf or {})
        self.n_docs = n_docs
        self.sublinear_tf = sublinear_tf

    def fit(self, texts: list[str]) -> "TfidfEmbedder":
        if not texts:
            raise ValueError("cannot fit an embedding on an empty corpus")
        df: Counter[str] = Counter()
        for text in texts:
            df.update(set(tokenize(text)))
        self.n_docs = len(texts)
        # Smoothed idf (as in common TF-IDF implementations): a term in every text still weighs 1.
        self.idf = {t: math.log((1 + self.n_docs) / (1 + c)) + 1.0 for t, c in df.items()}
        return self

    def embed(self, text: str) -> SparseVector:
        counts = Counter(t for t in tokenize(text) if t in self.idf)
        vec = {}
        for term, c in counts.items():
            tf = 1.0 + math.log(c) if self.sublinear_tf else float(c)
            vec[term] = tf * self.idf[term]
        norm = math.sqrt(sum(w * w for w in vec.values()))
        return {t: w / norm for t, w in vec.items()} if norm else {}

    def to_dict(self) -> dict:
        return {"kind": "tfidf", "n_docs": self.n_docs, "sublinear_tf": self.sublinear_tf, "idf": self.idf}

    @classmethod
    def from_dict(cls, d: dict) -> "TfidfEmbedder":
        if d.get("kind") != "tfidf":
            raise ValueError(f"unknown embedding kind {d.get('kind')!r}")
        return cls(idf=d["idf"], n_docs=d["n_docs"], sublinear_tf=d.get("sublinear_tf", True))


def dot(a: SparseVector, b: SparseVector) -> float:
    if len(a) > len(b):
        a, b = b, a
    return sum(w * b.get(t, 0.0) for t, w in a.items())
