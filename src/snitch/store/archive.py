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

from pydantic import ValidationError
from sqlalchemy import insert, select, update
from sqlalchemy.ext.asyncio import AsyncEngine

from snitch.errors import StoreError
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
    """Where published editions are kept (``SqlEditionArchive``, and files or Blob storage
    in ``snitch.archive``)."""

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

    async def forget_author(
        self, guild_id: str, author_id: str, *, names: Sequence[str] = ()
    ) -> int:
        """Take a member out of every archived edition of a guild (``/snitch forget-me``).

        Their quotes are dropped, and their names (``names``, the member's names the caller
        knows, and the names on their quotes) become "a former member" in headlines, titles,
        summaries, the Markdown body and reader tips (``snitch.archive.redact``); the page is
        rendered again. Each changed edition is rewritten as ``keep`` writes it; editions
        with nothing of theirs are left alone. Returns how many editions changed, so a second
        call returns 0.
        """


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
            "newsletter": _newsletter_json(newsletter),
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

    async def forget_author(
        self, guild_id: str, author_id: str, *, names: Sequence[str] = ()
    ) -> int:
        """See ``EditionArchive.forget_author``: one UPDATE per changed edition, all in one
        transaction, with the guild's editions locked (``FOR UPDATE`` on PostgreSQL; SQLite
        writers queue anyway) so two members forgotten at once both stay forgotten."""
        # snitch.archive imports this module: the shared redaction is imported on use.
        from snitch.archive.redact import forgotten_names, redact

        action = f"forgetting author {author_id} in the edition archive of guild {guild_id}"
        query = (
            select(editions.c.id, editions.c.newsletter)
            .where(editions.c.guild_id == guild_id)
            .with_for_update()
        )
        changed = 0
        async with _writing(self._engine, action) as connection:
            with _store_errors(action):
                rows = (await connection.execute(query)).all()
            kept = [(row.id, _newsletter(row.id, row.newsletter)) for row in rows]
            everyone = forgotten_names(author_id, names, (item for _, item in kept))
            for edition_id, newsletter in kept:
                redacted = redact(newsletter, author_id, everyone)
                if redacted is None:
                    continue
                with _store_errors(action):
                    await connection.execute(
                        update(editions)
                        .where(editions.c.id == edition_id)
                        .values(headline=redacted.headline, newsletter=_newsletter_json(redacted))
                    )
                changed += 1
        return changed


def _newsletter_json(newsletter: Newsletter) -> dict[str, object]:
    # Computed fields are derived on the way back in, and the model forbids extras.
    return newsletter.model_dump(mode="json", exclude=set(Newsletter.model_computed_fields))


def _newsletter(edition_id: str, stored: object) -> Newsletter:
    try:
        return Newsletter.model_validate(stored)
    except ValidationError as exc:
        first_line = str(exc).splitlines()[0]
        raise StoreError(
            f"edition archive: edition {edition_id} is not an archived edition: {first_line}"
        ) from exc
