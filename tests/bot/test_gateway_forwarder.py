"""``snitch gateway``: message events in, envelopes on a real (local) Service Bus queue out.

The forwarder is a real discord.py client fed gateway payloads; it sends through the real
azure-servicebus SDK to the local AMQP broker, and the test reads the queue back with the
same SDK and hands the envelopes to a store, as the Functions' message processor does.
"""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import discord
import pytest
from aiohttp.test_utils import TestServer
from azure.servicebus.aio import ServiceBusClient

from snitch.bot.gateway import Forwarder
from snitch.memory.embeddings import LocalEmbedder
from snitch.queues.schema import INGEST_KINDS, MessagesDeleted, MessagesUpserted, decode
from snitch.queues.servicebus import EnvelopeSender
from tests.bot import payloads
from tests.bot.conftest import START, make_settings
from tests.bot.fake_discord import FakeDiscord
from tests.servicebus_broker import ServiceBusBroker, servicebus_broker

WAIT_SECONDS = 10


@pytest.fixture(scope="module")
def broker() -> Iterator[ServiceBusBroker]:
    with servicebus_broker() as running:
        yield running


@pytest.fixture
async def forwarder(
    broker: ServiceBusBroker, monkeypatch: pytest.MonkeyPatch
) -> AsyncIterator[tuple[Forwarder, ServiceBusClient, str]]:
    fake = FakeDiscord()
    server = TestServer(fake.app(), host="127.0.0.1")
    await server.start_server()
    monkeypatch.setattr(discord.http.Route, "BASE", f"http://127.0.0.1:{server.port}/api/v10")
    queue = f"message-processing-{uuid.uuid4().hex[:8]}"
    async with ServiceBusClient.from_connection_string(broker.connection_string) as client:
        sender = EnvelopeSender(client, queue)
        client_ = Forwarder(sender.send)
        try:
            await client_.login("test-token")
            client_._connection.parse_guild_create(payloads.guild_create())
            yield client_, client, queue
        finally:
            await client_.close()
            await sender.close()
            await server.close()


async def handled() -> None:
    """Wait for the event handlers discord.py started."""
    running = [
        task
        for task in asyncio.all_tasks()
        if task.get_name().startswith("discord.py") and not task.done()
    ]
    await asyncio.gather(*running)


async def drain(client: ServiceBusClient, queue: str, expected: int) -> list[bytes]:
    bodies: list[bytes] = []
    async with client.get_queue_receiver(queue, max_wait_time=WAIT_SECONDS) as receiver:
        while len(bodies) < expected:
            batch = await receiver.receive_messages(max_message_count=expected - len(bodies))
            if not batch:
                break
            for received in batch:
                bodies.append(b"".join(received.body))
                await receiver.complete_message(received)
    return bodies


async def test_messages_edits_and_deletes_reach_the_queue_and_then_the_store(
    forwarder: tuple[Forwarder, ServiceBusClient, str],
    tmp_path: Path,
    shared_embedder: LocalEmbedder,
) -> None:
    bot, client, queue = forwarder
    said = payloads.snowflake(START)
    events: list[tuple[str, dict[str, Any]]] = [
        ("message_create", payloads.message(said, payloads.ALICE, "the cake is a lie")),
        ("message_create", payloads.message(str(int(said) + 1), payloads.ROBOT, "beep")),
        ("message_update", payloads.message(said, payloads.ALICE, "the cake was real")),
        (
            "message_delete",
            {
                "id": str(int(said) + 2),
                "channel_id": payloads.GENERAL_ID,
                "guild_id": payloads.GUILD_ID,
            },
        ),
    ]
    for event, data in events:  # one at a time, as the gateway delivers them
        getattr(bot._connection, f"parse_{event}")(data)
        await handled()
    bodies = await drain(client, queue, expected=3)

    envelopes = [decode(body, accepts=INGEST_KINDS) for body in bodies]
    upserts = [e for e in envelopes if isinstance(e, MessagesUpserted)]
    deletes = [e for e in envelopes if isinstance(e, MessagesDeleted)]
    assert [e.messages[0].content for e in upserts] == ["the cake is a lie", "the cake was real"]
    assert all(e.guild is not None and e.guild.name == "Test Server" for e in upserts)
    assert [c.name for e in upserts for c in e.channels] == ["general", "general"]
    assert [d.message_ids for d in deletes] == [(str(int(said) + 2),)]  # the bot's never went

    # What the Functions' message processor does with them.
    from snitch.bot.services import open_services

    async with open_services(make_settings(tmp_path), embedder=shared_embedder) as services:
        for envelope in upserts:
            await services.ingest.store_now(
                envelope.messages, guild=envelope.guild, channels=envelope.channels
            )
        [stored] = await services.store.messages(payloads.GUILD_ID)
        assert stored.content == "the cake was real"
