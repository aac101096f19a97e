"""Tokenisation shared by indexing, retrieval, answer assembly and drift monitoring."""

from __future__ import annotations

import re

_TOKEN = re.compile(r"[a-z0-9]+(?:[-'][a-z0-9]+)*")
_SENTENCE_END = re.compile(r"[.!?][\"')\]]*$")

STOPWORDS = frozenset(
    """a about above after again against all also am an and any are as at be because been before being
    below between both but by can could did do does doing don down during each few for from further get
    got had has have having he her here hers herself him himself his how i if in into is it its itself
    just me more most my myself no nor not now of off on once only or other our ours ourselves out over
    own same she should so some such than that the their theirs them themselves then there these they
    this those through to too under until up very was we were what when where which while who whom why
    will with would you your yours yourself yourselves must may might shall what's i'm""".split()
)


def stem(word: str) -> str:
    """A deliberately small suffix stripper: enough to match 'deployments' with 'deploy' and
    'approved' with 'approve'. Short words are left alone."""
    if len(word) <= 3:
        return word
    if word.endswith("ies") and len(word) > 4:
        word = word[:-3] + "y"
    elif word.endswith("sses"):
        word = word[:-2]
    elif word.endswith("es") and word[:-2].endswith(("s", "x", "z", "ch", "sh")):
        word = word[:-2]
    elif word.endswith("s") and not word.endswith(("ss", "us", "is")):
        word = word[:-1]
    for suffix in ("ing", "ed"):
        if word.endswith(suffix) and len(word) - len(suffix) >= 3:
            word = word[: -len(suffix)]
            break
    if word.endswith("ment") and len(word) > 7:
        word = word[:-4]
    if word.endswith("e") and len(word) > 4:
        word = word[:-1]
    return word


def tokenize(text: str) -> list[str]:
    """Lower-case word tokens without stopwords, stemmed."""
    out = []
    for tok in _TOKEN.findall(text.lower()):
        tok = tok.replace("'", "")
        if tok in STOPWORDS or len(tok) < 2:
            continue
        out.append(stem(tok))
    return out


def sentence_spans(word_list: list[str]) -> list[tuple[int, int]]:
    """Word spans [start, end) of the sentences in a list of words: a sentence ends at a word ending
    in '.', '!' or '?' (closing quotes or brackets allowed)."""
    spans, start = [], 0
    for i, w in enumerate(word_list):
        if _SENTENCE_END.search(w):
            spans.append((start, i + 1))
            start = i + 1
    if start < len(word_list):
        spans.append((start, len(word_list)))
    return spans


def words(text: str) -> list[str]:
    """Whitespace words, keeping punctuation: the unit chunk sizes are counted in."""
    return text.split()
