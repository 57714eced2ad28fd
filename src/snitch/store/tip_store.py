"""Tips in the SQL store: sealed texts and tipster hashes only (see ``snitch.tips``)."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Protocol

from sqlalchemy import and_, delete, func, insert, select, update
from sqlalchemy.ext.asyncio import AsyncEngine

from snitch.store.schema import tips
from snitch.store.sql import _store_errors, _writing


@dataclass(frozen=True)
class TipRow:
    """A stored tip as the database holds it: nothing readable without the key."""

    id: str
    guild_id: str
    tipster: str
    sealed: bytes
    status: str
    created_at: datetime
    reviewed_at: datetime | None = None


class TipStore(Protocol):
    """Where tips are kept (``SqlTipStore``; Cosmos DB later)."""

    async def add(self, row: TipRow) -> None:
        """Store a new tip."""

    async def count_since(
        self, since: datetime, *, guild_id: str, tipster: str | None = None
    ) -> int:
        """Tips of a guild (or of one tipster there) created at or after ``since``."""

    async def with_status(self, guild_id: str, status: str, limit: int) -> list[TipRow]:
        """A guild's tips in one status, oldest first."""

    async def set_status(
        self, guild_id: str, tip_ids: Sequence[str], status: str, now: datetime
    ) -> int:
        """Move tips of a guild to ``status``; returns how many there were."""

    async def delete_by_tipster(self, guild_id: str, tipster: str) -> int:
        """Forget every tip one tipster sent in a guild; returns how many."""


class SqlTipStore:
    """``TipStore`` on the store's engine."""

    def __init__(self, engine: AsyncEngine) -> None:
        self._engine = engine

    async def add(self, row: TipRow) -> None:
        """See ``TipStore.add``."""
        async with _writing(self._engine, "storing a tip") as connection:
            await connection.execute(insert(tips).values(**row.__dict__))

    async def count_since(
        self, since: datetime, *, guild_id: str, tipster: str | None = None
    ) -> int:
        """See ``TipStore.count_since``."""
        query = select(func.count()).where(tips.c.guild_id == guild_id, tips.c.created_at >= since)
        if tipster is not None:
            query = query.where(tips.c.tipster == tipster)
        with _store_errors("counting tips"):
            async with self._engine.connect() as connection:
                return int((await connection.execute(query)).scalar_one())

    async def with_status(self, guild_id: str, status: str, limit: int) -> list[TipRow]:
        """See ``TipStore.with_status``."""
        query = (
            select(tips)
            .where(tips.c.guild_id == guild_id, tips.c.status == status)
            .order_by(tips.c.created_at, tips.c.id)
            .limit(limit)
        )
        with _store_errors("reading tips"):
            async with self._engine.connect() as connection:
                return [TipRow(**row._mapping) for row in await connection.execute(query)]

    async def set_status(
        self, guild_id: str, tip_ids: Sequence[str], status: str, now: datetime
    ) -> int:
        """See ``TipStore.set_status``."""
        if not tip_ids:
            return 0
        statement = (
            update(tips)
            .where(and_(tips.c.guild_id == guild_id, tips.c.id.in_(list(tip_ids))))
            .values(status=status, reviewed_at=now)
        )
        async with _writing(self._engine, "reviewing tips") as connection:
            result = await connection.execute(statement)
        return int(result.rowcount)

    async def delete_by_tipster(self, guild_id: str, tipster: str) -> int:
        """See ``TipStore.delete_by_tipster``."""
        statement = delete(tips).where(and_(tips.c.guild_id == guild_id, tips.c.tipster == tipster))
        async with _writing(self._engine, "forgetting a tipster") as connection:
            result = await connection.execute(statement)
        return int(result.rowcount)
