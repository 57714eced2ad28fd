"""The SQL message store: one implementation for SQLite (aiosqlite) and PostgreSQL (asyncpg).

Writes are dialect upserts (``INSERT ... ON CONFLICT (id) DO UPDATE``) sent with
``executemany`` in chunks, so importing the same export twice leaves the same rows and a
large import costs one round trip per chunk, not per message. The schema is owned by the
Alembic migrations in ``migrations/``, which ``open_store`` runs to head on every start.

A delete leaves a tombstone that later upserts of the id skip, and an upsert skips the
messages of an author opted out in their guild too (see ``snitch.store.protocol``).
Checking and then writing is atomic with respect to deletes: on SQLite every unit of work
is a write transaction (BEGIN IMMEDIATE), so units never interleave; on PostgreSQL, whose
READ COMMITTED lets an upsert miss a tombstone committed while it runs, a unit that
upserts messages holds a shared advisory lock (the refusals lock) and a unit that deletes
or forgets them an exclusive one, each from before its first read of tombstones, opt-outs
or messages until it ends. A delete therefore sees every upsert committed before it, and
an upsert every tombstone committed before it, and no two of them overlap.

Opt-outs are written by ``SqlGuildState.set_opted_out`` in a transaction of their own,
without the lock, and ``forget-me`` runs: opt-out committed, queue drained, then
``forget_author``. An upsert that read the opt-outs after the opt-out committed refuses
the member's messages. One that read before holds the shared lock since before that
read, so since before the opt-out committed and thus before ``forget_author`` asked for
the exclusive lock: the forget waits for it to commit, and its DELETE (a statement taking
its snapshot after the lock was granted) removes what the upsert wrote. Either way no row
of the member is left once ``forget_author`` commits, nor written after it. A unit reads
each (guild, author) pair's opt-out once and keeps the answer, so that ``refused_among``
and ``upsert_messages`` agree within it.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterable, Iterator, Sequence
from contextlib import asynccontextmanager, contextmanager
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any, Final, Literal

from alembic import command
from alembic.config import Config
from alembic.util import CommandError
from sqlalchemy import (
    Connection,
    Insert,
    Select,
    Table,
    Text,
    and_,
    cast,
    delete,
    event,
    func,
    or_,
    select,
    text,
    update,
)
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.engine import URL, Row, make_url
from sqlalchemy.exc import DBAPIError, IntegrityError, SQLAlchemyError
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine, create_async_engine
from sqlalchemy.pool import ConnectionPoolEntry

from snitch.closing import AsyncClosing
from snitch.config import Settings
from snitch.errors import StoreError
from snitch.models import Author, Channel, Guild, Message, Reaction, is_snowflake

if TYPE_CHECKING:
    from snitch.store.archive import SqlEditionArchive
    from snitch.store.guild_state import SqlGuildState
    from snitch.store.tip_store import SqlTipStore
from snitch.store.protocol import GUILDLESS_TOMBSTONE_MARGIN
from snitch.store.schema import (
    SEARCH_CONFIG,
    SEARCH_TABLE,
    authors,
    channels,
    guilds,
    message_tombstones,
    messages,
    opt_outs,
)

MIGRATIONS_DIR: Final = Path(__file__).parent / "migrations"

# Rows per executemany call. executemany binds one row (13 variables) per execution, so
# SQLite's bound-variable limit (999 before 3.32) is never approached whatever the chunk;
# chunking bounds how many converted parameter sets the driver holds at once. Of 100,
# 1000 and 5000, 1000 was fastest on SQLite (100,000 messages); PostgreSQL barely cared.
ROWS_PER_CHUNK: Final = 1000

# Ids per ``IN (...)`` list when reading or deleting by id: under SQLite's old limit of 999
# bound variables.
IDS_PER_QUERY: Final = 900
# What a forgotten author is called in the mention snapshots of other people's messages.
FORGOTTEN_NAME: Final = "forgotten-user"

# How long a SQLite writer waits for another writer's transaction before giving up.
SQLITE_BUSY_TIMEOUT_SECONDS: Final = 30.0
# Execution option read by the SQLite ``begin`` hook: DEFERRED for reads, IMMEDIATE for
# writers, so that two writers queue on the lock instead of one failing mid-transaction.
_SQLITE_BEGIN: Final = "snitch_sqlite_begin"
# Any constant: PostgreSQL advisory lock key that serialises concurrent migrations.
_MIGRATION_LOCK_KEY: Final = 0x5A17C4
# Another, the refusals lock: held shared by units of work that upsert messages,
# exclusively by those that delete or forget them, so that a delete (or forget) and an
# upsert of the same message never interleave.
_REFUSALS_LOCK_KEY: Final = 0x5A17C5


def _describe(exc: BaseException) -> str:
    """The driver's own message, without SQLAlchemy's echo of the SQL and its parameters
    (which for a bulk upsert would be thousands of chat messages)."""
    if isinstance(exc, DBAPIError) and exc.orig is not None:
        return f"{type(exc.orig).__name__}: {exc.orig}".strip()
    return f"{type(exc).__name__}: {exc}".strip()


def _store_error(action: str, exc: BaseException) -> StoreError:
    """The ``StoreError`` for a driver or connection failure during ``action``."""
    message = f"{action} failed: {_describe(exc)}"
    if isinstance(exc, IntegrityError) and "foreign key" in message.lower():
        message += (
            " (store a message's guild and channel before, or in the same unit of work as,"
            " the message)"
        )
    return StoreError(message)


@contextmanager
def _store_errors(action: str) -> Iterator[None]:
    """Turn driver and connection failures into ``StoreError`` naming what was attempted."""
    try:
        yield
    except (SQLAlchemyError, OSError) as exc:
        raise _store_error(action, exc) from exc


def _sqlite_file(url: URL) -> Path | None:
    """The database file of a SQLite URL, or None for in-memory and URI-style databases."""
    database = url.database
    if not database or database == ":memory:" or database.startswith("file:"):
        return None
    return Path(database)


def _tune_sqlite(engine: AsyncEngine) -> None:
    """Per-connection SQLite setup, and SQLAlchemy (not sqlite3) in charge of BEGIN.

    sqlite3's legacy transaction control never BEGINs before DDL or SELECT, which would
    make migrations non-atomic; so it is switched off and the ``begin`` hook emits BEGIN
    itself (the recipe in SQLAlchemy's SQLite dialect documentation).
    """

    @event.listens_for(engine.sync_engine, "connect")
    def _on_connect(dbapi_connection: Any, _record: ConnectionPoolEntry) -> None:
        dbapi_connection.isolation_level = None
        cursor = dbapi_connection.cursor()
        try:
            # WAL: readers do not block the writer, nor the writer readers.
            cursor.execute("PRAGMA journal_mode=WAL")
            # Safe with WAL (no corruption); only the last commits can be lost on power loss.
            cursor.execute("PRAGMA synchronous=NORMAL")
            # Off by default in SQLite; the schema's foreign keys mean nothing without it.
            cursor.execute("PRAGMA foreign_keys=ON")
        finally:
            cursor.close()

    @event.listens_for(engine.sync_engine, "begin")
    def _on_begin(connection: Connection) -> None:
        mode = connection.get_execution_options().get(_SQLITE_BEGIN, "DEFERRED")
        connection.exec_driver_sql(f"BEGIN {mode}")


def make_engine(url: str, *, echo: bool = False) -> AsyncEngine:
    """An async engine for ``url``, with the SQLite data directory created and tuned."""
    try:
        parsed = make_url(url)
    except SQLAlchemyError as exc:
        raise StoreError(f"invalid database URL: {_describe(exc)}") from exc
    shown = parsed.render_as_string(hide_password=True)
    is_sqlite = parsed.get_backend_name() == "sqlite"
    if is_sqlite and (path := _sqlite_file(parsed)) is not None:
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise StoreError(f"cannot create the data directory {path.parent}: {exc}") from exc
    connect_args = {"timeout": SQLITE_BUSY_TIMEOUT_SECONDS} if is_sqlite else {}
    try:
        engine = create_async_engine(parsed, echo=echo, connect_args=connect_args)
    except (SQLAlchemyError, ImportError) as exc:
        raise StoreError(f"cannot use database {shown}: {_describe(exc)}") from exc
    if engine.dialect.name not in ("sqlite", "postgresql"):
        raise StoreError(f"unsupported database {shown}: use SQLite or PostgreSQL")
    if is_sqlite:
        _tune_sqlite(engine)
    return engine


@asynccontextmanager
async def _writing(engine: AsyncEngine, action: str) -> AsyncIterator[AsyncConnection]:
    """A connection in a write transaction (BEGIN IMMEDIATE on SQLite), committed on clean
    exit and rolled back on any exception, including a failed commit.

    Only the transaction's own steps (connect, begin, commit, rollback) are turned into
    ``StoreError``: an exception from the block, even an ``OSError`` while reading an
    export, propagates unchanged after the rollback.
    """
    with _store_errors(action):
        connection = await engine.connect()
    try:
        if connection.dialect.name == "sqlite":
            await connection.execution_options(**{_SQLITE_BEGIN: "IMMEDIATE"})
        from_block: BaseException | None = None
        try:
            # The context manager also rolls back when the commit itself fails (SQLite
            # keeps the transaction open after a deferred foreign key refuses a COMMIT).
            async with connection.begin():
                try:
                    yield connection
                except BaseException as exc:
                    from_block = exc
                    raise
        except (SQLAlchemyError, OSError) as exc:
            if exc is from_block:
                raise
            raise _store_error(action, exc) from exc
    finally:
        await connection.close()


def _upgrade(connection: Connection, revision: str) -> None:
    """Alembic's ``upgrade`` on an open connection, configured in code so that an installed
    wheel needs no ``alembic.ini``."""
    if connection.dialect.name == "postgresql":
        # Two processes starting at once (bot and timer) would otherwise race to create
        # the tables; the lock is released when the transaction ends.
        connection.execute(text("SELECT pg_advisory_xact_lock(:key)"), {"key": _MIGRATION_LOCK_KEY})
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS_DIR))
    config.attributes["connection"] = connection
    command.upgrade(config, revision)


async def migrate(engine: AsyncEngine, revision: str = "head") -> None:
    """Bring the schema to ``revision`` in one transaction: all of it applies, or none."""
    try:
        async with _writing(engine, "migrating the database schema") as connection:
            with _store_errors("migrating the database schema"):
                await connection.run_sync(_upgrade, revision)
    except CommandError as exc:
        raise StoreError(
            f"cannot migrate the database schema: {exc} "
            "(was this database written by a newer version of snitch?)"
        ) from exc


def _dedupe_by_id(rows: Iterable[dict[str, Any]]) -> list[dict[str, Any]]:
    """One row per id, the last one winning, as a later copy of a message is newer.

    PostgreSQL refuses a statement that updates the same row twice, and the outcome
    should not depend on how a batch happens to be chunked.
    """
    return list({row["id"]: row for row in rows}.values())


def _author_json(author: Author) -> dict[str, Any]:
    return {
        "id": author.id,
        "name": author.name,
        "nickname": author.nickname,
        "is_bot": author.is_bot,
    }


def _require_snowflake(message: Message) -> None:
    """The store keys its full-text index by the numeric id, so only real Discord ids
    may be stored."""
    if not is_snowflake(message.id):
        raise StoreError(
            f"message {message.id!r} in channel {message.channel_id}: id is not a Discord snowflake"
        )


def _chunks(items: Sequence[str], size: int = IDS_PER_QUERY) -> Iterator[Sequence[str]]:
    for start in range(0, len(items), size):
        yield items[start : start + size]


def _scrub_mentions(mentions: list[dict[str, Any]], author_id: str) -> list[dict[str, Any]]:
    """The snapshot with one author's name and nickname replaced by a placeholder."""
    return [
        {**item, "name": FORGOTTEN_NAME, "nickname": None} if item.get("id") == author_id else item
        for item in mentions
    ]


def _message_row(message: Message) -> dict[str, Any]:
    return {
        "id": message.id,
        "guild_id": message.guild_id,
        "channel_id": message.channel_id,
        "author_id": message.author.id,
        "content": message.content,
        "timestamp": message.timestamp,
        "edited_at": message.edited_at,
        "kind": message.kind,
        "reply_to_id": message.reply_to_id,
        "mentions": [_author_json(author) for author in message.mentions],
        "reactions": [{"emoji": r.emoji, "count": r.count} for r in message.reactions],
        "attachments_count": message.attachments_count,
        "is_pinned": message.is_pinned,
    }


def _channel_row(channel: Channel) -> dict[str, Any]:
    return {
        "id": channel.id,
        "guild_id": channel.guild_id,
        "name": channel.name,
        "kind": channel.kind,
        "category": channel.category,
        "parent_id": channel.parent_id,
        "topic": channel.topic,
    }


def dialect_insert(connection: AsyncConnection, table: Table) -> sqlite.Insert | postgresql.Insert:
    """An INSERT that can take ``ON CONFLICT`` clauses, which SQLite and PostgreSQL spell
    alike but SQLAlchemy builds per dialect."""
    if connection.dialect.name == "sqlite":
        return sqlite.insert(table)
    return postgresql.insert(table)


class SqlWriter:
    """The ``StoreWriter`` of one SQL transaction."""

    def __init__(self, connection: AsyncConnection) -> None:
        self._connection = connection
        # The refusals lock this transaction holds on PostgreSQL: None, shared or exclusive.
        self._refusals_lock: Literal["shared", "exclusive"] | None = None
        # Tombstone lookups already made: exact for the whole transaction, since no other
        # unit can add a tombstone while this one holds the lock (or SQLite's write lock).
        self._tombstoned: dict[str, bool] = {}
        # (guild, author) -> opted out, as first read in this transaction (see the module
        # docstring: kept, so that every answer within the unit is the same).
        self._opted_out: dict[tuple[str, str], bool] = {}

    async def upsert_guild(self, guild: Guild) -> None:
        """Insert or update a guild by id."""
        await self._upsert(guilds, [{"id": guild.id, "name": guild.name}], "storing a guild")

    async def upsert_channels(self, channels_: Iterable[Channel]) -> None:
        """Insert or update channels (and threads) by id."""
        await self._upsert(channels, map(_channel_row, channels_), "storing channels")

    async def upsert_messages(self, messages_: Sequence[Message]) -> int:
        """Insert or update messages and their authors by id, except those the store
        refuses (tombstoned, or by an author opted out in the guild); returns how many
        distinct messages were written."""
        for message in messages_:
            _require_snowflake(message)
        refused = await self.refused_among(messages_)
        alive = [message for message in messages_ if message.id not in refused]
        await self._upsert(
            authors, (_author_json(m.author) for m in alive), "storing message authors"
        )
        return await self._upsert(messages, map(_message_row, alive), "storing messages")

    async def refused_among(self, messages_: Sequence[Message]) -> set[str]:
        """The ids of ``messages_`` that have a tombstone, whatever its guild (ids are
        unique across Discord), or whose author opted out in the message's guild."""
        await self._lock_refusals(exclusive=False)
        deleted = await self._deleted_among(messages_)
        opted_out = await self._opted_out_among(messages_)
        return {
            m.id for m in messages_ if m.id in deleted or (m.guild_id, m.author.id) in opted_out
        }

    async def _deleted_among(self, messages_: Sequence[Message]) -> set[str]:
        """The ids of ``messages_`` that have a tombstone; the caller holds the lock."""
        unknown = [m.id for m in messages_ if m.id not in self._tombstoned]
        with _store_errors("reading message tombstones"):
            for chunk in _chunks(list(dict.fromkeys(unknown))):
                found = await self._connection.execute(
                    select(message_tombstones.c.message_id).where(
                        message_tombstones.c.message_id.in_(list(chunk))
                    )
                )
                self._tombstoned.update(dict.fromkeys(chunk, False))
                self._tombstoned.update((row[0], True) for row in found)
        return {m.id for m in messages_ if self._tombstoned[m.id]}

    async def _opted_out_among(self, messages_: Sequence[Message]) -> set[tuple[str, str]]:
        """The (guild, author) pairs of ``messages_`` whose author opted out in the guild;
        the caller holds the lock."""
        pairs = dict.fromkeys((m.guild_id, m.author.id) for m in messages_)
        unknown: dict[str, list[str]] = {}
        for guild_id, author_id in pairs:
            if (guild_id, author_id) not in self._opted_out:
                unknown.setdefault(guild_id, []).append(author_id)
        with _store_errors("reading opt-outs"):
            for guild_id, author_ids in unknown.items():
                for chunk in _chunks(author_ids):
                    found = await self._connection.execute(
                        select(opt_outs.c.user_id).where(
                            and_(
                                opt_outs.c.guild_id == guild_id,
                                opt_outs.c.user_id.in_(list(chunk)),
                            )
                        )
                    )
                    self._opted_out.update(((guild_id, a), False) for a in chunk)
                    self._opted_out.update(((guild_id, row[0]), True) for row in found)
        return {pair for pair in pairs if self._opted_out[pair]}

    async def delete_messages(
        self,
        message_ids: Sequence[str],
        *,
        guild_id: str | None = None,
        deleted_at: datetime | None = None,
    ) -> int:
        """Remove messages by id (deleted on Discord) and leave a tombstone for each;
        returns how many were stored.

        Without ``guild_id`` a tombstone takes the guild of the stored message, if any.
        A repeated delete keeps the first deletion time, and fills in a missing guild.
        """
        wanted = list(dict.fromkeys(message_ids))
        if not wanted:
            return 0
        when = deleted_at if deleted_at is not None else datetime.now(UTC)
        await self._lock_refusals(exclusive=True)
        removed = 0
        with _store_errors("deleting messages"):
            guild_of: dict[str, str] = {}
            for chunk in _chunks(wanted):
                if guild_id is None:
                    stored = await self._connection.execute(
                        select(messages.c.id, messages.c.guild_id).where(
                            messages.c.id.in_(list(chunk))
                        )
                    )
                    guild_of.update((row.id, row.guild_id) for row in stored)
                result = await self._connection.execute(
                    delete(messages).where(messages.c.id.in_(list(chunk)))
                )
                removed += result.rowcount
            # An id that is not a snowflake can never be stored: it needs no tombstone.
            tombstones = [
                {
                    "message_id": ident,
                    "guild_id": guild_id or guild_of.get(ident),
                    "deleted_at": when,
                }
                for ident in wanted
                if is_snowflake(ident)
            ]
            if tombstones:
                insert = dialect_insert(self._connection, message_tombstones)
                remember = insert.on_conflict_do_update(
                    index_elements=[message_tombstones.c.message_id],
                    set_={
                        "guild_id": func.coalesce(
                            message_tombstones.c.guild_id, insert.excluded.guild_id
                        )
                    },
                )
                for start in range(0, len(tombstones), ROWS_PER_CHUNK):
                    await self._connection.execute(
                        remember, tombstones[start : start + ROWS_PER_CHUNK]
                    )
        self._tombstoned.update(dict.fromkeys(wanted, True))
        return removed

    async def _lock_refusals(self, *, exclusive: bool) -> None:
        """On PostgreSQL, hold the refusals lock (see the module docstring) until the
        transaction ends; SQLite's write transaction already excludes every other unit.

        A unit that upserts and then deletes (or forgets) upgrades its lock: two such units at once
        deadlock, and PostgreSQL fails one (a ``StoreError``). None of ours mixes them.
        """
        if self._connection.dialect.name != "postgresql":
            return
        if self._refusals_lock == "exclusive" or (
            self._refusals_lock == "shared" and not exclusive
        ):
            return
        function = "pg_advisory_xact_lock" if exclusive else "pg_advisory_xact_lock_shared"
        with _store_errors("taking the refusals lock"):
            await self._connection.execute(
                text(f"SELECT {function}(:key)"), {"key": _REFUSALS_LOCK_KEY}
            )
        self._refusals_lock = "exclusive" if exclusive else "shared"

    async def forget_author(self, guild_id: str, author_id: str) -> int:
        """Remove an author's messages in a guild and their name from others' mentions there.

        The author's own row goes too once no guild holds a message of theirs. Holds the
        refusals lock exclusively: an upsert that read the opt-outs before the author opted
        out commits first, and its rows are removed here (see the module docstring).
        """
        await self._lock_refusals(exclusive=True)
        with _store_errors(f"forgetting author {author_id} in guild {guild_id}"):
            result = await self._connection.execute(
                delete(messages).where(
                    and_(messages.c.guild_id == guild_id, messages.c.author_id == author_id)
                )
            )
            removed: int = result.rowcount
            await self._scrub_mentions_of(guild_id, author_id)
            await self._drop_orphan_authors([author_id])
        return removed

    async def expire_messages(self, guild_id: str, before: datetime) -> int:
        """Remove a guild's messages sent before ``before``, and authors left with none;
        and the tombstones retention lets go (see ``StoreWriter.expire_messages``)."""
        with _store_errors(f"expiring messages of guild {guild_id}"):
            await self._connection.execute(
                delete(message_tombstones).where(
                    or_(
                        and_(
                            message_tombstones.c.guild_id == guild_id,
                            message_tombstones.c.deleted_at < before,
                        ),
                        and_(
                            message_tombstones.c.guild_id.is_(None),
                            message_tombstones.c.deleted_at < before - GUILDLESS_TOMBSTONE_MARGIN,
                        ),
                    )
                )
            )
            self._tombstoned.clear()
            authors_before = select(messages.c.author_id).where(
                and_(messages.c.guild_id == guild_id, messages.c.timestamp < before)
            )
            affected = [row[0] for row in await self._connection.execute(authors_before.distinct())]
            result = await self._connection.execute(
                delete(messages).where(
                    and_(messages.c.guild_id == guild_id, messages.c.timestamp < before)
                )
            )
            await self._drop_orphan_authors(affected)
        removed: int = result.rowcount
        return removed

    async def _scrub_mentions_of(self, guild_id: str, author_id: str) -> None:
        # JSON is text on SQLite and json on PostgreSQL: a LIKE on its text form narrows
        # the rows, and Python decides, so a substring of another id never matches.
        candidates = await self._connection.execute(
            select(messages.c.id, messages.c.mentions).where(
                and_(
                    messages.c.guild_id == guild_id,
                    cast(messages.c.mentions, Text).contains(author_id, autoescape=True),
                )
            )
        )
        for row in candidates.all():
            scrubbed = _scrub_mentions(row.mentions, author_id)
            if scrubbed != row.mentions:
                await self._connection.execute(
                    update(messages).where(messages.c.id == row.id).values(mentions=scrubbed)
                )

    async def _drop_orphan_authors(self, author_ids: Sequence[str]) -> None:
        still_writing = select(messages.c.id).where(messages.c.author_id == authors.c.id).exists()
        for chunk in _chunks(list(dict.fromkeys(author_ids))):
            await self._connection.execute(
                delete(authors).where(and_(authors.c.id.in_(list(chunk)), ~still_writing))
            )

    def _insert(self, table: Table) -> Insert:
        """``INSERT ... ON CONFLICT (id) DO UPDATE SET <every other column>`` for the dialect."""
        statement = dialect_insert(self._connection, table)
        return statement.on_conflict_do_update(
            index_elements=[table.c.id],
            set_={c.name: statement.excluded[c.name] for c in table.columns if not c.primary_key},
        )

    async def _upsert(self, table: Table, rows: Iterable[dict[str, Any]], action: str) -> int:
        """Upsert ``rows`` with executemany, in chunks; returns the number of distinct ids."""
        unique = _dedupe_by_id(rows)
        if not unique:
            return 0
        statement = self._insert(table)
        with _store_errors(action):
            for start in range(0, len(unique), ROWS_PER_CHUNK):
                chunk = unique[start : start + ROWS_PER_CHUNK]
                await self._connection.execute(statement, chunk)
        return len(unique)


def _message_from_row(row: Row[Any]) -> Message:
    values = row._mapping
    return Message(
        id=values["id"],
        guild_id=values["guild_id"],
        channel_id=values["channel_id"],
        author=Author(
            id=values["author_id"],
            name=values["author_name"],
            nickname=values["author_nickname"],
            is_bot=values["author_is_bot"],
        ),
        content=values["content"],
        timestamp=values["timestamp"],
        edited_at=values["edited_at"],
        kind=values["kind"],
        reply_to_id=values["reply_to_id"],
        mentions=tuple(Author.model_validate(item) for item in values["mentions"]),
        reactions=tuple(Reaction.model_validate(item) for item in values["reactions"]),
        attachments_count=values["attachments_count"],
        is_pinned=values["is_pinned"],
    )


def _messages_with_authors() -> Select[Any]:
    """Message rows joined to their author, the shape ``_message_from_row`` reads."""
    return select(
        messages,
        authors.c.name.label("author_name"),
        authors.c.nickname.label("author_nickname"),
        authors.c.is_bot.label("author_is_bot"),
    ).join(authors, messages.c.author_id == authors.c.id)


class SqlStore(AsyncClosing):
    """The ``Store`` on SQLite or PostgreSQL; build it with ``open_store``."""

    def __init__(self, engine: AsyncEngine) -> None:
        self._engine = engine

    @property
    def engine(self) -> AsyncEngine:
        """The underlying engine, for maintenance and tests."""
        return self._engine

    @property
    def guild_state(self) -> SqlGuildState:
        """Per-guild settings, schedule and opt-outs, on the same database."""
        from snitch.store.guild_state import SqlGuildState

        return SqlGuildState(self._engine)

    @property
    def tips(self) -> SqlTipStore:
        """Anonymous tips (sealed), on the same database."""
        from snitch.store.tip_store import SqlTipStore

        return SqlTipStore(self._engine)

    @property
    def archive(self) -> SqlEditionArchive:
        """Published editions, on the same database."""
        from snitch.store.archive import SqlEditionArchive

        return SqlEditionArchive(self._engine)

    @asynccontextmanager
    async def unit_of_work(self) -> AsyncIterator[SqlWriter]:
        """A transaction: committed when the block exits cleanly, rolled back on any error.

        Errors raised by the block itself propagate unchanged after the rollback; a failure
        of the database (including at commit, where foreign keys are checked) becomes
        ``StoreError``.
        """
        async with _writing(self._engine, "writing to the store") as connection:
            yield SqlWriter(connection)

    async def guilds(self) -> list[Guild]:
        """Every stored guild, by name."""
        query = select(guilds.c.id, guilds.c.name).order_by(guilds.c.name, guilds.c.id)
        with _store_errors("reading guilds"):
            async with self._engine.connect() as connection:
                result = await connection.execute(query)
                return [Guild(id=row.id, name=row.name) for row in result]

    async def channels(self, guild_id: str) -> list[Channel]:
        """The stored channels (and threads) of one guild, by name."""
        query = (
            select(channels)
            .where(channels.c.guild_id == guild_id)
            .order_by(channels.c.name, channels.c.id)
        )
        with _store_errors("reading channels"):
            async with self._engine.connect() as connection:
                result = await connection.execute(query)
                return [Channel.model_validate(dict(row._mapping)) for row in result]

    async def messages(
        self,
        guild_id: str,
        *,
        since: datetime | None = None,
        until: datetime | None = None,
        channel_ids: Sequence[str] | None = None,
    ) -> list[Message]:
        """Messages of a guild in ``[since, until)``, oldest first, optionally in some channels.

        Naive bounds are taken as UTC, like naive timestamps on the way in.
        """
        if channel_ids is not None and not channel_ids:
            return []
        query = (
            _messages_with_authors()
            .where(messages.c.guild_id == guild_id)
            .order_by(messages.c.timestamp, messages.c.id)
        )
        if since is not None:
            query = query.where(messages.c.timestamp >= since)
        if until is not None:
            query = query.where(messages.c.timestamp < until)
        if channel_ids is not None:
            query = query.where(messages.c.channel_id.in_(list(channel_ids)))
        with _store_errors("reading messages"):
            async with self._engine.connect() as connection:
                result = await connection.execute(query)
                return [_message_from_row(row) for row in result]

    async def messages_by_id(self, message_ids: Sequence[str]) -> list[Message]:
        """The stored messages among ``message_ids``, in the order asked; unknown ids are
        left out."""
        wanted = list(dict.fromkeys(message_ids))
        found: dict[str, Message] = {}
        with _store_errors("reading messages by id"):
            async with self._engine.connect() as connection:
                for chunk in _chunks(wanted):
                    query = _messages_with_authors().where(messages.c.id.in_(list(chunk)))
                    for row in await connection.execute(query):
                        message = _message_from_row(row)
                        found[message.id] = message
        return [found[ident] for ident in wanted if ident in found]

    async def search(self, guild_id: str, terms: Sequence[str], limit: int = 50) -> list[str]:
        """Ids of a guild's messages containing any of ``terms`` (stemmed, English), most
        relevant first: BM25 on SQLite, ``ts_rank`` on PostgreSQL."""
        if limit < 1:
            raise ValueError(f"search limit must be at least 1, got {limit}")
        wanted = [term for term in dict.fromkeys(terms) if term.strip()]
        if not wanted:
            return []
        if self._engine.dialect.name == "sqlite":
            # Each term quoted, so FTS5 reads none of them as an operator or column name.
            match = " OR ".join('"' + term.replace('"', '""') + '"' for term in wanted)
            query = text(
                f"SELECT CAST(rowid AS TEXT) FROM {SEARCH_TABLE} "
                f"WHERE {SEARCH_TABLE} MATCH :match AND guild_id = :guild "
                "ORDER BY rank LIMIT :limit"
            ).bindparams(match=match, guild=guild_id, limit=limit)
        else:
            # websearch_to_tsquery never raises on odd input, unlike to_tsquery. The
            # configuration is a literal (a constant of ours, not input) so the expression
            # matches the GIN index's exactly and the planner uses it.
            words = " or ".join(term.replace('"', " ") for term in wanted)
            vector = f"to_tsvector('{SEARCH_CONFIG}', content)"
            query = text(
                f"SELECT id FROM messages, websearch_to_tsquery('{SEARCH_CONFIG}', :words) AS q "
                f"WHERE guild_id = :guild AND {vector} @@ q "
                f"ORDER BY ts_rank({vector}, q) DESC, id LIMIT :limit"
            ).bindparams(words=words, guild=guild_id, limit=limit)
        with _store_errors(f"searching guild {guild_id}"):
            async with self._engine.connect() as connection:
                return [row[0] for row in await connection.execute(query)]

    async def channel_spans(self, guild_id: str) -> dict[str, tuple[datetime, datetime]]:
        """Each channel's oldest and newest stored message time: where a backfill resumes."""
        query = (
            select(
                messages.c.channel_id,
                func.min(messages.c.timestamp),
                func.max(messages.c.timestamp),
            )
            .where(messages.c.guild_id == guild_id)
            .group_by(messages.c.channel_id)
        )
        with _store_errors(f"reading the stored span of guild {guild_id}"):
            async with self._engine.connect() as connection:
                rows = await connection.execute(query)
                # min and max keep the column's type, so both come back as aware UTC.
                return {channel: (oldest, newest) for channel, oldest, newest in rows}

    async def count_messages(self, guild_id: str | None = None) -> int:
        """How many messages are stored, in one guild or in all."""
        query = select(func.count()).select_from(messages)
        if guild_id is not None:
            query = query.where(messages.c.guild_id == guild_id)
        with _store_errors("counting messages"):
            async with self._engine.connect() as connection:
                return (await connection.execute(query)).scalar_one()

    async def close(self) -> None:
        """Release every pooled connection."""
        await self._engine.dispose()


async def open_store(settings: Settings) -> SqlStore:
    """Connect to ``settings.database_url``, migrate it to the latest schema, and wrap it."""
    engine = make_engine(settings.database_url, echo=settings.database.echo)
    try:
        await migrate(engine)
    except BaseException:
        await engine.dispose()
        raise
    return SqlStore(engine)
