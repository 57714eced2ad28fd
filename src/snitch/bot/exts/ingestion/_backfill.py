"""Reading a server's recent history: politely, resumably, and only what may be kept.

discord.py pages history 100 messages a request and waits out every rate limit (429 and
``Retry-After``) itself; channels are read one after another, never in parallel, so a
backfill never crowds out the live bot. Nothing older than the guild's retention window
(or the configured backfill depth, if shorter) is read.

Resuming: history is read newest first, down to the cutoff, starting below the oldest
message already stored in that channel. An interrupted backfill therefore continues where
it stopped, and a finished one costs one request per channel. On reconnect, ``catch_up``
reads forward from the newest stored message, which covers the bot's downtime. A full
re-read (``/snitch backfill``) starts from now; every write is an upsert by id, so reading
a message twice stores it once.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Final

import discord

from snitch.bot.chat import ChatChannel, channel_of, guild_of, is_chat, message_of
from snitch.ingest.live import LiveIngest
from snitch.log import get_logger
from snitch.models import Message

BATCH: Final = 100
log = get_logger(__name__)


@dataclass
class BackfillReport:
    """What one backfill read and kept."""

    channels: int = 0
    read: int = 0
    kept: int = 0
    skipped_channels: list[str] = field(default_factory=list)


def readable_channels(guild: discord.Guild) -> list[ChatChannel]:
    """Text channels and active threads the bot can read the history of."""
    me = guild.me
    candidates: list[ChatChannel] = [*guild.text_channels, *guild.threads]
    if me is None:
        return candidates
    return [
        channel
        for channel in candidates
        if channel.permissions_for(me).read_message_history
        and channel.permissions_for(me).view_channel
    ]


async def fetched_channels(guild: discord.Guild) -> list[ChatChannel]:
    """The guild's text channels from the API, for a bot with no gateway cache (``snitch
    serve``): Discord refuses the history of any it may not read, and the read skips those."""
    if guild.text_channels:  # the cache knows them: none is readable
        return []
    try:
        fetched = await guild.fetch_channels()
    except discord.HTTPException:
        log.warning("could not list the guild's channels", guild=guild.id)
        return []
    return [channel for channel in fetched if isinstance(channel, discord.TextChannel)]


class Backfill:
    """Reads history into the live pipeline, one channel at a time."""

    def __init__(
        self,
        ingest: LiveIngest,
        days: int,
        fetch_guild: Callable[[int], Awaitable[discord.Guild]] | None = None,
    ) -> None:
        self._ingest = ingest
        self._days = days
        self._fetch_guild = fetch_guild

    async def guild(
        self, guild: discord.Guild, now: datetime, *, full: bool = False
    ) -> BackfillReport:
        """Read the guild's history within its window (see the module docstring).

        A bot without a gateway cache (``snitch serve``) knows a guild only by id: it asks
        the API for the guild and its channels, and reads their history the same way."""
        if guild.unavailable and self._fetch_guild is not None:
            guild = await self._fetch_guild(guild.id)
        rules = await self._ingest.rules.get(str(guild.id))
        days = min(self._days, rules.settings.retention_days)
        cutoff = now - timedelta(days=days)
        spans = await self._ingest.store.channel_spans(str(guild.id))
        channels = readable_channels(guild) or await fetched_channels(guild)
        self._ingest.know(guild_of(guild), [channel_of(channel) for channel in channels])
        report = BackfillReport()
        for channel in channels:
            parent = str(channel.parent_id) if isinstance(channel, discord.Thread) else None
            if not rules.settings.reads(str(channel.id), parent):
                report.skipped_channels.append(channel.name)
                continue
            span = spans.get(str(channel.id))
            start = None if full or span is None else max(span[0], cutoff)
            try:
                await self._read(channel.history(limit=None, before=start), cutoff, report)
                if span is not None and not full:  # the downtime since the newest stored
                    newest = max(span[1], cutoff)
                    await self._read(channel.history(limit=None, after=newest), cutoff, report)
            except discord.Forbidden:
                report.skipped_channels.append(channel.name)
                continue
            report.channels += 1
        log.info(
            "backfill done",
            guild=guild.id,
            channels=report.channels,
            read=report.read,
            kept=report.kept,
            days=days,
            full=full,
        )
        return report

    async def _read(
        self,
        history: AsyncIterator[discord.Message],
        cutoff: datetime,
        report: BackfillReport,
    ) -> None:
        batch: list[Message] = []
        async for message in history:
            if message.created_at < cutoff:
                break
            report.read += 1
            if is_chat(message):
                batch.append(message_of(message))
            if len(batch) >= BATCH:
                report.kept += await self._ingest.submit(batch)
                batch = []
        if batch:
            report.kept += await self._ingest.submit(batch)
