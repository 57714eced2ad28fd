"""Gateway events into the live pipeline: new, edited and deleted messages, and joins."""

from __future__ import annotations

import asyncio

import discord
from discord.ext import commands

from snitch.bot.chat import ChatChannel, channel_of, guild_of, is_chat, message_of
from snitch.bot.client import SnitchBot
from snitch.bot.exts.ingestion._backfill import Backfill, BackfillReport
from snitch.ingest.budget import ChunkBudget
from snitch.log import get_logger
from snitch.queues.schema import BackfillCursor

log = get_logger(__name__)


class Ingestion(commands.Cog):
    """Keeps the store in step with the server's chat, within each guild's rules."""

    def __init__(self, bot: SnitchBot) -> None:
        self.bot = bot
        self._backfills: dict[int, asyncio.Task[BackfillReport]] = {}

    @property
    def _backfill(self) -> Backfill:
        services = self.bot.services
        return Backfill(
            services.ingest, services.settings.discord.backfill_days, self.bot.fetch_guild
        )

    def _know(self, channel: ChatChannel) -> None:
        self.bot.services.ingest.know(guild_of(channel.guild), [channel_of(channel)])

    @commands.Cog.listener()
    async def on_message(self, message: discord.Message) -> None:
        """A new message: stored (and embedded) unless the guild's rules say otherwise."""
        if not is_chat(message):
            return
        if isinstance(message.channel, ChatChannel):
            self._know(message.channel)
        await self.bot.services.ingest.submit([message_of(message)])

    @commands.Cog.listener()
    async def on_raw_message_edit(self, payload: discord.RawMessageUpdateEvent) -> None:
        """An edit replaces the stored text and its vector."""
        if not is_chat(payload.message):
            return
        await self.bot.services.ingest.submit([message_of(payload.message)])

    @commands.Cog.listener()
    async def on_raw_message_delete(self, payload: discord.RawMessageDeleteEvent) -> None:
        """A deleted message leaves the store and the vectors."""
        if payload.guild_id is not None:
            await self.bot.services.ingest.delete(
                [str(payload.message_id)], guild_id=str(payload.guild_id)
            )

    @commands.Cog.listener()
    async def on_raw_bulk_message_delete(self, payload: discord.RawBulkMessageDeleteEvent) -> None:
        """A purge by a moderator leaves the store and the vectors too."""
        if payload.guild_id is not None:
            await self.bot.services.ingest.delete(
                [str(mid) for mid in payload.message_ids], guild_id=str(payload.guild_id)
            )

    @commands.Cog.listener()
    async def on_guild_join(self, guild: discord.Guild) -> None:
        """Invited to a server: read its recent history."""
        log.info("joined a server", guild=guild.id, name=guild.name)
        self.start_backfill(guild)

    @commands.Cog.listener()
    async def on_guild_available(self, guild: discord.Guild) -> None:
        """Back after downtime: catch up on what was said meanwhile."""
        self.start_backfill(guild)

    async def request_backfill(self, guild: discord.Guild, *, full: bool = False) -> bool:
        """Start reading ``guild``'s history where this deployment reads it: in a background
        task (``start_backfill``), or, for a bot given ``send_backfill`` (the Functions,
        whose invocations end before a long read would), as a chain of chunks on the queue,
        the first of which is queued before this returns. False if a background read is
        already running (a queued one cannot tell: the command's cooldowns bound them)."""
        send = self.bot.send_backfill
        if send is None:
            return self.start_backfill(guild, full=full)
        now = self.bot.services.clock()
        cursor = await self._backfill.first_cursor(str(guild.id), now, full=full)
        await send(cursor)
        log.info("backfill queued", guild=guild.id, full=full, cutoff=cursor.cutoff.isoformat())
        return True

    async def backfill_chunk(
        self, cursor: BackfillCursor, budget: ChunkBudget
    ) -> BackfillCursor | None:
        """Read and store one chunk of a queued backfill; the cursor of the rest, or None
        when it is done (or the guild is out of reach: the bot left it, say)."""
        guild = self.bot.get_guild(int(cursor.guild_id))
        if guild is None:  # no gateway cache: the API describes it
            try:
                guild = await self.bot.fetch_guild(int(cursor.guild_id))
            except (discord.NotFound, discord.Forbidden) as error:
                log.warning(
                    "backfill stopped: the guild is out of reach",
                    guild=cursor.guild_id,
                    error=str(error),
                )
                return None
        return await self._backfill.chunk(guild, cursor, budget)

    def start_backfill(self, guild: discord.Guild, *, full: bool = False) -> bool:
        """Start reading ``guild``'s history in the background; False if one is running."""
        running = self._backfills.get(guild.id)
        if running is not None and not running.done():
            return False
        now = self.bot.services.clock()
        task = asyncio.create_task(
            self._backfill.guild(guild, now, full=full), name=f"snitch: backfill {guild.id}"
        )
        task.add_done_callback(self._report)
        self._backfills[guild.id] = task
        return True

    @staticmethod
    def _report(task: asyncio.Task[BackfillReport]) -> None:
        if not task.cancelled() and task.exception() is not None:
            log.error("backfill failed", exc_info=task.exception())

    async def cog_unload(self) -> None:
        """Stop any backfill still reading."""
        for task in self._backfills.values():
            task.cancel()
        await asyncio.gather(*self._backfills.values(), return_exceptions=True)
