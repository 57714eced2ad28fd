"""/leak: the likely headline, teased without names, on the messages the bot may use."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import timedelta
from pathlib import Path

import pytest

from snitch.config import load_settings
from snitch.guilds import GuildSettings
from snitch.leak import leak
from snitch.newsroom.text import STOPWORDS, words
from snitch.sources.synthetic import SyntheticServer, generate_server
from snitch.store import SqlStore, open_store

SERVER = generate_server(seed=21, channels=3, messages=900, days=1.0, planted=3)
END = SERVER.messages[-1].timestamp + timedelta(seconds=1)
START = SERVER.messages[0].timestamp


@pytest.fixture
async def store(tmp_path: Path) -> AsyncIterator[SqlStore]:
    opened = await open_store(load_settings(data_dir=tmp_path))
    async with opened.unit_of_work() as writer:
        await writer.upsert_guild(SERVER.guild)
        await writer.upsert_channels(SERVER.channels)
        await writer.upsert_messages(SERVER.messages)
    yield opened
    await opened.close()


def every_name(server: SyntheticServer) -> set[str]:
    names: set[str] = set()
    for message in server.messages:
        for person in (message.author, *message.mentions):
            names.update(words(f"{person.name} {person.nickname or ''}"))
    # Nicknames like "Rosa the Red": the "the" is no one's name.
    return {name for name in names if len(name) > 2 and name not in STOPWORDS}


def authors_of(message_ids: tuple[str, ...]) -> set[str]:
    wanted = set(message_ids)
    return {m.author.id for m in SERVER.messages if m.id in wanted}


async def test_the_teaser_names_nobody(store: SqlStore) -> None:
    settings = GuildSettings.defaults(SERVER.guild.id)

    found = await leak(store, settings, frozenset(), END, since=START)

    assert found is not None
    assert found.channel_name in found.teaser
    assert f"{found.messages} messages" in found.teaser
    assert not set(words(found.teaser)) & every_name(SERVER)


async def test_opted_out_members_are_left_out_of_the_story(store: SqlStore) -> None:
    settings = GuildSettings.defaults(SERVER.guild.id)
    first = await leak(store, settings, frozenset(), END, since=START)
    assert first is not None
    opted_out = frozenset(authors_of(first.message_ids))

    second = await leak(store, settings, opted_out, END, since=START)

    assert second is not None
    assert not authors_of(second.message_ids) & opted_out


async def test_excluded_channels_are_never_read(store: SqlStore) -> None:
    settings = GuildSettings.defaults(SERVER.guild.id)
    first = await leak(store, settings, frozenset(), END, since=START)
    assert first is not None
    excluding = settings.updated(excluded_channel_ids=(first.channel_id,))

    second = await leak(store, excluding, frozenset(), END, since=START)

    assert second is not None
    assert second.channel_id != first.channel_id
    threads = {c.id for c in SERVER.channels if c.parent_id == first.channel_id}
    assert second.channel_id not in threads


async def test_nothing_to_leak_in_a_quiet_window(store: SqlStore) -> None:
    settings = GuildSettings.defaults(SERVER.guild.id)
    assert await leak(store, settings, frozenset(), START, since=START - timedelta(days=1)) is None
