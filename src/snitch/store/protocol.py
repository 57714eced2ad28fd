"""The storage seam: every backend (SQLite, PostgreSQL, later Cosmos DB) implements these."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from contextlib import AbstractAsyncContextManager
from datetime import datetime
from typing import Protocol

from snitch.models import Channel, Guild, Message


class StoreWriter(Protocol):
    """Writes inside one unit of work: all of them land together, or none do."""

    async def upsert_guild(self, guild: Guild) -> None:
        """Insert or update a guild by id."""

    async def upsert_channels(self, channels: Iterable[Channel]) -> None:
        """Insert or update channels by id."""

    async def upsert_messages(self, messages: Sequence[Message]) -> int:
        """Insert or update messages (and their authors) by id; returns how many were written."""

    async def delete_messages(self, message_ids: Sequence[str]) -> int:
        """Remove messages deleted on Discord; returns how many were stored."""

    async def forget_author(self, guild_id: str, author_id: str) -> int:
        """Remove everything one author wrote in a guild, and their name from the mention
        snapshots of others' messages there; returns how many messages were removed."""

    async def expire_messages(self, guild_id: str, before: datetime) -> int:
        """Retention: remove a guild's messages sent before ``before``; returns how many."""


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
