"""Assemble an answer from retrieved chunks, citing its sources.

Generation here is extractive: the sentences of the retrieved chunks that best cover the question,
each followed by the id of its document. That keeps the project light (no model download) while the
interface is the one an LLM-backed generator would have: question + retrieved context -> cited answer.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field

from rag_code_files.index import VectorIndex
from rag_code_files.retrieval import retrieve_documents
from rag_code_files.text import sentence_spans, tokenize

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
    min_coverage: float = 0.4,
    max_sentences: int = 2,
    relative_cutoff: float = 0.75,
) -> Answer:
    """Answer from the top-k documents, or say there is no answer.

    No answer when the best document scores below `min_score`, or contains less than
    `min_coverage` of the question's terms (a single rare word in common is not a match).
    Sentences come from the retrieved windows, widened to whole sentences of their document, and
    only from documents scoring at least `relative_cutoff` times the best one, so that a weakly
    related document does not leak into a confident answer.
    """
    docs = retrieve_documents(index, question, k)
    top_score = docs[0].score if docs else 0.0
    q_terms = set(tokenize(question))
    if not docs or top_score < min_score:
        return Answer(question, NO_ANSWER, [], top_score, True)
    top_words = index.document_words(docs[0].doc_id)
    top_terms = set(tokenize(docs[0].title + " " + " ".join(top_words)))
    if len(q_terms & top_terms) < min_coverage * len(q_terms):
        return Answer(question, NO_ANSWER, [], top_score, True)

    idf = index.embedder.idf
    candidates = []  # (weight, -doc rank, -sentence start, sentence, doc_id, rank, start)
    floor = max(min_score, relative_cutoff * top_score)
    for rank, doc in enumerate(docs):
        if doc.score < floor:
            continue
        doc_words = index.document_words(doc.doc_id)
        windows = [(h.chunk.start, h.chunk.end) for h in doc.chunks]
        for a, b in sentence_spans(doc_words):
            if not any(a < we and ws < b for ws, we in windows):
                continue  # not part of what was retrieved
            sentence = " ".join(doc_words[a:b])
            weight = sum(idf.get(t, 0.0) for t in q_terms & set(tokenize(sentence)))
            if weight > 0:
                candidates.append((weight, -rank, -a, sentence, doc.doc_id, rank, a))
    if not candidates:
        return Answer(question, NO_ANSWER, [], top_score, True)
    candidates.sort(reverse=True)
    # Best sentences, then shown in document order so that the answer reads naturally.
    chosen = sorted(candidates[:max_sentences], key=lambda c: (c[5], c[6]))
    text = " ".join(f"{c[3]} [{c[4]}]" for c in chosen)
    sources = list(dict.fromkeys(c[4] for c in chosen))
    return Answer(question, text, sources, top_score, False)
