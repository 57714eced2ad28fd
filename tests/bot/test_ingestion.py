"""Live ingestion and backfill, through discord.py's gateway parsers and a fake REST API."""

from __future__ import annotations

from datetime import timedelta
from typing import cast

import discord

from snitch.bot.exts.ingestion._cog import Ingestion
from snitch.models import Author, Message
from tests.bot import payloads
from tests.bot.conftest import Harness
from tests.bot.payloads import ALICE, BOB, GENERAL_ID, GUILD_ID, RANDOM_ID, ROBOT, SECRET_ID


async def stored(harness: Harness, *ids: str) -> dict[str, str]:
    """The stored content of these messages, by id."""
    found = await harness.services.store.messages_by_id(list(ids))
    return {message.id: message.content for message in found}


def vectors_of(harness: Harness, *ids: str) -> set[str]:
    """Which of these messages have a vector."""
    assert harness.services.vectors is not None
    return harness.services.vectors.present(list(ids))


async def exclude(harness: Harness, *channel_ids: str) -> None:
    """An admin excludes channels (what /snitch config does underneath)."""
    state = harness.services.state
    settings = (await state.settings(GUILD_ID)).updated(excluded_channel_ids=channel_ids)
    await state.save_settings(settings, harness.now)
    harness.services.ingest.rules.forget(GUILD_ID)


async def test_a_new_message_is_stored_and_embedded(harness: Harness) -> None:
    message_id = await harness.say(ALICE, "the cake is a lie", mentions=(BOB,))

    [message] = await harness.services.store.messages_by_id([message_id])
    assert message.content == "the cake is a lie"
    assert message.author.name == "Alice"  # the global display name
    assert message.channel_id == GENERAL_ID
    assert [person.id for person in message.mentions] == [BOB.id]
    assert vectors_of(harness, message_id) == {message_id}
    channels = await harness.services.store.channels(GUILD_ID)
    assert {channel.id: channel.name for channel in channels}[GENERAL_ID] == "general"


async def test_an_edit_replaces_the_text(harness: Harness) -> None:
    message_id = await harness.say(ALICE, "I never said that")
    edited = payloads.message(message_id, ALICE, "I definitely said that")
    edited["edited_timestamp"] = (harness.now + timedelta(minutes=1)).isoformat()

    harness.gateway("message_update", edited)
    await harness.settle()

    [message] = await harness.services.store.messages_by_id([message_id])
    assert message.content == "I definitely said that"
    assert message.edited_at is not None


async def test_deletes_leave_the_store_and_the_vectors(harness: Harness) -> None:
    one = await harness.say(ALICE, "delete me")
    two = await harness.say(BOB, "purge me")
    three = await harness.say(BOB, "and me")
    keep = await harness.say(ALICE, "keep me")

    harness.gateway("message_delete", {"id": one, "channel_id": GENERAL_ID, "guild_id": GUILD_ID})
    harness.gateway(
        "message_delete_bulk", {"ids": [two, three], "channel_id": GENERAL_ID, "guild_id": GUILD_ID}
    )
    await harness.settle()

    assert await stored(harness, one, two, three, keep) == {keep: "keep me"}
    assert vectors_of(harness, one, two, three, keep) == {keep}


async def test_a_delete_that_overtakes_its_queued_creation_wins(harness: Harness) -> None:
    ingest = harness.services.ingest
    message = Message(
        id=harness.next_id(),
        guild_id=GUILD_ID,
        channel_id=GENERAL_ID,
        author=Author(id=ALICE.id, name="alice"),
        content="gone in a flash",
        timestamp=harness.now,
    )
    await ingest.submit([message])  # queued; the worker has not run yet
    await ingest.delete([message.id])
    await ingest.drained()

    assert await stored(harness, message.id) == {}
    assert vectors_of(harness, message.id) == set()


async def test_bots_webhooks_system_messages_and_dms_are_never_stored(harness: Harness) -> None:
    from_bot = await harness.say(ROBOT, "beep boop, I am a bot")
    webhook_id = harness.next_id()
    webhook = payloads.message(webhook_id, ALICE, "posted by a webhook")
    webhook["webhook_id"] = str(payloads.BASE_ID + 999)
    harness.gateway("message_create", webhook)
    joined_id = harness.next_id()
    joined = payloads.message(joined_id, BOB, "")
    joined["type"] = 7  # "bob joined the server"
    harness.gateway("message_create", joined)
    dm_id = harness.next_id()
    harness.gateway(
        "message_create",
        payloads.message(
            dm_id, ALICE, "a secret in my DMs", channel_id=str(payloads.BASE_ID + 77), guild=False
        ),
    )
    await harness.settle()

    ids = (from_bot, webhook_id, joined_id, dm_id)
    assert await stored(harness, *ids) == {}
    assert vectors_of(harness, *ids) == set()


async def test_excluded_channels_and_their_threads_are_never_stored(harness: Harness) -> None:
    await exclude(harness, SECRET_ID)

    in_channel = await harness.say(ALICE, "classified plans", channel_id=SECRET_ID)
    in_thread = await harness.say(BOB, "more classified plans", channel_id=payloads.THREAD_ID)
    elsewhere = await harness.say(BOB, "public chatter", channel_id=RANDOM_ID)

    assert await stored(harness, in_channel, in_thread, elsewhere) == {elsewhere: "public chatter"}
    assert vectors_of(harness, in_channel, in_thread) == set()


async def test_opted_out_members_are_never_stored_from_the_moment_they_opt_out(
    harness: Harness,
) -> None:
    before = await harness.say(BOB, "said before opting out")
    await harness.services.state.set_opted_out(GUILD_ID, BOB.id, True, harness.now)
    harness.services.ingest.rules.forget(GUILD_ID)

    after = await harness.say(BOB, "said after opting out")
    edit = payloads.message(before, BOB, "edited after opting out")
    harness.gateway("message_update", edit)
    await harness.settle()

    assert await stored(harness, before, after) == {before: "said before opting out"}
    assert vectors_of(harness, after) == set()


def history(harness: Harness, channel_id: str, count: int, *, start_hours_ago: float) -> list[str]:
    """``count`` messages in the fake channel history, one a minute from a point in the past."""
    ids = []
    for index in range(count):
        moment = harness.now - timedelta(hours=start_hours_ago) + timedelta(minutes=index)
        message_id = payloads.snowflake(moment, index)
        author = (ALICE, BOB)[index % 2]
        harness.discord.history[channel_id].append(
            payloads.message(message_id, author, f"old message {index}", channel_id=channel_id)
        )
        ids.append(message_id)
    return ids


def ingestion(harness: Harness) -> Ingestion:
    # Not isinstance: closing a bot unloads its extensions, so each test's bot loads a
    # fresh copy of the module and its class.
    cog = harness.bot.get_cog("Ingestion")
    assert cog is not None
    return cast(Ingestion, cog)


def guild(harness: Harness) -> discord.Guild:
    found = harness.bot.get_guild(int(GUILD_ID))
    assert found is not None
    return found


async def test_backfill_reads_the_window_politely_and_only_what_may_be_kept(
    harness: Harness,
) -> None:
    await exclude(harness, SECRET_ID)
    harness.discord.history_requests.clear()  # the start-up catch-up read every channel
    recent = history(harness, GENERAL_ID, 230, start_hours_ago=30)
    too_old = history(harness, RANDOM_ID, 5, start_hours_ago=24 * 9)  # past the 7 days
    secret = history(harness, SECRET_ID, 5, start_hours_ago=2)
    harness.discord.rate_limit("/messages", times=1)

    assert ingestion(harness).start_backfill(guild(harness))
    await harness.settle()

    kept = await stored(harness, *recent, *too_old, *secret)
    assert set(kept) == set(recent)
    assert harness.discord.rate_limited, "the fake never rate-limited the backfill"
    assert not any(r["channel"] == SECRET_ID for r in harness.discord.history_requests)
    # 100 a page: 3 pages for general; random stops at its first page (too old).
    assert len([r for r in harness.discord.history_requests if r["channel"] == GENERAL_ID]) == 3


async def test_an_interrupted_backfill_resumes_where_it_stopped(harness: Harness) -> None:
    messages = history(harness, GENERAL_ID, 250, start_hours_ago=10)
    harness.discord.forbid(f"/channels/{GENERAL_ID}/messages", after=1)  # page 2 fails

    ingestion(harness).start_backfill(guild(harness))
    await harness.settle()
    first = await stored(harness, *messages)
    assert len(first) == 100  # the newest page only

    harness.discord.history_requests.clear()
    ingestion(harness).start_backfill(guild(harness))
    await harness.settle()

    assert set(await stored(harness, *messages)) == set(messages)
    general = [r for r in harness.discord.history_requests if r["channel"] == GENERAL_ID]
    oldest_stored = min(int(message_id) for message_id in first)
    assert int(general[0]["before"]) <= oldest_stored  # resumed below what it had
    assert len(general) <= 3  # two pages back, one to catch up: not the whole history again


async def test_after_downtime_the_bot_catches_up_on_what_it_missed(harness: Harness) -> None:
    said = await harness.say(ALICE, "before the outage", at=harness.now - timedelta(hours=3))
    missed = history(harness, GENERAL_ID, 20, start_hours_ago=2)

    harness.gateway("guild_create", {**payloads.guild_create(), "unavailable": False})
    await harness.settle()

    assert set(await stored(harness, said, *missed)) == {said, *missed}


async def test_an_opt_out_also_stops_messages_already_queued(harness: Harness) -> None:
    ingest = harness.services.ingest
    message = Message(
        id=harness.next_id(),
        guild_id=GUILD_ID,
        channel_id=GENERAL_ID,
        author=Author(id=BOB.id, name="bob"),
        content="queued just before opting out",
        timestamp=harness.now,
    )
    await ingest.rules.get(GUILD_ID)  # the rules as they were: bob still in
    await harness.services.state.set_opted_out(GUILD_ID, BOB.id, True, harness.now)
    await ingest.submit([message])  # admitted under the old rules, and queued
    ingest.rules.forget(GUILD_ID)  # what /snitch optout does next
    await ingest.drained()

    assert await stored(harness, message.id) == {}
    assert vectors_of(harness, message.id) == set()
