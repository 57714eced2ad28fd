"""What travels on the queues: one versioned envelope per kind, checked on both ends.

Every queue message is a JSON object that says what it is (``kind``) and which shape of that
kind it has (``schema_version``). A consumer reads the two first, so something it does not
understand (an unknown kind, a newer version written by an upgraded producer, a kind that
belongs on another queue, a body that fails validation) is refused with a reason it can
put on the dead-letter queue, instead of failing again on every delivery.

Bump ``SCHEMA_VERSION`` for any change a consumer of the current version would refuse
(``extra="forbid"`` refuses unknown fields on purpose), and deploy consumers first.

Queue message ids are derived here too, so the same event sent twice gets the same id and
the broker's duplicate detection drops the resend (see ``queue_message_id``).

The interactions queue also carries the chunks of a backfill (``BackfillChunkMessage``):
where the Functions cannot keep a background task running, a backfill is a chain of
bounded reads, each of which queues the next one's ``BackfillCursor``.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Collection, Iterable
from datetime import UTC, datetime
from typing import Annotated, Any, Final, Literal

from pydantic import BaseModel, ConfigDict, Field, TypeAdapter, ValidationError, model_validator

from snitch.interactions.jobs import InteractionJob
from snitch.models import Channel, Guild, Message

SCHEMA_VERSION: Final = 1
MESSAGES_UPSERTED: Final = "messages.upserted"
MESSAGES_DELETED: Final = "messages.deleted"
INTERACTION_JOB: Final = "interaction.job"
BACKFILL_CHUNK: Final = "backfill.chunk"
KINDS: Final = frozenset({MESSAGES_UPSERTED, MESSAGES_DELETED, INTERACTION_JOB, BACKFILL_CHUNK})
# What each queue carries: the ingestion queue and the deferred-command queue. The Functions'
# interaction worker also reads backfill chunks from the latter (INTERACTIONS_QUEUE_KINDS);
# ``InteractionJobQueue`` takes only jobs, and dead-letters a chunk as unexpected.
INGEST_KINDS: Final = frozenset({MESSAGES_UPSERTED, MESSAGES_DELETED})
INTERACTION_KINDS: Final = frozenset({INTERACTION_JOB})
INTERACTIONS_QUEUE_KINDS: Final = frozenset({INTERACTION_JOB, BACKFILL_CHUNK})
# Service Bus limits a message id to 128 characters.
MAX_MESSAGE_ID_LENGTH: Final = 128
_DIGEST_CHARS: Final = 24
_MAX_REASON_ERRORS: Final = 5


def _now() -> datetime:
    return datetime.now(UTC)


class _Envelope(BaseModel):
    """Fields every queue message has."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    schema_version: Literal[1] = SCHEMA_VERSION
    # When the producer sent it: queue lag is measured from here.
    sent_at: datetime = Field(default_factory=_now)


class MessagesUpserted(_Envelope):
    """New or edited messages, to be stored (and embedded) by message id."""

    kind: Literal["messages.upserted"] = MESSAGES_UPSERTED
    messages: tuple[Message, ...] = Field(min_length=1)
    # The guild and channels the messages belong to, so the consumer can store their names
    # (and a store with foreign keys has the rows the messages point at).
    guild: Guild | None = None
    channels: tuple[Channel, ...] = ()


class MessagesDeleted(_Envelope):
    """Messages deleted on Discord, to be removed from the store and the vectors."""

    kind: Literal["messages.deleted"] = MESSAGES_DELETED
    message_ids: tuple[Annotated[str, Field(pattern=r"^[0-9]{1,20}$")], ...] = Field(min_length=1)
    # Discord says which guild a delete came from; a store partitioned by guild wants it.
    guild_id: str | None = Field(default=None, pattern=r"^[0-9]{1,20}$")


class InteractionJobMessage(_Envelope):
    """A deferred command, for the interaction worker."""

    kind: Literal["interaction.job"] = INTERACTION_JOB
    job: InteractionJob


Snowflake = Annotated[str, Field(pattern=r"^[0-9]{1,20}$")]


class BackfillCursor(BaseModel):
    """Where a chunked backfill stands: enough for any instance to read the next chunk.

    ``channel_ids`` are the channels still to read, the current one first (None before the
    first chunk has listed the guild's readable channels). Within the current channel the
    read goes back from ``before`` (newest first, down to ``cutoff``) or, for a catch-up
    (``full`` false) whose backward read is done, forward from ``after``; with neither, the
    channel starts afresh. ``step`` counts the chunks (it makes the queue message id); the
    totals so far are for the final log line.
    """

    model_config = ConfigDict(frozen=True, extra="forbid")

    guild_id: Snowflake
    started_at: datetime
    cutoff: datetime
    full: bool
    channel_ids: tuple[Snowflake, ...] | None = None
    before: Snowflake | None = None
    after: Snowflake | None = None
    step: int = Field(default=0, ge=0)
    channels: int = Field(default=0, ge=0)
    read: int = Field(default=0, ge=0)
    kept: int = Field(default=0, ge=0)
    skipped: int = Field(default=0, ge=0)

    @model_validator(mode="after")
    def _consistent(self) -> BackfillCursor:
        if self.started_at.tzinfo is None or self.cutoff.tzinfo is None:
            raise ValueError("started_at and cutoff must carry a timezone")
        if self.cutoff > self.started_at:
            raise ValueError("the cutoff is after the start")
        if self.before is not None and self.after is not None:
            raise ValueError("a channel is read either back from 'before' or on from 'after'")
        if (self.before is not None or self.after is not None) and not self.channel_ids:
            raise ValueError("'before' and 'after' are positions in the first of channel_ids")
        if self.after is not None and self.full:
            raise ValueError("a full re-read has no forward pass ('after')")
        return self


class BackfillChunkMessage(_Envelope):
    """The next chunk of a backfill, for the interaction worker (Functions)."""

    kind: Literal["backfill.chunk"] = BACKFILL_CHUNK
    cursor: BackfillCursor


QueueMessage = Annotated[
    MessagesUpserted | MessagesDeleted | InteractionJobMessage | BackfillChunkMessage,
    Field(discriminator="kind"),
]
_QUEUE_MESSAGE: Final[TypeAdapter[QueueMessage]] = TypeAdapter(QueueMessage)


class SchemaRejected(ValueError):
    """A queue message this consumer will not process; ``reason`` is a short code for the
    dead-letter queue, ``description`` says what was wrong."""

    def __init__(self, reason: str, description: str) -> None:
        super().__init__(f"{reason}: {description}")
        self.reason = reason
        self.description = description


def encode(message: QueueMessage) -> bytes:
    """The JSON body put on the queue."""
    return message.model_dump_json().encode()


def decode(body: bytes, *, accepts: Collection[str] = KINDS) -> QueueMessage:
    """Parse and validate a queue body, refusing with a reason what this consumer does not
    understand or does not expect on its queue."""
    try:
        document: Any = json.loads(body)
    except (UnicodeDecodeError, json.JSONDecodeError) as error:
        raise SchemaRejected("NotJson", f"the body is not UTF-8 JSON: {error}") from error
    if not isinstance(document, dict):
        raise SchemaRejected("NotAnEnvelope", "the body is not a JSON object")
    kind = document.get("kind")
    if not isinstance(kind, str):
        raise SchemaRejected("MissingKind", "the body has no string 'kind'")
    if kind not in KINDS:
        raise SchemaRejected(
            "UnknownKind", f"kind {kind!r} is unknown here (known: {', '.join(sorted(KINDS))})"
        )
    if kind not in accepts:
        raise SchemaRejected(
            "UnexpectedKind",
            f"kind {kind!r} does not belong on this queue (it takes {', '.join(sorted(accepts))})",
        )
    version = document.get("schema_version")
    if not isinstance(version, int) or isinstance(version, bool):
        raise SchemaRejected("MissingSchemaVersion", f"{kind!r} has no integer 'schema_version'")
    if version != SCHEMA_VERSION:
        raise SchemaRejected(
            "UnsupportedSchemaVersion",
            f"{kind!r} schema_version {version} is not supported: this consumer reads "
            f"version {SCHEMA_VERSION} (a newer producer? upgrade the consumers first)",
        )
    try:
        return _QUEUE_MESSAGE.validate_python(document)
    except ValidationError as error:
        problems = [
            f"{'.'.join(str(part) for part in item['loc']) or '<body>'}: {item['msg']}"
            for item in error.errors()[:_MAX_REASON_ERRORS]
        ]
        more = error.error_count() - len(problems)
        if more > 0:
            problems.append(f"and {more} more")
        raise SchemaRejected(
            "SchemaInvalid", f"{kind!r} v{version} failed validation: " + "; ".join(problems)
        ) from error


def _numeric_order(message_id: str) -> tuple[int, str]:
    """Snowflakes sort as numbers (a shorter id is an older one)."""
    return len(message_id), message_id


def _digest(document: Any) -> str:
    canonical = json.dumps(document, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    return hashlib.sha256(canonical.encode()).hexdigest()[:_DIGEST_CHARS]


def _span(ids: Iterable[str]) -> tuple[str, int]:
    ordered = sorted(ids, key=_numeric_order)
    return ordered[0], len(ordered)


def queue_message_id(message: QueueMessage) -> str:
    """The broker's message id: equal for a resend of the same event, different otherwise.

    A backfill chunk uses its backfill (guild and start) and its step: see
    ``backfill_message_id``. An interaction job uses the interaction id itself: Discord
    sends an interaction once, so the same id on the queue is the same work. A batch of
    messages uses the lowest Discord id and the count (readable in the portal) plus a hash
    of the batch's full content, in id order. The bare Discord id would not do: an edit, a
    new reaction or a re-cut batch of the same messages inside the duplicate-detection
    window would be dropped as a "duplicate", and first/last ids collide for different
    batches over the same range.
    """
    if isinstance(message, InteractionJobMessage):
        return message.job.message_id
    if isinstance(message, BackfillChunkMessage):
        return backfill_message_id(message.cursor)
    if isinstance(message, MessagesUpserted):
        first, count = _span(m.id for m in message.messages)
        ordered = sorted(message.messages, key=lambda m: _numeric_order(m.id))
        digest = _digest([m.model_dump(mode="json") for m in ordered])
        return f"msg-{first}-{count}-{digest}"
    ids = set(message.message_ids)
    first, count = _span(ids)
    digest = _digest(sorted(ids, key=_numeric_order))
    return f"del-{first}-{count}-{digest}"


def backfill_message_id(cursor: BackfillCursor) -> str:
    """The id of a backfill's chunk: the guild, the backfill's start (ms) and the step.

    Not the position: a chunk delivered again (its invocation failed after queueing the
    next one) may stop elsewhere, as its time budget runs out at another page, yet the
    continuation it queues has the same step, so the broker drops it as a duplicate and the
    backfill never forks into two chains. Either continuation would be correct: both start
    where the redelivered chunk started, and storing a message twice is an upsert.
    """
    started = int(cursor.started_at.timestamp() * 1000)
    return f"backfill-{cursor.guild_id}-{started}-{cursor.step}"
