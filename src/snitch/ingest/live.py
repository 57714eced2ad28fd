"""Live chat into the store and the memory: new and edited messages in, deleted ones out.

The gateway edge (``snitch.bot``) turns Discord events into ``Message`` models and hands
them here; nothing below knows about discord.py, so the Azure Functions runtime feeds the
same pipeline from Service Bus.

What may be stored is decided here, once, for every source: never a bot, never a channel
the guild excluded (threads follow their parent), never a member who opted out. The
guild's rules are cached and dropped the moment an admin or a member changes them.

New and edited messages go through the ingestion queue, where the worker stores, embeds
and indexes them in batches. A delete is applied at once and leaves a tombstone in the
store, which every later upsert of the id skips: a creation still waiting in a queue, or
delivered again (to another instance, after a restart), can never undo it. The deletes
this process saw are also remembered in memory for a while, to drop such messages before
they reach the store at all.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections import OrderedDict, defaultdict
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime
from typing import Final

from snitch.guilds.settings import GuildSettings
from snitch.ingest.queue import Delivery, InProcessQueue
from snitch.ingest.worker import Embedder, IngestWorker
from snitch.log import get_logger
from snitch.memory.vectors import VectorStore
from snitch.models import Channel, Guild, Message
from snitch.store.guild_state import GuildState
from snitch.store.protocol import Store
from snitch.telemetry import record_queue_lag

REMEMBERED_DELETES: Final = 10_000
QUEUE_NAME: Final = "ingest"  # the in-process queue, in the snitch.queue.lag metric
MAX_ATTEMPTS: Final = 3  # deliveries of one batch before it is logged and dropped
RETRY_PAUSE_SECONDS: Final = 1.0
# How long a guild's rules are trusted without reading them again: the most another
# process's opt-out or settings change can take to reach this one.
RULES_MAX_AGE_SECONDS: Final = 10.0
log = get_logger(__name__)


@dataclass(frozen=True)
class GuildRules:
    """What the bot may keep of one guild's chat."""

    settings: GuildSettings
    opted_out: frozenset[str]

    def keeps(self, message: Message, parent_id: str | None) -> bool:
        """Whether ``message`` may be stored at all."""
        return (
            not message.author.is_bot
            and message.author.id not in self.opted_out
            and self.settings.reads(message.channel_id, parent_id)
        )


@dataclass
class RulesCache:
    """Each guild's rules, read again when they change here or once ``max_age`` passed.

    The process that changes a guild's settings or opt-outs forgets its copy at once
    (``forget``). Other processes over the same store (Functions instances, a gateway
    beside them) cannot be told, so no copy is trusted for longer than ``max_age``: an
    opt-out made elsewhere reaches this process's filter within it. Meanwhile the store
    refuses the member's messages itself (``StoreWriter.refused_among``): this filter is
    the fast path, which spares the queue and the store the work.
    """

    state: GuildState
    max_age: float = RULES_MAX_AGE_SECONDS
    clock: Callable[[], float] = time.monotonic
    _rules: dict[str, tuple[GuildRules, float]] = field(default_factory=dict)

    async def get(self, guild_id: str) -> GuildRules:
        """The guild's current rules."""
        cached = self._rules.get(guild_id)
        now = self.clock()
        if cached is not None and now - cached[1] < self.max_age:
            return cached[0]
        rules = GuildRules(
            await self.state.settings(guild_id), await self.state.opted_out(guild_id)
        )
        self._rules[guild_id] = (rules, now)
        return rules

    def forget(self, guild_id: str) -> None:
        """Call after changing a guild's settings or opt-outs."""
        self._rules.pop(guild_id, None)


class LiveIngest:
    """The live pipeline: filter, queue, store, embed, index; and deletes straight through."""

    def __init__(
        self,
        store: Store,
        state: GuildState,
        *,
        embedder: Embedder | None = None,
        vectors: VectorStore | None = None,
        queue_batches: int = 64,
        clock: Callable[[], datetime] | None = None,
    ) -> None:
        self.store = store
        self.clock = clock or (lambda: datetime.now(UTC))
        self.rules = RulesCache(state)
        self.vectors = vectors
        self._queue = InProcessQueue(maxsize=queue_batches)
        self._worker = IngestWorker(
            self._queue, store, guilds={}, channels={}, embedder=embedder, index=vectors
        )
        self._deleted: OrderedDict[str, None] = OrderedDict()
        self._task: asyncio.Task[None] | None = None

    def start(self) -> None:
        """Run the worker in the background (idempotent)."""
        if self._task is None or self._task.done():
            self._task = asyncio.create_task(self._run(), name="snitch-live-ingest")

    async def stop(self) -> None:
        """Finish what is queued, then stop the worker."""
        if self._task is None:
            return
        await self._queue.join()
        self._task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await self._task
        self._task = None

    async def drained(self) -> None:
        """Wait until every queued batch is stored (and indexed)."""
        await self._queue.join()

    def know(self, guild: Guild | None = None, channels: Sequence[Channel] = ()) -> None:
        """Remember a guild's and its channels' names, written beside their next messages."""
        if guild is not None:
            self._worker.guilds[guild.id] = guild
        for channel in channels:
            self._worker.channels[channel.id] = channel

    def parent_of(self, channel_id: str) -> str | None:
        """A thread's parent channel, if the channel is known."""
        channel = self._worker.channels.get(channel_id)
        return channel.parent_id if channel else None

    async def kept(self, messages: Sequence[Message]) -> list[Message]:
        """The messages the guild's rules allow to be stored."""
        kept = []
        for message in messages:
            rules = await self.rules.get(message.guild_id)
            if rules.keeps(message, self.parent_of(message.channel_id)):
                kept.append(message)
        return kept

    async def submit(self, messages: Sequence[Message]) -> int:
        """Queue new or edited messages that may be stored; returns how many were queued."""
        kept = await self.kept(messages)
        if kept:
            await self._queue.put(kept)
        return len(kept)

    async def store_now(
        self,
        messages: Sequence[Message],
        *,
        guild: Guild | None = None,
        channels: Sequence[Channel] = (),
    ) -> int:
        """Store, embed and index at once, bypassing the queue: for a consumer (the Functions'
        message processor) whose invocation must not end before the work is done, so that a
        failure is retried by its own queue. Returns how many messages the rules kept."""
        self.know(guild, channels)
        # A delete this process saw is dropped here already; any other, by the store.
        kept = await self.kept([m for m in messages if m.id not in self._deleted])
        if kept:
            await self._worker.process(Delivery(id=-1, messages=tuple(kept)))
        return len(kept)

    async def delete(self, message_ids: Sequence[str], *, guild_id: str | None = None) -> int:
        """Remove messages from the vectors and the store, and leave their tombstones, so
        that no creation delivered later (here or anywhere) stores them again. Pass the
        guild Discord named: tombstones expire with its retention."""
        for message_id in message_ids:
            self._deleted[message_id] = None
            self._deleted.move_to_end(message_id)
        while len(self._deleted) > REMEMBERED_DELETES:
            self._deleted.popitem(last=False)
        return await self._remove(message_ids, guild_id)

    async def _remove(self, message_ids: Sequence[str], guild_id: str | None) -> int:
        """Vectors first, then rows: a failure between leaves no vector without its text."""
        if self.vectors is not None:
            await asyncio.to_thread(self.vectors.delete_messages, list(message_ids))
        async with self.store.unit_of_work() as writer:
            return await writer.delete_messages(
                message_ids, guild_id=guild_id, deleted_at=self.clock()
            )

    async def _run(self) -> None:
        """The worker loop, dropping messages deleted while they waited."""
        while True:
            delivery = await self._queue.get()
            # A redelivery's wait is the retry pause, not lag.
            if delivery.attempt == 1 and delivery.enqueued_at is not None:
                record_queue_lag(QUEUE_NAME, delivery.enqueued_at)
            try:
                # The rules again: a member may have opted out while this batch waited.
                alive = tuple(
                    await self.kept([m for m in delivery.messages if m.id not in self._deleted])
                )
                if alive:
                    await self._worker.process(replace(delivery, messages=alive))
                    # Deleted while this batch was being written: the store settles the row
                    # either way, but the vectors may have been removed before they were.
                    late: defaultdict[str, list[str]] = defaultdict(list)
                    for message in alive:
                        if message.id in self._deleted:
                            late[message.guild_id].append(message.id)
                    for guild_id, ids in late.items():
                        await self._remove(ids, guild_id)
            except asyncio.CancelledError:
                await self._queue.nack(delivery)
                raise
            except Exception:
                if delivery.attempt >= MAX_ATTEMPTS:
                    # Chat keeps coming: one poisoned batch must not stop the pipeline.
                    log.exception(
                        "live ingest batch dropped",
                        batch=delivery.id,
                        messages=len(delivery.messages),
                    )
                    await self._queue.ack(delivery)
                    continue
                log.exception("live ingest batch failed", batch=delivery.id)
                await asyncio.sleep(RETRY_PAUSE_SECONDS * delivery.attempt)
                await self._queue.nack(delivery)
                continue
            await self._queue.ack(delivery)
