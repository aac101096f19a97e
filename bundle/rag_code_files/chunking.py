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

    def to_dict(self) -> dict:
        return asdict(self)

    @classmethod
    def from_dict(cls, d: dict) -> "Chunk":
        return cls(**d)


def chunk_text(text: str, chunk_size: int, overlap: int) -> list[str]:
    """Windows of `chunk_size` words, each sharing `overlap` words with the previous one.

    The last window is anchored to the end of the text so that no tail is lost and no window is a
    pure subset of its predecessor.
    """
    if chunk_size <= 0:
        raise ValueError(f"chunk_size must be positive, got {chunk_size}")
    if overlap < 0 or overlap >= chunk_size:
        raise ValueError(f"overlap must be in [0, chunk_size), got {overlap} for chunk_size {chunk_size}")
    tokens = words(text)
    if not tokens:
        return []
    if len(tokens) <= chunk_size:
        return [" ".join(tokens)]
    step = chunk_size - overlap
    chunks = []
    start = 0
    while True:
        end = start + chunk_size
        if end >= len(tokens):
            # Last window: end-aligned, so it still holds chunk_size words.
            chunks.append(" ".join(tokens[len(tokens) - chunk_size :]))
            break
        chunks.append(" ".join(tokens[start:end]))
        start += step
    return chunks


def chunk_document(doc: dict, chunk_size: int, overlap: int) -> list[Chunk]:
    pieces = chunk_text(doc["text"], chunk_size, overlap)
    return [
        Chunk(
            chunk_id=f"{doc['id']}#{i}",
            doc_id=doc["id"],
            title=doc.get("title", ""),
            position=i,
            text=piece,
        )
        for i, piece in enumerate(pieces)
    ]


def chunk_documents(docs: list[dict], chunk_size: int, overlap: int) -> list[Chunk]:
    out: list[Chunk] = []
    for doc in docs:
        out.extend(chunk_document(doc, chunk_size, overlap))
    return out
