"""The tip store's queries, on SQLite and PostgreSQL (the box itself: tests/tips)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from snitch.store import SqlStore
from snitch.store.tip_store import TipRow

GUILD = "123456789012345678"
NOW = datetime(2026, 11, 26, 20, 0, tzinfo=UTC)


def row(tip_id: str, tipster: str = "h1", minutes: int = 0, guild: str = GUILD) -> TipRow:
    return TipRow(
        id=tip_id,
        guild_id=guild,
        tipster=tipster,
        sealed=bytes(range(40)),
        status="pending",
        created_at=NOW + timedelta(minutes=minutes),
    )


async def test_tips_count_filter_review_and_forget(store: SqlStore) -> None:
    tips = store.tips
    for item in (row("a"), row("b", minutes=5), row("c", "h2", 10), row("d", guild="9")):
        await tips.add(item)

    assert await tips.count_since(NOW, guild_id=GUILD) == 3
    assert await tips.count_since(NOW + timedelta(minutes=1), guild_id=GUILD, tipster="h1") == 1
    pending = await tips.with_status(GUILD, "pending", 10)
    assert [tip.id for tip in pending] == ["a", "b", "c"]
    assert pending[0].sealed == bytes(range(40))
    assert pending[0].created_at == NOW

    assert await tips.set_status(GUILD, ["a", "d"], "approved", NOW) == 1  # "d" is elsewhere
    assert [tip.id for tip in await tips.with_status(GUILD, "approved", 10)] == ["a"]
    assert await tips.set_status(GUILD, [], "approved", NOW) == 0

    assert await tips.delete_by_tipster(GUILD, "h1") == 2
    assert [tip.id for tip in await tips.with_status(GUILD, "pending", 10)] == ["c"]
    assert [tip.id for tip in await tips.with_status("9", "pending", 10)] == ["d"]
