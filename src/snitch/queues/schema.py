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
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Collection, Iterable
from datetime import UTC, datetime
from typing import Annotated, Any, Final, Literal

from pydantic import BaseModel, ConfigDict, Field, TypeAdapter, ValidationError

from snitch.interactions.jobs import InteractionJob
from snitch.models import Channel, Guild, Message

SCHEMA_VERSION: Final = 1
MESSAGES_UPSERTED: Final = "messages.upserted"
MESSAGES_DELETED: Final = "messages.deleted"
INTERACTION_JOB: Final = "interaction.job"
KINDS: Final = frozenset({MESSAGES_UPSERTED, MESSAGES_DELETED, INTERACTION_JOB})
# What each queue carries: the ingestion queue and the deferred-command queue.
INGEST_KINDS: Final = frozenset({MESSAGES_UPSERTED, MESSAGES_DELETED})
INTERACTION_KINDS: Final = frozenset({INTERACTION_JOB})
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


QueueMessage = Annotated[
    MessagesUpserted | MessagesDeleted | InteractionJobMessage, Field(discriminator="kind")
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

    An interaction job uses the interaction id itself: Discord sends an interaction once, so
    the same id on the queue is the same work. A batch of messages uses the lowest Discord
    id and the count (readable in the portal) plus a hash of the batch's full content, in id
    order. The bare Discord id would not do: an edit, a new reaction or a re-cut batch of
    the same messages inside the duplicate-detection window would be dropped as a
    "duplicate", and first/last ids collide for different batches over the same range.
    """
    if isinstance(message, InteractionJobMessage):
        return message.job.message_id
    if isinstance(message, MessagesUpserted):
        first, count = _span(m.id for m in message.messages)
        ordered = sorted(message.messages, key=lambda m: _numeric_order(m.id))
        digest = _digest([m.model_dump(mode="json") for m in ordered])
        return f"msg-{first}-{count}-{digest}"
    ids = set(message.message_ids)
    first, count = _span(ids)
    digest = _digest(sorted(ids, key=_numeric_order))
    return f"del-{first}-{count}-{digest}"
