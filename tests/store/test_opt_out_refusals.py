"""The store refuses the messages of a member who opted out in their guild, whichever
process writes them and however stale its cached rules: read in the same unit of work as
the upsert, so that forget-me (opt out, then forget) leaves nothing behind whatever the
interleaving. On SQLite, PostgreSQL and Cosmos DB (see conftest)."""

from __future__ import annotations

import asyncio
from collections.abc import Sequence

from snitch.config import Settings
from snitch.models import Author, Message
from snitch.store import SqlStore, open_store
from snitch.store.schema import authors
from tests.store.test_sql_store import (
    ALICE,
    ALLEY_GENERAL,
    BOB,
    NOON,
    RANDOM,
    TOWERS,
    message,
    rows,
    seed,
)
from tests.store.test_tombstones import BLOCKED_FOR_SECONDS, delete, stored_ids


async def opt_out(store: SqlStore, author: Author = ALICE, *, opted_out: bool = True) -> None:
    await store.guild_state.set_opted_out(TOWERS.id, author.id, opted_out, NOON)


async def forget_me(store: SqlStore, author: Author = ALICE) -> int:
    """What /snitch forget-me does to the store: opt out, then forget."""
    await opt_out(store, author)
    async with store.unit_of_work() as writer:
        return await writer.forget_author(TOWERS.id, author.id)


async def refused(store: SqlStore, batch: Sequence[Message]) -> set[str]:
    async with store.unit_of_work() as writer:
        return await writer.refused_among(batch)


async def author_ids(store: SqlStore) -> set[str]:
    return {row[0] for row in await rows(store, authors)}


async def test_an_opted_out_members_messages_are_not_stored_the_rest_of_the_batch_is(
    store: SqlStore,
) -> None:
    """Only in the guild they opted out of, and neither the message nor its author."""
    await seed(store, [])
    await opt_out(store)
    theirs, bobs, elsewhere = message(1), message(2, author=BOB), message(3, ALLEY_GENERAL)

    async with store.unit_of_work() as writer:
        assert await writer.refused_among([theirs, bobs, elsewhere]) == {theirs.id}
        assert await writer.upsert_messages([theirs, bobs, elsewhere]) == 2

    assert await stored_ids(store, [theirs, bobs, elsewhere]) == [bobs.id, elsewhere.id]
    assert await store.count_messages(TOWERS.id) == 1


async def test_a_stale_process_cannot_store_an_opted_out_members_message(
    store: SqlStore, settings: Settings
) -> None:
    """Another process, which never heard of the opt-out, writes an edit of an old
    message and a new one: neither lands, the old copy stays as it was."""
    old = message(1)
    await seed(store, [old])
    await opt_out(store)

    async with await open_store(settings) as elsewhere:
        assert await seed(elsewhere, [message(1, content="edited"), message(2, RANDOM)]) == 0
    assert [m.content for m in await store.messages(TOWERS.id)] == [old.content]


async def test_opting_back_in_allows_storing_again(store: SqlStore) -> None:
    await seed(store, [])
    await opt_out(store)
    assert await seed(store, [message(1)]) == 0

    await opt_out(store, opted_out=False)

    assert await refused(store, [message(1)]) == set()
    assert await seed(store, [message(1)]) == 1
    assert await stored_ids(store, [message(1)]) == [message(1).id]


async def test_refusals_cover_tombstones_and_opt_outs_alike(store: SqlStore) -> None:
    deleted, theirs, bobs = message(1, author=BOB), message(2), message(3, author=BOB)
    await seed(store, [])
    await delete(store, [deleted.id])
    await opt_out(store)

    assert await refused(store, [deleted, theirs, bobs]) == {deleted.id, theirs.id}
    assert await seed(store, [deleted, theirs, bobs]) == 1


async def test_an_upsert_that_read_before_forget_me_opted_out_ends_forgotten(
    store: SqlStore, backend: str
) -> None:
    """The upsert has found the member not opted out; forget-me comes meanwhile. On
    SQLite forget-me waits for the upsert's transaction; on PostgreSQL the opt-out commits
    at once but the forget waits for the upsert, then removes its row; on Cosmos DB both
    go first, and the upsert's own check after writing removes the message again."""
    late, bobs = message(1), message(2, author=BOB)
    await seed(store, [bobs])

    async with store.unit_of_work() as writer:
        assert await writer.refused_among([late]) == set()
        forgetting = asyncio.create_task(forget_me(store))
        await asyncio.sleep(BLOCKED_FOR_SECONDS)
        if backend != "cosmos":
            assert not forgetting.done()
        if backend == "postgres":
            assert ALICE.id in await store.guild_state.opted_out(TOWERS.id)
        # The answer read before the opt-out stands for the whole unit.
        assert await writer.refused_among([late]) == set()
        assert await writer.upsert_messages([late]) == 1
    await asyncio.wait_for(forgetting, timeout=30)

    assert await stored_ids(store, [late, bobs]) == [bobs.id]
    assert await author_ids(store) == {BOB.id}
    assert await refused(store, [late]) == {late.id}


async def test_forget_me_among_many_concurrent_upserts_leaves_nothing_of_the_member(
    store: SqlStore,
) -> None:
    """Upserts of the member's messages before, around and after forget-me, all at once
    on separate connections: once everything is done, nothing of theirs is stored."""
    batch = [message(n) for n in range(12)]
    await seed(store, [message(99, author=BOB)])

    async def upsert(item: Message) -> int:
        async with store.unit_of_work() as writer:
            return await writer.upsert_messages([item])

    work = [upsert(item) for item in batch[:6]]
    work.append(forget_me(store))
    work += [upsert(item) for item in batch[6:]]
    await asyncio.gather(*work)

    assert await stored_ids(store, batch) == []
    assert await store.count_messages(TOWERS.id) == 1
    assert await author_ids(store) == {BOB.id}
