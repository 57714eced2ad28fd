"""Fixtures that run the same store tests against SQLite, a real PostgreSQL server and a
local Cosmos DB-compatible server (``@vercel/cosmosdb-server``, see ``cosmos_server.py``).

On the Cosmos DB leg, two helpers the SQL tests import are routed to Cosmos DB for the
test's duration (``_route_helpers_to_cosmos``): ``open_store`` (until it chooses Cosmos DB
itself when ``SNITCH_COSMOS__ENDPOINT`` is set) and ``rows`` (raw rows of the messages
and authors tables, read from the containers of the same names instead).
"""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from types import ModuleType
from typing import Any, Final

import pytest
from pydantic import SecretStr
from sqlalchemy import Table

from snitch.config import CosmosSettings, DatabaseSettings, Settings
from snitch.store import SqlStore, open_store
from snitch.store.cosmos import CosmosStore, open_cosmos_store
from snitch.store.cosmos._base import without_system
from tests.pg_cluster import PgCluster, pg_cluster
from tests.store.cosmos_server import CosmosServer, cosmos_server

_NO_SCHEMA: Final = (
    "Alembic migrations: Cosmos DB has no schema to migrate (open_cosmos_store creates "
    "the containers)"
)
# Tests of SQL machinery, which has no Cosmos DB counterpart, by test function name.
COSMOS_SKIPS: Final = {
    "test_migrations_build_exactly_the_schema": _NO_SCHEMA,
    "test_migrations_downgrade_to_nothing_and_back": _NO_SCHEMA,
    "test_migrations_upgrade_from_0006_keep_the_data": _NO_SCHEMA,
    "test_search_follows_edits_and_deletes": (
        "ends with a raw SQL DELETE checking that the FTS5 triggers keep the index in step; "
        "Cosmos DB keeps the search terms inside each message document (edits and deletes "
        "are checked in test_cosmos_store.py)"
    ),
}


@pytest.fixture(scope="session")
def postgres_cluster() -> Iterator[PgCluster]:
    """One throwaway server for the whole session; each test gets its own database on it."""
    with pg_cluster() as cluster:
        yield cluster


@pytest.fixture(scope="session")
def local_cosmos() -> Iterator[CosmosServer]:
    """One local Cosmos DB server for the session; each test gets its own database on it."""
    with cosmos_server() as server:
        yield server


@pytest.fixture(
    params=[
        "sqlite",
        pytest.param("postgres", marks=pytest.mark.postgres),
        pytest.param("cosmos", marks=pytest.mark.cosmos),
    ]
)
def backend(request: pytest.FixtureRequest) -> str:
    """Which backend a store test runs against."""
    name: str = request.param
    if name == "cosmos" and (reason := COSMOS_SKIPS.get(request.node.originalname)):
        pytest.skip(reason)
    return name


@pytest.fixture
def database_url(backend: str, request: pytest.FixtureRequest) -> Iterator[str | None]:
    """None for SQLite (the default under the data directory) and Cosmos DB, else a fresh
    PostgreSQL database."""
    if backend != "postgres":
        yield None
        return
    cluster: PgCluster = request.getfixturevalue("postgres_cluster")
    name = f"test_{uuid.uuid4().hex[:12]}"
    url = cluster.create_database(name)
    yield url
    cluster.drop_database(name)


@pytest.fixture
def cosmos_settings(backend: str, request: pytest.FixtureRequest) -> CosmosSettings:
    """For Cosmos DB, a fresh database on the local server; otherwise unset."""
    if backend != "cosmos":
        return CosmosSettings()
    server: CosmosServer = request.getfixturevalue("local_cosmos")
    return CosmosSettings(
        endpoint=server.endpoint,
        key=SecretStr(server.key),
        database=f"test_{uuid.uuid4().hex[:12]}",
        verify_tls=False,
    )


@pytest.fixture
def settings(database_url: str | None, cosmos_settings: CosmosSettings, tmp_path: Path) -> Settings:
    """Settings pointing at this test's database; the data directory does not exist yet."""
    return Settings(
        _env_file=None,
        data_dir=tmp_path / "data",
        database=DatabaseSettings(url=database_url),
        cosmos=cosmos_settings,
    )


@pytest.fixture
async def store(
    settings: Settings, request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch
) -> AsyncIterator[SqlStore | CosmosStore]:
    """A migrated (or provisioned), empty store on the parametrised backend."""
    if not settings.cosmos.endpoint:
        opened = await open_store(settings)
        try:
            yield opened
        finally:
            await opened.close()
        return
    cosmos = await open_cosmos_store(settings)
    _route_helpers_to_cosmos(request.module, monkeypatch)
    try:
        yield cosmos
    finally:
        try:
            await cosmos.account.client.delete_database(settings.cosmos.database)
        finally:
            await cosmos.close()


async def open_any_store(settings: Settings) -> SqlStore | CosmosStore:
    """``open_store`` as it should be wired: Cosmos DB when its endpoint is set."""
    if settings.cosmos.endpoint:
        return await open_cosmos_store(settings)
    return await open_store(settings)


async def cosmos_rows(store: CosmosStore, table: Table) -> list[tuple[Any, ...]]:
    """``rows`` on Cosmos DB: the documents of the container named like ``table``, by id.

    Authors come back as the SQL table's tuples (one per guild they wrote in); other
    documents as their sorted (property, value) pairs, without Cosmos DB's own.
    """
    container = store.account.container(table.name)
    docs = [without_system(doc) async for doc in container.read_all_items()]
    docs.sort(key=lambda doc: (doc["id"], doc.get("guild_id", "")))
    if table.name == "authors":
        return [(doc["id"], doc["name"], doc["nickname"], doc["is_bot"]) for doc in docs]
    return [tuple(sorted(doc.items())) for doc in docs]


def _route_helpers_to_cosmos(module: ModuleType | None, monkeypatch: pytest.MonkeyPatch) -> None:
    """Point the test module's ``open_store`` and ``rows`` at their Cosmos DB versions."""
    if module is None:
        return
    if hasattr(module, "open_store"):
        monkeypatch.setattr(module, "open_store", open_any_store)
    if hasattr(module, "rows"):
        monkeypatch.setattr(module, "rows", cosmos_rows)
