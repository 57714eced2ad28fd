"""The ingestion ``MessageQueue`` on Azure Service Bus, across processes: ``snitch gateway``
(or any producer) puts batches of new and edited messages and delete events, the message
processor consumes them with ``IngestWorker``. See ``snitch.queues.servicebus`` for the
delivery guarantees and the dead-letter rules.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Sequence
from typing import Final

from azure.servicebus.aio import ServiceBusClient

from snitch.closing import AsyncClosing
from snitch.config import ServiceBusSettings
from snitch.ingest.queue import Delivery
from snitch.log import get_logger
from snitch.models import Message
from snitch.queues.schema import INGEST_KINDS, MessagesDeleted, MessagesUpserted, encode
from snitch.queues.servicebus import (
    DEFAULT_MAX_DELIVERIES,
    DEFAULT_WAIT_SECONDS,
    EnvelopeReceiver,
    EnvelopeSender,
    Received,
)

log = get_logger(__name__)

JOIN_POLL_SECONDS: Final = 0.5
# The Standard tier takes 256 KiB per message, properties included: keep bodies well under.
MAX_BODY_BYTES: Final = 192 * 1024
NO_DELETE_HANDLER: Final = "NoDeleteHandler"

DeleteHandler = Callable[[MessagesDeleted], Awaitable[object]]


class ServiceBusQueue(AsyncClosing):
    """The ingestion ``MessageQueue`` on a Service Bus queue.

    ``Delivery.id`` is the broker's sequence number, ``Delivery.attempt`` its delivery count.
    Deletes travel on the same queue, in order with the batches (``put_deletes``); ``get``
    applies them through ``on_delete`` (for instance a store's ``delete_messages``) and
    completes them itself, since the protocol's ``Delivery`` carries messages only. Without
    a handler, a delete is dead-lettered: never dropped silently.

    ``join`` waits until this instance holds nothing unsettled and a peek finds the queue
    empty: everything put before, by any producer, has been completed or dead-lettered. On a
    queue that never drains (other producers keep putting) it keeps waiting, as the
    in-process queue's does.
    """

    def __init__(
        self,
        client: ServiceBusClient,
        queue_name: str = "message-processing",
        *,
        max_deliveries: int = DEFAULT_MAX_DELIVERIES,
        on_delete: DeleteHandler | None = None,
        wait_seconds: float = DEFAULT_WAIT_SECONDS,
        max_body_bytes: int = MAX_BODY_BYTES,
        join_poll_seconds: float = JOIN_POLL_SECONDS,
    ) -> None:
        self.queue_name = queue_name
        self.on_delete = on_delete
        self.max_body_bytes = max_body_bytes
        self.join_poll_seconds = join_poll_seconds
        self._sender = EnvelopeSender(client, queue_name)
        self._receiver = EnvelopeReceiver(
            client,
            queue_name,
            accepts=INGEST_KINDS,
            max_deliveries=max_deliveries,
            wait_seconds=wait_seconds,
        )
        self._in_flight: dict[int, Received] = {}

    @classmethod
    def from_settings(
        cls,
        client: ServiceBusClient,
        settings: ServiceBusSettings,
        *,
        on_delete: DeleteHandler | None = None,
    ) -> ServiceBusQueue:
        """The messages queue as configured."""
        return cls(
            client,
            settings.messages_queue,
            max_deliveries=settings.max_deliveries,
            on_delete=on_delete,
        )

    @property
    def max_deliveries(self) -> int:
        """Deliveries of one message before it is dead-lettered."""
        return self._receiver.max_deliveries

    async def put(self, messages: Sequence[Message]) -> None:
        """Send a batch (split in halves until each part fits in a Service Bus message);
        returns once the broker has it. Empty batches are not sent."""
        if messages:
            for part in self._parts(tuple(messages)):
                await self._sender.send(MessagesUpserted(messages=part))

    def _parts(self, messages: tuple[Message, ...]) -> list[tuple[Message, ...]]:
        size = len(encode(MessagesUpserted(messages=messages)))
        if size <= self.max_body_bytes:
            return [messages]
        if len(messages) == 1:
            raise ValueError(
                f"message {messages[0].id} alone is {size} bytes encoded, over the "
                f"{self.max_body_bytes}-byte queue limit"
            )
        middle = len(messages) // 2
        return self._parts(messages[:middle]) + self._parts(messages[middle:])

    async def put_deletes(self, message_ids: Sequence[str], guild_id: str | None = None) -> None:
        """Send a delete event, behind the batches already put."""
        if message_ids:
            await self._sender.send(
                MessagesDeleted(message_ids=tuple(message_ids), guild_id=guild_id)
            )

    async def get(self) -> Delivery:
        """The next batch; deletes met on the way are applied (see the class docstring)."""
        while True:
            received = await self._receiver.receive()
            envelope = received.envelope
            if isinstance(envelope, MessagesUpserted):
                delivery = Delivery(
                    id=received.sequence_number,
                    messages=envelope.messages,
                    attempt=received.attempt,
                    enqueued_at=envelope.sent_at,
                )
                self._in_flight[delivery.id] = received
                return delivery
            if isinstance(envelope, MessagesDeleted):
                await self._apply_delete(received, envelope)

    async def _apply_delete(self, received: Received, envelope: MessagesDeleted) -> None:
        if self.on_delete is None:
            await self._receiver.dead_letter(
                received,
                NO_DELETE_HANDLER,
                "this consumer was built without a delete handler (on_delete)",
            )
            return
        try:
            await self.on_delete(envelope)
        except Exception as error:
            log.exception("queued delete failed", messages=len(envelope.message_ids))
            await self._receiver.retry(received, error=repr(error))
            return
        await self._receiver.complete(received)

    async def ack(self, delivery: Delivery) -> None:
        """Complete the batch; acknowledging twice is harmless."""
        received = self._in_flight.pop(delivery.id, None)
        if received is not None:
            await self._receiver.complete(received)

    async def nack(self, delivery: Delivery) -> None:
        """Abandon the batch (delivered again), or dead-letter it on its last delivery."""
        received = self._in_flight.pop(delivery.id, None)
        if received is not None:
            await self._receiver.retry(received)

    async def join(self) -> None:
        """See the class docstring: this instance settled all it took, and the queue is empty."""
        # A remote queue sends no event when it drains: poll it.
        while True:
            if not self._in_flight and await self._receiver.is_empty():
                return
            await asyncio.sleep(self.join_poll_seconds)

    async def close(self) -> None:
        """Close the SDK sender and receivers (not the client, which the caller owns)."""
        await asyncio.gather(self._sender.close(), self._receiver.close())
