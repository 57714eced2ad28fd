"""Alembic environment for the message store.

Two ways in:

- ``snitch.store.sql.migrate`` (what ``open_store`` calls) builds the Alembic ``Config`` in
  code and hands over an open connection in ``config.attributes["connection"]``; the
  migrations then run inside the caller's transaction and logging is left alone.
- Developers run ``alembic upgrade head`` / ``alembic revision --autogenerate`` from the
  repository root (``alembic.ini``); the URL is ``sqlalchemy.url`` when set there, otherwise
  the one from the project's Settings (``SNITCH_DATABASE__URL`` or SQLite in the data dir).
"""

from __future__ import annotations

import asyncio
from logging.config import fileConfig

from alembic import context
from sqlalchemy.engine import Connection

from snitch.store.schema import is_search_object, metadata

config = context.config
target_metadata = metadata


def _url() -> str:
    """The ini's URL if a developer set one, else the configured store's."""
    url = config.get_main_option("sqlalchemy.url")
    if url:
        return url
    # Imported here: only the command-line path reads settings.
    from snitch.config import load_settings

    return load_settings().database_url


def include_name(name: str | None, type_: str, parent_names: object) -> bool:
    """Autogenerate skips the full-text objects that 0002 builds by hand."""
    return not is_search_object(name)


def _configure(connection: Connection) -> None:
    context.configure(
        connection=connection,
        target_metadata=target_metadata,
        compare_type=True,
        include_name=include_name,
        # SQLite cannot ALTER most things; batch mode rebuilds the table instead.
        render_as_batch=connection.dialect.name == "sqlite",
    )


def _run_on(connection: Connection) -> None:
    _configure(connection)
    with context.begin_transaction():
        context.run_migrations()


async def _run_async() -> None:
    """Open the store's own engine (same pragmas, data directory created) and migrate."""
    # Imported here: sql.py runs this file, so a top-level import would be circular.
    from snitch.store.sql import make_engine

    engine = make_engine(_url())
    try:
        async with engine.begin() as connection:
            await connection.run_sync(_run_on)
    finally:
        await engine.dispose()


def run_migrations_offline() -> None:
    """``alembic upgrade --sql``: print the DDL instead of running it."""
    context.configure(
        url=_url(),
        target_metadata=target_metadata,
        literal_binds=True,
        dialect_opts={"paramstyle": "named"},
    )
    with context.begin_transaction():
        context.run_migrations()


def run_migrations_online() -> None:
    """Use the connection we were given, or open one from the URL."""
    connection = config.attributes.get("connection")
    if connection is not None:
        _run_on(connection)
        return
    asyncio.run(_run_async())


# Only the command line configures logging; the application owns it otherwise.
if config.config_file_name is not None and "connection" not in config.attributes:
    fileConfig(config.config_file_name)

if context.is_offline_mode():
    run_migrations_offline()
else:
    run_migrations_online()
