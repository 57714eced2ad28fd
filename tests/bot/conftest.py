"""A real bot over real services, talking to a fake Discord on loopback.

The ``harness`` fixture opens the services on a scratch SQLite store and Chroma directory,
logs a ``SnitchBot`` in against ``FakeDiscord`` (so ``setup_hook`` loads every extension
and registers the commands), and feeds it the test server's GUILD_CREATE. Tests then send
gateway events and interactions as raw payloads; discord.py parses and routes them.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import discord
import pytest
from aiohttp.test_utils import TestServer
from discord import app_commands

from snitch.bot.client import SnitchBot
from snitch.bot.services import Services, open_services
from snitch.config import Settings
from snitch.memory.embeddings import LocalEmbedder
from snitch.tips import generate_key
from tests.bot import payloads
from tests.bot.fake_discord import FakeDiscord, Sent
from tests.fake_llm import FakeLLMServer

START = datetime(2026, 11, 20, 12, 0, tzinfo=UTC)


@pytest.fixture(scope="session")
def shared_embedder() -> LocalEmbedder:
    """One loaded MiniLM for every bot test."""
    return LocalEmbedder()


@dataclass
class Harness:
    """The bot, its services, the fake API, and a clock the tests move."""

    bot: SnitchBot
    services: Services
    discord: FakeDiscord
    now: datetime = START
    ids: int = field(default=0)

    def clock(self) -> datetime:
        """The services' clock."""
        return self.now

    def next_id(self, moment: datetime | None = None) -> str:
        """A fresh snowflake for a message at ``moment`` (default: now)."""
        self.ids += 1
        return payloads.snowflake(moment or self.now, self.ids)

    async def command(
        self,
        name: str,
        options: dict[str, Any] | None = None,
        **how: Any,
    ) -> list[Sent]:
        """Run a slash command through the real CommandTree; returns what it answered."""
        payload = payloads.interaction(name, options, **how)
        self.discord.expect_interaction(payload["token"], payload["channel_id"])
        before = len(self.discord.sent)
        interaction: discord.Interaction[Any] = discord.Interaction(
            data=payload,  # type: ignore[arg-type]
            state=self.bot._connection,
        )
        try:  # what CommandTree._from_interaction's task does, awaited here
            await self.bot.tree._call(interaction)
        except app_commands.AppCommandError as error:
            await self.bot.tree.on_error(interaction, error)
        await self.settle()
        return self.discord.sent[before:]

    def gateway(self, event: str, data: dict[str, Any]) -> None:
        """Feed one gateway event (``message_create``, ``message_delete``...) to discord.py."""
        getattr(self.bot._connection, f"parse_{event}")(data)

    async def settle(self) -> None:
        """Wait for the event handlers discord.py started, then for the ingestion queue."""
        for _ in range(50):
            running = [
                task
                for task in asyncio.all_tasks()
                if task is not asyncio.current_task()
                and task.get_name().startswith(("discord.py", "snitch: "))
                and not task.done()
            ]
            if not running:
                break
            await asyncio.gather(*running, return_exceptions=True)
        await self.services.ingest.drained()

    async def say(
        self,
        author: payloads.User,
        content: str,
        *,
        channel_id: str = payloads.GENERAL_ID,
        at: datetime | None = None,
        **more: Any,
    ) -> str:
        """A member posts a message; returns its id once the bot has handled it."""
        message_id = self.next_id(at)
        self.gateway(
            "message_create",
            payloads.message(message_id, author, content, channel_id=channel_id, **more),
        )
        await self.settle()
        return message_id


def make_settings(tmp_path: Path, **changes: Any) -> Settings:
    """Settings for a scratch bot: its own data directory, offline engine, a tips key."""
    return Settings(
        data_dir=tmp_path / "data",
        tips={"key": generate_key()},
        **changes,
    )


def llm_settings(tmp_path: Path, server: FakeLLMServer) -> Settings:
    """Scratch settings whose LLM is the fake OpenAI-compatible server (no SDK retries)."""
    return make_settings(
        tmp_path,
        llm={
            "provider": "openai",
            "base_url": server.openai_base_url,
            "api_key": "test-key",
            "model": "fake-model",
            "max_retries": 0,
        },
    )


@asynccontextmanager
async def running_bot(
    monkeypatch: pytest.MonkeyPatch, settings: Settings, embedder: LocalEmbedder
) -> AsyncIterator[Harness]:
    """A logged-in bot on the test server with these settings (see the module docstring)."""
    fake = FakeDiscord()
    server = TestServer(fake.app(), host="127.0.0.1")
    await server.start_server()
    monkeypatch.setattr(discord.http.Route, "BASE", f"http://127.0.0.1:{server.port}/api/v10")
    clock_holder: list[Harness] = []
    async with open_services(
        settings, embedder=embedder, clock=lambda: clock_holder[0].clock()
    ) as services:
        bot = SnitchBot(services, runs_jobs=False, sync_commands=True)
        harness = Harness(bot=bot, services=services, discord=fake)
        clock_holder.append(harness)
        try:
            await bot.login("test-token")
            bot._connection.parse_guild_create(payloads.guild_create())
            await harness.settle()
            yield harness
        finally:
            await bot.close()
            await server.close()


@pytest.fixture
async def harness(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, shared_embedder: LocalEmbedder
) -> AsyncIterator[Harness]:
    """A logged-in bot on the test server, offline engine, scratch data directory."""
    async with running_bot(monkeypatch, make_settings(tmp_path), shared_embedder) as harness:
        yield harness
