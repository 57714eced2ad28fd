"""Fixtures that run the same store tests against SQLite and a real PostgreSQL server."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import pytest

from snitch.config import DatabaseSettings, Settings
from snitch.store import SqlStore, open_store
from tests.pg_cluster import PgCluster, pg_cluster


@pytest.fixture(scope="session")
def postgres_cluster() -> Iterator[PgCluster]:
    """One throwaway server for the whole session; each test gets its own database on it."""
    with pg_cluster() as cluster:
        yield cluster


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def backend(request: pytest.FixtureRequest) -> str:
    """Which backend a store test runs against."""
    name: str = request.param
    return name


@pytest.fixture
def database_url(backend: str, request: pytest.FixtureRequest) -> Iterator[str | None]:
    """None for SQLite (the default under the data directory), else a fresh database."""
    if backend == "sqlite":
        yield None
        return
    cluster: PgCluster = request.getfixturevalue("postgres_cluster")
    name = f"test_{uuid.uuid4().hex[:12]}"
    url = cluster.create_database(name)
    yield url
    cluster.drop_database(name)


@pytest.fixture
def settings(database_url: str | None, tmp_path: Path) -> Settings:
    """Settings pointing at this test's database; the data directory does not exist yet."""
    return Settings(
        _env_file=None,
        data_dir=tmp_path / "data",
        database=DatabaseSettings(url=database_url),
    )


@pytest.fixture
async def store(settings: Settings) -> AsyncIterator[SqlStore]:
    """A migrated, empty store on the parametrised backend."""
    opened = await open_store(settings)
    try:
        yield opened
    finally:
        await opened.close()
