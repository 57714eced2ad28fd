"""The storage seam: every backend (SQLite, PostgreSQL, Cosmos DB) implements these.

Deletes leave tombstones. Service Bus may deliver a message's creation after its deletion
(to another instance, or again after a restart), so "deleted" has to be remembered where
every process looks before it writes: in the store, next to the messages. A tombstone
holds the message id, the guild when known and the time of deletion, nothing the user
wrote. It lives as long as the guild's retention window from its deletion (the retention
run removes it with the guild's old messages): by then the message itself is older than
the window, so a creation that still turns up is expired by the next retention run like
any other old message. A tombstone whose guild is unknown could belong to any guild, so
it lives for the longest window a guild may choose.

Opt-outs are enforced the same way. A member who opted out in a guild (``GuildState``'s
``set_opted_out``, kept beside the messages) has no message stored there again: every
process filters them early from its cached copy of the guild's rules, which may be a few
seconds old, and ``upsert_messages`` refuses them for good, reading the opt-outs in the
same unit of work as the write. So ``forget-me`` (opt out, let what was queued land, then
forget) leaves nothing of the member behind, whichever process was writing meanwhile.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from contextlib import AbstractAsyncContextManager
from datetime import datetime, timedelta
from typing import Final, Protocol

from snitch.guilds.settings import MAX_RETENTION_DAYS
from snitch.models import Channel, Guild, Message

# How much longer than a retention cutoff a tombstone without a guild is kept: it may
# stand for a message of the guild with the longest window.
GUILDLESS_TOMBSTONE_MARGIN: Final = timedelta(days=MAX_RETENTION_DAYS)


class StoreWriter(Protocol):
    """Writes inside one unit of work: all of them land together, or none do."""

    async def upsert_guild(self, guild: Guild) -> None:
        """Insert or update a guild by id."""

    async def upsert_channels(self, channels: Iterable[Channel]) -> None:
        """Insert or update channels by id."""

    async def upsert_messages(self, messages: Sequence[Message]) -> int:
        """Insert or update messages (and their authors) by id, skipping those the store
        refuses (see ``refused_among``): atomically with respect to ``delete_messages``
        and to an opt-out followed by ``forget_author``, so that no interleaving brings a
        deleted message or a forgotten member's message back. Returns how many were
        written."""

    async def refused_among(self, messages: Sequence[Message]) -> set[str]:
        """The ids of ``messages`` that ``upsert_messages`` skips: those deleted on Discord
        (tombstoned) and those whose author opted out in the message's guild. Within one
        unit of work both give the same answer, so that the ingest worker leaves exactly
        the refused messages out of the semantic memory too."""

    async def delete_messages(
        self,
        message_ids: Sequence[str],
        *,
        guild_id: str | None = None,
        deleted_at: datetime | None = None,
    ) -> int:
        """Remove messages deleted on Discord and leave a tombstone for each (in the same
        unit of work), so that a late or redelivered upsert cannot store them again.
        ``guild_id`` is the guild Discord named, if any; ``deleted_at`` defaults to now.
        Returns how many were stored."""

    async def forget_author(self, guild_id: str, author_id: str) -> int:
        """Remove everything one author wrote in a guild, and their name from the mention
        snapshots of others' messages there; returns how many messages were removed."""

    async def expire_messages(self, guild_id: str, before: datetime) -> int:
        """Retention: remove a guild's messages sent before ``before``, and its tombstones
        of deletions before ``before`` (those without a guild once older than
        ``before - GUILDLESS_TOMBSTONE_MARGIN``); returns how many messages."""


class Store(Protocol):
    """Where chat history lives between imports and editions."""

    def unit_of_work(self) -> AbstractAsyncContextManager[StoreWriter]:
        """A transaction: committed when the block exits cleanly, rolled back on any error."""

    async def guilds(self) -> list[Guild]:
        """Every stored guild, by name."""

    async def channels(self, guild_id: str) -> list[Channel]:
        """The stored channels (and threads) of one guild."""

    async def messages(
        self,
        guild_id: str,
        *,
        since: datetime | None = None,
        until: datetime | None = None,
        channel_ids: Sequence[str] | None = None,
    ) -> list[Message]:
        """Messages of a guild in ``[since, until)``, oldest first, optionally in some channels."""

    async def messages_by_id(self, message_ids: Sequence[str]) -> list[Message]:
        """The stored messages among ``message_ids``, in the order asked (unknown ids are
        left out)."""

    async def search(self, guild_id: str, terms: Sequence[str], limit: int = 50) -> list[str]:
        """Full-text search: ids of a guild's messages containing any of ``terms`` (stemmed),
        most relevant first."""

    async def channel_spans(self, guild_id: str) -> dict[str, tuple[datetime, datetime]]:
        """Each channel's oldest and newest stored message time."""

    async def count_messages(self, guild_id: str | None = None) -> int:
        """How many messages are stored, in one guild or in all."""

    async def close(self) -> None:
        """Release connections."""
