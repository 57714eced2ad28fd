"""Privacy at the Discord edge: what members and admins ask to keep out stays out of the
store and the vectors, forget-me leaves nothing behind, tips are unreadable at rest, and a
tip can never ping anyone."""

from __future__ import annotations

import re
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest

from snitch.bot.replies import post_edition
from snitch.tips import TipBox, TipCipher, TipKeyError, generate_key
from tests.bot import payloads
from tests.bot.conftest import Harness
from tests.bot.fake_discord import Sent

MOD: dict[str, Any] = {"user": payloads.BOB, "permissions": payloads.MANAGE_GUILD}
HOSTILE = "@everyone @here <@{bob}> <@!{bob}> <@&{guild}> look at this"


async def stored(harness: Harness, *message_ids: str) -> list[str]:
    """The contents of those messages the store holds."""
    return [m.content for m in await harness.services.store.messages_by_id(list(message_ids))]


def vectors(harness: Harness) -> int:
    assert harness.services.vectors is not None
    return harness.services.vectors.count(payloads.GUILD_ID)


def vector_authors(harness: Harness, text: str) -> set[str]:
    """Who wrote the messages nearest to ``text`` in the semantic memory."""
    assert harness.services.vectors is not None
    assert harness.services.embedder is not None
    [vector] = harness.services.embedder.embed([text])
    hits = harness.services.vectors.query(payloads.GUILD_ID, vector, limit=50)
    return {hit.author_id for hit in hits}


def on_disk(data_dir: Path) -> tuple[set[str], bytes]:
    """Every file under the data directory (database, WAL, vectors): names and bytes."""
    files = [path for path in data_dir.rglob("*") if path.is_file()]
    return {path.name for path in files}, b"".join(path.read_bytes() for path in files)


def assert_pingless(sent: list[Sent]) -> None:
    for message in sent:
        assert message.body["allowed_mentions"] == {"parse": []}, message


async def test_after_optout_a_members_messages_are_never_stored(harness: Harness) -> None:
    # Alice's rules are cached by her first message; opting out must take effect at once.
    before = await harness.say(payloads.ALICE, "I love pineapple on pizza")
    assert await stored(harness, before) == ["I love pineapple on pizza"]
    await harness.command("snitch optout", user=payloads.ALICE)

    after = await harness.say(payloads.ALICE, "my deepest secret: I hate pizza")
    in_thread = await harness.say(payloads.ALICE, "thread secret", channel_id=payloads.THREAD_ID)
    bobs = await harness.say(payloads.BOB, "pizza is fine")

    assert await stored(harness, after, in_thread) == []
    assert await stored(harness, bobs) == ["pizza is fine"]
    assert vectors(harness) == 2  # her earlier message and Bob's
    assert payloads.ALICE.id in vector_authors(harness, "pizza")
    nearest = harness.services.vectors.query(  # type: ignore[union-attr]
        payloads.GUILD_ID,
        harness.services.embedder.embed(["my deepest secret: I hate pizza"])[0],  # type: ignore[union-attr]
        limit=10,
    )
    assert after not in {hit.message_id for hit in nearest}

    # Opting back in stores new messages again, never the ones sent meanwhile.
    await harness.command("snitch optin", user=payloads.ALICE)
    back = await harness.say(payloads.ALICE, "hello again")
    assert await stored(harness, back, after) == ["hello again"]


async def test_an_excluded_channel_and_its_threads_are_never_stored(harness: Harness) -> None:
    early = await harness.say(payloads.BOB, "before the exclusion", channel_id=payloads.SECRET_ID)
    assert await stored(harness, early) == ["before the exclusion"]
    await harness.command(
        "snitch config", {"exclude": payloads.ChannelOption(payloads.SECRET_ID, "secret")}, **MOD
    )
    secret = await harness.say(
        payloads.BOB, "the password is hunter2", channel_id=payloads.SECRET_ID
    )
    thread = await harness.say(
        payloads.CAROL, "hunter3 in the thread", channel_id=payloads.THREAD_ID
    )
    general = await harness.say(payloads.CAROL, "public chatter")

    assert await stored(harness, secret, thread) == []
    assert await stored(harness, general) == ["public chatter"]
    assert vectors(harness) == 2  # the early message and the public one
    nearest = harness.services.vectors.query(  # type: ignore[union-attr]
        payloads.GUILD_ID,
        harness.services.embedder.embed(["the password is hunter2"])[0],  # type: ignore[union-attr]
        limit=10,
    )
    assert {hit.message_id for hit in nearest} == {early, general}


async def test_only_included_channels_are_stored(harness: Harness) -> None:
    await harness.command(
        "snitch config", {"include": payloads.ChannelOption(payloads.GENERAL_ID)}, **MOD
    )
    general = await harness.say(payloads.ALICE, "in general")
    random = await harness.say(payloads.ALICE, "in random", channel_id=payloads.RANDOM_ID)
    assert await stored(harness, general, random) == ["in general"]
    assert vectors(harness) == 1


async def test_bots_and_direct_messages_are_never_stored(harness: Harness) -> None:
    robot = await harness.say(payloads.ROBOT, "beep boop, I am a bot")
    dm_id = harness.next_id()
    harness.gateway(
        "message_create",
        payloads.message(dm_id, payloads.ALICE, "a private word", channel_id="42", guild=False),
    )
    await harness.settle()
    # discord.py did parse both (so the bot saw them), and kept neither.
    seen = {str(message.id) for message in harness.bot.cached_messages}
    assert {robot, dm_id} <= seen
    assert await stored(harness, robot, dm_id) == []
    assert await harness.services.store.count_messages() == 0
    assert vectors(harness) == 0


async def test_forget_me_leaves_nothing_behind(harness: Harness) -> None:
    mine = [
        await harness.say(payloads.ALICE, "Alice here, I broke the build"),
        await harness.say(payloads.ALICE, "and I ate Bob's lunch", channel_id=payloads.THREAD_ID),
    ]
    bobs = await harness.say(
        payloads.BOB, "Alice ate my lunch", mentions=(payloads.ALICE,), reply_to=mine[0]
    )
    await harness.command("tip", {"text": "alice's anonymous tip"}, user=payloads.ALICE)
    await harness.command("tip", {"text": "carol's tip"}, user=payloads.CAROL)
    # An edition went out quoting her, and was archived.
    editions = harness.services.editions
    guild_settings = await harness.services.state.settings(payloads.GUILD_ID)
    written = await editions.write(
        guild_settings,
        since=harness.now - timedelta(days=1),
        until=harness.now + timedelta(hours=1),
    )
    assert any(
        q.author_id == payloads.ALICE.id for a in written.newsletter.stories for q in a.quotes
    )
    await editions.archive_published(
        guild_settings,
        written,
        now=harness.now,
        slot=None,
        channel_id=payloads.NEWS_ID,
        discord_message_ids=[],
    )

    sent = await harness.command("snitch forget-me", user=payloads.ALICE)
    assert "2 stored messages" in str(sent[0].body["content"])
    assert "1 archived edition" in str(sent[0].body["content"])
    [archived] = await editions.archive.latest(payloads.GUILD_ID)
    quotes = [q for a in archived.newsletter.stories for q in a.quotes]
    assert all(q.author_id != payloads.ALICE.id for q in quotes)
    assert "I broke the build" not in archived.newsletter.model_dump_json()

    store = harness.services.store
    assert await stored(harness, *mine) == []
    remaining = await store.messages(payloads.GUILD_ID)
    assert [m.id for m in remaining] == [bobs]
    assert all(m.author.id != payloads.ALICE.id for m in remaining)
    # Bob's message still says it mentioned someone, but no longer who she was by name.
    [mention] = remaining[0].mentions
    assert "alice" not in f"{mention.name} {mention.nickname}".lower()
    assert payloads.ALICE.id not in vector_authors(harness, "Alice broke the build and ate lunch")
    assert vectors(harness) == 1
    assert [t.text for t in await harness.services.tips.waiting(payloads.GUILD_ID)] == [
        "carol's tip"
    ]
    # She stays opted out: what she says next is not stored either.
    assert payloads.ALICE.id in await harness.services.state.opted_out(payloads.GUILD_ID)
    later = await harness.say(payloads.ALICE, "am I gone?")
    assert await stored(harness, later) == []


async def test_tips_are_unreadable_in_the_database_without_the_key(harness: Harness) -> None:
    text = "The quartermaster sells our snacks"
    await harness.command("tip", {"text": text}, user=payloads.CAROL)
    # Carol never posted: her id has no reason to be anywhere on disk.
    names, raw = on_disk(harness.services.settings.data_dir)
    assert "snitch.db" in names
    for needle in (text, "quartermaster", payloads.CAROL.id):
        assert needle.encode("utf-8") not in raw
        assert needle.encode("utf-16-le") not in raw
    # The key opens it; another key does not.
    assert [t.text for t in await harness.services.tips.waiting(payloads.GUILD_ID)] == [text]
    stranger = TipBox(
        harness.services.store.tips,
        TipCipher(generate_key()),
        harness.services.settings.tips,
    )
    with pytest.raises(TipKeyError):
        await stranger.waiting(payloads.GUILD_ID)


async def test_a_tip_never_causes_a_ping(harness: Harness) -> None:
    hostile = HOSTILE.format(bob=payloads.BOB.id, guild=payloads.GUILD_ID)
    sent = await harness.command("tip", {"text": hostile}, user=payloads.CAROL)
    assert_pingless(sent)
    assert "@everyone" not in str(sent[0].body)

    # The moderator reads it as written, in an embed, without pinging.
    listing = await harness.command("snitch tips", **MOD)
    assert_pingless(listing)
    assert listing[0].body["embeds"][0]["description"] == hostile
    [pending] = await harness.services.tips.waiting(payloads.GUILD_ID)
    approved = await harness.command(
        "snitch tips", {"action": "approve", "tip": pending.id[:8]}, **MOD
    )
    assert_pingless(approved)

    # Printed in an edition: defanged text, posted with mentions off.
    await harness.say(payloads.ALICE, "the build is broken again")
    await harness.say(payloads.BOB, "who broke the build?")
    await harness.say(payloads.ALICE, "not me, I swear")
    settings = await harness.services.state.settings(payloads.GUILD_ID)
    written = await harness.services.editions.write(
        settings,
        since=harness.now - timedelta(hours=1),
        until=harness.now + timedelta(minutes=1),
        with_tips=True,
    )
    assert written.tip_ids == (pending.id,)
    channel = harness.bot.get_channel(int(payloads.NEWS_ID))
    assert channel is not None
    await post_edition(channel, written.messages)  # type: ignore[arg-type]
    await harness.settle()
    posted = harness.discord.messages_in(payloads.NEWS_ID)
    assert posted
    assert_pingless(posted)
    everything = str([message.body for message in posted])
    assert "look at this" in everything  # the tip is printed...
    assert "Unverified reader tip" in everything
    assert not re.search(r"@(everyone|here)|<@[!&]?\d+>", everything)  # ...without a ping
