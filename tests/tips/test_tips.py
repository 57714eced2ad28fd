"""Anonymous tips: sealed at rest, rate-limited, moderated, forgettable."""

from __future__ import annotations

import stat
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from sqlalchemy import update

from snitch.config import Settings, TipsSettings
from snitch.errors import ConfigError
from snitch.store import SqlStore, open_store
from snitch.store.schema import tips as tips_table
from snitch.tips import (
    TipBox,
    TipCipher,
    TipKeyError,
    TipRejected,
    TipStatus,
    generate_key,
    tips_key,
)

GUILD = "123456789012345678"
ALICE = "111111111111111111"
BOB = "222222222222222222"
NOW = datetime(2026, 11, 26, 20, 0, tzinfo=UTC)
SECRET = "The bake-off judge is secretly dating contestant #4 @everyone"


@pytest.fixture
def settings(tmp_path: Path) -> Settings:
    return Settings(_env_file=None, data_dir=tmp_path / "data")


@pytest.fixture
async def store(settings: Settings) -> AsyncIterator[SqlStore]:
    opened = await open_store(settings)
    yield opened
    await opened.close()


@pytest.fixture
def key() -> str:
    return generate_key()


def box(store: SqlStore, key: str, **limits: int) -> TipBox:
    return TipBox(store.tips, TipCipher(key), TipsSettings(**limits))


async def test_a_tip_is_unreadable_in_the_database_file_without_the_key(
    store: SqlStore, key: str, settings: Settings
) -> None:
    await box(store, key).submit(GUILD, ALICE, SECRET, NOW)
    await store.close()

    database = settings.data_dir / "snitch.db"
    raw = b"".join(
        path.read_bytes() for path in database.parent.iterdir() if path.name.startswith("snitch.db")
    )
    assert b"bake-off" not in raw
    assert SECRET.encode() not in raw
    assert ALICE.encode() not in raw  # the tipster is a keyed hash, not an id


async def test_moderators_read_pending_tips_and_editions_get_only_approved_ones(
    store: SqlStore, key: str
) -> None:
    tips = box(store, key)
    kept = await tips.submit(GUILD, ALICE, SECRET, NOW)
    dropped = await tips.submit(GUILD, BOB, "bob is a robot", NOW + timedelta(seconds=1))

    waiting = await tips.waiting(GUILD)
    assert [(tip.id, tip.text) for tip in waiting] == [
        (kept.id, SECRET),
        (dropped.id, "bob is a robot"),
    ]
    assert await tips.approved(GUILD) == []

    assert await tips.review(GUILD, kept.id, approve=True, now=NOW)
    assert await tips.review(GUILD, dropped.id, approve=False, now=NOW)
    assert not await tips.review(GUILD, dropped.id, approve=True, now=NOW)  # already decided
    assert not await tips.review("999", kept.id, approve=True, now=NOW)  # another guild's

    (approved,) = await tips.approved(GUILD)
    assert approved.id == kept.id
    assert approved.status is TipStatus.approved
    assert approved.printable.startswith("Unverified reader tip: ")
    assert "@everyone" not in approved.printable

    await tips.mark_published(GUILD, [approved.id], NOW)
    assert await tips.approved(GUILD) == []


@pytest.mark.parametrize(
    ("text", "complaint"), [("   ", "empty"), ("x" * 1001, "keep it under 1000")]
)
async def test_bad_tips_are_refused_in_plain_words(
    store: SqlStore, key: str, text: str, complaint: str
) -> None:
    with pytest.raises(TipRejected, match=complaint):
        await box(store, key).submit(GUILD, ALICE, text, NOW)
    assert await box(store, key).waiting(GUILD) == []


async def test_rate_limits_per_member_and_per_guild(store: SqlStore, key: str) -> None:
    tips = box(store, key, per_user_per_hour=2, per_guild_per_hour=3)
    await tips.submit(GUILD, ALICE, "one", NOW)
    await tips.submit(GUILD, ALICE, "two", NOW + timedelta(minutes=1))
    with pytest.raises(TipRejected, match="2 tips in the last hour"):
        await tips.submit(GUILD, ALICE, "three", NOW + timedelta(minutes=2))

    await tips.submit(GUILD, BOB, "bob's", NOW + timedelta(minutes=3))
    with pytest.raises(TipRejected, match="swamped"):
        await tips.submit(GUILD, "333333333333333333", "carol's", NOW + timedelta(minutes=4))

    # An hour on, Alice may tip again.
    await tips.submit(GUILD, ALICE, "later", NOW + timedelta(minutes=61))


async def test_forget_me_removes_a_members_tips_only(store: SqlStore, key: str) -> None:
    tips = box(store, key)
    await tips.submit(GUILD, ALICE, "alice one", NOW)
    await tips.submit(GUILD, ALICE, "alice two", NOW)
    await tips.submit(GUILD, BOB, "bob's", NOW)

    assert await tips.forget_tipster(GUILD, ALICE) == 2
    assert [tip.text for tip in await tips.waiting(GUILD)] == ["bob's"]


async def test_another_key_or_a_moved_row_does_not_open(store: SqlStore, key: str) -> None:
    tip = await box(store, key).submit(GUILD, ALICE, SECRET, NOW)

    with pytest.raises(TipKeyError, match="does not decrypt"):
        await box(store, generate_key()).waiting(GUILD)

    # The text is bound to its guild: the same bytes under another guild do not open.
    async with store.engine.begin() as connection:
        await connection.execute(
            update(tips_table).where(tips_table.c.id == tip.id).values(guild_id="42")
        )
    with pytest.raises(TipKeyError):
        await box(store, key).waiting("42")


def test_tipster_hashes_are_stable_per_key_and_guild(key: str) -> None:
    cipher = TipCipher(key)
    same = cipher.tipster(guild_id=GUILD, user_id=ALICE)
    assert same == TipCipher(key).tipster(guild_id=GUILD, user_id=ALICE)
    assert same != cipher.tipster(guild_id="999", user_id=ALICE)
    assert same != TipCipher(generate_key()).tipster(guild_id=GUILD, user_id=ALICE)


def test_development_keeps_a_generated_key_and_production_demands_one(
    settings: Settings,
) -> None:
    first = tips_key(settings)
    assert tips_key(settings) == first
    key_file = settings.data_dir / "tips.key"
    assert stat.S_IMODE(key_file.stat().st_mode) == 0o600

    production = settings.model_copy(update={"environment": "production"})
    with pytest.raises(ConfigError, match="SNITCH_TIPS__KEY"):
        tips_key(production)


def test_a_malformed_key_is_a_setting_error() -> None:
    from snitch.config import load_settings

    with pytest.raises(ConfigError, match="SNITCH_TIPS__KEY"):
        load_settings(tips={"key": "too-short"})
