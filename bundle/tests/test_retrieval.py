import json

import pytest

from rag_code_files.answer import NO_ANSWER, answer_question
from rag_code_files.embedding import TfidfEmbedder, dot
from rag_code_files.index import VectorIndex
from rag_code_files.retrieval import retrieve_chunks, retrieve_documents


def test_embedding_is_unit_length_and_unknown_terms_vanish():
    emb = TfidfEmbedder().fit(["red apples", "green pears", "red wine"])
    v = emb.embed("red apples and apples")
    assert abs(dot(v, v) - 1.0) < 1e-9
    assert emb.embed("zebra") == {}
    # A rarer term weighs more than a common one.
    assert v["appl"] > v["red"]


def test_empty_corpus_is_an_error():
    with pytest.raises(ValueError):
        TfidfEmbedder().fit([])
    with pytest.raises(ValueError):
        VectorIndex.build([])


@pytest.mark.parametrize(
    "question,expected",
    [
        ("how long should green tea brew?", "tea"),
        ("my bicycle has a flat tyre", "bikes"),
        ("which pet barks at strangers", "dogs"),
        ("do felines purr", "cats"),
    ],
)
def test_top1_document_on_tiny_corpus(tiny_index, question, expected):
    docs = retrieve_documents(tiny_index, question, k=2)
    assert docs[0].doc_id == expected
    assert docs[0].score > 0


def test_results_are_ranked_distinct_and_bounded(tiny_index):
    docs = retrieve_documents(tiny_index, "cats dogs tea bicycle", k=3)
    assert len(docs) == 3
    assert len({d.doc_id for d in docs}) == 3
    assert [d.score for d in docs] == sorted((d.score for d in docs), reverse=True)
    assert retrieve_documents(tiny_index, "cats", k=0) == []
    hits = retrieve_chunks(tiny_index, "tea", k=1)
    assert len(hits) == 1 and hits[0].chunk.doc_id == "tea"


def test_no_shared_term_returns_nothing(tiny_index):
    assert retrieve_documents(tiny_index, "quantum chromodynamics", k=3) == []


def test_index_round_trips_through_disk(tiny_index, tmp_path):
    tiny_index.save(tmp_path / "idx")
    loaded = VectorIndex.load(tmp_path / "idx")
    q = "green tea water"
    assert [(h.chunk.chunk_id, round(h.score, 12)) for h in loaded.search(q, 5)] == [
        (h.chunk.chunk_id, round(h.score, 12)) for h in tiny_index.search(q, 5)
    ]
    assert loaded.term_counts == tiny_index.term_counts


def test_corrupted_index_is_detected(tiny_index, tmp_path):
    folder = tiny_index.save(tmp_path / "idx")
    body = json.loads((folder / "index.json").read_text())
    body["chunks"][0]["text"] = "tampered"
    (folder / "index.json").write_text(json.dumps(body, sort_keys=True))
    with pytest.raises(ValueError, match="checksum"):
        VectorIndex.load(folder)
    with pytest.raises(FileNotFoundError):
        VectorIndex.load(tmp_path / "missing")


def test_answer_cites_its_sources(tiny_index):
    ans = answer_question(tiny_index, "What temperature for green tea?", k=3, min_score=0.1)
    assert not ans.no_answer
    assert ans.sources == ["tea"]
    assert "eighty degrees" in ans.text and "[tea]" in ans.text


def test_documents_are_rebuilt_exactly_from_their_windows(tiny_docs, tiny_index):
    for doc in tiny_docs:
        assert tiny_index.document_words(doc["id"]) == doc["text"].split()
    assert tiny_index.document_words("missing") == []


def test_answers_are_whole_sentences_even_across_window_boundaries():
    from rag_code_files.chunking import chunk_documents

    text = ("Alpha beta gamma delta. The reimbursement limit for hotel rooms is ninety euros per night "
            "in every city. Omega psi chi.")
    index = VectorIndex.build(chunk_documents([{"id": "d", "title": "", "text": text}], 6, 2))
    ans = answer_question(index, "hotel reimbursement limit per night", k=1, min_score=0.0, max_sentences=1)
    assert ans.text == ("The reimbursement limit for hotel rooms is ninety euros per night in every city. [d]")


def test_one_rare_word_in_common_is_not_an_answer(tiny_index):
    question = "purr recipe banana bread oven"
    assert retrieve_documents(tiny_index, question, 1)[0].doc_id == "cats"
    assert answer_question(tiny_index, question, min_score=0.0, min_coverage=0.4).no_answer
    assert not answer_question(tiny_index, question, min_score=0.0, min_coverage=0.2).no_answer


def test_unanswerable_question_gives_no_answer(tiny_index):
    ans = answer_question(tiny_index, "stock market forecast", k=3, min_score=0.1)
    assert ans.no_answer and ans.text == NO_ANSWER and ans.sources == []


def test_min_score_threshold_turns_weak_matches_into_no_answer(tiny_index):
    strong = answer_question(tiny_index, "patch inner tube", min_score=0.0)
    assert not strong.no_answer
    assert answer_question(tiny_index, "patch inner tube", min_score=strong.top_score + 0.01).no_answer
