"""The whole storage backend an entry point opens: messages, guild state, tips, archive.

``open_backend`` picks it from the settings: Cosmos DB when ``SNITCH_COSMOS__ENDPOINT``
is set, else the SQL store (SQLite by default, PostgreSQL by URL).
"""

from __future__ import annotations

from types import TracebackType
from typing import Protocol, Self

from snitch.config import Settings
from snitch.store.archive import EditionArchive
from snitch.store.guild_state import GuildState
from snitch.store.protocol import Store
from snitch.store.tip_store import TipStore


class StoreBackend(Store, Protocol):
    """A ``Store`` that also keeps guild state and tips (and, for SQL, editions)."""

    @property
    def guild_state(self) -> GuildState:
        """Per-guild settings, opt-outs and schedules."""
        ...

    @property
    def tips(self) -> TipStore:
        """Anonymous tips, sealed."""
        ...

    @property
    def archive(self) -> EditionArchive:
        """The backend's own edition archive (``SNITCH_ARCHIVE__KIND=database``)."""
        ...

    async def __aenter__(self) -> Self:
        """Open for an ``async with``."""
        ...

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        """Close every connection."""
        ...


async def open_backend(settings: Settings) -> StoreBackend:
    """The configured backend, connected (and, for SQL, migrated)."""
    if settings.cosmos.endpoint:
        from snitch.store.cosmos import open_cosmos_store

        return await open_cosmos_store(settings)
    from snitch.store.sql import open_store

    return await open_store(settings)
