"""The edition archive: one protocol suite run against every backend (files, SQLite,
PostgreSQL, Azure Blob on a real Azurite), the file archive's crash safety, and
``open_archive`` choosing a backend from settings."""

from __future__ import annotations

import asyncio
import json
import re
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta, timezone
from pathlib import Path
from typing import Any

import pytest
from azure.storage.blob.aio import BlobServiceClient, ContainerClient
from pydantic import SecretStr

import tests.azurite
from snitch.archive import FileEditionArchive, open_archive
from snitch.archive._format import CheckedArchive, html_name, json_name
from snitch.archive.blob import BlobEditionArchive
from snitch.config import ArchiveSettings, DatabaseSettings, Settings, load_settings
from snitch.errors import ConfigError, StoreError
from snitch.models import Newsletter
from snitch.render import render_html
from snitch.store import open_store
from snitch.store.archive import ArchivedEdition, EditionArchive
from tests.archive.test_redact import MARLOWE, QUINN, feud
from tests.azurite import Azurite, azurite
from tests.pg_cluster import PgCluster, pg_cluster
from tests.render.test_html import full_edition, make_article, make_newsletter, parse

GUILD = "123456789012345678"
# Starts with GUILD's digits: a prefix listing must not mix the two guilds up.
LONGER_GUILD = "1234567890123456789"
OTHER_GUILD = "999"
NOON = datetime(2026, 11, 26, 12, 0, tzinfo=UTC)
QUINN_AS_A_WORD = re.compile(r"(?<!\w)quinn(?!\w)", re.IGNORECASE)
BAD_GUILD_IDS = (
    "",
    "general",
    "..",
    "../../etc",
    "123/456",
    "123\\456",
    " 123",
    "0123",
    "+123",
    "\u0661\u0662\u0663",  # Arabic-Indic digits: str.isdigit() says yes, Discord says no
    "99999999999999999999",  # beyond 63 bits
)

# --- backends -------------------------------------------------------------------------------


@dataclass(frozen=True)
class Stored:
    """What a backend holds, object by object, for backends that keep objects (not rows)."""

    names: Callable[[], Awaitable[list[str]]]
    # (bytes, content type or None where the backend has no such thing)
    read: Callable[[str], Awaitable[tuple[bytes, str | None]]]
    # What changes whenever the object is written again (inode and mtime, or the ETag).
    version: Callable[[str], Awaitable[str]]


@dataclass(frozen=True)
class Backend:
    name: str
    archive: EditionArchive
    stored: Stored | None


class NoStore:
    """Stands in for the store where the archive must not use it."""

    @property
    def archive(self) -> EditionArchive:
        raise AssertionError("this archive must not use the database")


def _files_under(root: Path) -> list[str]:
    if not root.exists():
        return []
    return sorted(path.relative_to(root).as_posix() for path in root.rglob("*") if path.is_file())


def _file_objects(root: Path) -> Stored:
    async def names() -> list[str]:
        return await asyncio.to_thread(_files_under, root)

    async def read(name: str) -> tuple[bytes, str | None]:
        return await asyncio.to_thread((root / name).read_bytes), None

    async def version(name: str) -> str:
        # A rewrite renames a new file into place: a new inode, whatever the clock says.
        status = await asyncio.to_thread((root / name).stat)
        return f"{status.st_ino}:{status.st_mtime_ns}"

    return Stored(names, read, version)


def _blob_objects(container: ContainerClient) -> Stored:
    async def names() -> list[str]:
        if not await container.exists():
            return []
        return sorted([name async for name in container.list_blob_names()])

    async def read(name: str) -> tuple[bytes, str | None]:
        downloader = await container.download_blob(name)
        content_type = downloader.properties.content_settings.content_type
        return await downloader.readall(), content_type

    async def version(name: str) -> str:
        return str((await container.get_blob_client(name).get_blob_properties()).etag)

    return Stored(names, read, version)


@pytest.fixture(scope="session")
def azurite_server() -> Iterator[Azurite]:
    """One Azurite for the session; each test gets its own container on it."""
    with azurite() as server:
        yield server


@pytest.fixture(scope="session")
def archive_postgres() -> Iterator[PgCluster]:
    """One throwaway PostgreSQL server for the archive tests."""
    with pg_cluster() as cluster:
        yield cluster


def _settings(tmp_path: Path, **overrides: Any) -> Settings:
    return Settings(_env_file=None, data_dir=tmp_path / "data", **overrides)


async def _sql_backend(name: str, url: str | None, tmp_path: Path) -> AsyncIterator[Backend]:
    settings = _settings(
        tmp_path, database=DatabaseSettings(url=url), archive=ArchiveSettings(kind="database")
    )
    async with await open_store(settings) as store, open_archive(settings, store) as archive:
        yield Backend(name, archive, None)


async def _open_backend(
    name: str, request: pytest.FixtureRequest, tmp_path: Path
) -> AsyncIterator[Backend]:
    """Open ``name`` through ``open_archive``, exactly as the application would."""
    if name == "files":
        settings = _settings(tmp_path)
        async with open_archive(settings, NoStore()) as archive:
            yield Backend(name, archive, _file_objects(settings.data_dir / "editions"))
    elif name == "sqlite":
        async for opened in _sql_backend(name, None, tmp_path):
            yield opened
    elif name == "postgres":
        cluster: PgCluster = request.getfixturevalue("archive_postgres")
        database = f"test_{uuid.uuid4().hex[:12]}"
        url = cluster.create_database(database)
        try:
            async for opened in _sql_backend(name, url, tmp_path):
                yield opened
        finally:
            cluster.drop_database(database)
    elif name == "blob":
        server: Azurite = request.getfixturevalue("azurite_server")
        container = f"test-{uuid.uuid4().hex[:12]}"
        settings = _settings(
            tmp_path,
            archive=ArchiveSettings(
                kind="blob",
                blob_connection_string=SecretStr(server.connection_string),
                container=container,
            ),
        )
        service = BlobServiceClient.from_connection_string(server.connection_string)
        async with service, open_archive(settings, NoStore()) as archive:
            yield Backend(name, archive, _blob_objects(service.get_container_client(container)))
    else:
        raise AssertionError(name)


@pytest.fixture(
    params=["files", "sqlite", pytest.param("postgres", marks=pytest.mark.postgres), "blob"]
)
async def backend(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[Backend]:
    """Every backend of the archive protocol."""
    async for opened in _open_backend(request.param, request, tmp_path):
        yield opened


@pytest.fixture(params=["files", "blob"])
async def object_backend(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[Backend]:
    """The backends that keep each edition as a JSON object and an HTML page."""
    async for opened in _open_backend(request.param, request, tmp_path):
        yield opened


@pytest.fixture
def archive(backend: Backend) -> EditionArchive:
    return backend.archive


# --- the protocol, on every backend -----------------------------------------------------


async def test_an_empty_archive_has_nothing(archive: EditionArchive) -> None:
    assert await archive.latest(GUILD) == []
    assert await archive.latest(GUILD, limit=10) == []


async def test_editions_are_kept_whole_and_read_newest_first(archive: EditionArchive) -> None:
    edition = full_edition()
    first = await archive.keep(
        edition, guild_id=GUILD, published_at=NOON, slot=NOON, channel_id="42"
    )
    second = await archive.keep(
        edition,
        guild_id=GUILD,
        published_at=NOON + timedelta(days=1),
        discord_message_ids=["7", "8"],
    )
    elsewhere = await archive.keep(
        edition, guild_id=OTHER_GUILD, published_at=NOON + timedelta(days=2)
    )
    longer = await archive.keep(
        edition, guild_id=LONGER_GUILD, published_at=NOON + timedelta(days=3)
    )

    latest = await archive.latest(GUILD, limit=5)

    assert latest == [second, first]
    assert latest[0].newsletter == edition
    assert latest[0].discord_message_ids == ("7", "8")
    assert latest[1].slot == NOON
    assert latest[1].channel_id == "42"
    assert all(item.published_at.utcoffset() == timedelta(0) for item in latest)
    assert await archive.latest(GUILD) == [second]
    assert await archive.latest(GUILD, limit=0) == []
    assert await archive.latest(OTHER_GUILD, limit=5) == [elsewhere]
    assert await archive.latest(LONGER_GUILD, limit=5) == [longer]
    assert await archive.latest("1") == []


async def test_order_is_by_instant_whatever_the_time_zone(archive: EditionArchive) -> None:
    edition = full_edition()
    plus_two = timezone(timedelta(hours=2))
    # 13:00 at UTC+2 is 11:00 UTC: earlier than noon UTC, although its wall clock is later.
    early = await archive.keep(
        edition, guild_id=GUILD, published_at=datetime(2026, 11, 26, 13, 0, tzinfo=plus_two)
    )
    late = await archive.keep(edition, guild_id=GUILD, published_at=NOON)

    assert [item.id for item in await archive.latest(GUILD, limit=2)] == [late.id, early.id]
    assert (await archive.latest(GUILD, limit=2))[1].published_at == early.published_at


async def test_editions_published_at_the_same_instant_come_back_by_id(
    archive: EditionArchive,
) -> None:
    kept = [await archive.keep(full_edition(), guild_id=GUILD, published_at=NOON) for _ in range(3)]

    latest = await archive.latest(GUILD, limit=3)

    assert [item.id for item in latest] == sorted(item.id for item in kept)


async def test_chat_text_survives_the_round_trip(backend: Backend) -> None:
    strange = 'caf\u00e9 \U0001f34d \u05e9\u05dc\u05d5\u05dd @everyone "quoted" \\ </script>\n'
    if backend.stored is not None:
        # Exports can carry unpaired surrogates ("\ud83d" escapes). The JSON records keep
        # them; the SQL archive cannot (its text columns must encode as UTF-8).
        strange += " lone \ud83d surrogate"
    edition = make_newsletter(
        make_article(strange, role="headline", summary=strange), headline=strange
    )

    await backend.archive.keep(edition, guild_id=GUILD, published_at=NOON)

    assert (await backend.archive.latest(GUILD))[0].newsletter == edition


async def test_guild_ids_that_are_not_snowflakes_are_refused(backend: Backend) -> None:
    for bad in BAD_GUILD_IDS:
        with pytest.raises(StoreError, match="not a Discord snowflake") as kept:
            await backend.archive.keep(full_edition(), guild_id=bad, published_at=NOON)
        assert repr(bad) in str(kept.value)
        with pytest.raises(StoreError, match="not a Discord snowflake") as read:
            await backend.archive.latest(bad)
        assert repr(bad) in str(read.value)

    assert await backend.archive.latest(GUILD) == []
    if backend.stored is not None:
        assert await backend.stored.names() == []


@pytest.mark.parametrize(
    ("fields", "named"),
    [
        ({"published_at": datetime(2026, 11, 26, 12, 0)}, "published_at"),
        ({"slot": datetime(2026, 11, 26, 12, 0)}, "slot"),
        ({"channel_id": "general"}, "'general'"),
        ({"discord_message_ids": ["7", "seven"]}, "'seven'"),
        ({"discord_message_ids": "78"}, "not a str"),
    ],
)
async def test_other_bad_input_is_refused_before_anything_is_written(
    backend: Backend, fields: dict[str, Any], named: str
) -> None:
    arguments: dict[str, Any] = {"guild_id": GUILD, "published_at": NOON, **fields}

    with pytest.raises(StoreError, match=named):
        await backend.archive.keep(full_edition(), **arguments)

    assert await backend.archive.latest(GUILD) == []
    if backend.stored is not None:
        assert await backend.stored.names() == []


async def test_a_negative_limit_is_refused(archive: EditionArchive) -> None:
    with pytest.raises(StoreError, match="limit"):
        await archive.latest(GUILD, limit=-1)


# --- forgetting a member ------------------------------------------------------------------


async def _versions(backend: Backend) -> dict[str, str]:
    """Each stored object's version, for backends that keep objects."""
    if backend.stored is None:
        return {}
    return {name: await backend.stored.version(name) for name in await backend.stored.names()}


async def test_forget_author_takes_them_out_of_the_guilds_editions(backend: Backend) -> None:
    archive = backend.archive
    edition = feud()
    quiet = await archive.keep(full_edition(), guild_id=GUILD, published_at=NOON)
    loud = await archive.keep(
        edition, guild_id=GUILD, published_at=NOON + timedelta(days=1), channel_id="42"
    )
    elsewhere = await archive.keep(edition, guild_id=OTHER_GUILD, published_at=NOON)
    longer = await archive.keep(edition, guild_id=LONGER_GUILD, published_at=NOON)
    before = await _versions(backend)

    assert await archive.forget_author(GUILD, QUINN, names=["Quinn", "quinn.q"]) == 1

    newest, oldest = await archive.latest(GUILD, limit=5)
    assert oldest == quiet
    assert (newest.id, newest.published_at, newest.channel_id) == (
        loud.id,
        NOON + timedelta(days=1),
        "42",
    )
    redacted = newest.newsletter
    assert [q.author_id for a in redacted.stories for q in a.quotes] == [MARLOWE, MARLOWE]
    assert redacted.stories[0].quotes[0] == edition.stories[0].quotes[1]  # verbatim
    assert redacted.headline == "A former member and Marlowe feud over pineapple"
    assert redacted.stories[0].summary.startswith("A former member started it.")
    assert not QUINN_AS_A_WORD.search(redacted.model_dump_json())
    assert "war crime" not in redacted.model_dump_json()
    assert await archive.latest(OTHER_GUILD) == [elsewhere]
    assert await archive.latest(LONGER_GUILD) == [longer]
    after = await _versions(backend)
    if backend.stored is not None:
        page, _ = await backend.stored.read(f"{GUILD}/{html_name(newest)}")
        assert page == render_html(redacted).encode("utf-8")
        assert not QUINN_AS_A_WORD.search(page.decode("utf-8"))
        assert b"pineapple is a war crime" not in page
        assert b"regret nothing" not in page
        assert b"Quinnton" in page  # a whole-word match only
        record, _ = await backend.stored.read(f"{GUILD}/{json_name(newest)}")
        assert not QUINN_AS_A_WORD.search(record.decode("ascii"))
        assert b"war crime" not in record
        rewritten = {name for name in before if before[name] != after[name]}
        assert rewritten == {f"{GUILD}/{html_name(loud)}", f"{GUILD}/{json_name(loud)}"}
        assert set(after) == set(before)

    assert await archive.forget_author(GUILD, QUINN, names=["Quinn", "quinn.q"]) == 0
    assert await archive.latest(GUILD, limit=5) == [newest, oldest]
    assert await _versions(backend) == after


async def test_forget_author_by_the_names_of_their_quotes_in_other_editions(
    archive: EditionArchive,
) -> None:
    """An edition that only names them is redacted too, by the name on a quote elsewhere."""
    named = make_newsletter(
        make_article("Marlowe and Quinn, again", role="headline", summary="Quinn was quiet.")
    )
    await archive.keep(feud(), guild_id=GUILD, published_at=NOON)
    await archive.keep(named, guild_id=GUILD, published_at=NOON + timedelta(days=1))

    assert await archive.forget_author(GUILD, QUINN) == 2

    newest = (await archive.latest(GUILD))[0].newsletter
    assert newest.stories[0].title == "Marlowe and a former member, again"
    assert newest.stories[0].summary == "A former member was quiet."


async def test_forget_author_in_an_empty_archive_changes_nothing(backend: Backend) -> None:
    assert await backend.archive.forget_author(GUILD, QUINN, names=["Quinn"]) == 0
    await backend.archive.keep(full_edition(), guild_id=OTHER_GUILD, published_at=NOON)
    before = await _versions(backend)

    assert await backend.archive.forget_author(GUILD, QUINN, names=["Quinn"]) == 0
    assert await backend.archive.forget_author(OTHER_GUILD, QUINN, names=["Quinn"]) == 0

    assert await _versions(backend) == before


async def test_two_members_forgotten_at_once_both_stay_forgotten(archive: EditionArchive) -> None:
    await archive.keep(feud(), guild_id=GUILD, published_at=NOON)

    counts = await asyncio.gather(
        archive.forget_author(GUILD, QUINN, names=["Quinn"]),
        archive.forget_author(GUILD, MARLOWE, names=["Marlowe"]),
    )

    assert list(counts) == [1, 1]
    (edition,) = await archive.latest(GUILD)
    assert edition.newsletter.quote_count == 0
    assert edition.newsletter.headline == "A former member and a former member feud over pineapple"


@pytest.mark.parametrize(
    ("arguments", "named"),
    [
        *(((bad, QUINN), "not a Discord snowflake") for bad in BAD_GUILD_IDS),
        *(
            ((GUILD, bad), "author id")
            for bad in ("", "quinn", "../x", "0123", "99999999999999999999")
        ),
    ],
)
async def test_forget_author_refuses_ids_that_are_not_snowflakes(
    backend: Backend, arguments: tuple[str, str], named: str
) -> None:
    await backend.archive.keep(feud(), guild_id=GUILD, published_at=NOON)
    before = await backend.archive.latest(GUILD)

    with pytest.raises(StoreError, match=named):
        await backend.archive.forget_author(*arguments, names=["Quinn"])

    assert await backend.archive.latest(GUILD) == before


async def test_forget_author_refuses_names_that_are_not_a_list_of_names(
    backend: Backend,
) -> None:
    await backend.archive.keep(feud(), guild_id=GUILD, published_at=NOON)
    before = await backend.archive.latest(GUILD)
    bad: list[Any] = ["Quinn", 7]

    with pytest.raises(StoreError, match="not a str"):
        await backend.archive.forget_author(GUILD, QUINN, names="Quinn")
    with pytest.raises(StoreError, match="7"):
        await backend.archive.forget_author(GUILD, QUINN, names=bad)

    assert await backend.archive.latest(GUILD) == before


# --- JSON and HTML, on the object backends ------------------------------------------------


async def test_each_edition_is_a_json_record_and_an_html_page_beside_it(
    object_backend: Backend,
) -> None:
    assert object_backend.stored is not None
    edition = full_edition()
    plus_two = timezone(timedelta(hours=2))
    kept = await object_backend.archive.keep(
        edition,
        guild_id=GUILD,
        published_at=datetime(2026, 11, 26, 14, 30, 5, 123456, tzinfo=plus_two),
        channel_id="42",
        discord_message_ids=["7"],
    )

    names = await object_backend.stored.names()

    stem = f"{GUILD}/2026-11-26T12-30-05.123456Z_{kept.id}"
    assert names == [f"{stem}.html", f"{stem}.json"]
    record, record_type = await object_backend.stored.read(f"{stem}.json")
    page, page_type = await object_backend.stored.read(f"{stem}.html")
    assert json.loads(record) == {
        "version": 1,
        "id": kept.id,
        "guild_id": GUILD,
        "published_at": "2026-11-26T12:30:05.123456+00:00",
        "slot": None,
        "channel_id": "42",
        "discord_message_ids": ["7"],
        "newsletter": json.loads(
            edition.model_dump_json(exclude=set(Newsletter.model_computed_fields))
        ),
    }
    assert page == render_html(edition).encode("utf-8")
    document = parse(page.decode("utf-8"))
    assert document.declarations == ["doctype html"]
    assert document.root.one("h1").text() == "Mod caught deleting own messages"
    assert edition.headline in document.body.text()
    assert "Mod caught deleting own messages" in document.root.one("title").text()
    if object_backend.name == "blob":
        assert record_type == "application/json"
        assert page_type == "text/html; charset=utf-8"


# --- the file archive's crash safety ------------------------------------------------------


async def test_files_leftovers_of_a_crashed_write_are_ignored(tmp_path: Path) -> None:
    archive = FileEditionArchive(tmp_path / "editions")
    kept = await archive.keep(full_edition(), guild_id=GUILD, published_at=NOON)
    folder = tmp_path / "editions" / GUILD
    later = "2030-01-01T00-00-00.000000Z_" + "f" * 32
    # What a process killed mid-write leaves: a half temporary record, a page without record.
    (folder / f".{later}.json.k3j2h1.tmp").write_text('{"version": 1, "id": "ff', "utf-8")
    (folder / f"{later}.html").write_text("<!doctype html>", "utf-8")
    # And things that are not editions at all.
    (folder / "notes.txt").write_text("hello", "utf-8")
    (folder / f"{later}.json.bak").write_text("{}", "utf-8")
    (folder / "2030-01-01T00-00-00.000000Z_nothex.json").write_text("{}", "utf-8")
    (folder / f"{later}.json").mkdir()

    assert await archive.latest(GUILD, limit=10) == [kept]


def fail_record_writes(monkeypatch: pytest.MonkeyPatch) -> None:
    """Every atomic replace onto a ``.json`` record fails, as on a full disk."""
    real_replace = Path.replace

    def failing_replace(self: Path, target: str | Path) -> Path:
        if str(target).endswith(".json"):
            raise OSError(28, "No space left on device")
        return real_replace(self, target)

    monkeypatch.setattr(Path, "replace", failing_replace)


async def test_files_a_write_that_fails_leaves_no_edition_and_no_temporary_file(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    archive = FileEditionArchive(tmp_path / "editions")
    kept = await archive.keep(full_edition(), guild_id=GUILD, published_at=NOON)
    fail_record_writes(monkeypatch)

    with pytest.raises(StoreError, match=f"guild {GUILD}.*No space left on device"):
        await archive.keep(full_edition(), guild_id=GUILD, published_at=NOON + timedelta(days=1))

    monkeypatch.undo()
    assert await archive.latest(GUILD, limit=10) == [kept]
    assert not list((tmp_path / "editions").rglob("*.tmp"))


async def test_files_a_forget_that_fails_midway_is_finished_by_running_it_again(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    archive = FileEditionArchive(tmp_path / "editions")
    kept = await archive.keep(feud(), guild_id=GUILD, published_at=NOON)
    fail_record_writes(monkeypatch)
    with pytest.raises(StoreError, match="No space left on device"):
        await archive.forget_author(GUILD, QUINN)
    monkeypatch.undo()

    # The page went first; the record still quotes them, so the job is not done yet.
    assert await archive.latest(GUILD) == [kept]
    assert not list((tmp_path / "editions").rglob("*.tmp"))
    assert await archive.forget_author(GUILD, QUINN) == 1
    (redacted,) = await archive.latest(GUILD)
    assert not QUINN_AS_A_WORD.search(redacted.newsletter.model_dump_json())
    page = (tmp_path / "editions" / GUILD / html_name(kept)).read_text("utf-8")
    assert page == render_html(redacted.newsletter)


async def test_blob_a_record_changed_under_forget_is_read_and_redacted_again(
    azurite_server: Azurite, monkeypatch: pytest.MonkeyPatch
) -> None:
    container = f"test-{uuid.uuid4().hex[:12]}"
    connection = azurite_server.connection_string
    async with (
        BlobEditionArchive.from_connection_string(connection, container) as archive,
        BlobEditionArchive.from_connection_string(connection, container) as elsewhere,
    ):
        kept = await archive.keep(feud(), guild_id=GUILD, published_at=NOON)
        real_upload = archive._container.upload_blob
        interrupted: list[str] = []

        async def upload(name: str, data: bytes, **options: Any) -> Any:
            if name.endswith(".json") and "etag" in options and not interrupted:
                # Another process forgets Marlowe between this one's read and its write.
                interrupted.append(name)
                assert await elsewhere.forget_author(GUILD, MARLOWE) == 1
            return await real_upload(name, data, **options)

        monkeypatch.setattr(archive._container, "upload_blob", upload)

        assert await archive.forget_author(GUILD, QUINN) == 1

        assert interrupted == [f"{GUILD}/{json_name(kept)}"]
        (redacted,) = await archive.latest(GUILD)
        assert redacted.newsletter.quote_count == 0
        assert "Marlowe" not in redacted.newsletter.headline
        assert not QUINN_AS_A_WORD.search(redacted.newsletter.model_dump_json())
        downloader = await archive._container.download_blob(f"{GUILD}/{html_name(kept)}")
        assert await downloader.readall() == render_html(redacted.newsletter).encode("utf-8")


async def test_files_a_damaged_record_is_reported_by_name(tmp_path: Path) -> None:
    archive = FileEditionArchive(tmp_path / "editions")
    await archive.keep(full_edition(), guild_id=GUILD, published_at=NOON)
    (record,) = (tmp_path / "editions" / GUILD).glob("*.json")
    record.write_text('{"version": 1, "id": "x"}', "utf-8")

    with pytest.raises(StoreError, match="is not an archived edition") as caught:
        await archive.latest(GUILD)

    assert str(record) in str(caught.value)


async def test_files_are_private_to_their_owner(tmp_path: Path) -> None:
    archive = FileEditionArchive(tmp_path / "editions")
    await archive.keep(full_edition(), guild_id=GUILD, published_at=NOON)

    folder = tmp_path / "editions" / GUILD
    assert folder.stat().st_mode & 0o077 == 0
    assert {path.stat().st_mode & 0o077 for path in folder.iterdir()} == {0}


# --- choosing the archive -----------------------------------------------------------------


class RecordingArchive:
    """A database archive that only remembers what reached it."""

    def __init__(self) -> None:
        self.kept: list[str] = []
        self.forgotten: list[tuple[str, str, tuple[str, ...]]] = []

    async def keep(
        self,
        newsletter: Newsletter,
        *,
        guild_id: str,
        published_at: datetime,
        slot: datetime | None = None,
        channel_id: str | None = None,
        discord_message_ids: Sequence[str] = (),
    ) -> ArchivedEdition:
        self.kept.append(guild_id)
        return ArchivedEdition("1", guild_id, published_at, slot, channel_id, newsletter, ())

    async def latest(self, guild_id: str, limit: int = 1) -> list[ArchivedEdition]:
        return []

    async def forget_author(
        self, guild_id: str, author_id: str, *, names: Sequence[str] = ()
    ) -> int:
        self.forgotten.append((guild_id, author_id, tuple(names)))
        return 0


class RecordingStore:
    def __init__(self) -> None:
        self.recording = RecordingArchive()

    @property
    def archive(self) -> EditionArchive:
        return self.recording


DEV_CONNECTION = (
    "DefaultEndpointsProtocol=http;AccountName=devstoreaccount1;AccountKey=a2V5;"
    "BlobEndpoint=http://127.0.0.1:10000/devstoreaccount1;"
)


async def test_open_archive_defaults_to_files_under_the_data_directory(tmp_path: Path) -> None:
    settings = _settings(tmp_path)

    async with open_archive(settings, NoStore()) as archive:
        assert isinstance(archive, FileEditionArchive)
        assert archive.directory == tmp_path / "data" / "editions"


async def test_open_archive_database_uses_the_stores_archive_behind_the_checks(
    tmp_path: Path,
) -> None:
    settings = _settings(tmp_path, archive=ArchiveSettings(kind="database"))
    store = RecordingStore()

    async with open_archive(settings, store) as archive:
        assert isinstance(archive, CheckedArchive)
        await archive.keep(full_edition(), guild_id=GUILD, published_at=NOON)
        with pytest.raises(StoreError, match="snowflake"):
            await archive.keep(full_edition(), guild_id="../x", published_at=NOON)

        assert await archive.forget_author(GUILD, QUINN, names=["Quinn"]) == 0
        with pytest.raises(StoreError, match="snowflake"):
            await archive.forget_author(GUILD, "quinn")

    assert store.recording.kept == [GUILD]
    assert store.recording.forgotten == [(GUILD, QUINN, ("Quinn",))]


async def test_open_archive_blob_by_connection_string_which_wins_over_the_url(
    tmp_path: Path,
) -> None:
    settings = _settings(
        tmp_path,
        archive=ArchiveSettings(
            kind="blob",
            blob_connection_string=SecretStr(DEV_CONNECTION),
            blob_account_url="https://example.blob.core.windows.net",
            container="front-pages",
        ),
    )

    async with open_archive(settings, NoStore()) as archive:
        assert isinstance(archive, BlobEditionArchive)
        assert archive.account_url.startswith("http://127.0.0.1:10000/devstoreaccount1")
        assert archive.container == "front-pages"


async def test_open_archive_blob_by_account_url(tmp_path: Path) -> None:
    settings = _settings(
        tmp_path,
        archive=ArchiveSettings(kind="blob", blob_account_url="https://acct.blob.core.windows.net"),
    )

    async with open_archive(settings, NoStore()) as archive:
        assert isinstance(archive, BlobEditionArchive)
        assert archive.account_url.startswith("https://acct.blob.core.windows.net")
        assert archive.container == "editions"


@pytest.fixture
def clean_env(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> pytest.MonkeyPatch:
    """No stray .env or SNITCH_* variable of the developer's."""
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("XDG_DATA_HOME", str(tmp_path / "xdg"))
    for name in ("KIND", "BLOB_CONNECTION_STRING", "BLOB_ACCOUNT_URL", "CONTAINER"):
        monkeypatch.delenv(f"SNITCH_ARCHIVE__{name}", raising=False)
    return monkeypatch


def test_archive_settings_come_from_the_environment(clean_env: pytest.MonkeyPatch) -> None:
    clean_env.setenv("SNITCH_ARCHIVE__KIND", "blob")
    clean_env.setenv("SNITCH_ARCHIVE__BLOB_CONNECTION_STRING", DEV_CONNECTION)
    clean_env.setenv("SNITCH_ARCHIVE__CONTAINER", "front-pages")

    settings = load_settings()

    assert settings.archive.kind == "blob"
    assert settings.archive.container == "front-pages"
    assert "a2V5" not in repr(settings)


@pytest.mark.parametrize(
    ("variables", "named"),
    [
        ({"SNITCH_ARCHIVE__KIND": "blob"}, "SNITCH_ARCHIVE__BLOB_CONNECTION_STRING"),
        (
            {"SNITCH_ARCHIVE__KIND": "blob", "SNITCH_ARCHIVE__BLOB_CONNECTION_STRING": "  "},
            "SNITCH_ARCHIVE__BLOB_CONNECTION_STRING",
        ),
        ({"SNITCH_ARCHIVE__KIND": "s3"}, "SNITCH_ARCHIVE__KIND"),
        ({"SNITCH_ARCHIVE__CONTAINER": "Front_Pages"}, "SNITCH_ARCHIVE__CONTAINER"),
        ({"SNITCH_ARCHIVE__CONTAINER": "ab"}, "SNITCH_ARCHIVE__CONTAINER"),
        ({"SNITCH_ARCHIVE__CONTAINER": "front--pages"}, "SNITCH_ARCHIVE__CONTAINER"),
        ({"SNITCH_ARCHIVE__CONTAINER": "-front"}, "SNITCH_ARCHIVE__CONTAINER"),
        ({"SNITCH_ARCHIVE__CONTAINER": "x" * 64}, "SNITCH_ARCHIVE__CONTAINER"),
        (
            {"SNITCH_ARCHIVE__BLOB_ACCOUNT_URL": "http://acct.blob.core.windows.net"},
            "SNITCH_ARCHIVE__BLOB_ACCOUNT_URL",
        ),
    ],
)
def test_bad_archive_settings_name_the_variable(
    clean_env: pytest.MonkeyPatch, variables: dict[str, str], named: str
) -> None:
    for name, value in variables.items():
        clean_env.setenv(name, value)

    with pytest.raises(ConfigError) as caught:
        load_settings()

    assert named in str(caught.value)
    assert "\n" not in str(caught.value)


@pytest.mark.parametrize("name", ["abc", "editions", "front-pages-2", "a" * 63, "3d-archive"])
def test_good_container_names(name: str) -> None:
    assert ArchiveSettings(container=name).container == name


# --- the Azurite harness ----------------------------------------------------------------


@pytest.mark.parametrize(("ci", "outcome"), [("", "skip"), ("true", "fail")])
def test_without_azurite_blob_tests_skip_locally_but_fail_under_ci(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, ci: str, outcome: str
) -> None:
    monkeypatch.setattr(tests.azurite, "LOCAL_BIN", tmp_path / "missing" / "azurite-blob")
    monkeypatch.setenv("PATH", str(tmp_path))
    monkeypatch.setenv("CI", ci)
    expected = pytest.skip.Exception if outcome == "skip" else pytest.fail.Exception

    with pytest.raises(expected, match=re.escape(tests.azurite.INSTALL_HINT)), azurite():
        pass
