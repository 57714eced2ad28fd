"""The vector store of the semantic memory: message embeddings in ChromaDB.

The embedded ``PersistentClient`` under the data directory is the default; an ``HttpClient``
talks to a Chroma server when one is configured. Either way the collection measures cosine
distance and never embeds anything itself: callers pass their own vectors (Chroma's default
embedding function would download an ONNX model on first use, which fails offline).

One record per message, keyed by message id, with the guild, channel and author ids and the
timestamp (UTC epoch seconds, so retention can filter with ``$lt``) as metadata. The text is
not kept here: the SQL store has it under the same id (and is what callers show, so a
message deleted there never resurfaces from here), and leaving Chroma's documents empty
spares it a full-text index it would otherwise build, about a third of each upsert. Every
query is confined to one guild.

The chromadb client is synchronous: call it from async code through ``asyncio.to_thread``.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from types import TracebackType
from typing import Final, Self, TypeVar

import chromadb
import httpx
from chromadb.api import ClientAPI
from chromadb.api.models.Collection import Collection
from chromadb.api.types import Metadata, PyEmbedding, Where
from chromadb.base_types import (
    InclusionExclusionOperator,
    LiteralValue,
    LogicalOperator,
    WhereOperator,
)
from chromadb.config import Settings as ChromaSettings
from chromadb.errors import ChromaError

from snitch.errors import StoreError
from snitch.models import Message

DEFAULT_COLLECTION: Final = "messages"
SPACE: Final = "cosine"
# Used only if the client cannot say (chromadb 1.x answers 5461 for both clients).
FALLBACK_MAX_BATCH: Final = 1000
# Unfiltered hits fetched per hit wanted, before falling back to a filtered scan.
OVERFETCH: Final = 4

# What a chromadb call raises when it fails: its own errors, the ValueErrors of its request
# validation and of an unreachable server, and transport errors of the HTTP client.
_T = TypeVar("_T")

_CHROMA_FAILURES: Final = (ChromaError, ValueError, TypeError, OSError, httpx.HTTPError)


@dataclass(frozen=True)
class VectorHit:
    """One message near a query vector; ``distance`` is the cosine distance (0 = same)."""

    message_id: str
    guild_id: str
    channel_id: str
    author_id: str
    timestamp: datetime
    distance: float


@contextmanager
def _failures_as_store_errors(what: str) -> Iterator[None]:
    """Turn a chromadb failure into StoreError naming the operation."""
    try:
        yield
    except StoreError:
        raise
    except _CHROMA_FAILURES as exc:
        raise StoreError(f"vector store: {what} failed: {exc}") from exc


def _epoch(moment: datetime) -> float:
    """UTC epoch seconds; a naive datetime is taken to be UTC already."""
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    return moment.timestamp()


def _all_of(*clauses: Where) -> Where:
    """Chroma's ``$and`` insists on two or more clauses."""
    if len(clauses) == 1:
        return clauses[0]
    return {"$and": list(clauses)}


def _one_of(key: str, values: Sequence[str], *, negate: bool = False) -> Where:
    """``key`` is (or, negated, is not) one of ``values``."""
    listed: list[LiteralValue] = list(values)
    operator: InclusionExclusionOperator = "$nin" if negate else "$in"
    expression: dict[InclusionExclusionOperator, list[LiteralValue]] = {operator: listed}
    return {key: expression}


def _before(key: str, value: float) -> Where:
    expression: dict[WhereOperator | LogicalOperator, LiteralValue] = {"$lt": value}
    return {key: expression}


def _vector(values: Sequence[float]) -> PyEmbedding:
    return [float(value) for value in values]


def _batches(items: Sequence[_T], size: int) -> Iterator[Sequence[_T]]:
    for start in range(0, len(items), size):
        yield items[start : start + size]


class VectorStore:
    """Message vectors in one Chroma collection; build with ``persistent`` or ``remote``."""

    def __init__(self, client: ClientAPI, collection: str = DEFAULT_COLLECTION) -> None:
        self._client = client
        try:
            self._collection, self._max_batch = self._open(client, collection)
        except BaseException:
            self.close()
            raise

    @staticmethod
    def _open(client: ClientAPI, collection: str) -> tuple[Collection, int]:
        """Get or create the cosine collection, and learn Chroma's batch limit."""
        with _failures_as_store_errors(f"opening collection {collection!r}"):
            opened = client.get_or_create_collection(
                name=collection,
                configuration={"hnsw": {"space": SPACE}},
                # Never let Chroma embed: its default function downloads a model.
                embedding_function=None,
            )
            try:
                max_batch = max(1, int(client.get_max_batch_size()))
            except (ChromaError, httpx.HTTPError, NotImplementedError):
                max_batch = FALLBACK_MAX_BATCH
        # configuration_json, not configuration: the latter warns about the "legacy"
        # embedding function record that embedding_function=None leaves behind.
        hnsw = opened.configuration_json.get("hnsw") or {}
        space = hnsw.get("space", SPACE)
        if space != SPACE:
            raise StoreError(
                f"vector store: collection {collection!r} measures {space} distance, not "
                f"{SPACE}; delete it or configure another collection name"
            )
        return opened, max_batch

    @classmethod
    def persistent(cls, directory: Path, collection: str = DEFAULT_COLLECTION) -> VectorStore:
        """The embedded store, kept in ``directory`` (created if missing)."""
        with _failures_as_store_errors(f"opening the embedded Chroma store in {directory}"):
            directory.mkdir(parents=True, exist_ok=True)
            client = chromadb.PersistentClient(
                path=str(directory), settings=ChromaSettings(anonymized_telemetry=False)
            )
        return cls(client, collection)

    @classmethod
    def remote(
        cls, host: str, port: int, collection: str = DEFAULT_COLLECTION, ssl: bool = False
    ) -> VectorStore:
        """A Chroma server (``chroma run``) at ``host:port``."""
        scheme = "https" if ssl else "http"
        with _failures_as_store_errors(
            f"connecting to the Chroma server at {scheme}://{host}:{port}"
        ):
            client = chromadb.HttpClient(
                host=host,
                port=port,
                ssl=ssl,
                settings=ChromaSettings(anonymized_telemetry=False),
            )
        return cls(client, collection)

    @property
    def max_batch_size(self) -> int:
        """How many records go to Chroma in one request."""
        return self._max_batch

    def close(self) -> None:
        """Release the client (for the embedded store: its files and SQLite handles)."""
        close = getattr(self._client, "close", None)
        if callable(close):
            close()

    def __enter__(self) -> Self:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self.close()

    def upsert(self, messages: Sequence[Message], vectors: Sequence[Sequence[float]]) -> None:
        """Store each message's vector under its id, replacing what was there.

        A message given twice keeps its last occurrence (an edit after the original).
        """
        if len(messages) != len(vectors):
            raise ValueError(
                f"upsert needs one vector per message: got {len(messages)} messages "
                f"and {len(vectors)} vectors"
            )
        latest: dict[str, tuple[Message, Sequence[float]]] = {}
        for message, vector in zip(messages, vectors, strict=True):
            latest[message.id] = (message, vector)
        records = list(latest.values())
        with _failures_as_store_errors(f"upserting {len(records)} message vectors"):
            for batch in _batches(records, self._max_batch):
                metadatas: list[Metadata] = [
                    {
                        "guild_id": message.guild_id,
                        "channel_id": message.channel_id,
                        "author_id": message.author.id,
                        "timestamp": _epoch(message.timestamp),
                    }
                    for message, _ in batch
                ]
                self._collection.upsert(
                    ids=[message.id for message, _ in batch],
                    embeddings=[_vector(vector) for _, vector in batch],
                    metadatas=metadatas,
                )

    def query(
        self,
        guild_id: str,
        vector: Sequence[float],
        limit: int = 10,
        *,
        channel_ids: Sequence[str] | None = None,
        exclude_authors: Sequence[str] | None = None,
    ) -> list[VectorHit]:
        """The ``limit`` messages of one guild nearest to ``vector``, nearest first.

        ``channel_ids`` restricts the search to those channels (an empty list finds nothing);
        ``exclude_authors`` leaves those authors' messages out.
        """
        if limit < 1:
            raise ValueError(f"query limit must be at least 1, got {limit}")
        if channel_ids is not None and not channel_ids:
            return []
        wanted_channels = set(channel_ids) if channel_ids else None
        excluded = set(exclude_authors or ())

        def keep(hit: VectorHit) -> bool:
            return (
                hit.guild_id == guild_id
                and (wanted_channels is None or hit.channel_id in wanted_channels)
                and hit.author_id not in excluded
            )

        # Chroma keeps no index on metadata: with a ``where`` filter it compares the vector
        # with every record that matches (exact, but half a second at 100,000 messages).
        # Its HNSW index is fast but unfiltered. So ask the index for a few pages, keep the
        # hits that pass the filter, and fall back to the filtered scan only when they do
        # not fill the page: then the matching records are few, and the scan is quick.
        fetch = limit * OVERFETCH
        unfiltered = self._query(vector, fetch, None, f"querying guild {guild_id}")
        kept = [hit for hit in unfiltered if keep(hit)]
        if len(kept) >= limit or len(unfiltered) < fetch:
            return kept[:limit]
        clauses: list[Where] = [{"guild_id": guild_id}]
        if channel_ids:
            clauses.append(_one_of("channel_id", channel_ids))
        if exclude_authors:
            clauses.append(_one_of("author_id", exclude_authors, negate=True))
        return self._query(vector, limit, _all_of(*clauses), f"querying guild {guild_id}")

    def _query(
        self, vector: Sequence[float], limit: int, where: Where | None, what: str
    ) -> list[VectorHit]:
        """One Chroma query, nearest first (ties by id)."""
        with _failures_as_store_errors(what):
            result = self._collection.query(
                query_embeddings=[_vector(vector)],
                n_results=limit,
                where=where,
                include=["metadatas", "distances"],
            )
        ids = result["ids"][0]
        metadatas = (result["metadatas"] or [[]])[0]
        distances = (result["distances"] or [[]])[0]
        hits = [
            VectorHit(
                message_id=message_id,
                guild_id=str(metadata["guild_id"]),
                channel_id=str(metadata["channel_id"]),
                author_id=str(metadata["author_id"]),
                timestamp=datetime.fromtimestamp(float(str(metadata["timestamp"])), tz=UTC),
                distance=float(distance),
            )
            for message_id, metadata, distance in zip(ids, metadatas, distances, strict=True)
        ]
        # Chroma returns them nearest first already; make it a contract, ties by id.
        hits.sort(key=lambda hit: (hit.distance, hit.message_id))
        return hits

    def delete_author(self, guild_id: str, author_id: str) -> int:
        """Forget one author in one guild; returns how many vectors were removed."""
        return self._delete_where(
            _all_of({"guild_id": guild_id}, {"author_id": author_id}),
            f"deleting author {author_id} in guild {guild_id}",
        )

    def delete_older_than(self, guild_id: str, cutoff: datetime) -> int:
        """Retention: remove a guild's vectors of messages sent before ``cutoff``."""
        return self._delete_where(
            _all_of({"guild_id": guild_id}, _before("timestamp", _epoch(cutoff))),
            f"expiring guild {guild_id} before {cutoff.isoformat()}",
        )

    def delete_messages(self, message_ids: Sequence[str]) -> None:
        """Remove these messages' vectors (deleted on Discord); unknown ids are ignored."""
        ids = list(dict.fromkeys(message_ids))
        with _failures_as_store_errors(f"deleting {len(ids)} message vectors"):
            for batch in _batches(ids, self._max_batch):
                self._collection.delete(ids=list(batch))

    def present(self, message_ids: Sequence[str]) -> set[str]:
        """Which of these messages have a vector (to check that deletes really happened)."""
        with _failures_as_store_errors(f"looking up {len(message_ids)} message vectors"):
            found = self._collection.get(ids=list(dict.fromkeys(message_ids)), include=[])
            return set(found["ids"])

    def count(self, guild_id: str | None = None) -> int:
        """How many vectors are stored, in one guild or in all."""
        with _failures_as_store_errors("counting vectors"):
            if guild_id is None:
                return self._collection.count()
            return len(self._ids_where({"guild_id": guild_id}))

    def _ids_where(self, where: Where) -> list[str]:
        return list(self._collection.get(where=where, include=[])["ids"])

    def _delete_where(self, where: Where, what: str) -> int:
        # Chroma's own "deleted" figure is not exact (deleting an unknown id reports 1), so
        # find the ids first and delete exactly those.
        with _failures_as_store_errors(what):
            ids = self._ids_where(where)
            for batch in _batches(ids, self._max_batch):
                self._collection.delete(ids=list(batch))
        return len(ids)
