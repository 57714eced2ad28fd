"""The ingestion queue: at-least-once delivery of message batches, with backpressure.

A batch is acknowledged only after the worker has stored and indexed it; a batch whose
worker failed or was cancelled is delivered again. Processing is idempotent (everything is
upserted by message id), so a batch delivered twice is stored and indexed once. The
in-process queue is the embedded default; Azure Service Bus implements the same protocol.
"""

from __future__ import annotations

import asyncio
import itertools
from collections import deque
from collections.abc import Sequence
from dataclasses import dataclass, replace
from datetime import UTC, datetime
from typing import Protocol

from snitch.models import Message


@dataclass(frozen=True)
class Delivery:
    """One batch as handed to a worker; ``attempt`` counts deliveries of the same batch."""

    id: int
    messages: tuple[Message, ...]
    attempt: int = 1
    # When the batch was put on the queue (None where the queue does not say): the lag from
    # here to processing is the queue-lag metric.
    enqueued_at: datetime | None = None


class MessageQueue(Protocol):
    """What producers and the ingestion worker need from a queue."""

    async def put(self, messages: Sequence[Message]) -> None:
        """Enqueue a batch; waits while the queue is full (backpressure)."""

    async def get(self) -> Delivery:
        """The next batch to process; waits while there is none."""

    async def ack(self, delivery: Delivery) -> None:
        """The batch is stored and indexed: never deliver it again."""

    async def nack(self, delivery: Delivery) -> None:
        """The batch failed: deliver it again."""

    async def join(self) -> None:
        """Wait until every batch put so far has been acknowledged."""


class InProcessQueue:
    """A bounded in-memory queue with acknowledgements, for the single-process deployment."""

    def __init__(self, maxsize: int = 64) -> None:
        if maxsize < 1:
            raise ValueError(f"queue maxsize must be at least 1, got {maxsize}")
        self.maxsize = maxsize
        self._ready: deque[Delivery] = deque()
        self._in_flight: dict[int, Delivery] = {}
        self._ids = itertools.count()
        self._changed = asyncio.Condition()
        self._outstanding = 0  # put and not yet acknowledged

    async def put(self, messages: Sequence[Message]) -> None:
        """See ``MessageQueue.put``; empty batches are not queued."""
        if not messages:
            return
        async with self._changed:
            await self._changed.wait_for(lambda: len(self._ready) < self.maxsize)
            self._ready.append(
                Delivery(
                    id=next(self._ids), messages=tuple(messages), enqueued_at=datetime.now(UTC)
                )
            )
            self._outstanding += 1
            self._changed.notify_all()

    async def get(self) -> Delivery:
        """See ``MessageQueue.get``."""
        async with self._changed:
            await self._changed.wait_for(lambda: bool(self._ready))
            delivery = self._ready.popleft()
            self._in_flight[delivery.id] = delivery
            self._changed.notify_all()
            return delivery

    async def ack(self, delivery: Delivery) -> None:
        """See ``MessageQueue.ack``; acknowledging twice is harmless."""
        async with self._changed:
            if self._in_flight.pop(delivery.id, None) is not None:
                self._outstanding -= 1
                self._changed.notify_all()

    async def nack(self, delivery: Delivery) -> None:
        """See ``MessageQueue.nack``: the batch is delivered again, ahead of new ones."""
        async with self._changed:
            if self._in_flight.pop(delivery.id, None) is not None:
                self._retry(delivery)

    async def redeliver_in_flight(self) -> int:
        """After a worker died: deliver again all it had taken and not acknowledged."""
        async with self._changed:
            pending = list(self._in_flight.values())
            self._in_flight.clear()
            for delivery in pending:
                self._retry(delivery)
            return len(pending)

    def _retry(self, delivery: Delivery) -> None:
        # Retries skip the size limit: a worker must never wait behind producers for room
        # to give back its own batch, or a full queue would deadlock.
        again = replace(delivery, attempt=delivery.attempt + 1)
        self._ready.appendleft(again)
        self._changed.notify_all()

    async def join(self) -> None:
        """See ``MessageQueue.join``."""
        async with self._changed:
            await self._changed.wait_for(lambda: self._outstanding == 0)

    @property
    def pending(self) -> int:
        """Batches put but not yet acknowledged."""
        return self._outstanding
