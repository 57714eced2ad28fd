"""Scheduled editions and retention: the job bodies, driven by hand at chosen moments."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path
from typing import cast

import pytest

from snitch.bot.client import SnitchBot
from snitch.bot.exts.editions._jobs import EditionJobs
from snitch.memory.embeddings import LocalEmbedder
from snitch.tips.box import UNVERIFIED_LABEL
from tests.bot import payloads
from tests.bot.conftest import START, Harness, make_settings, running_bot
from tests.bot.test_editions import (
    FEUD,
    HOSTILE,
    assert_never_pings,
    configure,
    feud,
    text_of,
    walled_off,  # noqa: F401 - a fixture
)

SIX_PM = START.replace(hour=18)


def jobs_of(bot: SnitchBot) -> EditionJobs:
    """The bot's jobs cog. Not an ``isinstance`` check: discord.py imports an extension's
    modules afresh for every bot that loads it, so the class differs from ours."""
    cog = bot.get_cog("EditionJobs")
    assert type(cog).__qualname__ == "EditionJobs"
    return cast(EditionJobs, cog)


def jobs(harness: Harness) -> EditionJobs:
    return jobs_of(harness.bot)


async def approved_tip(harness: Harness, text: str) -> str:
    tips = harness.services.tips
    tip = await tips.submit(payloads.GUILD_ID, payloads.CAROL.id, text, harness.now)
    assert await tips.review(payloads.GUILD_ID, tip.id, approve=True, now=harness.now)
    return tip.id


async def test_each_due_edition_is_published_once_across_a_restart_and_downtime(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, shared_embedder: LocalEmbedder
) -> None:
    settings = make_settings(tmp_path)
    async with running_bot(monkeypatch, settings, shared_embedder) as first:
        await configure(first, edition_channel_id=payloads.NEWS_ID, schedule="daily 18:00")
        await feud(first)
        await approved_tip(first, "the pizza thief wears <@&42> socks @everyone")

        assert await jobs(first).run_schedule(SIX_PM - timedelta(seconds=1)) == []
        published = await jobs(first).run_schedule(SIX_PM + timedelta(seconds=30))
        again = await jobs(first).run_schedule(SIX_PM + timedelta(minutes=1))

        assert published == [payloads.GUILD_ID]
        assert again == []
        edition = first.discord.messages_in(payloads.NEWS_ID)
        assert edition
        assert all(m.body["embeds"] for m in edition)
        text = text_of(edition)
        assert "pizza" in text
        assert f"{UNVERIFIED_LABEL}: the pizza thief wears @role socks" in text
        assert_never_pings(first.discord.sent)
        assert await first.services.tips.approved(payloads.GUILD_ID) == []
        (archived,) = await first.services.editions.archive.latest(payloads.GUILD_ID, limit=5)
        assert archived.slot == SIX_PM
        assert archived.channel_id == payloads.NEWS_ID
        assert archived.discord_message_ids == tuple(m.message_id for m in edition)
        assert archived.newsletter.reader_tips

    # A restart: a new process on the same database finds the slot already published.
    async with running_bot(monkeypatch, settings, shared_embedder) as second:
        assert await jobs(second).run_schedule(SIX_PM + timedelta(minutes=2)) == []
        assert second.discord.sent == []

        # Down for three days: the missed slots make one edition, late, not three.
        second.now = SIX_PM + timedelta(days=3, hours=2)
        await feud(second, lines=((payloads.BOB, "karaoke tonight"),) * 4)
        late = await jobs(second).run_schedule(second.now)
        after = await jobs(second).run_schedule(second.now + timedelta(minutes=1))

        assert late == [payloads.GUILD_ID]
        assert after == []
        edition = second.discord.messages_in(payloads.NEWS_ID)
        assert edition
        text = text_of(edition)
        assert "karaoke" in text
        assert UNVERIFIED_LABEL not in text  # the tip was printed once, in the first one
        archive = await second.services.editions.archive.latest(payloads.GUILD_ID, limit=5)
        # The slot published is the first one missed; the others are skipped, not replayed.
        assert [a.slot for a in archive] == [SIX_PM + timedelta(days=1), SIX_PM]
        # The schedule moved on to the future, not to the slots it missed.
        due = await second.services.state.due(second.now + timedelta(hours=22))
        assert [d.slot for d in due] == [SIX_PM + timedelta(days=4)]


async def test_without_an_edition_channel_nothing_is_posted(harness: Harness) -> None:
    await configure(harness, schedule="daily 18:00")
    await feud(harness)

    await jobs(harness).run_schedule(SIX_PM)

    assert harness.discord.sent == []
    assert await harness.services.editions.archive.latest(payloads.GUILD_ID) == []


async def test_a_quiet_day_gets_a_note_not_an_archived_edition(harness: Harness) -> None:
    await configure(harness, edition_channel_id=payloads.NEWS_ID, persona="herald")

    assert await jobs(harness).run_schedule(SIX_PM) == [payloads.GUILD_ID]

    (note,) = harness.discord.messages_in(payloads.NEWS_ID)
    assert note.body["content"] == "The realm is at peace; the herald hath naught to proclaim."
    assert note.body["allowed_mentions"] == {"parse": []}
    assert await harness.services.editions.archive.latest(payloads.GUILD_ID) == []


async def test_the_next_edition_starts_where_the_last_one_ended(harness: Harness) -> None:
    await configure(harness, edition_channel_id=payloads.NEWS_ID)
    await feud(harness)
    await jobs(harness).run_schedule(SIX_PM)
    harness.now = SIX_PM + timedelta(hours=23)
    await feud(harness, lines=((payloads.CAROL, "karaoke tonight"), (payloads.BOB, "karaoke!")))

    await jobs(harness).run_schedule(SIX_PM + timedelta(days=1))

    latest, _ = await harness.services.editions.archive.latest(payloads.GUILD_ID, limit=2)
    text = latest.newsletter.model_dump_json().lower()
    assert "karaoke" in text
    assert "pizza" not in text  # already in yesterday's edition


async def test_a_hostile_message_never_pings_from_a_scheduled_edition(harness: Harness) -> None:
    await configure(harness, edition_channel_id=payloads.NEWS_ID)
    await feud(harness, lines=tuple((who, f"{text} {HOSTILE}") for who, text in FEUD))

    await jobs(harness).run_schedule(SIX_PM)

    edition = harness.discord.messages_in(payloads.NEWS_ID)
    assert "everyone" in text_of(edition)
    assert_never_pings(edition)


async def test_a_vanished_edition_channel_is_logged(harness: Harness) -> None:
    await configure(harness, edition_channel_id="123456789012345678")  # Discord: 404
    await feud(harness)

    assert await jobs(harness).run_schedule(SIX_PM) == []  # logged, not published

    assert harness.discord.sent == []


async def test_a_refused_post_is_logged_and_not_archived(walled_off: Harness) -> None:  # noqa: F811
    await configure(walled_off, edition_channel_id=payloads.NEWS_ID)
    await feud(walled_off)

    assert await jobs(walled_off).run_schedule(SIX_PM) == []

    assert await walled_off.services.editions.archive.latest(payloads.GUILD_ID) == []
    # The slot is spent (never twice), and the tips wait for the next edition.
    assert await jobs(walled_off).run_schedule(SIX_PM + timedelta(minutes=1)) == []


# ------------------------------------------------------------------------ retention


async def test_retention_deletes_old_rows_and_vectors(harness: Harness) -> None:
    await configure(harness, retention_days=7)
    old = [
        await harness.say(payloads.ALICE, f"ancient pizza lore {n}", at=START - timedelta(days=9))
        for n in range(3)
    ]
    recent = await feud(harness)
    vectors = harness.services.vectors
    assert vectors is not None
    assert vectors.present(old) == set(old)

    removed = await jobs(harness).run_retention(START)

    assert removed == len(old)
    store = harness.services.store
    assert await store.messages_by_id(old) == []
    assert vectors.present(old) == set()
    assert {m.id for m in await store.messages_by_id(recent)} == set(recent)
    assert vectors.present(recent) == set(recent)
    assert await jobs(harness).run_retention(START) == 0  # idempotent


async def test_retention_follows_each_guilds_own_window(harness: Harness) -> None:
    await configure(harness, retention_days=30)
    kept = await harness.say(payloads.ALICE, "pizza", at=START - timedelta(days=9))

    assert await jobs(harness).run_retention(START) == 0
    assert [m.id for m in await harness.services.store.messages_by_id([kept])] == [kept]


# ------------------------------------------------------------------------ the loops


async def test_the_loops_run_only_in_a_bot_that_runs_jobs(harness: Harness) -> None:
    assert not jobs(harness)._schedule_loop.is_running()  # tests drive the bodies by hand

    bot = SnitchBot(harness.services, runs_jobs=True)
    try:
        await bot.login("test-token")
        cog = jobs_of(bot)
        assert cog._schedule_loop.is_running()
        assert cog._retention_loop.is_running()
        discord_settings = harness.services.settings.discord
        assert cog._schedule_loop.seconds == discord_settings.scheduler_seconds
        assert cog._retention_loop.minutes == discord_settings.retention_minutes
    finally:
        await bot.close()
    assert not cog._schedule_loop.is_running()
    assert not cog._retention_loop.is_running()
