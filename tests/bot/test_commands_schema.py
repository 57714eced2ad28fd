"""The command schema: what the bot registers, what `snitch commands` prints, what it PUTs."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import discord
import pytest
from aiohttp.test_utils import TestServer
from typer.testing import CliRunner

from snitch.bot.client import command_schema
from snitch.cli import app
from snitch.cli.bot import DiscordRefused, register
from tests.bot import payloads
from tests.bot.conftest import Harness
from tests.bot.fake_discord import FakeDiscord

PLACEHOLDER_DESCRIPTION = "…"  # what discord.py writes when a command has no docstring


@pytest.fixture
async def fake_discord(monkeypatch: pytest.MonkeyPatch) -> AsyncIterator[FakeDiscord]:
    fake = FakeDiscord(accepted_token="real-token")
    server = TestServer(fake.app(), host="127.0.0.1")
    await server.start_server()
    monkeypatch.setattr(discord.http.Route, "BASE", f"http://127.0.0.1:{server.port}/api/v10")
    yield fake
    await server.close()


def every_command_and_option(schema: list[dict[str, Any]]) -> Iterator[dict[str, Any]]:
    """Commands, subcommands and options, all of which must be described."""
    pending = list(schema)
    while pending:
        item = pending.pop()
        yield item
        pending.extend(item.get("options", []))


async def test_the_schema_is_what_the_bot_registers_at_start_up(harness: Harness) -> None:
    assert harness.discord.commands[None] == await command_schema()


async def test_every_command_and_option_has_a_description() -> None:
    schema = await command_schema()
    assert schema, "the bot registers no commands"
    for item in every_command_and_option(schema):
        description = item.get("description", "")
        assert description, item["name"]
        assert description != PLACEHOLDER_DESCRIPTION, item["name"]


async def test_register_commands_puts_the_schema_globally_or_on_one_server(
    fake_discord: FakeDiscord,
) -> None:
    schema = await command_schema()

    assert await register("real-token", None) == len(schema)
    assert await register("real-token", payloads.GUILD_ID) == len(schema)

    assert fake_discord.commands[None] == schema
    assert fake_discord.commands[payloads.GUILD_ID] == schema


async def test_register_commands_with_a_refused_token_says_so(fake_discord: FakeDiscord) -> None:
    with pytest.raises(DiscordRefused, match="SNITCH_DISCORD__TOKEN"):
        await register("stale-token", None)
    assert fake_discord.commands == {}


def test_snitch_commands_json_prints_the_schema(isolated_cli: Path) -> None:
    import asyncio

    result = CliRunner().invoke(app, ["commands", "--json"])

    assert result.exit_code == 0, result.output
    assert json.loads(result.stdout) == asyncio.run(command_schema())


def test_snitch_run_without_a_token_explains_where_to_get_one(isolated_cli: Path) -> None:
    result = CliRunner().invoke(app, ["run"])

    assert result.exit_code == 1
    assert "SNITCH_DISCORD__TOKEN" in result.output
