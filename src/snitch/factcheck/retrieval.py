"""Finding the messages that bear on a claim: vector similarity and keywords, fused.

Neither half is enough alone. Embeddings find "I'll bring the gateau" for a claim about
cake, but blur names and numbers; full-text search pins "Friday" and "cake" exactly, but
misses paraphrases. Each half ranks its own candidates and reciprocal rank fusion merges
the two lists, so a message near the top of either, and above all of both, comes first.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Final, Protocol

from snitch.memory.embeddings import Embedder
from snitch.memory.vectors import VectorHit
from snitch.models import Message
from snitch.newsroom.text import STOPWORDS, words
from snitch.store.protocol import Store

# Reciprocal rank fusion's damping constant: 60 is the value of the original paper (Cormack
# et al., 2009) and works without tuning; a larger k flattens the difference between ranks.
RRF_K: Final = 60
# A message by the person the claim names is more likely to settle it.
NAMED_AUTHOR_BOOST: Final = 0.5 / RRF_K
CANDIDATES_PER_HALF: Final = 30
MAX_TERMS: Final = 12
MAX_CLAIM_CHARS: Final = 500


class VectorSearch(Protocol):
    """The part of the vector store retrieval needs (``VectorStore``)."""

    def query(
        self,
        guild_id: str,
        vector: Sequence[float],
        limit: int = 10,
        *,
        channel_ids: Sequence[str] | None = None,
        exclude_authors: Sequence[str] | None = None,
    ) -> list[VectorHit]:
        """A guild's messages nearest to ``vector``, nearest first."""


@dataclass(frozen=True)
class Evidence:
    """One message that bears on the claim, with why it was retrieved."""

    message: Message
    score: float
    similarity: float | None = None  # cosine similarity to the claim, if a vector hit
    keyword_rank: int | None = None  # 1-based rank in the full-text results, if any
    by_named_author: bool = False

    @property
    def jump_url(self) -> str:
        """Where the message is on Discord."""
        return self.message.jump_url


def claim_terms(claim: str) -> list[str]:
    """The claim's content words, in order, for the full-text half."""
    seen: dict[str, None] = {}
    for word in words(claim):
        if word not in STOPWORDS and len(word) > 2 and not word.isdigit():
            seen.setdefault(word, None)
    return list(seen)[:MAX_TERMS]


def _named_in(claim: str, message: Message) -> bool:
    """Whether the claim names the message's author ("did alice ...", "Ali said ...")."""
    claimed = set(words(claim))
    names = {message.author.name, message.author.nickname or ""}
    return any(name and set(words(name)) <= claimed for name in names)


class HybridRetriever:
    """Vector and keyword retrieval over one guild's stored messages."""

    def __init__(
        self,
        store: Store,
        vectors: VectorSearch | None = None,
        embedder: Embedder | None = None,
        *,
        candidates: int = CANDIDATES_PER_HALF,
    ) -> None:
        self._store = store
        # Both or neither: without vectors the keyword half still works alone.
        self._semantic = (vectors, embedder) if vectors and embedder else None
        self._candidates = candidates

    @property
    def semantic(self) -> bool:
        """Whether the vector half runs (the memory is configured)."""
        return self._semantic is not None

    async def retrieve(
        self,
        guild_id: str,
        claim: str,
        limit: int = 8,
        *,
        exclude_authors: Sequence[str] = (),
        admit: Callable[[Message], Message | None] | None = None,
    ) -> list[Evidence]:
        """The ``limit`` messages that best match the claim, best first.

        ``admit`` has the last word on each message read back: None leaves it out (a
        channel the guild excluded), or it returns the message as it may be shown.
        """
        keyword_ids, vector_hits = await asyncio.gather(
            self._store.search(guild_id, claim_terms(claim), self._candidates),
            self._nearest(guild_id, claim, exclude_authors),
        )
        fused: dict[str, float] = {}
        for rank, message_id in enumerate(keyword_ids, start=1):
            fused[message_id] = fused.get(message_id, 0.0) + 1.0 / (RRF_K + rank)
        for rank, hit in enumerate(vector_hits, start=1):
            fused[hit.message_id] = fused.get(hit.message_id, 0.0) + 1.0 / (RRF_K + rank)
        if not fused:
            return []
        keyword_rank = {message_id: rank for rank, message_id in enumerate(keyword_ids, 1)}
        similarity = {hit.message_id: 1.0 - hit.distance for hit in vector_hits}
        excluded = set(exclude_authors)
        # Read from the store, not the vector documents: a message deleted or forgotten
        # since it was indexed must not come back as evidence.
        found = await self._store.messages_by_id(list(fused))
        evidence = []
        for stored in found:
            message = stored if admit is None else admit(stored)
            if message is None or message.author.id in excluded:
                continue
            named = _named_in(claim, message)
            evidence.append(
                Evidence(
                    message=message,
                    score=fused[message.id] + (NAMED_AUTHOR_BOOST if named else 0.0),
                    similarity=similarity.get(message.id),
                    keyword_rank=keyword_rank.get(message.id),
                    by_named_author=named,
                )
            )
        evidence.sort(key=lambda item: (-item.score, item.message.timestamp, item.message.id))
        return evidence[:limit]

    async def _nearest(
        self, guild_id: str, claim: str, exclude_authors: Sequence[str]
    ) -> list[VectorHit]:
        if self._semantic is None:
            return []
        vectors, embedder = self._semantic
        (vector,) = await embedder.aembed([claim])
        return await asyncio.to_thread(
            vectors.query,
            guild_id,
            vector,
            self._candidates,
            exclude_authors=list(exclude_authors) or None,
        )
