"""Schedules in local time, instants in UTC, across daylight-saving changes."""

from __future__ import annotations

from datetime import UTC, datetime, time, timedelta
from zoneinfo import ZoneInfo

import pytest
from hypothesis import given
from hypothesis import strategies as st

from snitch.guilds import Cadence, GuildSettings, Schedule, ScheduleError, SettingsError

PARIS = ZoneInfo("Europe/Paris")
NEW_YORK = ZoneInfo("America/New_York")


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("daily 18:00", Schedule(Cadence.daily, time(18, 0))),
        ("  Daily at 7:05 ", Schedule(Cadence.daily, time(7, 5))),
        ("weekly fri 18:00", Schedule(Cadence.weekly, time(18, 0), 4)),
        ("weekly Friday at 06:30", Schedule(Cadence.weekly, time(6, 30), 4)),
        ("OFF", Schedule(Cadence.off)),
    ],
)
def test_schedules_parse_and_print_normalised(text: str, expected: Schedule) -> None:
    parsed = Schedule.parse(text)
    assert parsed == expected
    assert Schedule.parse(str(parsed)) == parsed


@pytest.mark.parametrize(
    ("text", "complaint"),
    [
        ("sometimes", "not understood"),
        ("daily 25:00", "not a time of day"),
        ("daily 12:60", "not a time of day"),
        ("daily mon 12:00", "takes no day"),
        ("weekly 12:00", "needs a day"),
        ("weekly frisday 12:00", "not a day of the week"),
        ("hourly 12:00", "not understood"),
    ],
)
def test_bad_schedules_say_what_is_wrong(text: str, complaint: str) -> None:
    with pytest.raises(ScheduleError, match=complaint):
        Schedule.parse(text)


def test_daily_runs_at_the_local_time_next() -> None:
    schedule = Schedule.parse("daily 18:00")
    winter = datetime(2026, 1, 10, 12, 0, tzinfo=UTC)
    assert schedule.next_after(winter, PARIS) == datetime(2026, 1, 10, 17, 0, tzinfo=UTC)
    late = datetime(2026, 1, 10, 17, 0, tzinfo=UTC)  # exactly at the slot: strictly after
    assert schedule.next_after(late, PARIS) == datetime(2026, 1, 11, 17, 0, tzinfo=UTC)
    summer = datetime(2026, 7, 10, 12, 0, tzinfo=UTC)
    assert schedule.next_after(summer, PARIS) == datetime(2026, 7, 10, 16, 0, tzinfo=UTC)


def test_weekly_runs_on_its_day() -> None:
    schedule = Schedule.parse("weekly mon 09:00")
    friday = datetime(2026, 11, 27, 12, 0, tzinfo=UTC)
    assert schedule.next_after(friday, NEW_YORK) == datetime(2026, 11, 30, 14, 0, tzinfo=UTC)


def test_a_time_in_the_spring_forward_gap_runs_after_it_once() -> None:
    """Paris skips 02:00-03:00 on 2026-03-29: 02:30 runs at 03:30 local, once."""
    schedule = Schedule.parse("daily 02:30")
    before = datetime(2026, 3, 28, 23, 0, tzinfo=UTC)
    slot = schedule.next_after(before, PARIS)
    assert slot == datetime(2026, 3, 29, 1, 30, tzinfo=UTC)
    assert slot.astimezone(PARIS).strftime("%H:%M") == "03:30"
    following = schedule.next_after(slot, PARIS)
    assert following == datetime(2026, 3, 30, 0, 30, tzinfo=UTC)


def test_a_time_that_happens_twice_runs_at_the_first_only() -> None:
    """Paris repeats 02:00-03:00 on 2026-10-25: 02:30 runs once, at the first 02:30."""
    schedule = Schedule.parse("daily 02:30")
    first = schedule.next_after(datetime(2026, 10, 24, 23, 0, tzinfo=UTC), PARIS)
    assert first == datetime(2026, 10, 25, 0, 30, tzinfo=UTC)
    assert schedule.next_after(first, PARIS) == datetime(2026, 10, 26, 1, 30, tzinfo=UTC)


def test_after_downtime_only_the_next_slot_counts() -> None:
    """A week offline: the next slot after now, not seven missed ones."""
    schedule = Schedule.parse("daily 18:00")
    back = datetime(2026, 11, 26, 20, 0, tzinfo=UTC)
    assert schedule.next_after(back, ZoneInfo("UTC")) == datetime(2026, 11, 27, 18, tzinfo=UTC)


def test_off_never_runs() -> None:
    assert Schedule.parse("off").next_after(datetime.now(UTC), PARIS) is None


ZONES = st.sampled_from(
    [
        ZoneInfo(name)
        for name in (
            "UTC",
            "Europe/Paris",
            "America/New_York",
            "Australia/Lord_Howe",
            "Asia/Kolkata",
            "America/St_Johns",
            "Pacific/Chatham",
        )
    ]
)


@given(
    moment=st.datetimes(
        min_value=datetime(2000, 1, 1), max_value=datetime(2090, 1, 1), timezones=st.just(UTC)
    ),
    zone=ZONES,
    hour=st.integers(0, 23),
    minute=st.integers(0, 59),
    weekday=st.none() | st.integers(0, 6),
)
def test_the_next_slot_is_soon_after_and_on_schedule(
    moment: datetime, zone: ZoneInfo, hour: int, minute: int, weekday: int | None
) -> None:
    cadence = Cadence.daily if weekday is None else Cadence.weekly
    schedule = Schedule(cadence, time(hour, minute), weekday)

    slot = schedule.next_after(moment, zone)

    assert slot is not None
    assert moment < slot <= moment + timedelta(days=8 if weekday is not None else 2)
    local = slot.astimezone(zone)
    if weekday is not None:
        # A gap can push the slot past midnight only when the time is just before it.
        assert local.weekday() == weekday or (local - timedelta(hours=3)).weekday() == weekday
    # Nothing scheduled is skipped: just before the slot, the slot is still next.
    assert schedule.next_after(slot - timedelta(microseconds=1), zone) == slot


def test_guild_settings_validate_and_normalise() -> None:
    settings = GuildSettings.defaults("123456789012345678")
    assert settings.schedule == "daily 18:00"

    changed = settings.updated(
        schedule="Weekly Friday at 6:00",
        timezone="Europe/Paris",
        persona="NOIR",
        excluded_channel_ids=("111", "111", "222"),
    )

    assert changed.schedule == "weekly fri 06:00"
    assert changed.persona == "noir"
    assert changed.excluded_channel_ids == ("111", "222")
    assert changed.zone == PARIS
    assert changed.parsed_schedule.weekday == 4


@pytest.mark.parametrize(
    ("change", "complaint"),
    [
        ({"timezone": "Mars/Olympus"}, "timezone: time zone 'Mars/Olympus' is not an IANA"),
        ({"schedule": "now and then"}, "schedule: schedule 'now and then' is not understood"),
        ({"persona": "pirate"}, "persona:"),
        ({"retention_days": 0}, "retention_days:"),
        ({"edition_channel_id": "#general"}, "edition_channel_id: '#general' is not a Discord id"),
        ({"colour": "red"}, "colour:"),
    ],
)
def test_bad_guild_settings_name_the_setting(change: dict[str, object], complaint: str) -> None:
    with pytest.raises(SettingsError) as raised:
        GuildSettings.defaults("1").updated(**change)
    assert complaint in str(raised.value)


def test_channel_filters_follow_threads_to_their_parent() -> None:
    settings = GuildSettings(guild_id="1", excluded_channel_ids=("10",))
    assert not settings.reads("10")
    assert not settings.reads("99", parent_id="10")  # a thread of an excluded channel
    assert settings.reads("11")

    only = GuildSettings(guild_id="1", included_channel_ids=("20",))
    assert only.reads("20")
    assert only.reads("98", parent_id="20")
    assert not only.reads("21")
