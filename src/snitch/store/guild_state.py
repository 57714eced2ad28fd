"""Per-guild state in the SQL store: settings, the schedule's next slot, opt-outs, and the
run of bad scheduled editions that raises an alert.

The next edition's instant lives beside the settings, and an instance that wants to
publish it must first move it on with a compare-and-set (``claim``): of any number of
processes (the bot after a restart, several Functions instances on one timer) exactly one
wins each slot.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Protocol

from sqlalchemy import and_, delete, select, update
from sqlalchemy.ext.asyncio import AsyncEngine

from snitch.guilds.settings import GuildSettings
from snitch.store.schema import guild_settings, opt_outs
from snitch.store.sql import _store_errors, _writing, dialect_insert

WRITE = "writing guild state"


@dataclass(frozen=True)
class DueEdition:
    """A guild whose scheduled edition's time has come."""

    guild_id: str
    slot: datetime


class GuildState(Protocol):
    """What the bot and the scheduler keep per guild (implemented by ``SqlGuildState``)."""

    async def settings(self, guild_id: str) -> GuildSettings:
        """The guild's settings, or the defaults if an admin never changed any."""

    async def save_settings(self, settings: GuildSettings, now: datetime) -> datetime | None:
        """Store settings; returns the next edition's instant (None when off)."""

    async def set_opted_out(
        self, guild_id: str, user_id: str, opted_out: bool, now: datetime
    ) -> None:
        """Record (or lift) a user's opt-out in one guild."""

    async def opted_out(self, guild_id: str) -> frozenset[str]:
        """The ids of the users who opted out in a guild."""

    async def due(self, now: datetime) -> list[DueEdition]:
        """Guilds whose next edition is at or before ``now``."""

    async def claim(self, guild_id: str, slot: datetime, next_slot: datetime | None) -> bool:
        """Move the guild's schedule from ``slot`` on to ``next_slot``; True for the one
        caller that did it, False for everyone else."""

    async def record_edition(self, guild_id: str, ok: bool) -> int:
        """Count one scheduled edition: a bad one (failed, or written by the fallback engine)
        lengthens the guild's run of bad editions, a good one ends it. Returns the run's
        length after this one (0 after a good one)."""


class SqlGuildState:
    """``GuildState`` on the store's SQLAlchemy engine."""

    def __init__(self, engine: AsyncEngine) -> None:
        self._engine = engine

    async def settings(self, guild_id: str) -> GuildSettings:
        """See ``GuildState.settings``."""
        query = select(guild_settings.c.settings).where(guild_settings.c.guild_id == guild_id)
        with _store_errors(f"reading settings of guild {guild_id}"):
            async with self._engine.connect() as connection:
                stored = (await connection.execute(query)).scalar_one_or_none()
        if stored is None:
            return GuildSettings.defaults(guild_id)
        return GuildSettings.model_validate({**stored, "guild_id": guild_id})

    async def save_settings(self, settings: GuildSettings, now: datetime) -> datetime | None:
        """See ``GuildState.save_settings``.

        The next slot is recomputed only when the schedule or time zone changed (or none was
        set), so renaming the persona just before an edition does not skip it.
        """
        # Read and write in one write transaction, so two admins saving at once cannot
        # both decide from the same stale slot.
        async with _writing(self._engine, WRITE) as connection:
            previous = (
                await connection.execute(
                    select(guild_settings.c.settings, guild_settings.c.next_edition_at).where(
                        guild_settings.c.guild_id == settings.guild_id
                    )
                )
            ).first()
            keep = (
                previous is not None
                and previous.settings.get("schedule") == settings.schedule
                and previous.settings.get("timezone") == settings.timezone
                and previous.next_edition_at is not None
            )
            next_at = (
                previous.next_edition_at
                if keep and previous is not None
                else settings.parsed_schedule.next_after(now, settings.zone)
            )
            values = {
                "guild_id": settings.guild_id,
                "settings": settings.model_dump(mode="json", exclude={"guild_id"}),
                "next_edition_at": next_at,
                "updated_at": now,
            }
            await connection.execute(
                dialect_insert(connection, guild_settings).on_conflict_do_update(
                    index_elements=[guild_settings.c.guild_id],
                    set_={key: value for key, value in values.items() if key != "guild_id"},
                ),
                [values],
            )
        return next_at

    async def set_opted_out(
        self, guild_id: str, user_id: str, opted_out: bool, now: datetime
    ) -> None:
        """See ``GuildState.set_opted_out``; repeating either is harmless."""
        async with _writing(self._engine, WRITE) as connection:
            if not opted_out:
                await connection.execute(
                    delete(opt_outs).where(
                        and_(opt_outs.c.guild_id == guild_id, opt_outs.c.user_id == user_id)
                    )
                )
                return
            await connection.execute(
                dialect_insert(connection, opt_outs).on_conflict_do_nothing(),
                [{"guild_id": guild_id, "user_id": user_id, "since": now}],
            )

    async def opted_out(self, guild_id: str) -> frozenset[str]:
        """See ``GuildState.opted_out``."""
        query = select(opt_outs.c.user_id).where(opt_outs.c.guild_id == guild_id)
        with _store_errors(f"reading opt-outs of guild {guild_id}"):
            async with self._engine.connect() as connection:
                return frozenset(row[0] for row in await connection.execute(query))

    async def due(self, now: datetime) -> list[DueEdition]:
        """See ``GuildState.due``; oldest slot first."""
        query = (
            select(guild_settings.c.guild_id, guild_settings.c.next_edition_at)
            .where(guild_settings.c.next_edition_at <= now)
            .order_by(guild_settings.c.next_edition_at, guild_settings.c.guild_id)
        )
        with _store_errors("reading due editions"):
            async with self._engine.connect() as connection:
                return [DueEdition(row[0], row[1]) for row in await connection.execute(query)]

    async def claim(self, guild_id: str, slot: datetime, next_slot: datetime | None) -> bool:
        """See ``GuildState.claim``: an UPDATE that matches only while the slot is unclaimed."""
        statement = (
            update(guild_settings)
            .where(
                and_(
                    guild_settings.c.guild_id == guild_id,
                    guild_settings.c.next_edition_at == slot,
                )
            )
            .values(next_edition_at=next_slot, last_edition_at=slot)
        )
        async with _writing(self._engine, WRITE) as connection:
            result = await connection.execute(statement)
        return bool(result.rowcount == 1)

    async def record_edition(self, guild_id: str, ok: bool) -> int:
        """See ``GuildState.record_edition``: one atomic statement, so two instances
        recording at once both count. A guild with no row yet (its settings never saved)
        gets one holding the defaults and no scheduled slot, which is what it had."""
        if ok:
            reset = (
                update(guild_settings)
                .where(
                    and_(guild_settings.c.guild_id == guild_id, guild_settings.c.bad_editions != 0)
                )
                .values(bad_editions=0)
            )
            async with _writing(self._engine, WRITE) as connection:
                await connection.execute(reset)
            return 0
        fresh = {
            "guild_id": guild_id,
            "settings": GuildSettings.defaults(guild_id).model_dump(
                mode="json", exclude={"guild_id"}
            ),
            "next_edition_at": None,
            "updated_at": datetime.now(UTC),
            "bad_editions": 1,
        }
        async with _writing(self._engine, WRITE) as connection:
            insert = dialect_insert(connection, guild_settings).values(fresh)
            statement = insert.on_conflict_do_update(
                index_elements=[guild_settings.c.guild_id],
                set_={"bad_editions": guild_settings.c.bad_editions + 1},
            ).returning(guild_settings.c.bad_editions)
            streak = (await connection.execute(statement)).scalar_one()
        return int(streak)
