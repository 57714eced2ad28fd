"""Deletes leave tombstones: a late or redelivered upsert of a deleted message never stores
it again, whatever the interleaving; tombstones go with retention. On SQLite, PostgreSQL
and Cosmos DB (see conftest)."""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from datetime import timedelta

import pytest

from snitch.config import Settings
from snitch.models import Message
from snitch.store import SqlStore, open_store
from snitch.store.protocol import GUILDLESS_TOMBSTONE_MARGIN
from tests.store.test_sql_store import ALLEY, ALLEY_GENERAL, NOON, TOWERS, message, seed

# The deletion time the tests give; retention cutoffs are taken around it.
DELETED_AT = NOON + timedelta(days=3)
# Long enough for a blocked writer to have finished if it were not blocked.
BLOCKED_FOR_SECONDS = 0.3


async def delete(
    store: SqlStore,
    ids: Sequence[str],
    guild_id: str | None = TOWERS.id,
) -> int:
    async with store.unit_of_work() as writer:
        return await writer.delete_messages(ids, guild_id=guild_id, deleted_at=DELETED_AT)


async def tombstoned(store: SqlStore, batch: Sequence[Message]) -> set[str]:
    async with store.unit_of_work() as writer:
        return await writer.refused_among(batch)


async def stored_ids(store: SqlStore, batch: Sequence[Message]) -> list[str]:
    return [m.id for m in await store.messages_by_id([m.id for m in batch])]


async def expire(store: SqlStore, guild_id: str, before_deletion: timedelta) -> None:
    """Retention with the cutoff ``before_deletion`` after the deletion time."""
    async with store.unit_of_work() as writer:
        await writer.expire_messages(guild_id, DELETED_AT + before_deletion)


@pytest.mark.parametrize("named_guild", [True, False])
async def test_a_late_upsert_of_a_deleted_message_stays_deleted(
    store: SqlStore, settings: Settings, named_guild: bool
) -> None:
    """The create redelivered after the delete, even to another process: only the
    other messages of its batch are written."""
    first, second, third = message(1), message(2), message(3)
    await seed(store, [first, second])

    assert await delete(store, [first.id], TOWERS.id if named_guild else None) == 1

    async with await open_store(settings) as elsewhere:  # no memory of the delete
        edited = message(1, content="edited after all")
        assert await seed(elsewhere, [edited, third]) == 1
        assert await tombstoned(elsewhere, [edited, third]) == {first.id}
    assert await stored_ids(store, [first, second, third]) == [second.id, third.id]
    assert await store.count_messages(TOWERS.id) == 2


@pytest.mark.parametrize("named_guild", [True, False])
async def test_a_delete_that_overtook_its_creation_wins(store: SqlStore, named_guild: bool) -> None:
    """Nothing was stored yet when the delete came (the guild neither): the creation,
    when it arrives, is not stored, in the named guild or elsewhere."""
    early, other_guild = message(1), message(1, ALLEY_GENERAL)

    assert (
        await delete(store, [early.id, "not-a-snowflake"], TOWERS.id if named_guild else None) == 0
    )
    assert await seed(store, [early, message(2), other_guild]) == 2

    assert await stored_ids(store, [early, message(2), other_guild]) == [
        message(2).id,
        other_guild.id,
    ]


async def test_within_one_unit_of_work_the_last_word_is_the_delete(store: SqlStore) -> None:
    """Delete then upsert skips it; upsert then delete removes it."""
    await seed(store, [])
    async with store.unit_of_work() as writer:
        await writer.delete_messages([message(1).id], guild_id=TOWERS.id)
        assert await writer.upsert_messages([message(1), message(2)]) == 1
        assert await writer.upsert_messages([message(3)]) == 1
        assert await writer.delete_messages([message(3).id], guild_id=TOWERS.id) == 1

    assert await stored_ids(store, [message(1), message(2), message(3)]) == [message(2).id]


async def test_an_upsert_that_checked_before_a_concurrent_delete_ends_deleted(
    store: SqlStore, backend: str
) -> None:
    """The upsert has found no tombstone; a delete comes meanwhile. On SQL the delete
    waits for the upsert's transaction, then removes the row; on Cosmos DB it goes
    first, and the upsert's own check after writing removes the message again."""
    late = message(1)
    await seed(store, [message(2)])

    async with store.unit_of_work() as writer:
        assert await writer.refused_among([late]) == set()
        deleting = asyncio.create_task(delete(store, [late.id]))
        await asyncio.sleep(BLOCKED_FOR_SECONDS)
        if backend != "cosmos":
            assert not deleting.done()
        assert await writer.upsert_messages([late]) == 1
    await asyncio.wait_for(deleting, timeout=30)

    assert await stored_ids(store, [late, message(2)]) == [message(2).id]
    assert await tombstoned(store, [late]) == {late.id}


@pytest.mark.parametrize("named_guild", [True, False])
@pytest.mark.parametrize("stored_before", [True, False])
async def test_an_upsert_racing_an_uncommitted_delete_ends_deleted(
    store: SqlStore, backend: str, named_guild: bool, stored_before: bool
) -> None:
    """The delete has looked for the message but not committed when the upsert comes. On
    SQL the upsert waits, then finds the tombstone; on Cosmos DB it writes first and the
    delete's commit removes the message after it, wherever the delete found it or not."""
    target = message(1)
    await seed(store, [target] if stored_before else [])

    async with store.unit_of_work() as writer:
        guild_id = TOWERS.id if named_guild else None
        assert await writer.delete_messages([target.id], guild_id=guild_id) == int(stored_before)
        upserting = asyncio.create_task(seed(store, [target]))
        await asyncio.sleep(BLOCKED_FOR_SECONDS)
        if backend != "cosmos":
            assert not upserting.done()
    written = await asyncio.wait_for(upserting, timeout=30)

    if backend != "cosmos":
        assert written == 0
    assert await stored_ids(store, [target]) == []


@pytest.mark.parametrize("named_guild", [True, False])
async def test_many_concurrent_deletes_and_upserts_leave_every_deleted_message_gone(
    store: SqlStore, named_guild: bool
) -> None:
    """Each message deleted once, and upserted three times around the delete, all at
    once on separate connections: none of them survives."""
    batch = [message(n) for n in range(12)]
    await seed(store, [])

    async def upsert(item: Message) -> None:
        async with store.unit_of_work() as writer:
            await writer.upsert_messages([item])

    guild_id = TOWERS.id if named_guild else None
    work = []
    for item in batch:
        work += [upsert(item), delete(store, [item.id], guild_id), upsert(item), upsert(item)]
    await asyncio.gather(*work)

    assert await stored_ids(store, batch) == []
    assert await tombstoned(store, batch) == {item.id for item in batch}


async def test_tombstones_expire_with_their_guilds_retention(store: SqlStore) -> None:
    """Retention drops the guild's tombstones of deletions before its cutoff, and no other
    guild's; the message may then be stored again (it is as old as retention allows)."""
    towers, alley = message(1), message(1, ALLEY_GENERAL)
    await seed(store, [])
    await delete(store, [towers.id], TOWERS.id)
    await delete(store, [alley.id], ALLEY.id)

    await expire(store, TOWERS.id, -timedelta(seconds=1))
    assert await tombstoned(store, [towers, alley]) == {towers.id, alley.id}

    await expire(store, TOWERS.id, timedelta(seconds=1))
    assert await tombstoned(store, [towers, alley]) == {alley.id}
    assert await seed(store, [towers, alley]) == 1
    assert await stored_ids(store, [towers, alley]) == [towers.id]


async def test_tombstones_without_a_guild_outlive_every_guilds_retention(
    store: SqlStore,
) -> None:
    """A delete that named no guild, of a message not stored: its tombstone may stand
    for any guild, so only a cutoff past the longest retention lets it go."""
    unplaced = message(1, ALLEY_GENERAL)
    await seed(store, [])
    await delete(store, [unplaced.id], guild_id=None)

    await expire(store, TOWERS.id, timedelta(days=365))
    await expire(store, ALLEY.id, GUILDLESS_TOMBSTONE_MARGIN - timedelta(seconds=1))
    assert await tombstoned(store, [unplaced]) == {unplaced.id}

    await expire(store, TOWERS.id, GUILDLESS_TOMBSTONE_MARGIN + timedelta(seconds=1))
    assert await tombstoned(store, [unplaced]) == set()
    assert await seed(store, [unplaced]) == 1


async def test_forgetting_and_retention_still_work_beside_tombstones(store: SqlStore) -> None:
    """Neither leaves tombstones: an opt-out is what keeps a forgotten author's messages
    out, and retention's own cutoff what keeps old ones out."""
    batch = [message(n) for n in range(4)]
    await seed(store, batch)
    await delete(store, [batch[0].id])

    async with store.unit_of_work() as writer:
        assert await writer.forget_author(TOWERS.id, batch[1].author.id) == 3
        assert await writer.expire_messages(TOWERS.id, NOON) == 0

    assert await tombstoned(store, batch) == {batch[0].id}
    assert await seed(store, batch[1:]) == 3
