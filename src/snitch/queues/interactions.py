"""Deferred commands on Azure Service Bus: the HTTP endpoint puts an ``InteractionJob`` (the
``TreeRunner``'s ``enqueue``), the worker runs it to the end. See ``snitch.queues.servicebus``
for the delivery guarantees and the dead-letter rules.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Final

from azure.servicebus.aio import ServiceBusClient

from snitch.closing import AsyncClosing
from snitch.config import ServiceBusSettings
from snitch.interactions.jobs import InteractionJob
from snitch.log import get_logger
from snitch.queues.schema import (
    INTERACTION_KINDS,
    BackfillChunkMessage,
    BackfillCursor,
    InteractionJobMessage,
)
from snitch.queues.servicebus import (
    DEFAULT_MAX_DELIVERIES,
    DEFAULT_WAIT_SECONDS,
    EnvelopeReceiver,
    EnvelopeSender,
    Received,
)

log = get_logger(__name__)

# A deferred command must be answered within the interaction token's 15 minutes.
INTERACTION_TOKEN_LIFE: Final = timedelta(minutes=15)
INTERACTION_EXPIRED: Final = "InteractionExpired"


@dataclass(frozen=True)
class ReceivedJob:
    """A deferred command taken from the queue, with its delivery count."""

    job: InteractionJob
    attempt: int
    received: Received


class InteractionJobQueue(AsyncClosing):
    """Deferred commands on a Service Bus queue: ``put`` for the HTTP endpoint (it is the
    ``TreeRunner``'s ``enqueue``), ``run`` for the worker.

    A job's lock is renewed while its command runs (up to the token's life), so a slow
    command is never handed to a second worker meanwhile. A failed command is tried again up
    to ``max_deliveries`` times (the interaction id keeps the enqueue unique, not its
    execution: commands should tolerate a rerun), and a job older than the interaction
    token's life is dead-lettered, since its answer could not be sent any more.
    """

    def __init__(
        self,
        client: ServiceBusClient,
        queue_name: str = "interactions",
        *,
        max_deliveries: int = DEFAULT_MAX_DELIVERIES,
        wait_seconds: float = DEFAULT_WAIT_SECONDS,
        token_life: timedelta = INTERACTION_TOKEN_LIFE,
    ) -> None:
        self.token_life = token_life
        self._sender = EnvelopeSender(client, queue_name)
        self._receiver = EnvelopeReceiver(
            client,
            queue_name,
            accepts=INTERACTION_KINDS,
            max_deliveries=max_deliveries,
            wait_seconds=wait_seconds,
            hold_lock_for=token_life,
        )

    @classmethod
    def from_settings(
        cls, client: ServiceBusClient, settings: ServiceBusSettings
    ) -> InteractionJobQueue:
        """The interactions queue as configured."""
        return cls(client, settings.interactions_queue, max_deliveries=settings.max_deliveries)

    async def put(self, job: InteractionJob) -> None:
        """Queue a deferred command (a resend of the same interaction is dropped)."""
        await self._sender.send(InteractionJobMessage(job=job))

    async def put_backfill(self, cursor: BackfillCursor) -> None:
        """Queue a backfill's next chunk, for the Functions' interaction worker (this class's
        ``get`` takes jobs only). Its id is the backfill's and the step's, so a continuation
        queued twice, by a chunk delivered twice, is dropped."""
        await self._sender.send(BackfillChunkMessage(cursor=cursor))

    async def get(self) -> ReceivedJob:
        """The next job still worth running; expired ones are dead-lettered on the way."""
        while True:
            received = await self._receiver.receive()
            envelope = received.envelope
            if not isinstance(envelope, InteractionJobMessage):  # excluded by accepts
                continue
            age = datetime.now(UTC) - envelope.job.received_at
            if age > self.token_life:
                await self._receiver.dead_letter(
                    received,
                    INTERACTION_EXPIRED,
                    f"received {age.total_seconds():.0f}s ago: the interaction token "
                    f"({self.token_life.total_seconds():.0f}s) has expired",
                )
                continue
            return ReceivedJob(job=envelope.job, attempt=received.attempt, received=received)

    async def done(self, job: ReceivedJob) -> None:
        """The command finished: forget the job."""
        await self._receiver.complete(job.received)

    async def failed(self, job: ReceivedJob, error: BaseException | None = None) -> bool:
        """The command failed: retry it, or dead-letter it on its last delivery."""
        return await self._receiver.retry(
            job.received, error=repr(error) if error is not None else None
        )

    async def run(self, finish: Callable[[InteractionJob], Awaitable[None]]) -> None:
        """The worker loop (until cancelled): ``finish`` is ``TreeRunner.finish``."""
        while True:
            job = await self.get()
            try:
                await finish(job.job)
            except asyncio.CancelledError:
                await self.failed(job)
                raise
            except Exception as error:
                log.exception(
                    "deferred command failed",
                    interaction=job.job.interaction_id,
                    attempt=job.attempt,
                )
                await self.failed(job, error)
                continue
            await self.done(job)

    async def reachable(self) -> None:
        """Raise unless the queue answers (a peek): for health checks."""
        await self._receiver.is_empty()

    async def close(self) -> None:
        """Close the SDK sender and receivers (not the client)."""
        await asyncio.gather(self._sender.close(), self._receiver.close())
