"""Loading exports into the store and the memory, through the ingestion pipeline.

Two passes. The first reads every file to the end and checks every message, writing
nothing: a malformed export anywhere stops the import before the store is touched. The
second streams the same files again into the ingestion queue, where workers store, embed
and index each batch and acknowledge it only when all three are done.

Batches commit one by one, so a crash (or a kill) part-way leaves the batches done so far.
Every write is an upsert by message id, so running the same import again finishes the job
with every message stored and indexed exactly once.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Final

from snitch.errors import ExportError, SnitchError
from snitch.ingest.queue import InProcessQueue
from snitch.ingest.worker import Embedder, IngestWorker, VectorIndex
from snitch.log import get_logger
from snitch.models import Message, is_snowflake
from snitch.sources.dce import (
    ExportHeader,
    ProgressCallback,
    expand_paths,
    read_header,
    read_messages,
)
from snitch.store.protocol import Store

BATCH_SIZE: Final = 256
QUEUE_BATCHES: Final = 8  # batches read ahead of the workers: bounded memory, steady work
MAX_ATTEMPTS: Final = 3  # deliveries of one batch before the import gives up
log = get_logger(__name__)

StoredCallback = Callable[[int], None]


class ImportFailed(SnitchError):
    """A batch kept failing in the pipeline; what was stored before it stays stored."""


@dataclass(frozen=True)
class Memory:
    """Where the import embeds and indexes messages (the semantic memory)."""

    embedder: Embedder
    index: VectorIndex


@dataclass(frozen=True)
class ExportCheck:
    """What the checking pass found: the files are sound and hold this much."""

    headers: tuple[ExportHeader, ...]
    messages: int


@dataclass(frozen=True)
class ImportSummary:
    """What an import wrote."""

    files: int
    messages: int
    guilds: tuple[str, ...]
    channels: int


def check_exports(paths: Iterable[Path], on_read: ProgressCallback | None = None) -> ExportCheck:
    """Read every export to the end without writing anything; raise on the first problem."""
    files = expand_paths(paths)
    headers = tuple(read_header(path) for path in files)
    total = 0
    for header in headers:
        for message in read_messages(header, on_read):
            if not is_snowflake(message.id):
                raise ExportError(
                    f"{header.path}: message {message.id!r} has an id that is not a "
                    "Discord snowflake"
                )
            total += 1
    return ExportCheck(headers=headers, messages=total)


async def import_exports(
    store: Store,
    paths: Iterable[Path],
    *,
    memory: Memory | None = None,
    on_read: ProgressCallback | None = None,
    on_stored: StoredCallback | None = None,
    batch_size: int = BATCH_SIZE,
    workers: int = 1,
) -> ImportSummary:
    """Check the exports, then store (and, with ``memory``, embed and index) every message."""
    checked = await asyncio.to_thread(check_exports, paths, on_read)
    return await ingest_checked(
        store,
        checked,
        memory=memory,
        on_stored=on_stored,
        batch_size=batch_size,
        workers=workers,
    )


async def ingest_checked(
    store: Store,
    checked: ExportCheck,
    *,
    memory: Memory | None = None,
    on_stored: StoredCallback | None = None,
    batch_size: int = BATCH_SIZE,
    workers: int = 1,
) -> ImportSummary:
    """The second pass: stream checked exports through the queue to the workers."""
    if batch_size < 1 or workers < 1:
        raise ValueError(f"batch_size and workers must be positive: {batch_size}, {workers}")
    headers = checked.headers
    guilds = {header.guild.id: header.guild for header in headers}
    channels = {header.channel.id: header.channel for header in headers}
    # Guilds and channels first, together, so an export with no messages is still recorded.
    async with store.unit_of_work() as writer:
        for guild in guilds.values():
            await writer.upsert_guild(guild)
        await writer.upsert_channels(channels.values())
    queue = InProcessQueue(maxsize=QUEUE_BATCHES)
    worker = IngestWorker(
        queue=queue,
        store=store,
        guilds=guilds,
        channels=channels,
        embedder=memory.embedder if memory else None,
        index=memory.index if memory else None,
    )
    try:
        async with asyncio.TaskGroup() as group:
            consumers = [
                group.create_task(_consume(queue, worker, on_stored)) for _ in range(workers)
            ]
            await _produce(queue, headers, batch_size)
            await queue.join()
            for consumer in consumers:
                consumer.cancel()
    except* ImportFailed as failed:
        raise failed.exceptions[0] from None
    guild_names = tuple(sorted({guild.name for guild in guilds.values()}))
    log.info(
        "import finished", files=len(headers), messages=worker.processed, guilds=list(guild_names)
    )
    return ImportSummary(
        files=len(headers),
        messages=worker.processed,
        guilds=guild_names,
        channels=len(channels),
    )


async def _produce(queue: InProcessQueue, headers: Sequence[ExportHeader], batch_size: int) -> None:
    """Read the exports again and queue them in batches (waiting while the queue is full)."""
    for header in headers:
        # Parsing is CPU work: a thread keeps the workers' event loop turning meanwhile.
        messages = read_messages(header)
        while batch := await asyncio.to_thread(_take, messages, batch_size):
            await queue.put(batch)
        log.debug("export queued", path=str(header.path), channel=header.channel.name)


def _take(messages: Iterator[Message], count: int) -> list[Message]:
    taken: list[Message] = []
    for message in messages:
        taken.append(message)
        if len(taken) >= count:
            break
    return taken


async def _consume(
    queue: InProcessQueue, worker: IngestWorker, on_stored: StoredCallback | None
) -> None:
    """Process deliveries until cancelled; a batch that keeps failing ends the import."""
    while True:
        delivery = await queue.get()
        try:
            await worker.process(delivery)
        except asyncio.CancelledError:
            await queue.nack(delivery)
            raise
        except Exception as exc:
            if delivery.attempt >= MAX_ATTEMPTS:
                await queue.ack(delivery)
                raise ImportFailed(
                    f"a batch of {len(delivery.messages)} messages failed {delivery.attempt} "
                    f"times, the last with {exc}; the batches before it are stored, and "
                    "running the import again resumes it"
                ) from exc
            log.warning("import batch retried", attempt=delivery.attempt, error=str(exc)[:200])
            await queue.nack(delivery)
            continue
        await queue.ack(delivery)
        if on_stored is not None:
            on_stored(len(delivery.messages))
