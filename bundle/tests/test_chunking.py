import pytest

from rag_code_files.chunking import chunk_document, chunk_documents, chunk_text
from rag_code_files.text import sentence_spans, stem, tokenize


def words(n):
    return " ".join(f"w{i}" for i in range(n))


def test_empty_and_whitespace_text_give_no_chunks():
    assert chunk_text("", 10, 2) == []
    assert chunk_text("   \n\t ", 10, 2) == []


def test_short_text_is_one_chunk():
    assert chunk_text("one two three", 10, 2) == ["one two three"]


def test_exact_size_is_one_chunk():
    assert chunk_text(words(10), 10, 3) == [words(10)]


def test_windows_overlap_by_the_requested_number_of_words():
    chunks = [c.split() for c in chunk_text(words(25), 10, 3)]
    assert chunks[0] == [f"w{i}" for i in range(10)]
    assert [c[0] for c in chunks] == ["w0", "w7", "w14", "w15"]
    for prev, nxt in zip(chunks[:-1], chunks[1:-1]):
        assert prev[-3:] == nxt[:3]
    # The end-aligned last window overlaps its predecessor by at least the requested amount.
    assert all(len(c) == 10 for c in chunks)
    assert len(set(chunks[-2]) & set(chunks[-1])) >= 3
    # Every word is covered and the last window ends at the end of the text.
    assert set(w for c in chunks for w in c) == set(words(25).split())
    assert chunks[-1][-1] == "w24"


def test_last_window_is_end_aligned_not_a_stub():
    chunks = chunk_text(words(12), 10, 2)
    assert chunks == [words(10), " ".join(f"w{i}" for i in range(2, 12))]


def test_zero_overlap_partitions():
    chunks = chunk_text(words(20), 5, 0)
    assert chunks == [" ".join(f"w{i}" for i in range(s, s + 5)) for s in range(0, 20, 5)]


@pytest.mark.parametrize("size,overlap", [(0, 0), (-1, 0), (5, 5), (5, 7), (5, -1)])
def test_invalid_parameters_are_rejected(size, overlap):
    with pytest.raises(ValueError):
        chunk_text(words(20), size, overlap)


def test_chunk_ids_positions_and_titles():
    doc = {"id": "d1", "title": "T", "text": words(30)}
    chunks = chunk_document(doc, 10, 2)
    assert [c.chunk_id for c in chunks] == [f"d1#{i}" for i in range(len(chunks))]
    assert all(c.doc_id == "d1" and c.title == "T" for c in chunks)
    assert len(chunk_documents([doc, {"id": "d2", "text": "x"}], 10, 2)) == len(chunks) + 1


def test_tokenize_drops_stopwords_and_stems():
    assert tokenize("The deployments are approved!") == ["deploy", "approv"]
    assert stem("policies") == "policy"
    assert stem("bus") == "bus"  # too short to strip
    assert stem("approve") == stem("approved") == stem("approves")
    assert stem("outage") == stem("outages")
    assert stem("boxes") == "box" and stem("status") == "status"


def test_sentence_spans():
    ws = 'One. Two? Three! "Quoted." (Aside.) trailing words'.split()
    assert [" ".join(ws[a:b]) for a, b in sentence_spans(ws)] == [
        "One.", "Two?", "Three!", '"Quoted."', "(Aside.)", "trailing words"]
    assert sentence_spans([]) == []


def test_chunks_carry_their_word_spans():
    doc = {"id": "d", "text": words(23)}
    chunks = chunk_document(doc, 10, 3)
    tokens = words(23).split()
    assert [(c.start, c.end) for c in chunks] == [(0, 10), (7, 17), (13, 23)]
    assert all(c.text == " ".join(tokens[c.start : c.end]) for c in chunks)
