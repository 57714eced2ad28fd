"""The SQL store, run against SQLite and a throwaway PostgreSQL server (see conftest)."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from contextlib import ExitStack
from datetime import UTC, datetime, timedelta, timezone
from pathlib import Path
from typing import Any

import pytest
from alembic import command
from alembic.autogenerate import compare_metadata
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import Connection, Table, inspect, select, text

from snitch.config import DatabaseSettings, Settings
from snitch.errors import StoreError
from snitch.models import Author, Channel, Guild, Message, Reaction
from snitch.store import SqlStore, open_store
from snitch.store.schema import authors, is_search_object, metadata
from snitch.store.schema import messages as messages_table
from snitch.store.sql import MIGRATIONS_DIR, migrate
from tests import pg_cluster
from tests.pg_cluster import free_port

REPO_ROOT = Path(__file__).resolve().parents[2]
NOON = datetime(2024, 5, 1, 12, 0, tzinfo=UTC)
PARIS_SUMMER = timezone(timedelta(hours=2))

TOWERS = Guild(id="100", name="Tabloid Towers")
ALLEY = Guild(id="200", name="Aardvark Alley")
GENERAL = Channel(id="110", guild_id="100", name="general", category="Chat", topic="anything")
RANDOM = Channel(id="111", guild_id="100", name="random")
THREAD = Channel(
    id="112", guild_id="100", name="the feud", kind="GuildPublicThread", parent_id="110"
)
ALLEY_GENERAL = Channel(id="210", guild_id="200", name="general")
CHANNELS = (GENERAL, RANDOM, THREAD, ALLEY_GENERAL)

ALICE = Author(id="1", name="alice", nickname="Ali")
BOB = Author(id="2", name="bob")
BOT = Author(id="3", name="snitchbot", is_bot=True)


def message(n: int, channel: Channel = GENERAL, author: Author = ALICE, **fields: Any) -> Message:
    """Message ``n`` of a channel, ``n`` minutes after noon unless told otherwise."""
    values: dict[str, Any] = {
        "id": f"{channel.id}{n:06d}",
        "guild_id": channel.guild_id,
        "channel_id": channel.id,
        "author": author,
        "content": f"message {n}",
        "timestamp": NOON + timedelta(minutes=n),
    }
    values.update(fields)
    return Message(**values)


async def seed(store: SqlStore, batch: list[Message]) -> int:
    """Both guilds, every channel and ``batch``, in one unit of work."""
    async with store.unit_of_work() as writer:
        await writer.upsert_guild(TOWERS)
        await writer.upsert_guild(ALLEY)
        await writer.upsert_channels(CHANNELS)
        return await writer.upsert_messages(batch)


async def rows(store: SqlStore, table: Table) -> list[tuple[Any, ...]]:
    """Every raw row of a table, by id."""
    async with store.engine.connect() as connection:
        result = await connection.execute(select(table).order_by(table.c.id))
        return [tuple(row) for row in result]


def _schema_diff(connection: Connection) -> list[Any]:
    context = MigrationContext.configure(
        connection,
        opts={
            "compare_type": True,
            "compare_server_default": True,
            "include_name": lambda name, _type, _parents: not is_search_object(name),
        },
    )
    return list(compare_metadata(context, metadata))


def _current_revision(connection: Connection) -> str | None:
    return MigrationContext.configure(connection).get_current_revision()


def _downgrade_to_base(connection: Connection) -> None:
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS_DIR))
    config.attributes["connection"] = connection
    command.downgrade(config, "base")


def _table_names(connection: Connection) -> set[str]:
    return set(inspect(connection).get_table_names())


async def test_every_field_round_trips(store: SqlStore) -> None:
    """What goes in comes back equal: ids, JSON fields, flags, and aware timestamps."""
    original = [
        message(
            1,
            author=BOB,
            content="Who ate my sandwich? <@1>",
            timestamp=datetime(2024, 5, 1, 14, 0, 15, 123456, tzinfo=PARIS_SUMMER),
            edited_at=datetime(2024, 5, 1, 12, 1, tzinfo=UTC),
            mentions=(ALICE, BOT),
            reactions=(Reaction(emoji="🥪", count=3), Reaction(emoji="👀", count=1)),
            attachments_count=2,
            is_pinned=True,
        ),
        message(2, THREAD, kind="Reply", reply_to_id="110000001", content="not me"),
        message(3, THREAD, author=BOT, content="🚨 breaking 🚨", kind="ChannelPinnedMessage"),
    ]

    assert await seed(store, original) == 3

    stored = await store.messages(TOWERS.id)
    assert stored == original
    for got, sent in zip(stored, original, strict=True):
        assert got.timestamp.utcoffset() == timedelta(0)
        assert got.timestamp == sent.timestamp
    assert stored[0].timestamp == datetime(2024, 5, 1, 12, 0, 15, 123456, tzinfo=UTC)
    assert stored[0].edited_at == datetime(2024, 5, 1, 12, 1, tzinfo=UTC)
    assert stored[0].mentions == (ALICE, BOT)
    assert stored[0].reaction_count == 4
    assert stored[1].edited_at is None
    assert stored[2].author.is_bot


async def test_guilds_by_name_and_channels_per_guild(store: SqlStore) -> None:
    """Threads are channels with a parent; each guild sees only its own."""
    await seed(store, [])

    assert await store.guilds() == [ALLEY, TOWERS]
    assert await store.channels(TOWERS.id) == [GENERAL, RANDOM, THREAD]
    assert await store.channels(ALLEY.id) == [ALLEY_GENERAL]
    assert await store.channels("404") == []
    thread = (await store.channels(TOWERS.id))[2]
    assert thread.parent_id == GENERAL.id
    assert thread.kind == "GuildPublicThread"


async def test_importing_twice_leaves_the_same_rows(store: SqlStore) -> None:
    """Upserts by id: a second import of the same batch changes nothing at all."""
    batch = [message(n, author=(ALICE, BOB)[n % 2], mentions=(BOT,)) for n in range(50)]
    assert await seed(store, batch) == 50
    first = (
        await rows(store, messages_table),
        await rows(store, authors),
        await store.guilds(),
        await store.channels(TOWERS.id),
    )

    assert await seed(store, batch) == 50

    second = (
        await rows(store, messages_table),
        await rows(store, authors),
        await store.guilds(),
        await store.channels(TOWERS.id),
    )
    assert second == first
    assert len(second[0]) == 50
    assert [row[0] for row in second[1]] == [ALICE.id, BOB.id]
    assert await store.count_messages() == 50


async def test_an_edit_updates_the_stored_message(store: SqlStore) -> None:
    """A later copy of a message replaces the earlier one, and renamed authors are renamed."""
    await seed(store, [message(1, content="I love pineapple pizza")])
    edited = message(
        1,
        author=ALICE.model_copy(update={"nickname": "Pizza Traitor"}),
        content="I love pizza",
        edited_at=NOON + timedelta(minutes=5),
        reactions=(Reaction(emoji="🍍", count=7),),
    )

    await seed(store, [edited])

    assert await store.messages(TOWERS.id) == [edited]
    assert await store.count_messages() == 1


async def test_duplicates_within_one_batch_count_once_and_the_last_wins(store: SqlStore) -> None:
    """The same id twice in a batch is one message, holding the later copy."""
    early, late = message(1, content="first draft"), message(1, content="final")

    assert await seed(store, [early, message(2), late]) == 2

    assert [m.content for m in await store.messages(TOWERS.id)] == ["final", "message 2"]


async def test_an_empty_batch_writes_nothing(store: SqlStore) -> None:
    """Nothing to write is not an error."""
    assert await seed(store, []) == 0
    assert await store.count_messages() == 0


async def test_an_error_inside_the_unit_of_work_rolls_everything_back(store: SqlStore) -> None:
    """The caller's exception propagates unchanged and nothing of the block is kept."""
    boom = RuntimeError("the export is corrupt halfway through")
    written: list[int] = []

    async def import_then_fail() -> None:
        async with store.unit_of_work() as writer:
            await writer.upsert_guild(TOWERS)
            await writer.upsert_channels(CHANNELS[:3])
            written.append(await writer.upsert_messages([message(n) for n in range(10)]))
            raise boom

    with pytest.raises(RuntimeError) as raised:
        await import_then_fail()

    assert raised.value is boom
    assert written == [10]
    assert await store.count_messages() == 0
    assert await store.guilds() == []
    assert await store.channels(TOWERS.id) == []
    assert await rows(store, authors) == []


async def test_an_os_error_from_the_caller_is_not_blamed_on_the_store(store: SqlStore) -> None:
    """A file that vanishes mid-import is the importer's problem, reported as itself."""
    gone = FileNotFoundError("export.json")

    async def import_vanishing_file() -> None:
        async with store.unit_of_work() as writer:
            await writer.upsert_guild(TOWERS)
            raise gone

    with pytest.raises(FileNotFoundError) as raised:
        await import_vanishing_file()

    assert raised.value is gone
    assert await store.guilds() == []


async def test_writes_are_invisible_until_commit(store: SqlStore) -> None:
    """Readers see the unit of work all at once, when it commits."""
    async with store.unit_of_work() as writer:
        await writer.upsert_guild(TOWERS)
        await writer.upsert_channels([GENERAL])
        await writer.upsert_messages([message(1), message(2)])
        assert await store.count_messages() == 0
    assert await store.count_messages() == 2


async def test_a_message_in_an_unknown_channel_is_refused_whole(store: SqlStore) -> None:
    """Foreign keys are checked at commit: the store error says what to do, nothing lands."""
    orphan = message(1, Channel(id="999", guild_id=TOWERS.id, name="never stored"))

    async def import_orphan() -> None:
        async with store.unit_of_work() as writer:
            await writer.upsert_guild(TOWERS)
            await writer.upsert_channels([GENERAL])
            await writer.upsert_messages([message(2), orphan])

    with pytest.raises(StoreError, match="guild and channel"):
        await import_orphan()

    assert await store.count_messages() == 0
    assert await store.guilds() == []


async def test_order_within_a_unit_of_work_does_not_matter(store: SqlStore) -> None:
    """Messages may be written before their guild and channel, as long as both follow."""
    async with store.unit_of_work() as writer:
        await writer.upsert_messages([message(1, RANDOM)])
        await writer.upsert_channels([RANDOM])
        await writer.upsert_guild(TOWERS)

    assert [m.id for m in await store.messages(TOWERS.id)] == [message(1, RANDOM).id]


async def test_concurrent_units_of_work_both_land(store: SqlStore) -> None:
    """Two writers at once queue on the database instead of failing."""
    await seed(store, [])

    async def write(channel: Channel) -> None:
        async with store.unit_of_work() as writer:
            await writer.upsert_messages([message(n, channel) for n in range(100)])
            await asyncio.sleep(0.05)

    await asyncio.gather(write(GENERAL), write(RANDOM))

    assert await store.count_messages(TOWERS.id) == 200


async def test_messages_filter_by_guild_window_and_channel(store: SqlStore) -> None:
    """``[since, until)`` in any timezone, some channels or all, oldest first."""
    towers = [message(n, (GENERAL, RANDOM, THREAD)[n % 3]) for n in range(12)]
    alley = [message(n, ALLEY_GENERAL) for n in range(5)]
    # Written newest first, so the order coming back is the store's doing.
    await seed(store, list(reversed(towers + alley)))

    assert await store.messages(TOWERS.id) == towers
    assert await store.messages(ALLEY.id) == alley
    assert await store.messages("404") == []

    since, until = NOON + timedelta(minutes=3), NOON + timedelta(minutes=9)
    assert await store.messages(TOWERS.id, since=since, until=until) == towers[3:9]
    assert await store.messages(TOWERS.id, since=since) == towers[3:]
    assert await store.messages(TOWERS.id, until=until) == towers[:9]
    in_paris = await store.messages(
        TOWERS.id, since=since.astimezone(PARIS_SUMMER), until=until.astimezone(PARIS_SUMMER)
    )
    assert in_paris == towers[3:9]
    naive_utc = await store.messages(
        TOWERS.id, since=since.replace(tzinfo=None), until=until.replace(tzinfo=None)
    )
    assert naive_utc == towers[3:9]

    threads = await store.messages(TOWERS.id, channel_ids=[THREAD.id])
    assert threads == [m for m in towers if m.channel_id == THREAD.id]
    both = await store.messages(TOWERS.id, since=since, channel_ids=[GENERAL.id, RANDOM.id])
    assert both == [m for m in towers[3:] if m.channel_id != THREAD.id]
    assert await store.messages(TOWERS.id, channel_ids=[]) == []
    assert await store.messages(TOWERS.id, channel_ids=[ALLEY_GENERAL.id]) == []


async def test_same_timestamp_orders_by_id(store: SqlStore) -> None:
    """Ties on time still come back in one stable order."""
    batch = [message(n, timestamp=NOON) for n in (3, 1, 2)]
    await seed(store, batch)

    assert [m.id for m in await store.messages(TOWERS.id)] == sorted(m.id for m in batch)


async def test_count_messages_in_all_or_one_guild(store: SqlStore) -> None:
    """Counts follow the guild filter."""
    await seed(
        store, [message(n) for n in range(7)] + [message(n, ALLEY_GENERAL) for n in range(4)]
    )

    assert await store.count_messages() == 11
    assert await store.count_messages(TOWERS.id) == 7
    assert await store.count_messages(ALLEY.id) == 4
    assert await store.count_messages("404") == 0


async def test_a_large_batch_goes_through_in_one_call(store: SqlStore) -> None:
    """20,000 messages (13 columns each: far past SQLite's 999 variables) in one upsert."""
    batch = [
        message(n, (GENERAL, RANDOM, THREAD)[n % 3], author=(ALICE, BOB, BOT)[n % 3])
        for n in range(20_000)
    ]

    assert await seed(store, batch) == 20_000

    assert await store.count_messages(TOWERS.id) == 20_000
    stored = await store.messages(TOWERS.id)
    assert len(stored) == 20_000
    assert stored[0] == batch[0]
    assert stored[-1] == batch[-1]
    assert await rows(store, authors) == [
        (ALICE.id, ALICE.name, ALICE.nickname, False),
        (BOB.id, BOB.name, None, False),
        (BOT.id, BOT.name, None, True),
    ]


async def test_migrations_build_exactly_the_schema(store: SqlStore) -> None:
    """Autogenerate would find nothing to do: migrations and schema.py agree."""
    async with store.engine.connect() as connection:
        assert await connection.run_sync(_schema_diff) == []
        assert await connection.run_sync(_current_revision) == (
            ScriptDirectory(str(MIGRATIONS_DIR)).get_current_head()
        )


async def test_migrations_downgrade_to_nothing_and_back(store: SqlStore) -> None:
    """The downgrade really drops everything, and upgrading again restores the schema."""
    async with store.engine.begin() as connection:
        await connection.run_sync(_downgrade_to_base)
    async with store.engine.connect() as connection:
        assert await connection.run_sync(_table_names) <= {"alembic_version"}

    await migrate(store.engine)

    async with store.engine.connect() as connection:
        assert await connection.run_sync(_schema_diff) == []
    await seed(store, [message(1)])
    assert await store.count_messages() == 1


def _downgrade_to(revision: str) -> Callable[[Connection], None]:
    def downgrade(connection: Connection) -> None:
        config = Config()
        config.set_main_option("script_location", str(MIGRATIONS_DIR))
        config.attributes["connection"] = connection
        command.downgrade(config, revision)

    return downgrade


async def test_migrations_upgrade_from_0006_keep_the_data(store: SqlStore) -> None:
    """A database written before tombstones: its messages survive the upgrade, and from
    then on a delete keeps a late upsert out."""
    await seed(store, [message(1), message(2)])
    async with store.engine.begin() as connection:
        await connection.run_sync(_downgrade_to("0006"))
    async with store.engine.connect() as connection:
        assert "message_tombstones" not in await connection.run_sync(_table_names)
        assert await connection.run_sync(_current_revision) == "0006"

    await migrate(store.engine)

    async with store.engine.connect() as connection:
        assert await connection.run_sync(_schema_diff) == []
    assert await store.messages(TOWERS.id) == [message(1), message(2)]
    async with store.unit_of_work() as writer:
        assert await writer.delete_messages([message(1).id], guild_id=TOWERS.id) == 1
    assert await seed(store, [message(1), message(3)]) == 1
    assert await store.messages(TOWERS.id) == [message(2), message(3)]


async def test_reopening_keeps_the_data(store: SqlStore, settings: Settings) -> None:
    """Opening an up-to-date database migrates nothing and loses nothing."""
    await seed(store, [message(1), message(2)])

    async with await open_store(settings) as again:
        assert await again.count_messages() == 2
        assert await again.messages(TOWERS.id) == [message(1), message(2)]


def test_developer_alembic_ini_points_at_the_packaged_migrations() -> None:
    """``alembic revision --autogenerate`` from the repo root uses the same scripts."""
    config = Config(str(REPO_ROOT / "alembic.ini"))
    scripts = ScriptDirectory.from_config(config)

    assert Path(scripts.dir).resolve() == MIGRATIONS_DIR.resolve()
    assert scripts.get_current_head() == ScriptDirectory(str(MIGRATIONS_DIR)).get_current_head()
    assert (MIGRATIONS_DIR / "script.py.mako").is_file()


@pytest.fixture
def sqlite_settings(tmp_path: Path) -> Settings:
    """SQLite under a data directory that does not exist yet."""
    return Settings(_env_file=None, data_dir=tmp_path / "nested" / "data")


async def test_sqlite_creates_its_directory_and_uses_wal_and_foreign_keys(
    sqlite_settings: Settings,
) -> None:
    """The embedded default needs no setup, and is tuned on every connection."""
    async with await open_store(sqlite_settings) as store:
        assert (sqlite_settings.data_dir / "snitch.db").is_file()
        async with store.engine.connect() as connection:
            journal = await connection.execute(text("PRAGMA journal_mode"))
            assert journal.scalar_one() == "wal"
            foreign_keys = await connection.execute(text("PRAGMA foreign_keys"))
            assert foreign_keys.scalar_one() == 1


async def test_an_unreachable_server_is_a_store_error_without_the_password() -> None:
    """Connection failures become StoreError, and the URL's password is not repeated."""
    url = f"postgresql+asyncpg://snitch:hunter2@127.0.0.1:{free_port()}/snitch"

    with pytest.raises(StoreError, match="migrating the database schema") as raised:
        await open_store(Settings(_env_file=None, database=DatabaseSettings(url=url)))

    assert "hunter2" not in str(raised.value)


@pytest.mark.parametrize(
    ("url", "complaint"),
    [
        ("not a url at all", "invalid database URL"),
        ("nosuchdb+nodriver://localhost/x", "cannot use database"),
    ],
)
async def test_an_unusable_url_is_a_store_error(url: str, complaint: str) -> None:
    """A typo in SNITCH_DATABASE__URL is reported as such."""
    with pytest.raises(StoreError, match=complaint):
        await open_store(Settings(_env_file=None, database=DatabaseSettings(url=url)))


def test_without_postgres_binaries_the_postgres_leg_skips_locally(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """A laptop without PostgreSQL still runs the SQLite leg."""
    monkeypatch.setattr(pg_cluster, "find_bin_dir", lambda: None)
    monkeypatch.delenv("CI", raising=False)

    with ExitStack() as stack, pytest.raises(pytest.skip.Exception, match="no PostgreSQL server"):
        stack.enter_context(pg_cluster.pg_cluster())


def test_without_postgres_binaries_ci_fails_instead_of_skipping(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """CI must never pass with the PostgreSQL leg silently skipped."""
    monkeypatch.setattr(pg_cluster, "find_bin_dir", lambda: None)
    monkeypatch.setenv("CI", "true")

    with ExitStack() as stack, pytest.raises(pytest.fail.Exception, match="CI must run"):
        stack.enter_context(pg_cluster.pg_cluster())
