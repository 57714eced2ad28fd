"""The background jobs: scheduled editions, and retention.

Both loops run only in a bot that runs jobs (``bot.runs_jobs``); their bodies are public
methods that take ``now``, so tests drive them by hand at any moment they like.

A scheduled edition goes to the guild's edition channel with the approved reader tips, and
into the archive, which also marks where the next edition's window starts. When nobody
said anything the newsroom may read, the channel gets the persona's one-line "quiet day"
note instead, so admins can see the schedule is alive; the note is not archived, so the
next real edition still covers everything since the last one.

Each guild's run of bad scheduled editions is kept in its state: an edition that failed,
or that the offline engine wrote because the LLM failed, lengthens it; one the LLM wrote,
or the offline engine by the guild's choice, ends it; a quiet day leaves it as it is. At
three in a row, and again at every third one after, an error is logged and the guild's
admin channel, if it has one, gets a short note: once every few days at worst, never
every tick.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Final

import discord
from discord.ext import commands, tasks

from snitch.bot.client import SnitchBot
from snitch.bot.replies import NO_PINGS, post_edition
from snitch.editions import NothingToReport, fell_back
from snitch.errors import SnitchError
from snitch.guilds.scheduler import Scheduler
from snitch.guilds.settings import GuildSettings
from snitch.log import get_logger
from snitch.newsroom.personas import get_persona, voice_of
from snitch.privacy import expire_before

log = get_logger(__name__)

ALERT_EVERY: Final = 3  # bad editions in a row before (and between) alerts

EditionChannel = discord.TextChannel | discord.Thread | discord.VoiceChannel | discord.StageChannel


def alert_text(streak: int) -> str:
    """What the admin channel is told when editions keep going wrong."""
    return (
        f"Heads up: the last {streak} scheduled editions failed, or fell back to the offline "
        "engine because the LLM failed. Check the bot's logs, the LLM's key and quota, and "
        "that I can still post in the edition channel. (`/snitch config llm: False` writes "
        "offline on purpose.)"
    )


class EditionChannelError(SnitchError):
    """The configured edition channel cannot take the edition."""


class EditionJobs(commands.Cog):
    """Publishes due editions and purges chat older than each guild's retention."""

    def __init__(self, bot: SnitchBot) -> None:
        self.bot = bot

    async def cog_load(self) -> None:
        """Start the loops, at the configured intervals, in a bot that runs jobs."""
        if not self.bot.runs_jobs:
            return
        intervals = self.bot.services.settings.discord
        self._schedule_loop.change_interval(seconds=intervals.scheduler_seconds)
        self._retention_loop.change_interval(minutes=intervals.retention_minutes)
        self._schedule_loop.start()
        self._retention_loop.start()

    async def cog_unload(self) -> None:
        """Stop the loops (a publication in progress is cancelled with them)."""
        self._schedule_loop.cancel()
        self._retention_loop.cancel()

    # ------------------------------------------------------------------ scheduled editions

    async def run_schedule(self, now: datetime) -> list[str]:
        """Publish every edition due at ``now``, each exactly once; the guild ids published."""

        async def publish(settings: GuildSettings, slot: datetime) -> None:
            try:
                ok = await self._publish(settings, slot, now)
            except Exception:
                await self._tally(settings, ok=False)
                raise  # the scheduler logs it
            if ok is not None:
                await self._tally(settings, ok=ok)

        return await Scheduler(self.bot.services.state, publish).tick(now)

    async def _publish(self, settings: GuildSettings, slot: datetime, now: datetime) -> bool | None:
        """One guild's scheduled edition: write, post, archive (the scheduler has claimed it).

        Returns whether the edition counts as good (False: the LLM failed and the offline
        engine stood in), or None when nothing was written (no channel, a quiet day)."""
        if settings.edition_channel_id is None:
            log.warning("scheduled edition skipped: no edition channel", guild=settings.guild_id)
            return None
        channel = await self._edition_channel(settings)
        services = self.bot.services
        since = await services.editions.window_for(settings, now)
        guild = self.bot.get_guild(int(settings.guild_id))
        try:
            written = await services.editions.write(
                settings,
                since=since,
                until=now,
                guild_name=guild.name if guild else "",
                with_tips=True,
            )
        except NothingToReport as quiet:
            note = voice_of(get_persona(settings.persona)).empty_news
            await channel.send(note, allowed_mentions=NO_PINGS)
            log.info("quiet edition", guild=settings.guild_id, reason=str(quiet))
            return None
        posted = await post_edition(channel, written.messages)
        await services.editions.archive_published(
            settings,
            written,
            now=now,
            slot=slot,
            channel_id=str(channel.id),
            discord_message_ids=[str(message.id) for message in posted],
        )
        return not fell_back(written.newsletter)

    async def _tally(self, settings: GuildSettings, *, ok: bool) -> None:
        """Count the edition in the guild's run of bad ones; alert at every third in a row.
        Never raises: the edition itself is done (or already failed and logged)."""
        guild_id = settings.guild_id
        try:
            streak = await self.bot.services.state.record_edition(guild_id, ok)
        except Exception:
            log.exception("edition streak not recorded", guild=guild_id, ok=ok)
            return
        if ok or streak % ALERT_EVERY:
            return
        log.error(
            "scheduled editions keep failing",
            guild=guild_id,
            streak=streak,
            admin_channel=settings.admin_channel_id,
        )
        if settings.admin_channel_id is None:
            return
        try:
            channel = await self._guild_channel(
                settings, settings.admin_channel_id, "admin channel", "alerts"
            )
            await channel.send(alert_text(streak), allowed_mentions=NO_PINGS)
        except (EditionChannelError, discord.HTTPException) as exc:
            log.warning("admin channel not told", guild=guild_id, problem=str(exc)[:300])

    async def _edition_channel(self, settings: GuildSettings) -> EditionChannel:
        """The guild's edition channel; an error (logged by the scheduler) if it is gone,
        hidden from the bot, not a channel one can post in, or in another server."""
        channel_id = settings.edition_channel_id or "0"
        return await self._guild_channel(settings, channel_id, "edition channel", "editions")

    async def _guild_channel(
        self, settings: GuildSettings, channel_id_text: str, name: str, posts: str
    ) -> EditionChannel:
        """The guild's ``name`` channel, for its ``posts``; ``EditionChannelError`` if it is
        gone, hidden from the bot, not a channel one can post in, or in another server."""
        channel_id = int(channel_id_text)
        channel = self.bot.get_channel(channel_id)
        if channel is None:
            try:
                channel = await self.bot.fetch_channel(channel_id)
            except (discord.NotFound, discord.Forbidden) as exc:
                raise EditionChannelError(f"{name} {channel_id} is gone") from exc
        if not isinstance(channel, EditionChannel) or str(channel.guild.id) != settings.guild_id:
            raise EditionChannelError(f"channel {channel_id} cannot take this guild's {posts}")
        return channel

    @tasks.loop(seconds=60.0)
    async def _schedule_loop(self) -> None:
        try:
            await self.run_schedule(self.bot.services.clock())
        except Exception:  # the loop must outlive a bad tick (a store hiccup, say)
            log.exception("scheduler tick failed")

    @_schedule_loop.before_loop
    async def _before_schedule(self) -> None:
        await self.bot.wait_until_ready()  # channels are known only once connected

    # ------------------------------------------------------------------ retention

    async def run_retention(self, now: datetime) -> int:
        """Remove every guild's messages older than its retention (rows and vectors);
        returns how many messages went."""
        services = self.bot.services
        removed = 0
        for guild in await services.store.guilds():
            try:
                settings = await services.state.settings(guild.id)
                cutoff = now - timedelta(days=settings.retention_days)
                expired = await expire_before(services.store, services.vectors, guild.id, cutoff)
            except Exception:  # one guild's failure must not keep the others' data longer
                log.exception("retention failed", guild=guild.id)
                continue
            removed += expired.messages
        return removed

    @tasks.loop(minutes=60.0)
    async def _retention_loop(self) -> None:
        try:
            await self.run_retention(self.bot.services.clock())
        except Exception:
            log.exception("retention run failed")

    @_retention_loop.before_loop
    async def _before_retention(self) -> None:
        await self.bot.wait_until_ready()
