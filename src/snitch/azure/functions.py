"""The Functions app (Python v2 programming model); ``function_app.py`` re-exports ``app``.

Each function translates its trigger into a call on the runtime and nothing more:

- ``discord_interactions`` (POST /api/discord/interactions): Discord's interactions
  endpoint; quick commands are answered inline, slow ones deferred onto Service Bus;
- ``interaction_worker`` (Service Bus queue ``interactions``): finishes deferred commands
  (recording each one's queue lag), and reads backfills a chunk at a time (each chunk
  queues the next; one function per queue, since two triggers on one queue would compete
  for each other's messages);
- ``message_processor`` (Service Bus queue ``message-processing``): stores the messages
  that ``snitch gateway`` forwards, and records each one's queue lag;
- ``timer_newsletter`` (every 5 minutes): publishes every due edition exactly once;
- ``health_check`` (GET /api/health): 200 or 503 with each dependency's state.

A function that raises lets Service Bus deliver the message again; after the queue's max
delivery count the message is dead-lettered. A message that can never succeed (it fails
its schema) is logged and completed instead of retried.
"""

from __future__ import annotations

import json
from collections.abc import Collection

import azure.functions as func

from snitch.azure.runtime import RuntimeHolder
from snitch.log import get_logger
from snitch.queues.schema import (
    INGEST_KINDS,
    INTERACTIONS_QUEUE_KINDS,
    BackfillChunkMessage,
    InteractionJobMessage,
    MessagesDeleted,
    MessagesUpserted,
    QueueMessage,
    SchemaRejected,
    decode,
)
from snitch.telemetry import record_queue_lag

log = get_logger(__name__)

INTERACTIONS_QUEUE = "interactions"
MESSAGES_QUEUE = "message-processing"
SERVICE_BUS = "ServiceBusConnection"  # the app setting that holds the connection

app = func.FunctionApp(http_auth_level=func.AuthLevel.ANONYMOUS)
runtime = RuntimeHolder()


@app.function_name(name="discord_interactions")
@app.route(route="discord/interactions", methods=["POST"], auth_level=func.AuthLevel.ANONYMOUS)
async def discord_interactions(req: func.HttpRequest) -> func.HttpResponse:
    """Discord's interactions endpoint: verify, answer or defer, within 3 seconds."""
    opened = await runtime.get()
    reply = await opened.interaction(req.get_body(), dict(req.headers))
    return func.HttpResponse(reply.body, status_code=reply.status, mimetype=reply.content_type)


@app.function_name(name="interaction_worker")
@app.service_bus_queue_trigger(
    arg_name="message", queue_name=INTERACTIONS_QUEUE, connection=SERVICE_BUS
)
async def interaction_worker(message: func.ServiceBusMessage) -> None:
    """Finish a deferred command (its answer edits the original response), or read one
    chunk of a backfill, store it and queue the next."""
    envelope = _decoded(message, INTERACTIONS_QUEUE_KINDS)
    if isinstance(envelope, BackfillChunkMessage):
        opened = await runtime.get()
        await opened.backfill(envelope.cursor)
        return
    if not isinstance(envelope, InteractionJobMessage):
        return
    if (message.delivery_count or 1) == 1:  # as for message_processor below
        record_queue_lag(INTERACTIONS_QUEUE, envelope.sent_at)
    opened = await runtime.get()
    await opened.finish(envelope.job)


@app.function_name(name="message_processor")
@app.service_bus_queue_trigger(
    arg_name="message", queue_name=MESSAGES_QUEUE, connection=SERVICE_BUS
)
async def message_processor(message: func.ServiceBusMessage) -> None:
    """Store (or remove) the messages a gateway forwarded."""
    envelope = _decoded(message, INGEST_KINDS)
    if not isinstance(envelope, MessagesUpserted | MessagesDeleted):
        return
    # From the producer's send, as the Service Bus ingestion queue measures it; only on
    # the first delivery, as a redelivery's wait is the retry pause, not lag.
    if (message.delivery_count or 1) == 1:
        record_queue_lag(MESSAGES_QUEUE, envelope.sent_at)
    opened = await runtime.get()
    await opened.ingest(envelope)


def _decoded(message: func.ServiceBusMessage, kinds: Collection[str]) -> QueueMessage | None:
    """The envelope, or None (logged) for one that can never succeed: retrying it would only
    delay the dead-letter queue, so it is completed and the reason is in the log."""
    try:
        return decode(message.get_body(), accepts=kinds)
    except SchemaRejected as refused:
        log.error(
            "queue message refused",
            message_id=message.message_id,
            reason=refused.reason,
            description=refused.description,
        )
        return None


@app.function_name(name="timer_newsletter")
@app.timer_trigger(arg_name="timer", schedule="0 */5 * * * *", run_on_startup=False)
async def timer_newsletter(timer: func.TimerRequest) -> None:
    """Publish every due edition, exactly once even with several instances running."""
    opened = await runtime.get()
    now = opened.services.clock()
    published = await opened.publish_due(now)
    log.info("timer ran", published=len(published), past_due=timer.past_due)


@app.function_name(name="health_check")
@app.route(route="health", methods=["GET"], auth_level=func.AuthLevel.ANONYMOUS)
async def health_check(req: func.HttpRequest) -> func.HttpResponse:
    """200 when the store, the vectors and the queue all answer; 503 otherwise."""
    try:
        opened = await runtime.get()
    except Exception as exc:  # could not even open: that is the answer
        log.exception("runtime failed to open")
        body = json.dumps({"healthy": False, "error": f"{type(exc).__name__}: {exc}"[:300]})
        return func.HttpResponse(body, status_code=503, mimetype="application/json")
    healthy, report = await opened.health()
    body = json.dumps({"healthy": healthy, "checks": report})
    return func.HttpResponse(body, status_code=200 if healthy else 503, mimetype="application/json")
