"""The ingestion worker: stores, embeds and indexes each batch, then acknowledges it.

Every step upserts by message id, so a batch delivered twice (after a crash, a timeout or a
redelivery) leaves exactly one row and one vector per message. A message the store
refuses is neither stored nor embedded: one deleted on Discord before its batch came up
(the store keeps a tombstone and skips it), or one whose author opted out in its guild
(the store reads the opt-outs itself, so a process whose cached rules are a few seconds
old cannot store it either).

The steps of a batch run one after another, on purpose: overlapping them was measured (see
``bench/memory_throughput.py`` and its README section) and gains nothing on a 2-core machine.
chromadb's embedded ``upsert`` holds the GIL for its whole call (its Rust bindings release it
for reads only) while its own threads use a core or more, so the model stalls meanwhile:
embedding beside an upsert took longer than the two one after the other. The SQL write is a
twentieth of the embedding time and gained nothing either; two workers on one queue, which
overlap the steps anyway, measured within noise of one.
"""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Protocol

from snitch.ingest.queue import Delivery, MessageQueue
from snitch.log import get_logger
from snitch.models import Channel, Guild, Message
from snitch.store.protocol import Store

log = get_logger(__name__)


class Embedder(Protocol):
    """Turns texts into vectors (the local model, or an embeddings endpoint)."""

    async def aembed(self, texts: Sequence[str]) -> list[list[float]]:
        """One vector per text."""


class VectorIndex(Protocol):
    """Where vectors are kept and searched (ChromaDB)."""

    def upsert(self, messages: Sequence[Message], vectors: Sequence[Sequence[float]]) -> None:
        """Insert or replace vectors by message id."""


@dataclass
class IngestWorker:
    """Consumes a queue until cancelled; without an embedder it only stores."""

    queue: MessageQueue
    store: Store
    guilds: dict[str, Guild]
    channels: dict[str, Channel]
    embedder: Embedder | None = None
    index: VectorIndex | None = None
    processed: int = 0

    async def run(self) -> None:
        """Process deliveries forever; a failed batch is handed back to be delivered again."""
        while True:
            delivery = await self.queue.get()
            try:
                await self.process(delivery)
            except asyncio.CancelledError:
                await self.queue.nack(delivery)
                raise
            except Exception:
                log.exception("ingest batch failed", batch=delivery.id, attempt=delivery.attempt)
                await self.queue.nack(delivery)
                continue
            await self.queue.ack(delivery)

    async def process(self, delivery: Delivery) -> None:
        """Store, then embed and index, one batch (idempotent); messages the store refuses
        (deleted on Discord meanwhile, or by an author who opted out) are left out of both."""
        messages = delivery.messages
        guild_ids = {message.guild_id for message in messages}
        channel_ids = {message.channel_id for message in messages}
        async with self.store.unit_of_work() as writer:
            # Asked in the same unit of work as the upsert, which skips the same ids.
            refused = await writer.refused_among(messages)
            alive = [message for message in messages if message.id not in refused]
            for guild_id in guild_ids:
                if guild_id in self.guilds:
                    await writer.upsert_guild(self.guilds[guild_id])
            await writer.upsert_channels(
                self.channels[cid] for cid in channel_ids if cid in self.channels
            )
            await writer.upsert_messages(alive)
        if refused:
            log.info(
                "refused messages not stored (deleted on Discord, or author opted out)",
                batch=delivery.id,
                messages=len(refused),
            )
        if self.embedder is not None and self.index is not None:
            worth = [message for message in alive if message.content.strip()]
            if worth:
                vectors = await self.embedder.aembed([message.content for message in worth])
                await asyncio.to_thread(self.index.upsert, worth, vectors)
        self.processed += len(messages)
        log.debug("ingest batch done", batch=delivery.id, messages=len(messages))
