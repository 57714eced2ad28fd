"""The ingestion queue and worker: backpressure, redelivery, idempotency, crash recovery."""

from __future__ import annotations

import asyncio
import hashlib
from collections.abc import AsyncIterator, Sequence
from pathlib import Path

import pytest

from snitch.config import load_settings
from snitch.ingest import Delivery, IngestWorker, InProcessQueue
from snitch.models import Message
from snitch.store import SqlStore, open_store
from tests.helpers import CHANNEL, GUILD, author, message


class CountingIndex:
    """Keeps vectors by message id, and how many times each id was written."""

    def __init__(self) -> None:
        self.vectors: dict[str, list[float]] = {}
        self.writes = 0

    def upsert(self, messages: Sequence[Message], vectors: Sequence[Sequence[float]]) -> None:
        assert len(messages) == len(vectors)
        for item, vector in zip(messages, vectors, strict=True):
            self.vectors[item.id] = list(vector)
            self.writes += 1


class HashEmbedder:
    """Deterministic 4-dimensional vectors: the worker's contract, not the model, is tested."""

    async def aembed(self, texts: Sequence[str]) -> list[list[float]]:
        return [[b / 255 for b in hashlib.sha256(text.encode()).digest()[:4]] for text in texts]


def batch(start: int, size: int) -> list[Message]:
    who = author("alice")
    return [
        message(who, f"message {i}", minutes=i, message_id=str(10_000 + i))
        for i in range(start, start + size)
    ]


@pytest.fixture
async def store(tmp_path: Path) -> AsyncIterator[SqlStore]:
    settings = load_settings(data_dir=tmp_path)
    opened = await open_store(settings)
    yield opened
    await opened.close()


def worker(queue: InProcessQueue, store: SqlStore, index: CountingIndex) -> IngestWorker:
    return IngestWorker(
        queue=queue,
        store=store,
        guilds={GUILD.id: GUILD},
        channels={CHANNEL.id: CHANNEL},
        embedder=HashEmbedder(),
        index=index,
    )


async def test_put_waits_while_the_queue_is_full() -> None:
    queue = InProcessQueue(maxsize=2)
    await queue.put(batch(0, 1))
    await queue.put(batch(1, 1))
    third = asyncio.create_task(queue.put(batch(2, 1)))
    await asyncio.sleep(0)
    assert not third.done()
    delivery = await queue.get()
    await asyncio.wait_for(third, timeout=5)
    await queue.ack(delivery)
    assert queue.pending == 2


async def test_a_nacked_batch_comes_back_first() -> None:
    queue = InProcessQueue()
    await queue.put(batch(0, 2))
    await queue.put(batch(2, 2))
    first = await queue.get()
    await queue.nack(first)
    again = await queue.get()
    assert again.id == first.id
    assert again.attempt == 2
    assert again.messages == first.messages


async def test_every_message_stored_and_indexed_once(store: SqlStore) -> None:
    queue, index = InProcessQueue(maxsize=4), CountingIndex()
    running = asyncio.create_task(worker(queue, store, index).run())
    for start in range(0, 500, 50):
        await queue.put(batch(start, 50))
    await asyncio.wait_for(queue.join(), timeout=30)
    running.cancel()
    assert await store.count_messages() == 500
    assert len(index.vectors) == 500


async def test_a_batch_delivered_twice_is_stored_once(store: SqlStore) -> None:
    queue, index = InProcessQueue(), CountingIndex()
    ingest = worker(queue, store, index)
    twice = Delivery(id=1, messages=tuple(batch(0, 20)))
    await ingest.process(twice)
    await ingest.process(Delivery(id=1, messages=twice.messages, attempt=2))
    assert await store.count_messages() == 20
    assert len(index.vectors) == 20
    assert index.writes == 40  # written twice, kept once


async def test_a_killed_worker_loses_nothing_and_duplicates_nothing(store: SqlStore) -> None:
    queue, index = InProcessQueue(maxsize=16), CountingIndex()
    for start in range(0, 300, 30):
        await queue.put(batch(start, 30))
    # A worker takes a batch, stores half of it, and dies before acknowledging anything.
    doomed = await queue.get()
    half = Delivery(id=doomed.id, messages=doomed.messages[:15])
    await worker(queue, store, index).process(half)
    assert await queue.redeliver_in_flight() == 1
    # A new worker starts and drains the queue, the interrupted batch included.
    running = asyncio.create_task(worker(queue, store, index).run())
    await asyncio.wait_for(queue.join(), timeout=30)
    running.cancel()
    assert await store.count_messages() == 300
    assert sorted(index.vectors) == sorted(str(10_000 + i) for i in range(300))


async def test_a_cancelled_worker_hands_its_batch_back(store: SqlStore) -> None:
    queue, index = InProcessQueue(), CountingIndex()
    started = asyncio.Event()

    class Stuck(HashEmbedder):
        async def aembed(self, texts: Sequence[str]) -> list[list[float]]:
            started.set()
            await asyncio.Event().wait()  # never returns: the worker is stopped mid-batch
            return []

    stuck = worker(queue, store, index)
    stuck.embedder = Stuck()
    await queue.put(batch(0, 10))
    task = asyncio.create_task(stuck.run())
    await asyncio.wait_for(started.wait(), timeout=10)
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    retry = await queue.get()
    assert retry.attempt == 2
    await worker(queue, store, index).process(retry)
    await queue.ack(retry)
    await asyncio.wait_for(queue.join(), timeout=5)
    assert len(index.vectors) == 10


async def test_a_failing_batch_is_retried(store: SqlStore) -> None:
    queue, index = InProcessQueue(), CountingIndex()
    failures = iter([True])

    class Flaky(HashEmbedder):
        async def aembed(self, texts: Sequence[str]) -> list[list[float]]:
            if next(failures, False):
                raise ConnectionError("embedding endpoint hiccup")
            return await super().aembed(texts)

    flaky = worker(queue, store, index)
    flaky.embedder = Flaky()
    running = asyncio.create_task(flaky.run())
    await queue.put(batch(0, 5))
    await asyncio.wait_for(queue.join(), timeout=10)
    running.cancel()
    assert len(index.vectors) == 5


async def test_blank_messages_are_stored_but_not_embedded(store: SqlStore) -> None:
    queue, index = InProcessQueue(), CountingIndex()
    embedded: list[str] = []

    class Recording(HashEmbedder):
        async def aembed(self, texts: Sequence[str]) -> list[list[float]]:
            embedded.extend(texts)
            return await super().aembed(texts)

    ingest = worker(queue, store, index)
    ingest.embedder = Recording()
    who = author("alice")
    sent = (
        message(who, "hello there", minutes=0, message_id="1"),
        message(who, "   ", minutes=1, message_id="2"),  # e.g. an attachment with no text
        message(who, "", minutes=2, message_id="3"),
    )
    await ingest.process(Delivery(id=1, messages=sent))
    assert await store.count_messages() == 3
    assert embedded == ["hello there"]
    assert sorted(index.vectors) == ["1"]
    assert ingest.processed == 3
