"""The edition archive, on SQLite and PostgreSQL."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from snitch.store import SqlStore
from tests.render.test_html import full_edition

GUILD = "123456789012345678"
NOON = datetime(2026, 11, 26, 12, 0, tzinfo=UTC)


async def test_editions_are_kept_whole_and_read_newest_first(store: SqlStore) -> None:
    edition = full_edition()
    first = await store.archive.keep(
        edition, guild_id=GUILD, published_at=NOON, slot=NOON, channel_id="42"
    )
    second = await store.archive.keep(
        edition,
        guild_id=GUILD,
        published_at=NOON + timedelta(days=1),
        discord_message_ids=["7", "8"],
    )
    await store.archive.keep(edition, guild_id="999", published_at=NOON + timedelta(days=2))

    latest = await store.archive.latest(GUILD, limit=5)

    assert [item.id for item in latest] == [second.id, first.id]
    assert latest[0].newsletter == edition
    assert latest[0].discord_message_ids == ("7", "8")
    assert latest[1].slot == NOON
    assert latest[1].channel_id == "42"
    assert await store.archive.latest("1") == []
