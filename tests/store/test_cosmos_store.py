"""What only the Cosmos DB store has to show: ETag compare-and-sets under races, retried
units of work converging, the stemmer, and the local server's availability rules.

The shared store suites (test_sql_store, test_search_and_forget, test_guild_state,
test_tip_store) run on Cosmos DB too, through the ``cosmos`` backend in conftest.
"""

from __future__ import annotations

import asyncio
import uuid
from contextlib import ExitStack
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from azure.core.exceptions import ServiceResponseError
from azure.cosmos.exceptions import CosmosAccessConditionFailedError
from pydantic import SecretStr

from snitch.archive import HasArchive
from snitch.config import CosmosSettings, Settings
from snitch.errors import ConfigError, StoreError
from snitch.guilds import GuildSettings
from snitch.models import Channel, Message
from snitch.store import SqlStore, Store, open_backend
from snitch.store.cosmos import CosmosGuildState, CosmosStore, CosmosTipStore, open_cosmos_store
from snitch.store.cosmos._base import CONTAINER_SPECS, DIRECTORY, MESSAGES, provision, to_text
from snitch.store.cosmos._search import query_terms, stem, terms_of
from snitch.store.guild_state import GuildState
from snitch.store.sql import FORGOTTEN_NAME
from snitch.store.tip_store import TipRow, TipStore
from tests.store import cosmos_server
from tests.store.cosmos_server import CosmosServer
from tests.store.test_sql_store import (
    ALICE,
    ALLEY,
    ALLEY_GENERAL,
    BOB,
    CHANNELS,
    GENERAL,
    NOON,
    PARIS_SUMMER,
    TOWERS,
    message,
)

GUILD = "123456789012345678"
MORNING = datetime(2026, 11, 20, 9, 0, tzinfo=UTC)


# Type-checked (mypy strict on tests): each breaks the build if a Cosmos DB class stops
# implementing the protocol the rest of the code holds it by.
def _as_store(store: CosmosStore) -> Store:
    return store


def _as_archive_holder(store: CosmosStore) -> HasArchive:
    return store


def _as_guild_state(state: CosmosGuildState) -> GuildState:
    return state


def _as_tip_store(tips: CosmosTipStore) -> TipStore:
    return tips


async def seed(store: CosmosStore, batch: list[Message]) -> int:
    """``test_sql_store.seed`` for the Cosmos DB store: both guilds, every channel, ``batch``."""
    async with store.unit_of_work() as writer:
        await writer.upsert_guild(TOWERS)
        await writer.upsert_guild(ALLEY)
        await writer.upsert_channels(CHANNELS)
        return await writer.upsert_messages(batch)


@pytest.fixture
def backend() -> str:
    """Every store in this module is a Cosmos DB store (overrides the parametrised one)."""
    return "cosmos"


@pytest.mark.parametrize(
    ("words", "same"),
    [
        (["promise", "promised", "promises", "promising"], True),
        (["stop", "stopped", "stopping", "stops"], True),
        (["cake", "cakes"], True),
        (["party", "parties"], True),
        (["fall", "falling"], True),
        (["cake", "coke"], False),
        (["glass", "glasses"], True),
    ],
)
def test_the_stemmer_maps_inflections_together(words: list[str], same: bool) -> None:
    """Search is only as good as this: a word and its inflections share one key."""
    assert (len({stem(word) for word in words}) == 1) is same


def test_terms_are_sorted_distinct_stems_and_never_syntax() -> None:
    """Stored terms are deterministic (re-imports write equal documents); query terms
    take only the words of whatever they are given."""
    assert terms_of("Cake? CAKES! cake-lover's cake") == ["cak", "lover", "s"]
    assert query_terms(['"cake"', "NEAR(", "cake' --", "*", "a:b"]) == ["cak", "near", "a", "b"]
    assert query_terms(['"', "(", "--"]) == []


@pytest.mark.cosmos
async def test_search_follows_edits_and_deletes(store: CosmosStore) -> None:
    """The terms live in the message document, so they change with it."""
    await seed(store, [message(1, content="the cake is a lie"), message(2, content="pie time")])
    await seed(store, [message(1, content="the pie is real")])

    assert await store.search(TOWERS.id, ["cake"]) == []
    assert sorted(await store.search(TOWERS.id, ["pies"])) == [message(1).id, message(2).id]

    async with store.unit_of_work() as writer:
        assert await writer.delete_messages([message(2).id], guild_id=TOWERS.id) == 1
    assert await store.search(TOWERS.id, ["pie"]) == [message(1).id]


@pytest.mark.cosmos
async def test_guild_scoped_lookups_read_only_that_guild(store: CosmosStore) -> None:
    """With ``guild_id`` the id lookups read one partition and see nothing elsewhere."""
    towers, alley = message(1), message(1, ALLEY_GENERAL)
    await seed(store, [towers, alley])

    both = [towers.id, alley.id]
    assert await store.messages_by_id(both, guild_id=ALLEY.id) == [alley]
    assert await store.messages_by_id(both) == [towers, alley]
    async with store.unit_of_work() as writer:
        assert await writer.delete_messages(both, guild_id=TOWERS.id) == 1
    assert await store.messages_by_id(both) == [alley]


@pytest.mark.cosmos
async def test_two_stores_racing_claims_and_saves_move_a_slot_once(
    store: CosmosStore, settings: Settings, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Compare-and-set on the ETag: of many claims for one slot, from two clients, with
    settings saves landing in between, exactly one wins and the slot moves once."""
    chosen = GuildSettings.defaults(GUILD).updated(schedule="daily 18:00")
    slot = await store.guild_state.save_settings(chosen, MORNING)
    assert slot is not None
    next_slot = slot + timedelta(days=1)
    directory = store.account.container(DIRECTORY)
    real_replace = directory.replace_item
    conflicts: list[str] = []

    async def counting_replace(*args: Any, **kwargs: Any) -> Any:
        try:
            return await real_replace(*args, **kwargs)
        except CosmosAccessConditionFailedError:
            conflicts.append("412")
            raise

    monkeypatch.setattr(directory, "replace_item", counting_replace)

    async with await open_cosmos_store(settings) as second:
        states = [store.guild_state, second.guild_state]
        claims = [states[n % 2].claim(GUILD, slot, next_slot) for n in range(8)]
        saves = [
            states[n % 2].save_settings(chosen.updated(persona=persona), MORNING)
            for n, persona in enumerate(["noir", "herald", "gossip", "noir"])
        ]
        results = await asyncio.gather(*claims, *saves)

    assert results[:8].count(True) == 1
    assert conflicts, "the writers never collided: the race did not happen"
    assert all(kept in (slot, next_slot) for kept in results[8:])
    assert [(due.guild_id, due.slot) for due in await store.guild_state.due(next_slot)] == [
        (GUILD, next_slot)
    ]
    assert await store.guild_state.claim(GUILD, slot, next_slot) is False


@pytest.mark.cosmos
async def test_a_unit_of_work_that_failed_while_writing_converges_when_run_again(
    store: CosmosStore, monkeypatch: pytest.MonkeyPatch
) -> None:
    """No transaction across partitions: a write failing half-way is a StoreError and
    leaves part of the unit; running the same unit again lands all of it, once."""
    batch = [message(n, author=(ALICE, BOB)[n % 2]) for n in range(40)]
    container = store.account.container(MESSAGES)
    real_upsert = container.upsert_item
    failed: list[str] = []

    async def flaky_upsert(body: dict[str, Any], **kwargs: Any) -> Any:
        if body["id"] == batch[17].id and not failed:
            failed.append(body["id"])
            raise ServiceResponseError("connection reset by peer")
        return await real_upsert(body, **kwargs)

    monkeypatch.setattr(container, "upsert_item", flaky_upsert)

    with pytest.raises(StoreError, match="connection reset"):
        await seed(store, batch)
    assert await store.guilds() == [ALLEY, TOWERS]  # parents went first
    assert await store.count_messages(TOWERS.id) < len(batch)

    assert await seed(store, batch) == len(batch)
    assert await store.messages(TOWERS.id) == batch
    assert await store.count_messages() == len(batch)


@pytest.mark.cosmos
async def test_a_mention_scrub_racing_an_edit_keeps_both(store: CosmosStore) -> None:
    """The scrub is a replace guarded by the ETag it read: an edit landing in between
    wins its content, and the scrub is applied again on top of it."""
    mentioning = message(2, author=BOB, content="hi <@1>", mentions=(ALICE,))
    await seed(store, [message(1, author=ALICE), mentioning])

    async with store.unit_of_work() as writer:
        await writer.forget_author(TOWERS.id, ALICE.id)
        await seed(store, [mentioning.model_copy(update={"content": "edited <@1>"})])

    (stored,) = await store.messages(TOWERS.id)
    assert stored.content == "edited <@1>"
    assert [(a.id, a.name) for a in stored.mentions] == [(ALICE.id, FORGOTTEN_NAME)]


@pytest.mark.cosmos
async def test_ids_cosmos_cannot_store_are_refused_whole(store: CosmosStore) -> None:
    """A channel id with a slash would address another resource: refused before writing."""
    odd = Channel(id="110/evil", guild_id=TOWERS.id, name="odd")

    async def store_odd_channel() -> None:
        async with store.unit_of_work() as writer:
            await writer.upsert_guild(TOWERS)
            await writer.upsert_channels([GENERAL, odd])

    with pytest.raises(StoreError, match="cannot be a Cosmos DB document id"):
        await store_odd_channel()
    assert await store.guilds() == []


@pytest.mark.cosmos
async def test_a_retried_tip_is_stored_once_and_a_clash_refused(store: CosmosStore) -> None:
    """``add`` again with the same tip (a retried request) is fine; another tip under the
    same id is not."""
    tip = TipRow("t1", TOWERS.id, "h1", b"\x00sealed\xff", "pending", NOON)
    await store.tips.add(tip)
    await store.tips.add(tip)

    with pytest.raises(StoreError, match="already exists"):
        await store.tips.add(TipRow("t1", TOWERS.id, "h2", b"other", "pending", NOON))
    assert await store.tips.with_status(TOWERS.id, "pending", 5) == [tip]


@pytest.mark.cosmos
async def test_the_archive_is_left_to_files_or_blob(store: CosmosStore) -> None:
    """SNITCH_ARCHIVE__KIND=database has no Cosmos DB counterpart: said plainly."""
    with pytest.raises(ConfigError, match="SNITCH_ARCHIVE__KIND=blob"):
        _ = store.archive


def test_cosmos_settings_come_from_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    """SNITCH_COSMOS__* fill the section; the key stays secret."""
    monkeypatch.setenv("SNITCH_COSMOS__ENDPOINT", "https://acct.documents.azure.com:443/")
    monkeypatch.setenv("SNITCH_COSMOS__KEY", "c2VjcmV0")
    monkeypatch.setenv("SNITCH_COSMOS__VERIFY_TLS", "false")

    config = Settings(_env_file=None).cosmos

    assert config.endpoint == "https://acct.documents.azure.com:443/"
    assert config.database == "snitch"
    assert config.verify_tls is False
    assert config.key is not None
    assert "c2VjcmV0" not in repr(config)


@pytest.mark.cosmos
async def test_without_a_key_the_containers_must_already_exist(
    store: CosmosStore, settings: Settings
) -> None:
    """Entra ID roles cannot create databases or containers: the store then only checks
    that they are there, and says how to create the missing one."""
    client = store.account.client

    database, containers = await provision(client, settings.cosmos.database, create=False)
    assert database.id == settings.cosmos.database
    assert set(containers) == {spec.name for spec in CONTAINER_SPECS}
    with pytest.raises(StoreError, match="does not exist: create it with partition key /scope"):
        await provision(client, "never_provisioned", create=False)


def test_the_endpoint_must_be_https() -> None:
    """Cosmos DB speaks HTTPS only; an empty endpoint means the SQL store."""
    assert CosmosSettings(endpoint="").endpoint is None
    with pytest.raises(ValueError, match="https://"):
        CosmosSettings(endpoint="http://localhost:8081/")


async def test_opening_needs_an_endpoint_and_a_usable_key() -> None:
    """Configuration mistakes are ConfigError, found before any request is sent."""
    with pytest.raises(ConfigError, match="SNITCH_COSMOS__ENDPOINT"):
        await open_cosmos_store(Settings(_env_file=None))
    broken = CosmosSettings(endpoint="https://127.0.0.1:9/", key=SecretStr("not base64!"))
    with pytest.raises(ConfigError, match="SNITCH_COSMOS__KEY"):
        await open_cosmos_store(Settings(_env_file=None, cosmos=broken))


def test_times_are_fixed_width_utc_text_so_string_order_is_time_order() -> None:
    """Range filters compare strings: every instant is written the same width, in UTC."""
    paris = datetime(2024, 5, 1, 16, 0, tzinfo=PARIS_SUMMER)
    assert to_text(paris) == "2024-05-01T14:00:00.000000Z"
    assert to_text(datetime(2024, 5, 1, 14, 0)) == "2024-05-01T14:00:00.000000Z"
    assert to_text(NOON) < to_text(NOON + timedelta(microseconds=1))


def test_without_the_package_the_cosmos_leg_skips_locally(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """A laptop without the npm package still runs the SQLite leg."""
    monkeypatch.setattr(cosmos_server, "find_package", lambda: None)
    monkeypatch.delenv("CI", raising=False)

    with ExitStack() as stack, pytest.raises(pytest.skip.Exception, match="cosmosdb-server"):
        stack.enter_context(cosmos_server.cosmos_server())


def test_without_node_ci_fails_instead_of_skipping(monkeypatch: pytest.MonkeyPatch) -> None:
    """CI must never pass with the Cosmos DB leg silently skipped."""
    monkeypatch.setattr(cosmos_server, "find_node", lambda: None)
    monkeypatch.setenv("CI", "true")

    with ExitStack() as stack, pytest.raises(pytest.fail.Exception, match="CI must run"):
        stack.enter_context(cosmos_server.cosmos_server())


@pytest.mark.cosmos
async def test_open_backend_chooses_cosmos_when_its_endpoint_is_set(
    local_cosmos: CosmosServer, tmp_path: Path
) -> None:
    settings = Settings(
        _env_file=None,
        data_dir=tmp_path / "data",
        cosmos=CosmosSettings(
            endpoint=local_cosmos.endpoint,
            key=SecretStr(local_cosmos.key),
            database=f"test_{uuid.uuid4().hex[:12]}",
            verify_tls=False,
        ),
    )
    async with await open_backend(settings) as backend:
        assert isinstance(backend, CosmosStore)
    async with await open_backend(Settings(_env_file=None, data_dir=tmp_path / "sql")) as sql:
        assert isinstance(sql, SqlStore)
