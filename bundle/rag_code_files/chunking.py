"""Split documents into overlapping word windows."""

from __future__ import annotations

from dataclasses import asdict, dataclass

from rag_code_files.text import words


@dataclass(frozen=True)
class Chunk:
    chunk_id: str
    doc_id: str
    title: str
    position: int
    text: str
    # Word offsets [start, end) of the window in the document text: answer assembly maps
    # retrieved windows back to whole sentences of the document.
    start: int = 0
    end: int = 0

    def to_dict(self) -> dict:
        return asdict(self)

    @classmethod
    def from_dict(cls, d: dict) -> "Chunk":
        return cls(**d)


def chunk_spans(n_words: int, chunk_size: int, overlap: int) -> list[tuple[int, int]]:
    """Word spans [start, end) of windows of `chunk_size` words, each sharing `overlap` words with
    the previous one.

    The last window is anchored to the end of the text so that no tail is lost and no window is a
    pure subset of its predecessor.
    """
    if chunk_size <= 0:
        raise ValueError(f"chunk_size must be positive, got {chunk_size}")
    if overlap < 0 or overlap >= chunk_size:
        raise ValueError(f"overlap must be in [0, chunk_size), got {overlap} for chunk_size {chunk_size}")
    if n_words == 0:
        return []
    if n_words <= chunk_size:
        return [(0, n_words)]
    step = chunk_size - overlap
    spans = []
    start = 0
    while True:
        end = start + chunk_size
        if end >= n_words:
            # Last window: end-aligned, so it still holds chunk_size words.
            spans.append((n_words - chunk_size, n_words))
            break
        spans.append((start, end))
        start += step
    return spans


def chunk_text(text: str, chunk_size: int, overlap: int) -> list[str]:
    """The windows of `chunk_spans` as text (words joined by single spaces)."""
    tokens = words(text)
    return [" ".join(tokens[a:b]) for a, b in chunk_spans(len(tokens), chunk_size, overlap)]


def chunk_document(doc: dict, chunk_size: int, overlap: int) -> list[Chunk]:
    tokens = words(doc["text"])
    return [
        Chunk(
            chunk_id=f"{doc['id']}#{i}",
            doc_id=doc["id"],
            title=doc.get("title", ""),
            position=i,
            text=" ".join(tokens[a:b]),
            start=a,
            end=b,
        )
        for i, (a, b) in enumerate(chunk_spans(len(tokens), chunk_size, overlap))
    ]


def chunk_documents(docs: list[dict], chunk_size: int, overlap: int) -> list[Chunk]:
    out: list[Chunk] = []
    for doc in docs:
        out.extend(chunk_document(doc, chunk_size, overlap))
    return out
