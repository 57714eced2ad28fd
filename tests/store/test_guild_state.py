"""Guild settings, opt-outs and the scheduler's claims, on SQLite and PostgreSQL."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta

from snitch.config import Settings
from snitch.guilds import GuildSettings
from snitch.guilds.scheduler import Scheduler
from snitch.store import SqlStore, open_store

GUILD = "123456789012345678"
OTHER = "223456789012345678"
MORNING = datetime(2026, 11, 20, 9, 0, tzinfo=UTC)


async def test_a_new_guild_reads_the_defaults(store: SqlStore) -> None:
    assert await store.guild_state.settings(GUILD) == GuildSettings.defaults(GUILD)


async def test_settings_round_trip_and_schedule_the_next_edition(store: SqlStore) -> None:
    state = store.guild_state
    settings = GuildSettings.defaults(GUILD).updated(
        schedule="daily 18:00", timezone="Europe/Paris", persona="noir"
    )

    next_at = await state.save_settings(settings, MORNING)

    assert await state.settings(GUILD) == settings
    assert next_at == datetime(2026, 11, 20, 17, 0, tzinfo=UTC)
    assert [(due.guild_id, due.slot) for due in await state.due(next_at)] == [(GUILD, next_at)]
    assert await state.due(next_at - timedelta(seconds=1)) == []


async def test_changing_other_settings_keeps_the_next_slot(store: SqlStore) -> None:
    state = store.guild_state
    settings = GuildSettings.defaults(GUILD).updated(schedule="daily 08:00")
    first = await state.save_settings(settings, MORNING - timedelta(hours=2))
    assert first == MORNING - timedelta(hours=1)

    # Later, with the slot due but not yet published, the persona changes: still due.
    kept = await state.save_settings(settings.updated(persona="herald"), MORNING)
    assert kept == first
    moved = await state.save_settings(settings.updated(schedule="daily 20:00"), MORNING)
    assert moved == datetime(2026, 11, 20, 20, 0, tzinfo=UTC)
    assert await state.save_settings(settings.updated(schedule="off"), MORNING) is None
    assert await state.due(MORNING + timedelta(days=30)) == []


async def test_opt_outs_per_guild_and_idempotent(store: SqlStore) -> None:
    state = store.guild_state
    await state.set_opted_out(GUILD, "1", True, MORNING)
    await state.set_opted_out(GUILD, "1", True, MORNING)
    await state.set_opted_out(GUILD, "2", True, MORNING)
    await state.set_opted_out(OTHER, "3", True, MORNING)
    await state.set_opted_out(GUILD, "2", False, MORNING)
    await state.set_opted_out(GUILD, "9", False, MORNING)

    assert await state.opted_out(GUILD) == frozenset({"1"})
    assert await state.opted_out(OTHER) == frozenset({"3"})


class Newsstand:
    """Records every edition a scheduler publishes."""

    def __init__(self) -> None:
        self.editions: list[tuple[str, datetime]] = []

    async def publish(self, settings: GuildSettings, slot: datetime) -> None:
        await asyncio.sleep(0)  # let a concurrent scheduler interleave here
        self.editions.append((settings.guild_id, slot))


async def test_each_slot_is_published_once_across_restarts_and_downtime(
    store: SqlStore, settings: Settings
) -> None:
    stand = Newsstand()
    await store.guild_state.save_settings(
        GuildSettings.defaults(GUILD).updated(schedule="daily 18:00"), MORNING
    )
    slot = datetime(2026, 11, 20, 18, 0, tzinfo=UTC)
    scheduler = Scheduler(store.guild_state, stand.publish)

    assert await scheduler.tick(slot - timedelta(minutes=1)) == []
    assert await scheduler.tick(slot + timedelta(seconds=30)) == [GUILD]
    assert await scheduler.tick(slot + timedelta(minutes=1)) == []

    # A restart: a new process, a new connection, the same database.
    async with await open_store(settings) as reopened:
        again = Scheduler(reopened.guild_state, stand.publish)
        assert await again.tick(slot + timedelta(minutes=2)) == []
        # Down for three days: the missed slots come out as one late edition.
        back = slot + timedelta(days=3, hours=15)
        assert await again.tick(back) == [GUILD]
        assert await again.tick(back + timedelta(minutes=1)) == []

    assert stand.editions == [(GUILD, slot), (GUILD, slot + timedelta(days=1))]
    next_slot = await store.guild_state.due(slot + timedelta(days=4))
    assert [due.slot for due in next_slot] == [slot + timedelta(days=4)]


async def test_two_schedulers_racing_publish_a_slot_once(
    store: SqlStore, settings: Settings
) -> None:
    stand = Newsstand()
    await store.guild_state.save_settings(
        GuildSettings.defaults(GUILD).updated(schedule="daily 18:00"), MORNING
    )
    await store.guild_state.save_settings(
        GuildSettings.defaults(OTHER).updated(schedule="daily 17:00"), MORNING
    )
    async with await open_store(settings) as second:
        schedulers = [
            Scheduler(store.guild_state, stand.publish),
            Scheduler(second.guild_state, stand.publish),
        ]
        now = datetime(2026, 11, 20, 18, 5, tzinfo=UTC)
        results = await asyncio.gather(*(s.tick(now) for s in schedulers for _ in range(3)))

    assert sorted(guild for result in results for guild in result) == [GUILD, OTHER]
    assert sorted(stand.editions) == [
        (GUILD, datetime(2026, 11, 20, 18, 0, tzinfo=UTC)),
        (OTHER, datetime(2026, 11, 20, 17, 0, tzinfo=UTC)),
    ]


async def test_a_failed_publication_is_not_retried_into_a_duplicate(store: SqlStore) -> None:
    calls: list[datetime] = []

    async def broken(settings: GuildSettings, slot: datetime) -> None:
        calls.append(slot)
        raise RuntimeError("Discord is down")

    await store.guild_state.save_settings(
        GuildSettings.defaults(GUILD).updated(schedule="daily 18:00"), MORNING
    )
    scheduler = Scheduler(store.guild_state, broken)
    slot = datetime(2026, 11, 20, 18, 0, tzinfo=UTC)

    assert await scheduler.tick(slot) == []
    assert await scheduler.tick(slot + timedelta(minutes=1)) == []
    assert calls == [slot]


async def test_a_run_of_bad_editions_is_counted_and_a_good_one_ends_it(store: SqlStore) -> None:
    state = store.guild_state
    settings = GuildSettings.defaults(GUILD).updated(
        schedule="daily 18:00", admin_channel_id="323456789012345678"
    )
    await state.save_settings(settings, MORNING)

    assert [await state.record_edition(GUILD, False) for _ in range(3)] == [1, 2, 3]
    assert await state.record_edition(OTHER, True) == 0  # other guilds keep their own
    assert await state.record_edition(GUILD, True) == 0
    assert await state.record_edition(GUILD, True) == 0
    assert await state.record_edition(GUILD, False) == 1

    # The run outlives a settings change and a claimed slot, and changes neither.
    changed = settings.updated(persona="noir")
    slot = await state.save_settings(changed, MORNING)
    assert slot is not None
    assert await state.claim(GUILD, slot, slot + timedelta(days=1))
    assert await state.record_edition(GUILD, False) == 2
    assert await state.settings(GUILD) == changed
    assert [due.slot for due in await state.due(slot + timedelta(days=1))] == [
        slot + timedelta(days=1)
    ]


async def test_a_bad_edition_of_an_unconfigured_guild_schedules_nothing(store: SqlStore) -> None:
    state = store.guild_state

    assert await state.record_edition(GUILD, True) == 0
    assert sorted(
        await asyncio.gather(*(state.record_edition(GUILD, False) for _ in range(4)))
    ) == [
        1,
        2,
        3,
        4,
    ]

    assert await state.settings(GUILD) == GuildSettings.defaults(GUILD)
    assert await state.due(MORNING + timedelta(days=30)) == []
    # Saving settings later schedules the guild as usual, and keeps the run.
    next_at = await state.save_settings(GuildSettings.defaults(GUILD), MORNING)
    assert next_at == datetime(2026, 11, 20, 18, 0, tzinfo=UTC)
    assert await state.record_edition(GUILD, False) == 5
