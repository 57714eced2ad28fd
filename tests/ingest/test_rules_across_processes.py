"""An opt-out made by one process reaches every other over the same store within the rules
cache's age: the Functions' message processor never hears of a /snitch optout answered by
another instance, so it must not trust its copy of the guild's rules for long."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from snitch.config import load_settings
from snitch.ingest.live import RULES_MAX_AGE_SECONDS, LiveIngest
from snitch.store import SqlStore, open_store
from tests.helpers import CHANNEL, GUILD, START, author, message

ALICE = author("alice")


class Clock:
    """A monotonic clock moved by hand."""

    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


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
