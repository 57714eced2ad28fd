"""A delete seen by one process wins over a creation delivered to another, or to the same
one after a restart: ``LiveIngest`` remembers deletes in memory only to skip work early;
the store's tombstones are what keep the message out, on both of its paths (``store_now``
for the Functions' message processor, the in-process queue for ``snitch run``)."""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import pytest

from snitch.config import load_settings
from snitch.ingest.live import LiveIngest
from snitch.memory.vectors import VectorStore
from snitch.store import SqlStore, open_store
from tests.helpers import CHANNEL, GUILD, START, author, message
from tests.ingest.test_pipeline import HashEmbedder

ALICE = author("alice")
KEPT = message(ALICE, "this one stays", minutes=1, message_id="20001")
GONE = message(ALICE, "this one I regret", minutes=2, message_id="20002")
EARLY = message(ALICE, "deleted before it was ever stored", minutes=3, message_id="20003")


@pytest.fixture
async def store(tmp_path: Path) -> AsyncIterator[SqlStore]:
    opened = await open_store(load_settings(data_dir=tmp_path))
    yield opened
    await opened.close()


@pytest.fixture
def vectors(tmp_path: Path) -> Iterator[VectorStore]:
    with VectorStore.persistent(tmp_path / "vectors") as opened:
        yield opened


def instance(store: SqlStore, vectors: VectorStore) -> LiveIngest:
    """One process's pipeline: its own memory of deletes, the shared store and vectors."""
    live = LiveIngest(
        store, store.guild_state, embedder=HashEmbedder(), vectors=vectors, clock=lambda: START
    )
    live.know(GUILD, [CHANNEL])
    return live


async def stored_ids(store: SqlStore) -> list[str]:
    return [m.id for m in await store.messages(GUILD.id)]


async def test_a_create_redelivered_to_a_fresh_processor_stays_deleted(
    store: SqlStore, vectors: VectorStore
) -> None:
    first = instance(store, vectors)
    await first.store_now([KEPT, GONE], guild=GUILD, channels=[CHANNEL])
    assert await first.delete([GONE.id], guild_id=GUILD.id) == 1
    assert await first.delete([EARLY.id], guild_id=GUILD.id) == 0  # its create is late

    # Another instance, or this one after a restart: it never saw the deletes.
    fresh = instance(store, vectors)
    await fresh.store_now([GONE, EARLY], guild=GUILD, channels=[CHANNEL])

    assert await stored_ids(store) == [KEPT.id]
    assert vectors.present([KEPT.id, GONE.id, EARLY.id]) == {KEPT.id}


async def test_the_in_process_queue_of_a_fresh_process_keeps_them_deleted_too(
    store: SqlStore, vectors: VectorStore
) -> None:
    first = instance(store, vectors)
    await first.store_now([KEPT, GONE], guild=GUILD, channels=[CHANNEL])
    await first.delete([GONE.id, EARLY.id], guild_id=GUILD.id)

    fresh = instance(store, vectors)
    fresh.start()
    try:
        assert await fresh.submit([GONE, EARLY]) == 2  # the rules keep them; the store not
        await fresh.drained()
    finally:
        await fresh.stop()

    assert await stored_ids(store) == [KEPT.id]
    assert vectors.present([KEPT.id, GONE.id, EARLY.id]) == {KEPT.id}


async def test_a_delete_without_a_guild_keeps_the_message_out_as_well(
    store: SqlStore, vectors: VectorStore
) -> None:
    await instance(store, vectors).delete([EARLY.id])

    await instance(store, vectors).store_now([EARLY, KEPT], guild=GUILD, channels=[CHANNEL])

    assert await stored_ids(store) == [KEPT.id]
