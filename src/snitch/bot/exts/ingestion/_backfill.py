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

Two ways to run the same walk over the channels: ``guild`` reads everything in one go,
into the live pipeline's queue (a background task of ``snitch run`` or ``snitch serve``);
``chunk`` reads a bounded part of it, from a ``BackfillCursor``, and stores it before it
returns, then gives the cursor of the rest (the Functions, whose invocations end: each
chunk is one invocation of the interaction worker, and queues the next). A chunk read
again re-reads the same pages and upserts the same messages.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Final

import discord

from snitch.bot.chat import ChatChannel, channel_of, guild_of, is_chat, message_of
from snitch.ingest.budget import ChunkBudget, ChunkMeter
from snitch.ingest.live import GuildRules, LiveIngest
from snitch.log import get_logger
from snitch.models import Message
from snitch.queues.schema import BackfillCursor

BATCH: Final = 100  # messages a history page holds; read and kept a page at a time
log = get_logger(__name__)

Keep = Callable[[Sequence[Message]], Awaitable[int]]


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


@dataclass(frozen=True)
class _Position:
    """Where a channel's read stands: back from ``before``, on from ``after``, or afresh."""

    before: str | None = None
    after: str | None = None


@dataclass(frozen=True)
class _Plan:
    """A guild's backfill, as its rules and its channels stand now."""

    guild: discord.Guild
    rules: GuildRules
    days: int
    cutoff: datetime
    spans: dict[str, tuple[datetime, datetime]]
    channels: list[ChatChannel]

    def reads(self, channel: ChatChannel) -> bool:
        parent = str(channel.parent_id) if isinstance(channel, discord.Thread) else None
        return self.rules.settings.reads(str(channel.id), parent)


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

    async def _days_for(self, guild_id: str) -> tuple[GuildRules, int]:
        rules = await self._ingest.rules.get(guild_id)
        return rules, min(self._days, rules.settings.retention_days)

    async def _plan(self, guild: discord.Guild, cutoff: datetime | None, now: datetime) -> _Plan:
        """The rules, the window and the readable channels. A bot without a gateway cache
        (``snitch serve``, the Functions) knows a guild only by id: it asks the API for the
        guild and its channels, and reads their history the same way."""
        if guild.unavailable and self._fetch_guild is not None:
            guild = await self._fetch_guild(guild.id)
        rules, days = await self._days_for(str(guild.id))
        if cutoff is None:
            cutoff = now - timedelta(days=days)
        spans = await self._ingest.store.channel_spans(str(guild.id))
        channels = readable_channels(guild) or await fetched_channels(guild)
        self._ingest.know(guild_of(guild), [channel_of(channel) for channel in channels])
        return _Plan(guild, rules, days, cutoff, spans, channels)

    async def guild(
        self, guild: discord.Guild, now: datetime, *, full: bool = False
    ) -> BackfillReport:
        """Read the guild's history within its window (see the module docstring), into the
        live pipeline's queue."""
        plan = await self._plan(guild, None, now)
        report = BackfillReport()
        for channel in plan.channels:
            if not plan.reads(channel):
                report.skipped_channels.append(channel.name)
                continue
            try:
                await self._channel(plan, channel, _Position(), full, report, self._ingest.submit)
            except discord.Forbidden:
                report.skipped_channels.append(channel.name)
                continue
            report.channels += 1
        log.info(
            "backfill done",
            guild=plan.guild.id,
            channels=report.channels,
            read=report.read,
            kept=report.kept,
            days=plan.days,
            full=full,
        )
        return report

    async def first_cursor(self, guild_id: str, now: datetime, *, full: bool) -> BackfillCursor:
        """The cursor that starts a chunked backfill of the guild's window."""
        _, days = await self._days_for(guild_id)
        return BackfillCursor(
            guild_id=guild_id, started_at=now, cutoff=now - timedelta(days=days), full=full
        )

    async def chunk(
        self, guild: discord.Guild, cursor: BackfillCursor, budget: ChunkBudget
    ) -> BackfillCursor | None:
        """Read and store one chunk of a backfill; the cursor of the rest, or None when done.

        Every page is stored (awaited, not queued) before the next is read, under the
        guild's rules read afresh for this chunk (another instance may have changed them),
        so what a chunk read is kept even if the invocation ends right after it."""
        self._ingest.rules.forget(cursor.guild_id)
        plan = await self._plan(guild, cursor.cutoff, cursor.started_at)
        meter = budget.start()
        report = BackfillReport()
        if cursor.channel_ids is None:  # the first chunk lists the channels
            remaining = [str(channel.id) for channel in plan.channels if plan.reads(channel)]
            skipped = [channel.name for channel in plan.channels if not plan.reads(channel)]
            report.skipped_channels.extend(skipped)
        else:
            remaining = list(cursor.channel_ids)
        by_id = {str(channel.id): channel for channel in plan.channels}
        position = _Position(before=cursor.before, after=cursor.after)

        def keep(messages: Sequence[Message]) -> Awaitable[int]:
            return self._ingest.store_now(messages)

        def following(at: _Position) -> BackfillCursor:
            return cursor.model_copy(
                update={
                    "channel_ids": tuple(remaining),
                    "before": at.before,
                    "after": at.after,
                    "step": cursor.step + 1,
                    "channels": cursor.channels + report.channels,
                    "read": cursor.read + report.read,
                    "kept": cursor.kept + report.kept,
                    "skipped": cursor.skipped + len(report.skipped_channels),
                }
            )

        while remaining:
            channel = by_id.get(remaining[0])
            stopped: _Position | None = None
            if channel is None or not plan.reads(channel):  # gone, or excluded meanwhile
                report.skipped_channels.append(remaining[0])
            else:
                try:
                    stopped = await self._channel(
                        plan, channel, position, cursor.full, report, keep, meter
                    )
                except discord.Forbidden:
                    report.skipped_channels.append(channel.name)
                else:
                    if stopped is None:
                        report.channels += 1
            if stopped is not None:
                return following(stopped)
            remaining.pop(0)
            position = _Position()
            if remaining and meter.spent:
                return following(position)
        done = following(position)
        log.info(
            "backfill done",
            guild=cursor.guild_id,
            channels=done.channels,
            read=done.read,
            kept=done.kept,
            skipped=done.skipped,
            chunks=done.step,
            days=plan.days,
            full=cursor.full,
        )
        return None

    async def _channel(
        self,
        plan: _Plan,
        channel: ChatChannel,
        position: _Position,
        full: bool,
        report: BackfillReport,
        keep: Keep,
        meter: ChunkMeter | None = None,
    ) -> _Position | None:
        """Read one channel from ``position``: back down to the cutoff (from now for a full
        re-read, else from below the oldest stored), then, unless full, on from the newest
        stored (the downtime). None when the channel is done; where the meter stopped it
        otherwise."""
        cutoff = plan.cutoff
        span = plan.spans.get(str(channel.id))
        if position.after is None:
            before: discord.abc.Snowflake | datetime | None
            if position.before is not None:
                before = discord.Object(int(position.before))
            else:
                before = None if full or span is None else max(span[0], cutoff)
            history = channel.history(limit=None, before=before)
            stopped = await self._read(history, cutoff, report, keep, meter)
            if stopped is not None:
                return _Position(before=stopped)
        if span is None or full:
            return None
        after: discord.abc.Snowflake | datetime = (
            discord.Object(int(position.after))
            if position.after is not None
            else max(span[1], cutoff)
        )
        history = channel.history(limit=None, after=after)
        stopped = await self._read(history, cutoff, report, keep, meter)
        return None if stopped is None else _Position(after=stopped)

    async def _read(
        self,
        history: AsyncIterator[discord.Message],
        cutoff: datetime,
        report: BackfillReport,
        keep: Keep,
        meter: ChunkMeter | None,
    ) -> str | None:
        """Read and keep a page at a time; the id of the last message read if the meter ran
        out before the history did (the next read goes on from it), else None."""
        batch: list[Message] = []
        in_page = 0
        async for message in history:
            if message.created_at < cutoff:
                break
            report.read += 1
            in_page += 1
            if is_chat(message):
                batch.append(message_of(message))
            if in_page >= BATCH:
                if batch:
                    report.kept += await keep(batch)
                batch, in_page = [], 0
                if meter is not None:
                    meter.page_read()
                    if meter.spent:
                        return str(message.id)
        if batch:
            report.kept += await keep(batch)
        return None
