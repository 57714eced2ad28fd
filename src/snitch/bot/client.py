"""The bot: a discord.py ``commands.Bot`` that holds the services and loads the features."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING, Any, Final

import discord
from discord import app_commands
from discord.ext import commands

from snitch.bot.errors import SnitchTree
from snitch.bot.services import Services
from snitch.log import get_logger
from snitch.telemetry import record_command

if TYPE_CHECKING:
    from snitch.queues.schema import BackfillCursor

log = get_logger(__name__)

SendBackfill = Callable[["BackfillCursor"], Awaitable[None]]

EXTENSIONS: Final = (
    "snitch.bot.exts.ingestion",
    "snitch.bot.exts.editions",
    "snitch.bot.exts.factcheck",
    "snitch.bot.exts.tips",
    "snitch.bot.exts.admin",
)


def use_api_base(url: str | None) -> None:
    """Send Discord REST calls through ``url`` (a rate-limit proxy), or straight to Discord.

    discord.py keeps the base URL on its ``Route`` class, so this is process-wide; the
    entry points call it once, before any client is built.
    """
    if url:
        discord.http.Route.BASE = url


def bot_intents() -> discord.Intents:
    """Only what the bot uses. Message content is privileged: enable it in the portal."""
    intents = discord.Intents.none()
    intents.guilds = True  # servers and channels, joins
    intents.guild_messages = True  # new, edited and deleted messages
    intents.message_content = True  # their text: the newsroom's raw material
    return intents


class SnitchBot(commands.Bot):
    """The Snitch in Discord: slash commands and listeners over ``Services``.

    ``services`` is None only where the bot is built to describe its commands
    (``snitch commands --json``); ``runs_jobs`` starts the scheduler and retention loops,
    which tests drive by hand instead. ``send_backfill`` queues backfills in chunks instead
    of reading them in a background task, for a host whose work must end with each
    invocation (the Functions); it is given the first chunk's cursor.
    """

    def __init__(
        self,
        services: Services | None,
        *,
        runs_jobs: bool = True,
        sync_commands: bool = False,
        command_guild_id: str | None = None,
        send_backfill: SendBackfill | None = None,
    ) -> None:
        # The bot never joins voice: discord.py's warnings about missing voice libraries
        # would only alarm whoever reads the log.
        discord.VoiceClient.warn_nacl = False
        discord.VoiceClient.warn_dave = False
        super().__init__(
            command_prefix=commands.when_mentioned,
            help_command=None,
            intents=bot_intents(),
            allowed_mentions=discord.AllowedMentions.none(),
            tree_cls=SnitchTree,
        )
        self._services = services
        self.runs_jobs = runs_jobs and services is not None
        self.send_backfill = send_backfill
        self._sync_commands = sync_commands
        self._command_guild = discord.Object(int(command_guild_id)) if command_guild_id else None

    @property
    def services(self) -> Services:
        """The opened services; a bot built only to list its commands has none."""
        if self._services is None:
            raise RuntimeError("this bot was built without services (commands schema only)")
        return self._services

    async def load_features(self) -> None:
        """Load every feature extension (commands, listeners, jobs)."""
        for extension in EXTENSIONS:
            await self.load_extension(extension)

    async def setup_hook(self) -> None:
        """Before the gateway connects: load the features, register the commands."""
        await self.load_features()
        if self._sync_commands:
            if self._command_guild is not None:
                self.tree.copy_global_to(guild=self._command_guild)
            synced = await self.tree.sync(guild=self._command_guild)
            log.info("commands registered", count=len(synced), guild=self._command_guild)

    async def on_message(self, message: discord.Message, /) -> None:
        """No prefix commands: messages are chat for the newsroom (see the ingestion extension)."""

    async def on_app_command_completion(
        self,
        interaction: discord.Interaction[Any],
        command: app_commands.Command[Any, ..., Any] | app_commands.ContextMenu,
        /,
    ) -> None:
        """A slash command ran to its end (refusals and failures are counted by the tree's
        error handler, ``snitch.bot.errors``)."""
        record_command(command.qualified_name, "ok")


async def command_schema() -> list[dict[str, object]]:
    """The application commands exactly as the bot registers them with Discord."""
    bot = SnitchBot(None, runs_jobs=False)
    try:
        await bot.load_features()
        return [command.to_dict(bot.tree) for command in bot.tree.get_commands()]
    finally:
        await bot.close()
