"""Command counts through the real CommandTree: ok, refused, failed; and over HTTP, a
command handed over to the worker is counted once, when the worker finishes it."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

from tests.bot import payloads
from tests.bot.conftest import Harness
from tests.bot.test_admin import MOD, over_http
from tests.bot.test_editions import feud
from tests.test_telemetry import Captured, in_memory_telemetry

COMMANDS = "snitch.commands"


@pytest.fixture
def captured() -> Iterator[Captured]:
    with in_memory_telemetry() as telemetry:
        yield telemetry


def counted(captured: Captured) -> dict[tuple[str, str], float]:
    """(command, outcome) to how many times, from the commands counter."""
    return {
        (attrs["command"], attrs["outcome"]): point.value
        for attrs, point in captured.points(COMMANDS)
    }


async def test_commands_are_counted_by_outcome(
    harness: Harness, captured: Captured, monkeypatch: pytest.MonkeyPatch
) -> None:
    await feud(harness)

    await harness.command("leak")  # a sneak peek: ok
    await harness.command("leak")  # again at once: the member's cooldown refuses it
    await harness.command("snitch config", {"persona": "noir"})  # not a moderator: refused
    await harness.command("snitch config", {"timezone": "Mars/Olympus"}, **MOD)  # bad value

    async def broken(*_args: Any, **_kwargs: Any) -> int:
        raise RuntimeError("the store went away")

    monkeypatch.setattr(harness.services.store, "count_messages", broken)
    await harness.command("snitch status")  # our fault: failed

    assert counted(captured) == {
        ("leak", "ok"): 1,
        ("leak", "refused"): 1,
        ("snitch config", "refused"): 2,
        ("snitch status", "failed"): 1,
    }


async def test_a_command_handed_over_to_the_worker_is_counted_once(
    harness: Harness, captured: Captured
) -> None:
    await feud(harness)

    async with over_http(harness) as (post, jobs):
        response = await post(payloads.interaction("breaking-news", {"hours": 24}))
        assert response.json()["type"] == 5  # deferred: the worker finishes it
        await jobs.drained()

    [answer] = harness.discord.replies()
    assert "Hot off the press" in answer.body["content"]  # the worker finished it
    assert counted(captured) == {("breaking-news", "ok"): 1}
    ((attrs, point),) = captured.points("snitch.edition.duration")
    assert attrs == {"engine": "offline", "persona": "gossip", "outcome": "ok"}
    assert point.count == 1
