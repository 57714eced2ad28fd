"""The alert: a guild whose scheduled editions fail, or fall back to the offline engine,
three times in a row has its admin channel told, once, and an error logged.

The bot runs with an LLM (the scripted ``FakeLLMServer``) that can be switched between
answering and failing; scheduled editions are driven by hand, one a day.
"""

from __future__ import annotations

import json
from collections.abc import AsyncIterator, Iterator, MutableMapping
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
import structlog

from snitch.memory.embeddings import LocalEmbedder
from tests.bot import payloads
from tests.bot.conftest import Harness, llm_settings, running_bot
from tests.bot.fake_discord import Sent
from tests.bot.test_editions import assert_never_pings, configure, feud
from tests.bot.test_editions_llm import answer
from tests.bot.test_schedule import SIX_PM, jobs
from tests.fake_llm import Failure, FakeLLMServer, Recorded, Reply

ADMIN_ID = payloads.RANDOM_ID  # the moderators' channel in these tests
ALERT_EVENT = "scheduled editions keep failing"


class SwitchableLLM:
    """Answers like a real LLM, or fails every call with a 500 while ``failing``."""

    def __init__(self) -> None:
        self.failing = True

    def __call__(self, request: Recorded) -> Reply | Failure:
        return Failure(500, message="the model is down") if self.failing else answer(request)


@dataclass
class World:
    harness: Harness
    llm: FakeLLMServer
    switch: SwitchableLLM
    day: int = 0

    async def scheduled_edition(self) -> None:
        """The next day's chat, then its 18:00 edition."""
        harness = self.harness
        harness.now = SIX_PM + timedelta(days=self.day)
        self.day += 1
        await feud(harness)
        assert await jobs(harness).run_schedule(harness.now) == [payloads.GUILD_ID]

    def alerts(self) -> list[Sent]:
        return self.harness.discord.messages_in(ADMIN_ID)

    def editions(self) -> str:
        """Every edition posted so far, as one JSON string."""
        return json.dumps([m.body for m in self.harness.discord.messages_in(payloads.NEWS_ID)])


@pytest.fixture
def switch() -> SwitchableLLM:
    return SwitchableLLM()


@pytest.fixture
def llm(switch: SwitchableLLM) -> Iterator[FakeLLMServer]:
    with FakeLLMServer(responder=switch) as server:
        yield server


@pytest.fixture
async def world(
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    shared_embedder: LocalEmbedder,
    llm: FakeLLMServer,
    switch: SwitchableLLM,
) -> AsyncIterator[World]:
    """A guild with daily editions in #news and #random as its admin channel."""
    settings = llm_settings(tmp_path, llm)
    async with running_bot(monkeypatch, settings, shared_embedder) as harness:
        await configure(
            harness,
            edition_channel_id=payloads.NEWS_ID,
            admin_channel_id=ADMIN_ID,
            schedule="daily 18:00",
        )
        yield World(harness, llm, switch)


def alert_events(logged: list[MutableMapping[str, Any]]) -> list[MutableMapping[str, Any]]:
    return [event for event in logged if event["event"] == ALERT_EVENT]


async def test_three_fallback_editions_in_a_row_tell_the_admin_channel_once(world: World) -> None:
    with structlog.testing.capture_logs() as logged:
        for _ in range(2):
            await world.scheduled_edition()
        assert world.alerts() == []
        assert alert_events(logged) == []

        await world.scheduled_edition()
        await world.scheduled_edition()  # the fourth: still failing, but no second alert yet

    assert len(world.llm.requests) >= 4  # the guild's LLM was asked every time, and failed
    assert world.llm.calls == 0  # not one answered
    assert "PIZZA GATE" not in world.editions()  # the offline engine wrote every edition
    (alert,) = world.alerts()
    assert "last 3 scheduled editions" in alert.body["content"]
    assert not alert.body.get("embeds")
    assert_never_pings([alert])
    (event,) = alert_events(logged)
    assert event["log_level"] == "error"
    assert event["guild"] == payloads.GUILD_ID
    assert event["streak"] == 3


async def test_an_edition_the_llm_writes_resets_the_run(world: World) -> None:
    await world.scheduled_edition()
    await world.scheduled_edition()
    world.switch.failing = False
    await world.scheduled_edition()
    assert "PIZZA GATE" in world.editions()  # the LLM wrote that one
    world.switch.failing = True

    with structlog.testing.capture_logs() as logged:
        await world.scheduled_edition()
        await world.scheduled_edition()
        assert world.alerts() == []
        await world.scheduled_edition()

    (alert,) = world.alerts()
    assert "last 3 scheduled editions" in alert.body["content"]
    assert [event["streak"] for event in alert_events(logged)] == [3]


async def test_a_guild_that_writes_offline_by_choice_is_never_alerted(world: World) -> None:
    await configure(world.harness, llm_enabled=False)

    with structlog.testing.capture_logs() as logged:
        for _ in range(4):
            await world.scheduled_edition()

    assert world.llm.requests == []
    assert len(world.harness.discord.messages_in(payloads.NEWS_ID)) >= 4
    assert world.alerts() == []
    assert alert_events(logged) == []


async def test_failed_publications_count_and_without_an_admin_channel_only_the_log(
    world: World,
) -> None:
    harness = world.harness
    await configure(harness, llm_enabled=False, admin_channel_id=None)
    harness.discord.forbid(f"channels/{payloads.NEWS_ID}/messages", times=3)

    with structlog.testing.capture_logs() as logged:
        for _ in range(3):
            harness.now = SIX_PM + timedelta(days=world.day)
            world.day += 1
            await feud(harness)
            # The scheduler logs the failure and publishes nothing.
            assert await jobs(harness).run_schedule(harness.now) == []

    assert harness.discord.messages_in(payloads.NEWS_ID) == []
    assert world.alerts() == []
    (event,) = alert_events(logged)
    assert event["streak"] == 3
    assert event["admin_channel"] is None
    assert await harness.services.state.record_edition(payloads.GUILD_ID, True) == 0
