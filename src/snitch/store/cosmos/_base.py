"""The Cosmos DB account as the store sees it: containers, document ids, times, errors.

Shared by the store, its writer, the guild state and the tip store, so that every one of
them speaks to the same containers in the same dialect.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, Final

from azure.core.exceptions import AzureError
from azure.cosmos import PartitionKey
from azure.cosmos.aio import ContainerProxy, CosmosClient, DatabaseProxy
from azure.cosmos.exceptions import CosmosHttpResponseError, CosmosResourceNotFoundError

from snitch.errors import StoreError

# The cross-guild directory (guild names, settings and schedules) lives in one logical
# partition of its own container, so that listing guilds and finding due editions are
# single-partition queries: one small document per guild, far below the 20 GB a logical
# partition may hold.
DIRECTORY: Final = "directory"
DIRECTORY_SCOPE: Final = "guilds"
CHANNELS: Final = "channels"
AUTHORS: Final = "authors"
MESSAGES: Final = "messages"
GUILD_STATE: Final = "guild_state"
TIPS: Final = "tips"
TOMBSTONES: Final = "tombstones"
# The partition of tombstones whose delete named no guild and found no stored message:
# every guild's upserts consult it besides their own (a guild id is digits, never this).
GUILDLESS: Final = "guildless"

# Everything indexed (range and equality) unless excluded. Message text is never filtered
# on (search reads the ``terms`` array), and the snapshots only by ``mention_ids``, so
# their paths are left out of the index to cheapen every write.
_DEFAULT_EXCLUDED: Final = [{"path": '/"_etag"/?'}]
_MESSAGE_EXCLUDED: Final = [
    *_DEFAULT_EXCLUDED,
    {"path": "/content/?"},
    {"path": "/mentions/*"},
    {"path": "/reactions/*"},
    {"path": "/author/*"},
]


def _policy(
    excluded: Sequence[Mapping[str, str]] = _DEFAULT_EXCLUDED,
    composite: Sequence[Sequence[str]] = (),
) -> dict[str, Any]:
    """An indexing policy: consistent, every path but ``excluded``, plus ascending
    composite indexes (which an ``ORDER BY`` on two properties requires)."""
    return {
        "indexingMode": "consistent",
        "automatic": True,
        "includedPaths": [{"path": "/*"}],
        "excludedPaths": list(excluded),
        "compositeIndexes": [
            [{"path": path, "order": "ascending"} for path in paths] for paths in composite
        ],
    }


@dataclass(frozen=True)
class ContainerSpec:
    """How one container is created when the store may create it (key authentication)."""

    name: str
    partition_key: str
    indexing_policy: dict[str, Any]


CONTAINER_SPECS: Final = (
    ContainerSpec(DIRECTORY, "/scope", _policy()),
    ContainerSpec(CHANNELS, "/guild_id", _policy()),
    ContainerSpec(AUTHORS, "/guild_id", _policy()),
    ContainerSpec(MESSAGES, "/guild_id", _policy(_MESSAGE_EXCLUDED)),
    ContainerSpec(GUILD_STATE, "/guild_id", _policy()),
    ContainerSpec(TIPS, "/guild_id", _policy(composite=[("/created_at", "/id")])),
    ContainerSpec(TOMBSTONES, "/guild_id", _policy()),
)

# Parameter arrays per query (``ARRAY_CONTAINS(@ids, c.id)``): keeps each query's text and
# parameters far below Cosmos DB's 512 KB limit on a query.
IDS_PER_QUERY: Final = 1000
# Results per page of a query (Cosmos DB's default is 100): a window of 20,000 messages
# is then 20 round trips rather than 200; the service still caps a page at 4 MB.
PAGE_SIZE: Final = 1000
# Requests in flight at once while a unit of work is written (one request per document:
# the local server has no transactional batch to group them).
WRITE_CONCURRENCY: Final = 32
# Cosmos DB refuses these in an ``id``; Discord snowflakes never hold them.
_FORBIDDEN_IN_ID: Final = frozenset("/\\?#")
# Properties Cosmos DB adds to every document; never part of what the store compares.
SYSTEM_PROPERTIES: Final = frozenset({"_rid", "_self", "_etag", "_attachments", "_ts"})


@dataclass(frozen=True)
class CosmosAccount:
    """An open client and the containers of one database."""

    client: CosmosClient
    database: DatabaseProxy
    containers: Mapping[str, ContainerProxy]
    # Closed with the client when the store opened it (DefaultAzureCredential).
    credential: Any = None

    def container(self, name: str) -> ContainerProxy:
        """The proxy of one of ``CONTAINER_SPECS``."""
        return self.containers[name]

    async def close(self) -> None:
        """Close the HTTP session, and the credential the store opened itself."""
        try:
            await self.client.close()
        finally:
            if self.credential is not None:
                await self.credential.close()


def describe(exc: BaseException) -> str:
    """A short account of a Cosmos DB failure: status and the first line of its message."""
    if isinstance(exc, CosmosHttpResponseError):
        first = str(exc.message or exc).strip().splitlines()
        text = first[0] if first else type(exc).__name__
        return f"HTTP {exc.status_code}: {text}".strip()
    return f"{type(exc).__name__}: {exc}".strip()


@contextmanager
def cosmos_errors(action: str) -> Iterator[None]:
    """Turn SDK and connection failures into ``StoreError`` naming what was attempted."""
    try:
        yield
    except (AzureError, OSError) as exc:
        raise StoreError(f"{action} failed: {describe(exc)}") from exc


def check_id(kind: str, value: str) -> str:
    """``value`` as a document id, refused (like a bad snowflake) when Cosmos DB cannot
    store it."""
    if not value or len(value) > 255 or any(ch in _FORBIDDEN_IN_ID for ch in value):
        raise StoreError(f"{kind} id {value!r} cannot be a Cosmos DB document id")
    return value


def to_text(moment: datetime) -> str:
    """A UTC instant as fixed-width ISO 8601 text (naive taken as UTC), so that string
    order is time order in queries (``c.timestamp < @before``) and in sorts."""
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    return moment.astimezone(UTC).replace(tzinfo=None).isoformat(timespec="microseconds") + "Z"


def from_text(text: str) -> datetime:
    """The aware UTC datetime ``to_text`` wrote."""
    return datetime.fromisoformat(text).astimezone(UTC)


def optional_text(moment: datetime | None) -> str | None:
    """``to_text``, keeping None."""
    return None if moment is None else to_text(moment)


def optional_time(text: str | None) -> datetime | None:
    """``from_text``, keeping None."""
    return None if text is None else from_text(text)


def without_system(doc: Mapping[str, Any]) -> dict[str, Any]:
    """A document's own properties, as written."""
    return {key: value for key, value in doc.items() if key not in SYSTEM_PROPERTIES}


def chunks(items: Sequence[str], size: int = IDS_PER_QUERY) -> Iterator[list[str]]:
    """``items`` in slices small enough for one query's parameters."""
    for start in range(0, len(items), size):
        yield list(items[start : start + size])


async def query(
    container: ContainerProxy, text: str, partition: str, **parameters: Any
) -> list[Any]:
    """Every result of a parameterised query within one logical partition: documents or
    projections (``dict``), or bare values for ``SELECT VALUE``.

    The partition key is both in the query text (``c.guild_id = @guild``, which the local
    server insists on) and passed to the SDK, so the request goes to one partition only.
    """
    params: list[dict[str, object]] = [
        {"name": f"@{name}", "value": value} for name, value in parameters.items()
    ]
    return [
        item
        async for item in container.query_items(
            text, parameters=params, partition_key=partition, max_item_count=PAGE_SIZE
        )
    ]


async def read_or_none(
    container: ContainerProxy, doc_id: str, partition: str
) -> dict[str, Any] | None:
    """A point read (the cheapest operation in Cosmos DB), or None when absent."""
    try:
        return dict(await container.read_item(doc_id, partition_key=partition))
    except CosmosResourceNotFoundError:
        return None


async def delete_if_present(container: ContainerProxy, doc_id: str, partition: str) -> bool:
    """Delete by id; False (not an error) when it was already gone, so retries converge."""
    try:
        await container.delete_item(doc_id, partition_key=partition)
    except CosmosResourceNotFoundError:
        return False
    return True


async def provision(
    client: CosmosClient, database_name: str, *, create: bool
) -> tuple[DatabaseProxy, dict[str, ContainerProxy]]:
    """The database and its containers: created when missing if ``create`` (key
    authentication), else only checked, since Entra ID data-plane roles cannot create
    databases or containers (provision them with Bicep, ARM or the portal)."""
    containers: dict[str, ContainerProxy] = {}
    if create:
        with cosmos_errors(f"creating Cosmos DB database {database_name}"):
            database = await client.create_database_if_not_exists(database_name)
            for spec in CONTAINER_SPECS:
                containers[spec.name] = await database.create_container_if_not_exists(
                    spec.name,
                    partition_key=PartitionKey(path=spec.partition_key),
                    indexing_policy=spec.indexing_policy,
                )
        return database, containers
    database = client.get_database_client(database_name)
    for spec in CONTAINER_SPECS:
        container = database.get_container_client(spec.name)
        try:
            with cosmos_errors(f"opening Cosmos DB container {database_name}/{spec.name}"):
                await container.read()
        except StoreError as exc:
            if isinstance(exc.__cause__, CosmosResourceNotFoundError):
                raise StoreError(
                    f"Cosmos DB container {database_name}/{spec.name} does not exist: create "
                    f"it with partition key {spec.partition_key} (signing in with Entra ID "
                    "cannot create containers; an account key can)"
                ) from exc
            raise
        containers[spec.name] = container
    return database, containers
