"""An opt-out made by one process reaches every other over the same store within the rules
cache's age: the Functions' message processor never hears of a /snitch optout answered by
another instance, so it must not trust its copy of the guild's rules for long. Within that
age the store itself refuses the member's messages, so they are neither stored nor
embedded even by a process whose copy is stale."""

from __future__ import annotations

from collections.abc import AsyncIterator, Sequence
from pathlib import Path

import pytest

from snitch.config import load_settings
from snitch.ingest.live import RULES_MAX_AGE_SECONDS, LiveIngest
from snitch.memory.vectors import VectorStore
from snitch.store import SqlStore, open_store
from tests.helpers import CHANNEL, GUILD, START, author, message
from tests.ingest.test_pipeline import HashEmbedder

ALICE = author("alice")
BOB = author("bob")


class Clock:
    """A monotonic clock moved by hand."""

    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


class RecordingEmbedder(HashEmbedder):
    """Remembers every text it was asked to embed."""

    def __init__(self) -> None:
        self.texts: list[str] = []

    async def aembed(self, texts: Sequence[str]) -> list[list[float]]:
        self.texts += texts
        return await super().aembed(texts)


@pytest.fixture
async def store(tmp_path: Path) -> AsyncIterator[SqlStore]:
    opened = await open_store(load_settings(data_dir=tmp_path))
    yield opened
    await opened.close()


async def test_another_processes_opt_out_stops_storing_within_the_cache_age(
    store: SqlStore,
) -> None:
    clock = Clock()
    processor = LiveIngest(store, store.guild_state)
    processor.rules.clock = clock
    processor.know(GUILD, [CHANNEL])
    before = message(ALICE, "written before opting out", minutes=1, message_id="30001")
    assert await processor.store_now([before], guild=GUILD, channels=[CHANNEL]) == 1

    # Another instance answers /snitch optout: the store changes, this process is not told.
    await store.guild_state.set_opted_out(GUILD.id, ALICE.id, True, START)

    clock.now += RULES_MAX_AGE_SECONDS  # its copy of the rules is now too old to trust
    after = message(ALICE, "written after opting out", minutes=2, message_id="30002")
    assert await processor.store_now([after], guild=GUILD, channels=[CHANNEL]) == 0
    assert [m.id for m in await store.messages(GUILD.id)] == [before.id]


async def test_the_rules_are_read_once_while_they_are_fresh(store: SqlStore) -> None:
    clock = Clock()
    processor = LiveIngest(store, store.guild_state)
    processor.rules.clock = clock
    first = await processor.rules.get(GUILD.id)
    clock.now += RULES_MAX_AGE_SECONDS - 1
    assert await processor.rules.get(GUILD.id) is first
    clock.now += 1
    assert await processor.rules.get(GUILD.id) is not first


async def test_stale_rules_still_cannot_store_or_embed_an_opted_out_members_message(
    store: SqlStore, tmp_path: Path
) -> None:
    clock = Clock()
    embedder = RecordingEmbedder()
    with VectorStore.persistent(tmp_path / "vectors") as vectors:
        processor = LiveIngest(store, store.guild_state, embedder=embedder, vectors=vectors)
        processor.rules.clock = clock
        processor.know(GUILD, [CHANNEL])
        before = message(ALICE, "written before opting out", minutes=1, message_id="30001")
        assert await processor.store_now([before], guild=GUILD, channels=[CHANNEL]) == 1

        # Another instance answers /snitch optout; this process's rules are still fresh
        # enough to trust (the clock has not moved), so they let Alice's message through.
        await store.guild_state.set_opted_out(GUILD.id, ALICE.id, True, START)

        after = message(ALICE, "written after opting out", minutes=2, message_id="30002")
        bobs = message(BOB, "bob carries on", minutes=3, message_id="30003")
        assert await processor.store_now([after, bobs], guild=GUILD, channels=[CHANNEL]) == 2

        assert [m.id for m in await store.messages(GUILD.id)] == [before.id, bobs.id]
        assert vectors.present([before.id, after.id, bobs.id]) == {before.id, bobs.id}
        assert after.content not in embedder.texts
