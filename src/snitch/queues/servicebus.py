"""Azure Service Bus, the SDK edge of the queues (azure-servicebus, async API): the client,
and a sender and a receiver of envelopes that every queue on Service Bus is built from
(``snitch.queues.ingest`` for chat, ``snitch.queues.interactions`` for deferred commands).

Delivery is at least once: messages are received in peek-lock mode, completed when done,
abandoned on failure (Service Bus counts the delivery and hands the message out again). Two
things end the cycle with a reason on the dead-letter queue instead, so one bad message can
never block or loop forever: a body that fails its schema (at once, since it would fail
every time), and a message delivered ``max_deliveries`` times. Service Bus's own
MaxDeliveryCount on the queue should be at least ``max_deliveries``, so ours, which says
why, is the one that fires.

Every message carries a deterministic message id (``schema.queue_message_id``): with
duplicate detection enabled on the queue (it can only be enabled when the queue is
created), a producer's resend of the same event is dropped by the broker; one that slips
through (after the detection window, or a lock lost after the work was done) is harmless,
because processing is idempotent.

One consumer task per receiver: the SDK's receiver is not safe for concurrent use, so its
calls are serialised here; run more instances (each has its own receiver) to consume in
parallel.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Collection
from contextlib import asynccontextmanager
from dataclasses import dataclass
from datetime import timedelta
from typing import Final

from azure.servicebus import ServiceBusMessage, ServiceBusReceivedMessage
from azure.servicebus.aio import (
    AutoLockRenewer,
    ServiceBusClient,
    ServiceBusReceiver,
    ServiceBusSender,
)
from azure.servicebus.amqp import AmqpMessageBodyType
from azure.servicebus.exceptions import MessageAlreadySettled, MessageLockLostError

from snitch.config import ServiceBusSettings
from snitch.errors import ConfigError
from snitch.log import get_logger
from snitch.queues.schema import QueueMessage, SchemaRejected, decode, encode, queue_message_id

log = get_logger(__name__)

DEFAULT_MAX_DELIVERIES: Final = 5
DEFAULT_WAIT_SECONDS: Final = 5.0
# Service Bus keeps a dead-letter description to 4096 characters; ours are far shorter.
MAX_DESCRIPTION_CHARS: Final = 1024
CONTENT_TYPE: Final = "application/json"
# The dead-letter reason for a message out of deliveries (schema refusals carry their own).
MAX_DELIVERIES_EXCEEDED: Final = "MaxDeliveriesExceeded"


@asynccontextmanager
async def open_servicebus(settings: ServiceBusSettings) -> AsyncIterator[ServiceBusClient]:
    """The namespace's client, from the connection string or DefaultAzureCredential."""
    secret = settings.connection_string
    if secret is not None and secret.get_secret_value().strip():
        async with ServiceBusClient.from_connection_string(secret.get_secret_value()) as client:
            yield client
        return
    if not settings.namespace:
        raise ConfigError(
            "Service Bus needs SNITCH_SERVICEBUS__CONNECTION_STRING or SNITCH_SERVICEBUS__NAMESPACE"
        )
    from azure.identity.aio import DefaultAzureCredential

    async with (
        DefaultAzureCredential() as credential,
        ServiceBusClient(settings.namespace, credential) as client,
    ):
        yield client


def to_servicebus_message(message: QueueMessage) -> ServiceBusMessage:
    """The SDK message for an envelope: JSON body, kind and version also as properties (so a
    subscription rule or the portal can tell them apart), the deterministic message id."""
    return ServiceBusMessage(
        encode(message),
        message_id=queue_message_id(message),
        content_type=CONTENT_TYPE,
        subject=message.kind,
        application_properties={"kind": message.kind, "schema_version": message.schema_version},
    )


def _body(message: ServiceBusReceivedMessage) -> bytes:
    """The raw body: our producers send one data section; anything else is refused."""
    if message.body_type != AmqpMessageBodyType.DATA:
        raise SchemaRejected(
            "NotJson", f"the body is an AMQP {message.body_type.value} section, not JSON bytes"
        )
    return b"".join(message.body)


def _attempt(message: ServiceBusReceivedMessage) -> int:
    """Deliveries so far, this one included. The AMQP header counts earlier deliveries only
    (0 the first time); Service Bus's DeliveryCount, as .NET shows it, is the same + 1."""
    return (message.delivery_count or 0) + 1


@dataclass(frozen=True)
class Received:
    """One validated message, held under its lock until settled."""

    envelope: QueueMessage
    attempt: int
    message: ServiceBusReceivedMessage

    @property
    def sequence_number(self) -> int:
        """The broker's unique, increasing number for the message."""
        return int(self.message.sequence_number or 0)


class EnvelopeSender:
    """Sends envelopes to one queue over one lazily opened SDK sender."""

    def __init__(self, client: ServiceBusClient, queue_name: str) -> None:
        self.client = client
        self.queue_name = queue_name
        self._sender: ServiceBusSender | None = None
        self._lock = asyncio.Lock()

    async def send(self, message: QueueMessage) -> None:
        """Returns once the broker has accepted (stored, or dropped as a duplicate) it."""
        async with self._lock:
            if self._sender is None:
                self._sender = self.client.get_queue_sender(self.queue_name)
            await self._sender.send_messages(to_servicebus_message(message))

    async def close(self) -> None:
        """Close the SDK sender (the client stays open: its owner closes it)."""
        async with self._lock:
            if self._sender is not None:
                await self._sender.close()
                self._sender = None


class EnvelopeReceiver:
    """Receives, validates and settles envelopes on one queue (peek-lock).

    ``receive`` hands out only what the consumer can process: messages refused by the schema
    and messages past ``max_deliveries`` (their lock kept expiring: a consumer crashed on
    them, or took longer than the lock) are dead-lettered on the way, with their reason.

    With ``hold_lock_for``, the lock of each message handed out is renewed (the SDK's
    ``AutoLockRenewer``) until it is settled or that long has passed: for work that may
    outlast the queue's lock duration and must not be handed to a second consumer meanwhile.
    """

    def __init__(
        self,
        client: ServiceBusClient,
        queue_name: str,
        *,
        accepts: Collection[str],
        max_deliveries: int = DEFAULT_MAX_DELIVERIES,
        wait_seconds: float = DEFAULT_WAIT_SECONDS,
        hold_lock_for: timedelta | None = None,
    ) -> None:
        if max_deliveries < 1:
            raise ValueError(f"max_deliveries must be at least 1, got {max_deliveries}")
        self.client = client
        self.queue_name = queue_name
        self.accepts = frozenset(accepts)
        self.max_deliveries = max_deliveries
        self.wait_seconds = wait_seconds
        self.hold_lock_for = hold_lock_for
        self._receiver: ServiceBusReceiver | None = None
        self._peeker: ServiceBusReceiver | None = None
        self._renewer: AutoLockRenewer | None = None
        self._lock = asyncio.Lock()

    def _open(self) -> ServiceBusReceiver:
        if self._receiver is None:
            # No prefetch: a prefetched message is locked while nobody works on it.
            self._receiver = self.client.get_queue_receiver(self.queue_name, prefetch_count=0)
        return self._receiver

    async def receive(self) -> Received:
        """The next message this consumer can process; waits while there is none."""
        task = asyncio.current_task()
        while True:
            async with self._lock:
                batch = await self._open().receive_messages(
                    max_message_count=1, max_wait_time=self.wait_seconds
                )
            if task is not None and task.cancelling():
                # Python 3.11's asyncio.wait_for, all through the SDK, can swallow a cancel
                # that races with a frame: honour it here, or a cancelled consumer would
                # receive forever. What this call took returns when its lock expires.
                raise asyncio.CancelledError
            for message in batch:
                received = await self._admit(message)
                if received is not None:
                    return received

    async def _admit(self, message: ServiceBusReceivedMessage) -> Received | None:
        attempt = _attempt(message)
        if attempt > self.max_deliveries:
            await self._dead_letter(
                message,
                MAX_DELIVERIES_EXCEEDED,
                f"delivered {attempt} times (bound {self.max_deliveries}) without being "
                "completed: its consumer crashed or outlived the lock each time",
            )
            return None
        try:
            envelope = decode(_body(message), accepts=self.accepts)
        except SchemaRejected as refused:
            await self._dead_letter(message, refused.reason, refused.description)
            return None
        if self.hold_lock_for is not None and self._receiver is not None:
            if self._renewer is None:
                self._renewer = AutoLockRenewer(
                    max_lock_renewal_duration=self.hold_lock_for.total_seconds(),
                    on_lock_renew_failure=self._renewal_failed,
                )
            self._renewer.register(self._receiver, message)
        return Received(envelope=envelope, attempt=attempt, message=message)

    async def _renewal_failed(self, renewable: object, error: Exception | None) -> None:
        log.warning("queue message lock renewal failed", queue=self.queue_name, error=repr(error))

    async def complete(self, received: Received) -> None:
        """Done: the broker forgets the message. A lost lock is logged, not raised: the
        message comes again and its processing is idempotent."""
        async with self._lock:
            try:
                await self._open().complete_message(received.message)
            except (MessageLockLostError, MessageAlreadySettled) as error:
                log.warning(
                    "queue message completed too late; it will be delivered again",
                    queue=self.queue_name,
                    message_id=received.message.message_id,
                    error=str(error),
                )

    async def retry(self, received: Received, *, error: str | None = None) -> bool:
        """Failed: deliver again, or dead-letter it when this was its last delivery.
        Returns whether it will be delivered again."""
        if received.attempt >= self.max_deliveries:
            detail = f"; last error: {error}" if error else ""
            await self.dead_letter(
                received,
                MAX_DELIVERIES_EXCEEDED,
                f"failed on all {received.attempt} deliveries (bound {self.max_deliveries})"
                + detail,
            )
            return False
        async with self._lock:
            try:
                await self._open().abandon_message(received.message)
            except (MessageLockLostError, MessageAlreadySettled) as lost:
                # The lock is gone: the broker delivers it again anyway.
                log.warning("abandon after the lock was lost", error=str(lost))
        return True

    async def dead_letter(self, received: Received, reason: str, description: str) -> None:
        """Move the message to the dead-letter queue with a reason."""
        await self._dead_letter(received.message, reason, description)

    async def _dead_letter(
        self, message: ServiceBusReceivedMessage, reason: str, description: str
    ) -> None:
        log.warning(
            "queue message dead-lettered",
            queue=self.queue_name,
            message_id=message.message_id,
            reason=reason,
            description=description,
        )
        async with self._lock:
            try:
                await self._open().dead_letter_message(
                    message,
                    reason=reason,
                    error_description=description[:MAX_DESCRIPTION_CHARS],
                )
            except (MessageLockLostError, MessageAlreadySettled) as lost:
                # Delivered again with a higher count; the bound catches it next time.
                log.warning("dead-letter after the lock was lost", error=str(lost))

    async def is_empty(self) -> bool:
        """Whether the queue holds no message at all, locked or not (a peek, which takes no
        lock and so disturbs no consumer)."""
        if self._peeker is None:
            self._peeker = self.client.get_queue_receiver(self.queue_name)
        return not await self._peeker.peek_messages(max_message_count=1, sequence_number=1)

    async def close(self) -> None:
        """Close the SDK receivers; unsettled messages come back when their locks expire."""
        async with self._lock:
            if self._renewer is not None:
                await self._renewer.close()
            open_ = [receiver for receiver in (self._receiver, self._peeker) if receiver]
            self._receiver = self._peeker = self._renewer = None
            # Each close waits on the SDK's keep-alive tick (up to a second): in parallel.
            await asyncio.gather(*(receiver.close() for receiver in open_))
