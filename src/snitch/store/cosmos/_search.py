"""Keyword search without a full-text index: stemmed terms kept on each message.

Cosmos DB's full-text search is a preview feature that the local test server lacks, so
every message document carries ``terms``, the distinct stems of its words, lowercase.
A search is one parameterised single-partition query (``EXISTS`` over ``terms``, which
the array index serves) that also returns which of the wanted stems each message holds;
ranking happens here: more distinct terms first, then rarer terms, then shorter messages
(the two ideas of BM25 that matter for chat lines), then id for a stable order.
"""

from __future__ import annotations

import math
import re
from collections import Counter
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Final

# Words as Unicode letters and digits; everything else (quotes, operators, ``:``) only
# separates words, so search terms can never be syntax.
_WORD: Final = re.compile(r"[^\W_]+")
# Shorter words are kept whole: stripping "s" from "was" or "is" only makes noise.
_MIN_STEM: Final = 3
_VOWELS: Final = frozenset("aeiouy")


def stem(word: str) -> str:
    """A light English suffix stemmer (a few rules in the spirit of Porter's step 1), so
    that "promised", "promises", "promising" and "promise" all become "promis".

    Deliberately small: it only has to map a word and its inflections to the same key,
    for both the stored messages and the search terms; it never has to be a real word.
    """
    word = word.lower()
    if len(word) <= _MIN_STEM:
        return word
    if word.endswith("sses"):
        word = word[:-2]
    elif word.endswith("ies") and len(word) > 4:
        word = word[:-3] + "y"
    elif word.endswith("s") and not word.endswith(("ss", "us", "is")):
        word = word[:-1]
    for suffix in ("ing", "ed"):
        base = word[: -len(suffix)]
        if word.endswith(suffix) and len(base) >= _MIN_STEM and any(ch in _VOWELS for ch in base):
            word = base
            # "stopped" -> "stopp" -> "stop"; but "fall", "miss", "buzz" keep theirs.
            if len(word) > _MIN_STEM and word[-1] == word[-2] and word[-1] not in "lsz":
                word = word[:-1]
            break
    if word.endswith("e") and len(word) > _MIN_STEM:
        word = word[:-1]
    return word


def terms_of(text: str) -> list[str]:
    """The distinct stems of a text, sorted (so a re-import writes identical documents)."""
    return sorted({stem(word) for word in _WORD.findall(text)})


def query_terms(terms: Iterable[str]) -> list[str]:
    """The stems to look for: every word of every term, as ``terms_of`` would store it.
    A term of several words matches any of them (no phrase search)."""
    wanted: dict[str, None] = {}
    for term in terms:
        for word in _WORD.findall(term):
            wanted[stem(word)] = None
    return list(wanted)


@dataclass(frozen=True)
class Hit:
    """A message that holds some of the wanted stems."""

    message_id: str
    matched: frozenset[str]
    length: int


def rank(hits: Sequence[Hit], limit: int) -> list[str]:
    """The ids of the best ``limit`` hits: most distinct terms, rarer terms, shorter."""
    frequency: Counter[str] = Counter(term for hit in hits for term in hit.matched)
    total = len(hits)

    def weight(hit: Hit) -> float:
        return sum(math.log(1 + total / frequency[term]) for term in hit.matched)

    ordered = sorted(hits, key=lambda h: (-len(h.matched), -weight(h), h.length, h.message_id))
    return [hit.message_id for hit in ordered[:limit]]
