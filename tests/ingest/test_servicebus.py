"""Service Bus behind the queue seams, through the real azure-servicebus SDK.

The schema tests need nothing. The rest talk to ``tests/servicebus_broker.js`` (an AMQP 1.0
broker started per module, see ``tests/servicebus_broker.py``) with the SDK's development
emulator switch: sends, peek-lock receives, complete, abandon, dead-letter, duplicate
detection and peek all cross a real AMQP connection. Each test uses queues of its own.
"""

from __future__ import annotations

import asyncio
import hashlib
import json
import uuid
from collections.abc import AsyncIterator, Iterator, Sequence
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from azure.servicebus import ServiceBusMessage, ServiceBusReceivedMessage, ServiceBusSubQueue
from azure.servicebus.aio import ServiceBusClient
from pydantic import SecretStr

from snitch.config import ServiceBusSettings, load_settings
from snitch.errors import ConfigError
from snitch.ingest import IngestWorker
from snitch.interactions.jobs import InteractionJob
from snitch.models import Message
from snitch.queues.ingest import NO_DELETE_HANDLER, ServiceBusQueue
from snitch.queues.interactions import (
    INTERACTION_EXPIRED,
    InteractionJobQueue,
)
from snitch.queues.schema import (
    INGEST_KINDS,
    INTERACTIONS_QUEUE_KINDS,
    BackfillChunkMessage,
    BackfillCursor,
    InteractionJobMessage,
    MessagesDeleted,
    MessagesUpserted,
    SchemaRejected,
    decode,
    encode,
    queue_message_id,
)
from snitch.queues.servicebus import MAX_DELIVERIES_EXCEEDED, open_servicebus
from snitch.store import SqlStore, open_store
from tests.helpers import CHANNEL, GUILD, author, message
from tests.servicebus_broker import ServiceBusBroker, servicebus_broker

WAIT = 20.0  # seconds any single step may take before the test fails instead of hanging
SHORT_LOCK_MS = 3_000


def batch(start: int, size: int) -> list[Message]:
    who = author("alice")
    return [
        message(who, f"message {i}", minutes=i, message_id=str(10_000 + i))
        for i in range(start, start + size)
    ]


def job(
    interaction_id: str = "900000000000000001", *, age: timedelta = timedelta()
) -> InteractionJob:
    payload = {"id": interaction_id, "application_id": "800000000000000001", "type": 2}
    return InteractionJob(
        interaction_id=interaction_id,
        application_id="800000000000000001",
        payload=payload,
        received_at=datetime.now(UTC) - age,
    )


# ---- the schemas (no broker) -----------------------------------------------------------


def test_an_envelope_round_trips() -> None:
    sent = MessagesUpserted(messages=tuple(batch(0, 3)))
    assert decode(encode(sent)) == sent


@pytest.mark.parametrize(
    ("body", "reason"),
    [
        (b"\xff not json", "NotJson"),
        (b"[1, 2]", "NotAnEnvelope"),
        (b'{"schema_version": 1}', "MissingKind"),
        (b'{"kind": "messages.exploded", "schema_version": 1}', "UnknownKind"),
        (b'{"kind": "interaction.job", "schema_version": 1}', "UnexpectedKind"),
        (b'{"kind": "messages.deleted"}', "MissingSchemaVersion"),
        (b'{"kind": "messages.deleted", "schema_version": 2}', "UnsupportedSchemaVersion"),
        (b'{"kind": "messages.deleted", "schema_version": 1, "message_ids": []}', "SchemaInvalid"),
        (
            b'{"kind": "messages.deleted", "schema_version": 1, "message_ids": ["1"], "x": 1}',
            "SchemaInvalid",
        ),
    ],
)
def test_what_a_consumer_cannot_read_is_refused_with_a_reason(body: bytes, reason: str) -> None:
    with pytest.raises(SchemaRejected) as refused:
        decode(body, accepts=INGEST_KINDS)
    assert refused.value.reason == reason
    assert refused.value.description


def test_an_invalid_message_says_which_field() -> None:
    document = json.loads(encode(MessagesUpserted(messages=tuple(batch(0, 1)))))
    del document["messages"][0]["author"]
    with pytest.raises(SchemaRejected) as refused:
        decode(json.dumps(document).encode())
    assert "messages.0.author" in refused.value.description


def test_message_ids_are_equal_for_a_resend_and_differ_for_any_change() -> None:
    messages = batch(0, 5)
    first = queue_message_id(MessagesUpserted(messages=tuple(messages)))
    # A resend, even in another order and at another time, is the same event.
    again = MessagesUpserted(messages=tuple(reversed(messages)), sent_at=datetime.now(UTC))
    assert queue_message_id(again) == first
    assert first.startswith("msg-10000-5-")
    assert len(first) <= 128
    edited = [*messages[:-1], messages[-1].model_copy(update={"content": "edited"})]
    assert queue_message_id(MessagesUpserted(messages=tuple(edited))) != first
    assert queue_message_id(MessagesUpserted(messages=tuple(messages[:4]))) != first
    deleted = MessagesDeleted(message_ids=("3", "20", "3"))
    assert queue_message_id(deleted).startswith("del-3-2-")
    assert queue_message_id(deleted) == queue_message_id(MessagesDeleted(message_ids=("20", "3")))
    assert queue_message_id(InteractionJobMessage(job=job("123"))) == "123"


# ---- through the SDK and the broker -----------------------------------------------------


@pytest.fixture(scope="module")
def broker() -> Iterator[ServiceBusBroker]:
    with servicebus_broker() as running:
        yield running


@pytest.fixture
async def client(broker: ServiceBusBroker) -> AsyncIterator[ServiceBusClient]:
    async with ServiceBusClient.from_connection_string(broker.connection_string) as opened:
        yield opened


@pytest.fixture
def queue_name() -> str:
    return f"test-{uuid.uuid4().hex[:12]}"


@pytest.fixture
async def store(tmp_path: Path) -> AsyncIterator[SqlStore]:
    opened = await open_store(load_settings(data_dir=tmp_path))
    yield opened
    await opened.close()


async def raw_send(client: ServiceBusClient, queue_name: str, *bodies: bytes) -> None:
    async with client.get_queue_sender(queue_name) as sender:
        for body in bodies:
            await sender.send_messages(ServiceBusMessage(body))


async def dead_letters(
    client: ServiceBusClient, queue_name: str, expected: int
) -> list[ServiceBusReceivedMessage]:
    """Receive (and complete) ``expected`` messages from the queue's dead-letter queue."""
    found: list[ServiceBusReceivedMessage] = []
    async with client.get_queue_receiver(
        queue_name, sub_queue=ServiceBusSubQueue.DEAD_LETTER
    ) as receiver:
        async with asyncio.timeout(WAIT):
            while len(found) < expected:
                for item in await receiver.receive_messages(
                    max_message_count=expected - len(found), max_wait_time=1
                ):
                    await receiver.complete_message(item)
                    found.append(item)
        assert not await receiver.receive_messages(max_message_count=1, max_wait_time=0.5)
    return found


async def peek_all(client: ServiceBusClient, queue_name: str) -> list[ServiceBusReceivedMessage]:
    async with client.get_queue_receiver(queue_name) as receiver:
        return list(await receiver.peek_messages(max_message_count=100, sequence_number=1))


async def test_a_batch_goes_round_trip_and_leaves_the_queue(
    client: ServiceBusClient, queue_name: str
) -> None:
    async with ServiceBusQueue(client, queue_name) as queue:
        sent = batch(0, 3)
        await queue.put(sent)
        [on_the_wire] = await peek_all(client, queue_name)
        assert on_the_wire.message_id == queue_message_id(MessagesUpserted(messages=tuple(sent)))
        assert on_the_wire.content_type == "application/json"
        assert on_the_wire.application_properties == {
            b"kind": b"messages.upserted",
            b"schema_version": 1,
        }
        delivery = await asyncio.wait_for(queue.get(), WAIT)
        assert delivery.messages == tuple(sent)
        assert delivery.attempt == 1
        await queue.ack(delivery)
        await queue.ack(delivery)  # twice is harmless
        await asyncio.wait_for(queue.join(), WAIT)
        assert await peek_all(client, queue_name) == []


async def test_a_nacked_batch_comes_back_with_a_higher_delivery_count(
    client: ServiceBusClient, queue_name: str
) -> None:
    async with ServiceBusQueue(client, queue_name) as queue:
        await queue.put(batch(0, 2))
        first = await asyncio.wait_for(queue.get(), WAIT)
        await queue.nack(first)
        again = await asyncio.wait_for(queue.get(), WAIT)
        assert again.id == first.id
        assert again.messages == first.messages
        assert (first.attempt, again.attempt) == (1, 2)
        await queue.ack(again)
        await asyncio.wait_for(queue.join(), WAIT)


async def test_join_waits_for_what_is_taken_but_not_settled(
    client: ServiceBusClient, queue_name: str
) -> None:
    async with ServiceBusQueue(client, queue_name, join_poll_seconds=0.05) as queue:
        await queue.put(batch(0, 1))
        delivery = await asyncio.wait_for(queue.get(), WAIT)
        joining = asyncio.create_task(queue.join())
        await asyncio.sleep(0.5)
        assert not joining.done()
        await queue.ack(delivery)
        await asyncio.wait_for(joining, WAIT)


async def test_invalid_messages_are_dead_lettered_at_once_with_their_reason(
    client: ServiceBusClient, queue_name: str
) -> None:
    wrong_version = json.loads(encode(MessagesUpserted(messages=tuple(batch(0, 1)))))
    wrong_version["schema_version"] = 2
    await raw_send(
        client,
        queue_name,
        b"not json at all",
        json.dumps(wrong_version).encode(),
        b'{"kind": "messages.upserted", "schema_version": 1, "messages": []}',
        encode(InteractionJobMessage(job=job())),
    )
    async with ServiceBusQueue(client, queue_name) as queue:
        good = batch(5, 2)
        await queue.put(good)
        # The first get skips the four bad ones, each on its first delivery.
        delivery = await asyncio.wait_for(queue.get(), WAIT)
        assert delivery.messages == tuple(good)
        assert delivery.attempt == 1
        await queue.ack(delivery)
    refused = await dead_letters(client, queue_name, 4)
    assert [item.dead_letter_reason for item in refused] == [
        "NotJson",
        "UnsupportedSchemaVersion",
        "SchemaInvalid",
        "UnexpectedKind",
    ]
    assert "version 2 is not supported" in (refused[1].dead_letter_error_description or "")
    assert "messages" in (refused[2].dead_letter_error_description or "")
    assert b"".join(refused[0].body) == b"not json at all"  # kept as sent, for a look


async def test_a_duplicate_message_id_is_dropped_by_the_broker(
    client: ServiceBusClient, queue_name: str
) -> None:
    async with ServiceBusQueue(client, queue_name) as queue:
        sent = batch(0, 3)
        await queue.put(sent)
        await queue.put(sent)  # the gateway's retry after a timeout: same event
        edited = [*sent[:2], sent[2].model_copy(update={"content": "edited"})]
        await queue.put(edited)  # a real edit is not a duplicate
        on_the_wire = await peek_all(client, queue_name)
        assert len(on_the_wire) == 2
        for expected in (sent, edited):
            delivery = await asyncio.wait_for(queue.get(), WAIT)
            assert delivery.messages == tuple(expected)
            await queue.ack(delivery)
        await asyncio.wait_for(queue.join(), WAIT)


async def test_a_large_batch_is_split_to_fit(client: ServiceBusClient, queue_name: str) -> None:
    async with ServiceBusQueue(client, queue_name, max_body_bytes=4_000) as queue:
        sent = batch(0, 20)
        await queue.put(sent)
        parts = await peek_all(client, queue_name)
        assert len(parts) > 1
        assert all(len(b"".join(part.body)) <= 4_000 for part in parts)
        received: list[Message] = []
        for _ in parts:
            delivery = await asyncio.wait_for(queue.get(), WAIT)
            received.extend(delivery.messages)
            await queue.ack(delivery)
        assert received == sent


# ---- the ingestion worker on Service Bus --------------------------------------------------


class CountingIndex:
    """Keeps vectors by message id, and how many times each id was written."""

    def __init__(self) -> None:
        self.vectors: dict[str, list[float]] = {}
        self.writes = 0

    def upsert(self, messages: Sequence[Message], vectors: Sequence[Sequence[float]]) -> None:
        for item, vector in zip(messages, vectors, strict=True):
            self.vectors[item.id] = list(vector)
            self.writes += 1


class FlakyEmbedder:
    """Deterministic vectors; fails the first ``failures`` calls that embed a poisoned text."""

    def __init__(self, poison: str = "", failures: int = 0) -> None:
        self.poison = poison
        self.failures = failures

    async def aembed(self, texts: Sequence[str]) -> list[list[float]]:
        if self.poison and self.poison in texts and self.failures > 0:
            self.failures -= 1
            raise RuntimeError(f"cannot embed {self.poison!r}")
        return [[b / 255 for b in hashlib.sha256(text.encode()).digest()[:4]] for text in texts]


def ingest_worker(
    queue: ServiceBusQueue, store: SqlStore, index: CountingIndex, embedder: FlakyEmbedder
) -> IngestWorker:
    return IngestWorker(
        queue=queue,
        store=store,
        guilds={GUILD.id: GUILD},
        channels={CHANNEL.id: CHANNEL},
        embedder=embedder,
        index=index,
    )


async def test_the_worker_stores_every_message_exactly_once(
    client: ServiceBusClient, queue_name: str, store: SqlStore
) -> None:
    index = CountingIndex()
    embedder = FlakyEmbedder(poison="message 25", failures=1)  # fails once, then works
    async with ServiceBusQueue(client, queue_name) as queue:
        batches = [batch(start, 20) for start in range(0, 200, 20)]
        for part in batches:
            await queue.put(part)
        for part in batches[:3]:
            await queue.put(part)  # resent by a producer: dropped by duplicate detection
        worker = ingest_worker(queue, store, index, embedder)
        running = asyncio.create_task(worker.run())
        try:
            await asyncio.wait_for(queue.join(), 60)
        finally:
            running.cancel()
            await asyncio.gather(running, return_exceptions=True)
    assert await store.count_messages() == 200
    assert len(index.vectors) == 200
    # Each batch processed once, and the one that failed once more: nothing else came twice.
    assert worker.processed == 200
    assert index.writes == 200
    assert embedder.failures == 0
    assert await peek_all(client, queue_name) == []


async def test_a_poison_batch_is_dead_lettered_after_the_bound(
    client: ServiceBusClient, queue_name: str, store: SqlStore
) -> None:
    index = CountingIndex()
    embedder = FlakyEmbedder(poison="message 3", failures=1_000)  # fails every time
    async with ServiceBusQueue(client, queue_name, max_deliveries=3) as queue:
        await queue.put(batch(0, 5))  # poisoned
        await queue.put(batch(5, 5))
        running = asyncio.create_task(ingest_worker(queue, store, index, embedder).run())
        try:
            await asyncio.wait_for(queue.join(), 60)
        finally:
            running.cancel()
            await asyncio.gather(running, return_exceptions=True)
    assert embedder.failures == 1_000 - 3  # tried exactly max_deliveries times
    assert sorted(index.vectors) == [str(10_000 + i) for i in range(5, 10)]
    [poisoned] = await dead_letters(client, queue_name, 1)
    assert poisoned.dead_letter_reason == MAX_DELIVERIES_EXCEEDED
    assert "3 deliveries" in (poisoned.dead_letter_error_description or "")
    body = decode(b"".join(poisoned.body))
    assert isinstance(body, MessagesUpserted)
    assert body.messages == tuple(batch(0, 5))


async def test_deletes_travel_behind_the_batches_and_are_applied(
    client: ServiceBusClient, queue_name: str, store: SqlStore
) -> None:
    applied: list[MessagesDeleted] = []

    async def delete(event: MessagesDeleted) -> int:
        applied.append(event)
        async with store.unit_of_work() as writer:
            return await writer.delete_messages(event.message_ids)

    index = CountingIndex()
    async with ServiceBusQueue(client, queue_name, on_delete=delete) as queue:
        await queue.put(batch(0, 5))
        await queue.put_deletes(["10001", "10003"], guild_id=GUILD.id)
        running = asyncio.create_task(ingest_worker(queue, store, index, FlakyEmbedder()).run())
        try:
            await asyncio.wait_for(queue.join(), 60)
        finally:
            running.cancel()
            await asyncio.gather(running, return_exceptions=True)
    assert await store.count_messages() == 3
    assert [event.message_ids for event in applied] == [("10001", "10003")]
    assert applied[0].guild_id == GUILD.id


async def test_a_delete_without_a_handler_is_dead_lettered_not_dropped(
    client: ServiceBusClient, queue_name: str
) -> None:
    async with ServiceBusQueue(client, queue_name) as queue:
        await queue.put_deletes(["10001"])
        await queue.put(batch(0, 1))
        delivery = await asyncio.wait_for(queue.get(), WAIT)
        await queue.ack(delivery)
    [kept] = await dead_letters(client, queue_name, 1)
    assert kept.dead_letter_reason == NO_DELETE_HANDLER


@pytest.fixture(scope="module")
def short_locks() -> Iterator[ServiceBusBroker]:
    """A broker whose locks last 3 s, for tests of lock expiry and renewal."""
    with servicebus_broker(lock_duration_ms=SHORT_LOCK_MS) as running:
        yield running


async def test_a_lost_lock_means_another_delivery_and_a_late_ack_is_harmless(
    short_locks: ServiceBusBroker, queue_name: str
) -> None:
    async with (
        ServiceBusClient.from_connection_string(short_locks.connection_string) as client,
        ServiceBusQueue(client, queue_name) as slow,
        ServiceBusQueue(client, queue_name) as other,
    ):
        await slow.put(batch(0, 2))
        taken = await asyncio.wait_for(slow.get(), WAIT)
        # The slow consumer outlives the lock: the broker hands the batch out again.
        again = await asyncio.wait_for(other.get(), WAIT)
        assert again.messages == taken.messages
        assert again.attempt == 2
        await slow.ack(taken)  # too late: logged, not raised
        await other.ack(again)
        await asyncio.wait_for(other.join(), WAIT)


async def test_a_batch_whose_consumers_keep_crashing_is_dead_lettered(
    short_locks: ServiceBusBroker, queue_name: str
) -> None:
    async with (
        ServiceBusClient.from_connection_string(short_locks.connection_string) as client,
        ServiceBusQueue(client, queue_name, max_deliveries=1) as crashing,
        ServiceBusQueue(client, queue_name, max_deliveries=1) as next_one,
    ):
        await crashing.put(batch(0, 1))
        await asyncio.wait_for(crashing.get(), WAIT)  # ... and never settles it
        # Its lock expires; the next consumer meets the second delivery, over the bound, and
        # dead-letters it instead of handing it out.
        waiting = asyncio.create_task(next_one.get())
        [crashed] = await dead_letters(client, queue_name, 1)
        await crashing.put(batch(1, 1))
        delivery = await asyncio.wait_for(waiting, WAIT)
        assert delivery.messages == tuple(batch(1, 1))
        await next_one.ack(delivery)
    assert crashed.dead_letter_reason == MAX_DELIVERIES_EXCEEDED
    assert "delivered 2 times" in (crashed.dead_letter_error_description or "")


async def test_the_queue_opens_from_settings(broker: ServiceBusBroker, queue_name: str) -> None:
    settings = ServiceBusSettings(
        connection_string=SecretStr(broker.connection_string), messages_queue=queue_name
    )
    async with (
        open_servicebus(settings) as client,
        ServiceBusQueue.from_settings(client, settings) as queue,
    ):
        await queue.put(batch(0, 1))
        delivery = await asyncio.wait_for(queue.get(), WAIT)
        await queue.ack(delivery)
    with pytest.raises(ConfigError, match="SNITCH_SERVICEBUS__CONNECTION_STRING"):
        async with open_servicebus(ServiceBusSettings()):
            pass


# ---- deferred interactions ----------------------------------------------------------------


async def test_interaction_jobs_are_sent_once_and_finished_by_the_worker(
    client: ServiceBusClient, queue_name: str
) -> None:
    finished: list[str] = []
    both_done = asyncio.Event()
    failures = {"900000000000000002": 1}

    async def finish(work: InteractionJob) -> None:
        if failures.get(work.interaction_id, 0) > 0:
            failures[work.interaction_id] -= 1
            raise RuntimeError("the webhook said 500")
        finished.append(work.interaction_id)
        if len(finished) == 2:
            both_done.set()

    async with InteractionJobQueue(client, queue_name) as jobs:
        await jobs.put(job("900000000000000001"))
        await jobs.put(job("900000000000000001"))  # Discord retried us
        await jobs.put(job("900000000000000002"))
        await jobs.put(job("900000000000000003", age=timedelta(minutes=20)))  # too old
        running = asyncio.create_task(jobs.run(finish))
        try:
            await asyncio.wait_for(both_done.wait(), WAIT)
        finally:
            running.cancel()
            await asyncio.gather(running, return_exceptions=True)
    assert finished == ["900000000000000001", "900000000000000002"]
    [expired] = await dead_letters(client, queue_name, 1)
    assert expired.dead_letter_reason == INTERACTION_EXPIRED
    assert expired.message_id == "900000000000000003"
    assert await peek_all(client, queue_name) == []


async def test_a_backfill_chunk_queued_twice_is_kept_once(
    client: ServiceBusClient, queue_name: str
) -> None:
    """A chunk delivered again queues the same continuation: the broker drops the second."""
    started = datetime(2026, 11, 20, 12, tzinfo=UTC)
    cursor = BackfillCursor(
        guild_id=GUILD.id,
        started_at=started,
        cutoff=started - timedelta(days=7),
        full=True,
        channel_ids=(CHANNEL.id,),
        before="900000000000000001",
        step=3,
    )
    async with InteractionJobQueue(client, queue_name) as jobs:
        await jobs.put_backfill(cursor)
        await jobs.put_backfill(cursor.model_copy(update={"before": "900000000000000000"}))

    [queued] = await peek_all(client, queue_name)
    assert queued.message_id == f"backfill-{GUILD.id}-{int(started.timestamp() * 1000)}-3"
    assert queued.subject == "backfill.chunk"
    envelope = decode(b"".join(queued.body), accepts=INTERACTIONS_QUEUE_KINDS)
    assert isinstance(envelope, BackfillChunkMessage)
    assert envelope.cursor == cursor


def test_settings_name_the_queues() -> None:
    settings = ServiceBusSettings()
    assert (settings.messages_queue, settings.interactions_queue) == (
        "message-processing",
        "interactions",
    )
    assert settings.max_deliveries == 5


async def test_a_slow_command_keeps_its_lock_and_runs_once(
    short_locks: ServiceBusBroker, queue_name: str
) -> None:
    runs: list[str] = []
    done = asyncio.Event()

    async def slow_finish(work: InteractionJob) -> None:
        runs.append(work.interaction_id)
        await asyncio.sleep(SHORT_LOCK_MS / 1000 * 1.5)  # outlives one lock, not the renewals
        done.set()

    async with (
        ServiceBusClient.from_connection_string(short_locks.connection_string) as client,
        InteractionJobQueue(client, queue_name, wait_seconds=1) as first,
        InteractionJobQueue(client, queue_name, wait_seconds=1) as second,
    ):
        await first.put(job("900000000000000004"))
        workers = [asyncio.create_task(jobs.run(slow_finish)) for jobs in (first, second)]
        try:
            await asyncio.wait_for(done.wait(), WAIT)
            # Without renewal the lock would have expired halfway: by now the second worker
            # would be running the command too.
        finally:
            for worker in workers:
                worker.cancel()
            await asyncio.gather(*workers, return_exceptions=True)
        assert runs == ["900000000000000004"]
        assert await peek_all(client, queue_name) == []
