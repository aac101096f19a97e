"""Assemble an answer from retrieved chunks, citing its sources.

Generation here is extractive: the sentences of the retrieved chunks that best cover the question,
each followed by the id of its document. That keeps the project light (no model download) while the
interface is the one an LLM-backed generator would have: question + retrieved context -> cited answer.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field

from rag_code_files.index import VectorIndex
from rag_code_files.retrieval import retrieve_documents
from rag_code_files.text import split_sentences, tokenize

NO_ANSWER = "I could not find an answer to that in the document collection."


@dataclass
class Answer:
    question: str
    text: str
    sources: list[str] = field(default_factory=list)
    top_score: float = 0.0
    no_answer: bool = False

    def to_dict(self) -> dict:
        return asdict(self)


def answer_question(
    index: VectorIndex,
    question: str,
    k: int = 3,
    min_score: float = 0.15,
    max_sentences: int = 2,
    relative_cutoff: float = 0.75,
) -> Answer:
    """Answer from the top-k documents; below `min_score` the question counts as unanswerable.

    Sentences are taken only from documents scoring at least `relative_cutoff` times the best one,
    so a weakly related document does not leak into a confident answer.
    """
    docs = retrieve_documents(index, question, k)
    if not docs or docs[0].score < min_score:
        return Answer(question, NO_ANSWER, [], docs[0].score if docs else 0.0, True)
    q_terms = set(tokenize(question))
    candidates = []  # (overlap, doc rank, sentence order, sentence, doc_id)
    floor = max(min_score, relative_cutoff * docs[0].score)
    for rank, doc in enumerate(docs):
        if doc.score < floor:
            continue
        seen = set()
        for hit in doc.chunks:
            for pos, sentence in enumerate(split_sentences(hit.chunk.text)):
                if sentence in seen:  # overlapping windows repeat sentences
                    continue
                seen.add(sentence)
                overlap = len(q_terms & set(tokenize(sentence)))
                if overlap:
                    candidates.append((overlap, -rank, -hit.chunk.position, -pos, sentence, doc.doc_id))
    if not candidates:
        return Answer(question, NO_ANSWER, [], docs[0].score, True)
    candidates.sort(reverse=True)
    chosen = candidates[:max_sentences]
    parts = [f"{c[4]} [{c[5]}]" for c in chosen]
    sources = []
    for c in chosen:
        if c[5] not in sources:
            sources.append(c[5])
    return Answer(question, " ".join(parts), sources, docs[0].score, False)
