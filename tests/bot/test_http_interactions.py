"""Slash commands over HTTP: the bot's own CommandTree behind the signed endpoint.

Requests go through the ASGI app (signature check, handler, runner); deferred work goes
through the job queue to the worker, whose answers reach the fake Discord's webhook routes.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

import discord
import httpx
import pytest
from discord import app_commands

from snitch.interactions.asgi import InteractionsApp
from snitch.interactions.endpoint import LocalJobs
from snitch.interactions.handler import InteractionHandler
from snitch.interactions.runner import TreeRunner
from snitch.interactions.signature import load_public_key
from tests.bot import payloads
from tests.bot.conftest import Harness
from tests.interactions.signing import PUBLIC_KEY_HEX, signed


@dataclass
class Http:
    """The endpoint in front of the harness's bot."""

    harness: Harness
    client: httpx.AsyncClient
    jobs: LocalJobs

    async def post(self, payload: dict[str, Any]) -> httpx.Response:
        """POST a signed interaction, as Discord would."""
        self.harness.discord.expect_interaction(payload["token"], payload["channel_id"])
        body, headers = signed(payload)
        return await self.client.post("/interactions", content=body, headers=headers)


@pytest.fixture
async def http(harness: Harness) -> AsyncIterator[Http]:
    jobs = LocalJobs()
    runner = TreeRunner(harness.bot, harness.bot.tree, jobs.put, deadline=0.5)
    jobs.runner = runner
    jobs.start()
    app = InteractionsApp(InteractionHandler(load_public_key(PUBLIC_KEY_HEX), runner))
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://snitch.test") as client:
        yield Http(harness, client, jobs)
    await jobs.stop()


@app_commands.command(name="echo", description="Says it back, at once.")
async def echo(interaction: discord.Interaction[Any], text: str) -> None:
    await interaction.response.send_message(text, ephemeral=True)


@app_commands.command(name="slow", description="Defers, then answers twice.")
async def slow(interaction: discord.Interaction[Any]) -> None:
    await interaction.response.defer(ephemeral=True, thinking=True)
    await asyncio.sleep(0)
    await interaction.followup.send("first @everyone")
    await interaction.followup.send("second")


DAWDLED: list[str] = []


@app_commands.command(name="dawdle", description="Takes its time before deferring.")
async def dawdle(interaction: discord.Interaction[Any]) -> None:
    DAWDLED.append(str(interaction.id))
    await asyncio.sleep(1.5)  # past the runner's deadline: the endpoint defers for it
    await interaction.response.defer(thinking=True)
    await interaction.followup.send("worth the wait")


@pytest.fixture(autouse=True)
def test_commands(harness: Harness) -> None:
    commands: tuple[app_commands.Command[Any, ..., None], ...] = (echo, slow, dawdle)
    for command in commands:
        harness.bot.tree.add_command(command, override=True)


async def test_a_quick_answer_is_the_http_response_itself(http: Http) -> None:
    response = await http.post(payloads.interaction("echo", {"text": "hello"}))

    assert response.status_code == 200
    body = response.json()
    assert body["type"] == 4
    assert body["data"]["content"] == "hello"
    assert body["data"]["flags"] == 64
    assert body["data"]["allowed_mentions"] == {"parse": []}
    assert http.harness.discord.callbacks == []  # nothing went to the callback endpoint


async def test_slow_work_is_deferred_queued_and_finished_by_webhook(http: Http) -> None:
    fake = http.harness.discord
    fake.rate_limit("/messages/@original", times=1)

    response = await http.post(payloads.interaction("slow"))
    assert response.json() == {"type": 5, "data": {"flags": 64}}
    await http.jobs.drained()

    answers = fake.replies()
    assert [(sent.via, sent.body.get("content")) for sent in answers] == [
        ("original", "first @everyone"),
        ("followup", "second"),
    ]
    assert all(sent.body["allowed_mentions"] == {"parse": []} for sent in answers)
    assert fake.rate_limited, "the PATCH was never rate-limited"
    assert fake.callbacks == []


async def test_a_command_that_misses_the_deadline_is_deferred_and_runs_once(http: Http) -> None:
    DAWDLED.clear()
    response = await http.post(payloads.interaction("dawdle"))

    assert response.json()["type"] == 5
    await http.jobs.drained()
    [answer] = http.harness.discord.replies()
    assert (answer.via, answer.body["content"]) == ("original", "worth the wait")
    assert len(DAWDLED) == 1  # finished where it ran, not started again by the worker


async def test_errors_are_answered_inline_and_ephemeral(http: Http) -> None:
    response = await http.post(payloads.interaction("echo", {"wrong": "option"}))

    body = response.json()
    assert body["type"] == 4
    assert body["data"]["flags"] == 64
    assert "reference" in body["data"]["content"] or "valid" in body["data"]["content"]


async def test_unsigned_requests_are_refused_before_the_bot_sees_them(http: Http) -> None:
    payload = payloads.interaction("echo", {"text": "hello"})
    body, headers = signed(payload)
    response = await http.client.post("/interactions", content=body + b" ", headers=headers)

    assert response.status_code == 401
    assert http.harness.discord.sent == []


async def test_only_post_to_the_endpoint_path(http: Http) -> None:
    assert (await http.client.get("/interactions")).status_code == 405
    assert (await http.client.post("/elsewhere", content=b"{}")).status_code == 404


async def test_commands_run_without_a_gateway_cache(http: Http) -> None:
    # snitch serve and the Functions hold no gateway: guild and channel come from the payload.
    bot = http.harness.bot
    guild = bot.get_guild(int(payloads.GUILD_ID))
    assert guild is not None
    bot._connection._remove_guild(guild)

    response = await http.post(payloads.interaction("snitch forget-me", user=payloads.CAROL))

    assert response.json() == {"type": 5, "data": {"flags": 64}}
    await http.jobs.drained()
    [answer] = http.harness.discord.replies()
    assert answer.via == "original"
    assert "Done." in answer.body["content"]


async def test_backfill_works_without_a_gateway_cache(http: Http) -> None:
    harness = http.harness
    bot = harness.bot
    guild = bot.get_guild(int(payloads.GUILD_ID))
    assert guild is not None
    bot._connection._remove_guild(guild)
    said = payloads.snowflake(harness.now - timedelta(hours=5))
    harness.discord.history[payloads.GENERAL_ID].append(
        payloads.message(said, payloads.ALICE, "from before the bot was here")
    )

    response = await http.post(
        payloads.interaction("snitch backfill", permissions=payloads.MANAGE_GUILD)
    )
    assert "Reading the last" in response.json()["data"]["content"]
    await harness.settle()

    [stored] = await harness.services.store.messages_by_id([said])
    assert stored.content == "from before the bot was here"
    [guild_row] = await harness.services.store.guilds()
    assert guild_row.name == "Test Server"
