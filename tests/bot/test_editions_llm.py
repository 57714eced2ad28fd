"""What reaches an LLM: every prompt the bot's commands and jobs send, read on the wire.

The bot runs with an OpenAI-compatible LLM (the scripted ``FakeLLMServer``) for editions
and fact-checks. A member who opted out and a channel the guild excluded were both talked
about *before* the change, so their messages are in the store: the commands themselves
must leave them out, not only ingestion.
"""

from __future__ import annotations

import json
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path

import pytest

from snitch.memory.embeddings import LocalEmbedder
from tests.bot import payloads
from tests.bot.conftest import Harness, llm_settings, running_bot
from tests.bot.test_editions import FEUD, configure, feud, opt_out, text_of
from tests.bot.test_schedule import jobs
from tests.fake_llm import FakeLLMServer, Recorded, Reply

CAROLS_SECRET = "saffron"  # only Carol, who opts out, ever says it
THE_PASSWORD = "swordfish"  # only said in #secret, which the guild excludes
THREAD_WORD = "marlin"  # only said in a thread under #secret


def answer(request: Recorded) -> Reply:
    """A plausible reply for each desk, so every LLM step runs (and is recorded)."""
    system = json.dumps(request.body["messages"][0]["content"])
    if "fact-checker" in system:
        verdict = {"verdict": "not_enough_evidence", "explanation": "Unclear [e1].", "cited": []}
        return Reply(json.dumps(verdict))
    if "News Desk" in system:
        return Reply(json.dumps({"stories": [{"candidate": "S1", "title": "Pizza!"}]}))
    if "Editor" in system:
        return Reply(json.dumps({"headline": "S1", "supporting": [], "reason": "pizza"}))
    article = {"story": "S1", "title": "PIZZA GATE", "summary": "Crumbs.", "quotes": []}
    return Reply(json.dumps({"articles": [article]}))


@dataclass
class World:
    harness: Harness
    llm: FakeLLMServer

    def prompts(self) -> str:
        """Every request the LLM server saw, as one lower-case string."""
        return "\n".join(json.dumps(r.body) for r in self.llm.requests).lower()


@pytest.fixture
def llm() -> Iterator[FakeLLMServer]:
    with FakeLLMServer(responder=answer) as server:
        yield server


@pytest.fixture
async def world(
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    shared_embedder: LocalEmbedder,
    llm: FakeLLMServer,
) -> AsyncIterator[World]:
    """Chat stored, then Carol opts out and #secret is excluded."""
    settings = llm_settings(tmp_path, llm)
    async with running_bot(monkeypatch, settings, shared_embedder) as harness:
        carol = payloads.CAROL
        ids = await feud(
            harness,
            lines=((carol, f"my {CAROLS_SECRET} pizza recipe is the best pizza recipe"), *FEUD),
        )
        await harness.say(
            payloads.ALICE,
            f"<@{carol.id}> knows who ate the pizza",
            at=harness.now - timedelta(minutes=30),
            mentions=(carol,),
            reply_to=ids[-1],
        )
        secret = ((payloads.BOB, f"the pizza password is {THE_PASSWORD}"),) * 3
        await feud(harness, channel_id=payloads.SECRET_ID, lines=secret)
        thread = ((payloads.BOB, f"the pizza in the thread is {THREAD_WORD}"),) * 3
        await feud(harness, channel_id=payloads.THREAD_ID, lines=thread)
        await opt_out(harness, carol)
        await configure(
            harness, excluded_channel_ids=(payloads.SECRET_ID,), edition_channel_id=payloads.NEWS_ID
        )
        yield World(harness, llm)


def assert_hidden(text: str) -> None:
    for hidden in (CAROLS_SECRET, "carol", THE_PASSWORD, THREAD_WORD):
        assert hidden not in text, hidden


async def test_editions_never_show_the_llm_an_opted_out_member_or_excluded_channel(
    world: World,
) -> None:
    harness = world.harness

    breaking = await harness.command("breaking-news", {"hours": 24})
    await jobs(harness).run_schedule(harness.now.replace(hour=18))
    scheduled = harness.discord.messages_in(payloads.NEWS_ID)

    assert world.llm.calls >= 6  # two editions, three desks each: the LLM did the work
    assert "pizza" in world.prompts()
    assert_hidden(world.prompts())
    assert "PIZZA GATE" in text_of(breaking)
    assert "PIZZA GATE" in text_of(scheduled)
    assert_hidden(text_of([*breaking, *scheduled]).lower())


async def test_a_fact_check_never_shows_the_llm_an_opted_out_author(world: World) -> None:
    sent = await world.harness.command("fact-check", {"claim": "whose pizza recipe is the best"})

    assert world.llm.calls == 1
    assert "pizza recipe" in world.prompts()  # the claim, and other members' messages
    assert CAROLS_SECRET not in world.prompts()
    assert CAROLS_SECRET not in text_of(sent).lower()


async def test_a_fact_check_never_shows_the_llm_an_excluded_channel(world: World) -> None:
    sent = await world.harness.command("fact-check", {"claim": "what is the pizza password"})

    assert THE_PASSWORD not in world.prompts()
    assert THE_PASSWORD not in text_of(sent).lower()


async def test_a_fact_check_never_names_an_opted_out_member(world: World) -> None:
    sent = await world.harness.command("fact-check", {"claim": "who knows who ate the pizza"})

    assert "carol" not in world.prompts()
    assert "carol" not in text_of(sent).lower()
