"""Full-text search, deletes, forgetting an author and retention, on SQLite and PostgreSQL."""

from __future__ import annotations

from datetime import timedelta

import pytest
from sqlalchemy import delete

from snitch.errors import StoreError
from snitch.models import Author
from snitch.store import SqlStore
from snitch.store.schema import authors
from snitch.store.schema import messages as messages_table
from snitch.store.sql import FORGOTTEN_NAME
from tests.store.test_sql_store import (
    ALICE,
    ALLEY,
    ALLEY_GENERAL,
    BOB,
    GENERAL,
    NOON,
    RANDOM,
    TOWERS,
    message,
    rows,
    seed,
)

CAROL = Author(id="4", name="carol")


async def test_search_finds_stemmed_terms_in_one_guild_best_first(store: SqlStore) -> None:
    """ "promised" finds "promise"; the message matching more terms ranks first."""
    cake = message(1, content="I promise I will bring the chocolate cake tomorrow")
    cake_only = message(2, content="cake is great")
    unrelated = message(3, content="the weather is nice")
    elsewhere = message(4, ALLEY_GENERAL, content="I promise cake in the other guild too")
    await seed(store, [cake, cake_only, unrelated, elsewhere])

    found = await store.search(TOWERS.id, ["promised", "chocolate", "cake"])

    assert found == [cake.id, cake_only.id]
    assert await store.search(ALLEY.id, ["cake"]) == [elsewhere.id]
    assert await store.search(TOWERS.id, ["nothing-like-this"]) == []
    assert await store.search(TOWERS.id, []) == []
    assert await store.search(TOWERS.id, ["cake"], limit=1) in ([cake.id], [cake_only.id])


async def test_search_takes_hostile_terms_literally(store: SqlStore) -> None:
    """Quotes, FTS operators and SQL fragments are words to look for, never syntax."""
    await seed(store, [message(1, content='she said "NEAR" OR NOT AND cake')])

    for term in ['"', "NEAR(", "OR", "cake' --", "content:cake", "*", "(", "a:b"]:
        await store.search(TOWERS.id, [term])  # must not raise
    assert await store.search(TOWERS.id, ['"cake"']) == [message(1).id]


async def test_search_follows_edits_and_deletes(store: SqlStore) -> None:
    """The index changes with the rows, whichever way they change."""
    original = message(1, content="the cake is a lie")
    await seed(store, [original, message(2, content="pie for everyone")])
    await seed(store, [message(1, content="the pie is real")])

    assert await store.search(TOWERS.id, ["cake"]) == []
    assert sorted(await store.search(TOWERS.id, ["pie"])) == [message(1).id, message(2).id]

    async with store.unit_of_work() as writer:
        assert await writer.delete_messages([message(2).id, "999999"]) == 1
    assert await store.search(TOWERS.id, ["pie"]) == [message(1).id]

    # Even a raw DELETE (maintenance by hand) keeps the index in step.
    async with store.engine.begin() as connection:
        await connection.execute(delete(messages_table))
    assert await store.search(TOWERS.id, ["pie"]) == []


async def test_messages_by_id_keep_the_order_asked(store: SqlStore) -> None:
    """Unknown ids are left out; repeats come back once."""
    batch = [message(n) for n in range(5)]
    await seed(store, batch)

    asked = [batch[3].id, "123456789", batch[0].id, batch[3].id]
    assert await store.messages_by_id(asked) == [batch[3], batch[0]]
    assert await store.messages_by_id([]) == []


async def test_messages_by_id_beyond_one_in_list(store: SqlStore) -> None:
    """More ids than one query may bind are read in chunks."""
    batch = [message(n) for n in range(2100)]
    await seed(store, batch)

    assert await store.messages_by_id([m.id for m in reversed(batch)]) == batch[::-1]


async def test_only_discord_snowflakes_are_stored(store: SqlStore) -> None:
    """The full-text index is keyed by the numeric id: anything else is refused whole."""
    for bad in ("m1", "0123", "-5", "9" * 20, "１２３"):
        with pytest.raises(StoreError, match="snowflake"):
            await seed(store, [message(1), message(2, id=bad)])
    assert await store.count_messages() == 0


async def test_forget_author_removes_their_messages_and_name(store: SqlStore) -> None:
    """Their messages go, their name leaves others' mention snapshots, others stay."""
    theirs = [message(n, author=ALICE) for n in range(3)]
    mentioning = message(10, author=BOB, content="<@1> and <@4>", mentions=(ALICE, CAROL))
    other_guild = message(20, ALLEY_GENERAL, author=ALICE)
    await seed(store, [*theirs, mentioning, message(11, RANDOM, author=BOB), other_guild])

    async with store.unit_of_work() as writer:
        assert await writer.forget_author(TOWERS.id, ALICE.id) == 3

    left = await store.messages(TOWERS.id)
    assert {m.author.id for m in left} == {BOB.id}
    (scrubbed,) = [m for m in left if m.id == mentioning.id]
    assert [(a.id, a.name, a.nickname) for a in scrubbed.mentions] == [
        (ALICE.id, FORGOTTEN_NAME, None),
        (CAROL.id, CAROL.name, None),
    ]
    assert await store.search(TOWERS.id, ["message"]) == [message(11, RANDOM).id]
    # Still writing in the other guild: the author row stays until that goes too.
    assert await store.messages(ALLEY.id) == [other_guild]
    async with store.unit_of_work() as writer:
        assert await writer.forget_author(ALLEY.id, ALICE.id) == 1
        assert await writer.forget_author(ALLEY.id, ALICE.id) == 0
    assert ALICE.id not in {row[0] for row in await rows(store, authors)}


async def test_expire_messages_before_a_cutoff_in_one_guild(store: SqlStore) -> None:
    """Retention removes old rows of one guild only, and authors left with nothing."""
    old = [message(n, author=CAROL) for n in range(3)]
    recent = [message(n, author=BOB) for n in range(60, 63)]
    alley_old = message(1, ALLEY_GENERAL, author=BOB)
    await seed(store, [*old, *recent, alley_old])

    async with store.unit_of_work() as writer:
        removed = await writer.expire_messages(TOWERS.id, NOON + timedelta(minutes=30))

    assert removed == 3
    assert await store.messages(TOWERS.id) == recent
    assert await store.messages(ALLEY.id) == [alley_old]
    assert CAROL.id not in {row[0] for row in await rows(store, authors)}
    assert await store.search(TOWERS.id, ["message"]) != []


async def test_a_failed_forget_leaves_everything(store: SqlStore) -> None:
    """Forgetting is one unit of work: an error half-way undoes it."""
    await seed(store, [message(1, GENERAL, author=ALICE)])

    async def forget_then_crash() -> None:
        async with store.unit_of_work() as writer:
            await writer.forget_author(TOWERS.id, ALICE.id)
            raise RuntimeError("crash")

    with pytest.raises(RuntimeError):
        await forget_then_crash()
    assert await store.count_messages(TOWERS.id) == 1
