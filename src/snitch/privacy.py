"""Forgetting: a user's data on request, and old messages on the retention schedule.

Every copy goes: the rows in the store (with the full-text index, which follows them) and
the vectors in the semantic memory. Vectors are removed first: if the store then fails, the
rows are still there to be forgotten again, and no search can surface the text meanwhile.
Both steps are idempotent, so a failed run is simply run again.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass
from datetime import datetime
from typing import Protocol

from snitch.log import get_logger
from snitch.store.protocol import Store

log = get_logger(__name__)


class ForgettingIndex(Protocol):
    """The deletions privacy needs from the vector store (``VectorStore``)."""

    def delete_author(self, guild_id: str, author_id: str) -> int:
        """Remove one author's vectors in one guild; returns how many."""

    def delete_older_than(self, guild_id: str, cutoff: datetime) -> int:
        """Remove a guild's vectors of messages sent before ``cutoff``; returns how many."""


@dataclass(frozen=True)
class Removed:
    """How much was removed from each place."""

    messages: int
    vectors: int


async def forget_author(
    store: Store, vectors: ForgettingIndex | None, guild_id: str, author_id: str
) -> Removed:
    """Remove everything one author wrote in a guild, from rows and vectors."""
    removed_vectors = 0
    if vectors is not None:
        removed_vectors = await asyncio.to_thread(vectors.delete_author, guild_id, author_id)
    async with store.unit_of_work() as writer:
        removed_messages = await writer.forget_author(guild_id, author_id)
    log.info(
        "author forgotten",
        guild=guild_id,
        messages=removed_messages,
        vectors=removed_vectors,
    )
    return Removed(messages=removed_messages, vectors=removed_vectors)


async def expire_before(
    store: Store, vectors: ForgettingIndex | None, guild_id: str, cutoff: datetime
) -> Removed:
    """Retention: remove a guild's messages sent before ``cutoff``, rows and vectors."""
    removed_vectors = 0
    if vectors is not None:
        removed_vectors = await asyncio.to_thread(vectors.delete_older_than, guild_id, cutoff)
    async with store.unit_of_work() as writer:
        removed_messages = await writer.expire_messages(guild_id, cutoff)
    log.info(
        "messages expired",
        guild=guild_id,
        before=cutoff.isoformat(),
        messages=removed_messages,
        vectors=removed_vectors,
    )
    return Removed(messages=removed_messages, vectors=removed_vectors)
