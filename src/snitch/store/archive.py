"""The edition archive: what was published, when, where, and the edition itself.

The scheduler's claims decide *whether* an edition goes out; the archive remembers what
went out, for ``/snitch status``, for the next edition's window (it starts where the last
one ended), and for an admin who wants last week's front page again.
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Protocol

from sqlalchemy import insert, select
from sqlalchemy.ext.asyncio import AsyncEngine

from snitch.models import Newsletter
from snitch.store.schema import editions
from snitch.store.sql import _store_errors, _writing


@dataclass(frozen=True)
class ArchivedEdition:
    """One published edition."""

    id: str
    guild_id: str
    published_at: datetime
    slot: datetime | None
    channel_id: str | None
    newsletter: Newsletter
    discord_message_ids: tuple[str, ...]


class EditionArchive(Protocol):
    """Where published editions are kept (``SqlEditionArchive``; Blob storage later)."""

    async def keep(
        self,
        newsletter: Newsletter,
        *,
        guild_id: str,
        published_at: datetime,
        slot: datetime | None = None,
        channel_id: str | None = None,
        discord_message_ids: Sequence[str] = (),
    ) -> ArchivedEdition:
        """Archive one published edition."""

    async def latest(self, guild_id: str, limit: int = 1) -> list[ArchivedEdition]:
        """A guild's most recent editions, newest first."""


class SqlEditionArchive:
    """``EditionArchive`` on the store's engine."""

    def __init__(self, engine: AsyncEngine) -> None:
        self._engine = engine

    async def keep(
        self,
        newsletter: Newsletter,
        *,
        guild_id: str,
        published_at: datetime,
        slot: datetime | None = None,
        channel_id: str | None = None,
        discord_message_ids: Sequence[str] = (),
    ) -> ArchivedEdition:
        """See ``EditionArchive.keep``."""
        archived = ArchivedEdition(
            id=uuid.uuid4().hex,
            guild_id=guild_id,
            published_at=published_at,
            slot=slot,
            channel_id=channel_id,
            newsletter=newsletter,
            discord_message_ids=tuple(discord_message_ids),
        )
        row = {
            "id": archived.id,
            "guild_id": guild_id,
            "published_at": published_at,
            "slot": slot,
            "channel_id": channel_id,
            "persona": newsletter.persona,
            "engine": newsletter.engine,
            "headline": newsletter.headline,
            # Computed fields are derived on the way back in, and the model forbids extras.
            "newsletter": newsletter.model_dump(
                mode="json", exclude=set(Newsletter.model_computed_fields)
            ),
            "discord_message_ids": list(archived.discord_message_ids),
        }
        async with _writing(self._engine, "archiving an edition") as connection:
            await connection.execute(insert(editions).values(**row))
        return archived

    async def latest(self, guild_id: str, limit: int = 1) -> list[ArchivedEdition]:
        """See ``EditionArchive.latest``."""
        query = (
            select(editions)
            .where(editions.c.guild_id == guild_id)
            .order_by(editions.c.published_at.desc(), editions.c.id)
            .limit(limit)
        )
        with _store_errors(f"reading the edition archive of guild {guild_id}"):
            async with self._engine.connect() as connection:
                rows = (await connection.execute(query)).all()
        return [
            ArchivedEdition(
                id=row.id,
                guild_id=row.guild_id,
                published_at=row.published_at,
                slot=row.slot,
                channel_id=row.channel_id,
                newsletter=Newsletter.model_validate(row.newsletter),
                discord_message_ids=tuple(row.discord_message_ids),
            )
            for row in rows
        ]
