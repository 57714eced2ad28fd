"""The Functions app, called as the host calls it: its registered functions, with
``azure.functions`` request, timer and Service Bus message objects.

The runtime behind them is the real one (services on a scratch SQLite store, the bot
logged in over HTTP against the fake Discord); only the Service Bus senders of deferred
commands and of backfill chunks are replaced by lists, whose jobs and cursors the tests
hand to ``interaction_worker`` as the queue would, in the envelope the real sender writes.
"""

from __future__ import annotations

import json
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import AsyncExitStack
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import azure.functions as func
import discord
import pytest
import structlog
from aiohttp.test_utils import TestServer
from azure.functions.servicebus import ServiceBusMessage
from azure.functions.timer import TimerRequest

from snitch.azure import functions
from snitch.azure.runtime import AzureRuntime, open_runtime
from snitch.ingest.budget import ChunkBudget
from snitch.interactions.jobs import InteractionJob
from snitch.memory.embeddings import LocalEmbedder
from snitch.models import Author, Channel, Guild, Message
from snitch.queues.schema import (
    BackfillChunkMessage,
    BackfillCursor,
    InteractionJobMessage,
    MessagesDeleted,
    MessagesUpserted,
    QueueMessage,
    SchemaRejected,
    decode,
    encode,
    queue_message_id,
)
from tests.bot import payloads
from tests.bot.conftest import START, make_settings
from tests.bot.fake_discord import FakeDiscord
from tests.interactions.signing import PUBLIC_KEY_HEX, signed
from tests.test_telemetry import in_memory_telemetry

FUNCTIONS = {str(fn.get_function_name()): fn for fn in functions.app.get_functions()}


def user_function(name: str) -> Callable[..., Awaitable[Any]]:
    function: Callable[..., Awaitable[Any]] = FUNCTIONS[name].get_user_function()
    return function


@dataclass
class Azure:
    """The app's runtime, the fake Discord, the jobs and backfill chunks sent, the clock."""

    discord: FakeDiscord
    jobs: list[InteractionJob] = field(default_factory=list)
    cursors: list[BackfillCursor] = field(default_factory=list)
    budget: ChunkBudget = field(default_factory=ChunkBudget)
    now: datetime = START
    fail_queue: bool = False

    async def runtime(self) -> AzureRuntime:
        return await functions.runtime.get()


@pytest.fixture
async def azure(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, shared_embedder: LocalEmbedder
) -> AsyncIterator[Azure]:
    fake = FakeDiscord()
    server = TestServer(fake.app(), host="127.0.0.1")
    await server.start_server()
    base = f"http://127.0.0.1:{server.port}/api/v10"
    monkeypatch.setattr(discord.http.Route, "BASE", base)  # restored after the test
    state = Azure(fake)
    settings = make_settings(
        tmp_path, discord={"token": "test-token", "public_key": PUBLIC_KEY_HEX, "api_base": base}
    )

    async def send(job: InteractionJob) -> None:
        state.jobs.append(job)

    async def send_backfill(cursor: BackfillCursor) -> None:
        state.cursors.append(cursor)

    async def queue_check() -> None:
        if state.fail_queue:
            raise ConnectionError("the namespace is unreachable")

    async def factory(stack: AsyncExitStack) -> AzureRuntime:
        return await open_runtime(
            stack,
            settings,
            send,
            send_backfill=send_backfill,
            backfill_budget=state.budget,
            queue_check=queue_check,
            embedder=shared_embedder,
            clock=lambda: state.now,
        )

    functions.runtime.use(factory)
    try:
        yield state
    finally:
        await functions.runtime.close()
        await server.close()


def http_request(payload: dict[str, Any], *, tamper: bool = False) -> func.HttpRequest:
    body, headers = signed(payload)
    return func.HttpRequest(
        method="POST",
        url="https://snitch.example/api/discord/interactions",
        headers=headers,
        body=body + (b" " if tamper else b""),
    )


def bus_message(envelope: QueueMessage, *, delivery_count: int = 1) -> ServiceBusMessage:
    return ServiceBusMessage(
        body=encode(envelope),
        message_id=queue_message_id(envelope),
        delivery_count=delivery_count,
        application_properties={},
        user_properties={},
    )


def chat(count: int, *, start: datetime) -> MessagesUpserted:
    guild = Guild(id=payloads.GUILD_ID, name="Test Server")
    channel = Channel(id=payloads.GENERAL_ID, guild_id=payloads.GUILD_ID, name="general")
    people = [Author(id=payloads.ALICE.id, name="alice"), Author(id=payloads.BOB.id, name="bob")]
    lines = [
        "the cake is a lie!!",
        "no way, I baked it myself",
        "then why is it cardboard?",
        "because you ate the real one",
    ]
    messages = tuple(
        Message(
            id=payloads.snowflake(start + timedelta(minutes=i), i),
            guild_id=payloads.GUILD_ID,
            channel_id=payloads.GENERAL_ID,
            author=people[i % 2],
            content=lines[i % len(lines)],
            timestamp=start + timedelta(minutes=i),
        )
        for i in range(count)
    )
    return MessagesUpserted(messages=messages, guild=guild, channels=(channel,))


def test_the_app_registers_the_five_functions_with_their_triggers() -> None:
    assert set(FUNCTIONS) == {
        "discord_interactions",
        "interaction_worker",
        "message_processor",
        "timer_newsletter",
        "health_check",
    }
    triggers = {name: trigger_of(name) for name in FUNCTIONS}
    assert triggers["discord_interactions"]["route"] == "discord/interactions"
    assert triggers["discord_interactions"]["authLevel"] == func.AuthLevel.ANONYMOUS
    assert triggers["health_check"]["route"] == "health"
    assert triggers["interaction_worker"]["queueName"] == "interactions"
    assert triggers["message_processor"]["queueName"] == "message-processing"
    assert triggers["timer_newsletter"]["schedule"] == "0 */5 * * * *"


def trigger_of(name: str) -> dict[str, Any]:
    trigger = FUNCTIONS[name].get_trigger()
    assert trigger is not None
    described: dict[str, Any] = trigger.get_dict_repr()
    return described


async def test_a_signed_ping_gets_a_pong_and_a_bad_signature_401(azure: Azure) -> None:
    endpoint = user_function("discord_interactions")

    pong = await endpoint(http_request({"type": 1}))
    refused = await endpoint(http_request({"type": 1}, tamper=True))

    assert (pong.status_code, json.loads(pong.get_body())) == (200, {"type": 1})
    assert refused.status_code == 401
    assert azure.discord.sent == []


async def test_a_deferred_command_goes_through_the_queue_to_the_worker(azure: Azure) -> None:
    endpoint = user_function("discord_interactions")
    worker = user_function("interaction_worker")
    payload = payloads.interaction("snitch forget-me", user=payloads.CAROL)
    azure.discord.expect_interaction(payload["token"], payload["channel_id"])
    azure.discord.rate_limit("/messages/@original", times=1)

    response = await endpoint(http_request(payload))
    assert json.loads(response.get_body()) == {"type": 5, "data": {"flags": 64}}
    [job] = azure.jobs
    assert job.interaction_id == payload["id"]

    await worker(bus_message(InteractionJobMessage(job=job)))

    [answer] = azure.discord.replies()
    assert answer.via == "original"
    assert "Done." in answer.body["content"]
    assert answer.body["allowed_mentions"] == {"parse": []}
    assert azure.discord.rate_limited  # the 429 was waited out, not fatal


async def test_the_interaction_worker_records_the_queue_lag_of_first_deliveries(
    azure: Azure,
) -> None:
    endpoint = user_function("discord_interactions")
    worker = user_function("interaction_worker")
    payload = payloads.interaction("snitch forget-me", user=payloads.CAROL)
    azure.discord.expect_interaction(payload["token"], payload["channel_id"])
    await endpoint(http_request(payload))
    [job] = azure.jobs
    queued = InteractionJobMessage(job=job, sent_at=datetime.now(UTC) - timedelta(seconds=3))

    with in_memory_telemetry() as captured:
        await worker(bus_message(queued))
        await worker(bus_message(queued, delivery_count=2))  # a retry's wait: not lag
        ((attributes, point),) = captured.points("snitch.queue.lag")

    assert attributes == {"queue": "interactions"}
    assert point.count == 1
    assert 3 <= point.sum < 60


async def test_the_message_processor_stores_and_deletes_what_the_gateway_forwards(
    azure: Azure,
) -> None:
    processor = user_function("message_processor")
    forwarded = chat(4, start=START - timedelta(hours=2))
    from_a_bot = forwarded.messages[0].model_copy(
        update={
            "id": payloads.snowflake(START, 99),
            "author": Author(id="5", name="b", is_bot=True),
        }
    )

    await processor(bus_message(forwarded))
    await processor(bus_message(MessagesUpserted(messages=(from_a_bot,))))
    gone = forwarded.messages[0].id
    await processor(bus_message(MessagesDeleted(message_ids=(gone,), guild_id=payloads.GUILD_ID)))
    # A message that can never be read is logged and completed, not retried.
    await processor(
        ServiceBusMessage(
            body=b'{"kind": "messages.exploded", "schema_version": 1}',
            message_id="bad",
            application_properties={},
            user_properties={},
        )
    )

    # The upsert delivered again after its delete (a retry, an edit racing the delete).
    await processor(bus_message(MessagesUpserted(messages=forwarded.messages[:1])))

    store = (await azure.runtime()).services.store
    kept = await store.messages(payloads.GUILD_ID)
    assert [m.id for m in kept] == [m.id for m in forwarded.messages[1:]]
    [channel] = await store.channels(payloads.GUILD_ID)
    assert channel.name == "general"


async def test_a_create_redelivered_to_a_fresh_instance_after_its_delete_stays_deleted(
    azure: Azure,
) -> None:
    """The delete is processed by one instance; the create comes again (a retry the broker
    still held, or one whose delete overtook it) to an instance that never saw the
    delete: the store's tombstone keeps it out."""
    processor = user_function("message_processor")
    forwarded = chat(4, start=START - timedelta(hours=2))
    stored, late = forwarded.messages[:3], forwarded.messages[3]
    await processor(bus_message(forwarded.model_copy(update={"messages": stored})))
    gone = stored[0].id
    deleted = MessagesDeleted(message_ids=(gone, late.id), guild_id=payloads.GUILD_ID)
    await processor(bus_message(deleted))

    await functions.runtime.close()  # the instance is recycled: its memory of deletes goes
    again = forwarded.model_copy(update={"messages": (stored[0], late)})
    await processor(bus_message(again, delivery_count=2))

    store = (await azure.runtime()).services.store
    kept = await store.messages(payloads.GUILD_ID)
    assert [m.id for m in kept] == [m.id for m in stored[1:]]


async def test_the_message_processor_records_the_queue_lag_of_first_deliveries(
    azure: Azure,
) -> None:
    processor = user_function("message_processor")
    sent_at = datetime.now(UTC) - timedelta(seconds=5)
    forwarded = chat(2, start=START - timedelta(hours=1)).model_copy(update={"sent_at": sent_at})
    deleted = MessagesDeleted(
        message_ids=(forwarded.messages[0].id,), guild_id=payloads.GUILD_ID, sent_at=sent_at
    )

    with in_memory_telemetry() as captured:
        await processor(bus_message(forwarded))
        await processor(bus_message(deleted))
        await processor(bus_message(forwarded, delivery_count=2))  # a retry's wait: not lag
        ((attributes, point),) = captured.points("snitch.queue.lag")

    assert attributes == {"queue": "message-processing"}
    assert point.count == 2
    assert 10 <= point.sum < 120


async def test_the_timer_publishes_a_due_edition_exactly_once(azure: Azure) -> None:
    processor = user_function("message_processor")
    timer = user_function("timer_newsletter")
    await processor(bus_message(chat(12, start=START - timedelta(hours=3))))
    state = (await azure.runtime()).services.state
    settings = (await state.settings(payloads.GUILD_ID)).updated(
        edition_channel_id=payloads.NEWS_ID, schedule="daily 18:00", timezone="UTC"
    )
    await state.save_settings(settings, azure.now)

    azure.now = START.replace(hour=18, minute=2)
    await timer(TimerRequest(past_due=False))
    await timer(TimerRequest(past_due=True))  # a second instance, or a late retry

    posted = azure.discord.messages_in(payloads.NEWS_ID)
    assert posted, "no edition was posted"
    assert all(sent.body["allowed_mentions"] == {"parse": []} for sent in posted)
    assert sum(1 for sent in posted if "content" in sent.body) == 1  # one masthead: once


async def test_health_is_200_when_everything_answers_and_503_when_not(azure: Azure) -> None:
    health = user_function("health_check")
    request = func.HttpRequest(method="GET", url="https://snitch.example/api/health", body=b"")

    ok = await health(request)
    azure.fail_queue = True
    broken = await health(request)

    assert ok.status_code == 200
    report = json.loads(ok.get_body())
    assert report["healthy"] is True
    assert set(report["checks"]) == {"store", "vectors", "queue"}
    assert broken.status_code == 503
    failed = json.loads(broken.get_body())["checks"]["queue"]
    assert failed["ok"] is False
    assert "unreachable" in failed["error"]


# --- backfill, a chunk at a time ------------------------------------------------------


def past_history(
    azure: Azure, channel_id: str, count: int, *, hours_ago: float, author: Any = None
) -> list[str]:
    """``count`` messages in a fake channel's history, one a minute from a point in the past."""
    ids = []
    for index in range(count):
        moment = azure.now - timedelta(hours=hours_ago) + timedelta(minutes=index)
        message_id = payloads.snowflake(moment, index)
        who = author or (payloads.ALICE, payloads.BOB)[index % 2]
        azure.discord.history[channel_id].append(
            payloads.message(message_id, who, f"said {index}", channel_id=channel_id)
        )
        ids.append(message_id)
    return ids


async def request_backfill(azure: Azure) -> str:
    """An admin runs /snitch backfill against the Functions' endpoint; its answer."""
    endpoint = user_function("discord_interactions")
    payload = payloads.interaction("snitch backfill", permissions=payloads.MANAGE_GUILD)
    response = await endpoint(http_request(payload))
    body = json.loads(response.get_body())
    if body["type"] == 5:  # deferred: the worker answers
        [job] = azure.jobs
        azure.discord.expect_interaction(payload["token"], payload["channel_id"])
        await user_function("interaction_worker")(bus_message(InteractionJobMessage(job=job)))
        return str(azure.discord.replies()[-1].body["content"])
    return str(body["data"]["content"])


def chunk_message(cursor: BackfillCursor, *, delivery_count: int = 1) -> ServiceBusMessage:
    return bus_message(BackfillChunkMessage(cursor=cursor), delivery_count=delivery_count)


async def run_chunks(azure: Azure, limit: int = 50) -> list[BackfillCursor]:
    """Hand every queued chunk to the worker, as the queue would, until none is left."""
    worker = user_function("interaction_worker")
    handled: list[BackfillCursor] = []
    while azure.cursors:
        assert len(handled) < limit, "the backfill never finished"
        cursor = azure.cursors.pop(0)
        handled.append(cursor)
        await worker(chunk_message(cursor))
    return handled


async def stored_ids(azure: Azure) -> list[str]:
    store = (await azure.runtime()).services.store
    return [m.id for m in await store.messages(payloads.GUILD_ID)]


async def test_backfill_in_the_functions_queues_its_first_chunk_and_returns(azure: Azure) -> None:
    past_history(azure, payloads.GENERAL_ID, 5, hours_ago=3)

    answer = await request_backfill(azure)

    assert "Reading the last 7 days of history in the background" in answer
    [cursor] = azure.cursors
    assert cursor.guild_id == payloads.GUILD_ID
    assert cursor.full is True
    assert cursor.started_at == START
    assert cursor.cutoff == START - timedelta(days=7)
    assert (cursor.channel_ids, cursor.before, cursor.step) == (None, None, 0)
    # Nothing was read in the request, nor left running behind it.
    assert azure.discord.history_requests == []
    assert await stored_ids(azure) == []


async def test_a_queued_backfill_reads_the_window_chunk_by_chunk_within_the_rules(
    azure: Azure,
) -> None:
    azure.budget = ChunkBudget(pages=1)  # a page a chunk: many invocations
    general = past_history(azure, payloads.GENERAL_ID, 250, hours_ago=30)
    recent = past_history(azure, payloads.RANDOM_ID, 120, hours_ago=48)
    too_old = past_history(azure, payloads.RANDOM_ID, 5, hours_ago=24 * 9)
    secret = past_history(azure, payloads.SECRET_ID, 5, hours_ago=2)
    carol = past_history(azure, payloads.NEWS_ID, 3, hours_ago=1, author=payloads.CAROL)
    runtime = await azure.runtime()
    state = runtime.services.state
    excluded = (await state.settings(payloads.GUILD_ID)).updated(
        excluded_channel_ids=(payloads.SECRET_ID,)
    )
    await state.save_settings(excluded, azure.now)
    await state.set_opted_out(payloads.GUILD_ID, payloads.CAROL.id, True, azure.now)
    runtime.services.ingest.rules.forget(payloads.GUILD_ID)

    await request_backfill(azure)
    with structlog.testing.capture_logs() as logged:
        handled = await run_chunks(azure)

    assert set(await stored_ids(azure)) == {*general, *recent}
    assert not set(await stored_ids(azure)) & {*too_old, *secret, *carol}
    assert not any(r["channel"] == payloads.SECRET_ID for r in azure.discord.history_requests)
    # A chunk stops after its first full page: general's 250 and random's 120 (and its 5
    # too old) make 4 chunks (a short last page lets a chunk go on to the next channel).
    assert len(handled) == 4
    assert [c.step for c in handled] == list(range(len(handled)))
    ids = [queue_message_id(BackfillChunkMessage(cursor=c)) for c in handled]
    assert len(set(ids)) == len(ids)
    [done] = [entry for entry in logged if entry["event"] == "backfill done"]
    assert done["kept"] == len(general) + len(recent)
    assert done["chunks"] == len(handled)
    assert done["skipped"] >= 1  # #secret


async def test_a_chunk_delivered_again_stores_nothing_twice_and_queues_the_same_next(
    azure: Azure,
) -> None:
    azure.budget = ChunkBudget(pages=1)
    general = past_history(azure, payloads.GENERAL_ID, 230, hours_ago=10)
    worker = user_function("interaction_worker")
    await request_backfill(azure)
    await worker(chunk_message(azure.cursors.pop()))  # lists the channels, reads a page
    middle = azure.cursors.pop()
    assert middle.channel_ids is not None
    assert middle.before is not None

    await worker(chunk_message(middle))
    await worker(chunk_message(middle, delivery_count=2))  # its lock was lost: again
    first, again = azure.cursors
    store = (await azure.runtime()).services.store
    assert await store.count_messages(payloads.GUILD_ID) == 200

    # Same continuation, same message id: the broker drops the second as a duplicate.
    assert again == first
    assert queue_message_id(BackfillChunkMessage(cursor=again)) == queue_message_id(
        BackfillChunkMessage(cursor=first)
    )
    azure.cursors[:] = [first]
    await run_chunks(azure)
    assert sorted(await stored_ids(azure), key=int) == sorted(general, key=int)
    assert await store.count_messages(payloads.GUILD_ID) == len(general)


async def test_a_queued_backfill_skips_a_channel_discord_refuses_and_goes_on(
    azure: Azure,
) -> None:
    azure.budget = ChunkBudget(pages=1)
    general = past_history(azure, payloads.GENERAL_ID, 150, hours_ago=10)
    refused = past_history(azure, payloads.RANDOM_ID, 150, hours_ago=10)
    news = past_history(azure, payloads.NEWS_ID, 10, hours_ago=10)
    # random's second page is refused (the bot lost access between two chunks).
    azure.discord.forbid(f"/channels/{payloads.RANDOM_ID}/messages", after=1)

    await request_backfill(azure)
    with structlog.testing.capture_logs() as logged:
        await run_chunks(azure)

    assert set(await stored_ids(azure)) == {*general, *refused[-100:], *news}
    [done] = [entry for entry in logged if entry["event"] == "backfill done"]
    assert done["skipped"] == 1


async def test_a_backfill_chunk_that_breaks_its_schema_is_logged_and_completed(
    azure: Azure,
) -> None:
    worker = user_function("interaction_worker")
    body = {
        "kind": "backfill.chunk",
        "schema_version": 1,
        "sent_at": START.isoformat(),
        "cursor": {
            "guild_id": payloads.GUILD_ID,
            "started_at": START.isoformat(),
            "cutoff": (START + timedelta(days=1)).isoformat(),  # after the start
            "full": True,
            "before": "123",  # a position without channels
        },
    }
    raw = json.dumps(body).encode()
    with pytest.raises(SchemaRejected) as refused:
        decode(raw)
    assert refused.value.reason == "SchemaInvalid"

    with structlog.testing.capture_logs() as logged:
        await worker(
            ServiceBusMessage(
                body=raw, message_id="bad", application_properties={}, user_properties={}
            )
        )

    [entry] = [e for e in logged if e["event"] == "queue message refused"]
    assert entry["reason"] == "SchemaInvalid"
    assert azure.cursors == []
    assert azure.discord.history_requests == []
