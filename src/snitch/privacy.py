"""Forgetting: a user's data on request, and old messages on the retention schedule.

Every copy goes: the rows in the store (with the full-text index, which follows them) and
the vectors in the semantic memory. Vectors are removed first: if the store then fails, the
rows are still there to be forgotten again, and no search can surface the text meanwhile.
Both steps are idempotent, so a failed run is simply run again.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import datetime
from typing import Protocol

from snitch.log import get_logger
from snitch.store.protocol import Store, StoreWriter

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
    removed = await _remove(
        store,
        (lambda: vectors.delete_author(guild_id, author_id)) if vectors else None,
        lambda writer: writer.forget_author(guild_id, author_id),
    )
    log.info("author forgotten", guild=guild_id, messages=removed.messages, vectors=removed.vectors)
    return removed


async def expire_before(
    store: Store, vectors: ForgettingIndex | None, guild_id: str, cutoff: datetime
) -> Removed:
    """Retention: remove a guild's messages sent before ``cutoff``, rows and vectors."""
    removed = await _remove(
        store,
        (lambda: vectors.delete_older_than(guild_id, cutoff)) if vectors else None,
        lambda writer: writer.expire_messages(guild_id, cutoff),
    )
    log.info(
        "messages expired",
        guild=guild_id,
        before=cutoff.isoformat(),
        messages=removed.messages,
        vectors=removed.vectors,
    )
    return removed


async def _remove(
    store: Store,
    from_vectors: Callable[[], int] | None,
    from_rows: Callable[[StoreWriter], Awaitable[int]],
) -> Removed:
    """Vectors first (in a thread: chromadb blocks), then rows in one unit of work."""
    vectors_removed = await asyncio.to_thread(from_vectors) if from_vectors else 0
    async with store.unit_of_work() as writer:
        rows_removed = await from_rows(writer)
    return Removed(messages=rows_removed, vectors=vectors_removed)
