"""When a guild's edition is due: a daily or weekly wall-clock time in the guild's zone.

Admins think in local time ("every Friday at 18:00 in Paris"), the scheduler in UTC
instants. ``Schedule.next_after`` bridges the two across daylight-saving changes: a time
that does not exist on a spring-forward day runs as far past the gap as it was into it, and
a time that happens twice on a fall-back day runs at its first occurrence, once.

Only the next instant is ever stored. After downtime, the scheduler publishes the missed
edition once and asks for the next slot after *now*, so a week offline never turns into a
burst of seven editions.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import UTC, datetime, time, timedelta
from enum import StrEnum
from typing import Final
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from snitch.errors import SnitchError

WEEKDAYS: Final = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")
WEEKDAYS_FULL: Final = (
    "monday",
    "tuesday",
    "wednesday",
    "thursday",
    "friday",
    "saturday",
    "sunday",
)
_FORM: Final = re.compile(
    r"^\s*(?:(?P<off>off)|(?P<cadence>daily|weekly)(?:\s+(?!at\b)(?P<day>[a-z]+))?\s+"
    r"(?:at\s+)?(?P<hour>\d{1,2}):(?P<minute>\d{2}))\s*$",
    re.IGNORECASE,
)
EXAMPLES: Final = '"daily 18:00", "weekly fri 18:00" or "off"'


class ScheduleError(SnitchError):
    """A schedule or time zone the scheduler cannot use; the message shows valid forms."""


class Cadence(StrEnum):
    """How often an edition comes out."""

    off = "off"
    daily = "daily"
    weekly = "weekly"


def parse_zone(name: str) -> ZoneInfo:
    """An IANA time zone, or a clear error."""
    try:
        return ZoneInfo(name.strip())
    except (ZoneInfoNotFoundError, ValueError):
        raise ScheduleError(
            f"time zone {name!r} is not an IANA time zone name (e.g. Europe/Paris, "
            "America/New_York, UTC)"
        ) from None


@dataclass(frozen=True)
class Schedule:
    """A wall-clock publication time: daily, weekly on one day, or off."""

    cadence: Cadence
    at: time = time(18, 0)
    weekday: int | None = None  # Monday is 0, as in datetime.weekday()

    @classmethod
    def parse(cls, text: str) -> Schedule:
        """``daily 18:00``, ``weekly fri 18:00`` (``at`` is optional) or ``off``."""
        match = _FORM.match(text)
        if match is None:
            raise ScheduleError(f"schedule {text!r} is not understood; use {EXAMPLES}")
        if match["off"]:
            return cls(Cadence.off)
        hour, minute = int(match["hour"]), int(match["minute"])
        if hour > 23 or minute > 59:
            raise ScheduleError(f"schedule {text!r}: {hour}:{minute:02d} is not a time of day")
        cadence = Cadence(match["cadence"].lower())
        day = match["day"]
        if cadence is Cadence.daily:
            if day:
                raise ScheduleError(f"schedule {text!r}: a daily schedule takes no day")
            return cls(cadence, time(hour, minute))
        weekday = _weekday(day, text)
        return cls(cadence, time(hour, minute), weekday)

    def __str__(self) -> str:
        if self.cadence is Cadence.off:
            return "off"
        clock = self.at.strftime("%H:%M")
        if self.cadence is Cadence.daily:
            return f"daily {clock}"
        return f"weekly {WEEKDAYS[self.weekday or 0]} {clock}"

    def next_after(self, moment: datetime, zone: ZoneInfo) -> datetime | None:
        """The first scheduled instant strictly after ``moment``, in UTC; None when off."""
        if self.cadence is Cadence.off:
            return None
        if moment.tzinfo is None:
            moment = moment.replace(tzinfo=UTC)
        local_day = moment.astimezone(zone).date()
        # Yesterday's slot may still lie ahead in UTC terms around a DST change; start
        # there and walk forward day by day (eight days cover any weekly slot).
        for offset in range(-1, 9):
            day = local_day + timedelta(days=offset)
            if self.weekday is not None and day.weekday() != self.weekday:
                continue
            candidate = _instant(datetime.combine(day, self.at), zone)
            if candidate > moment:
                return candidate
        raise AssertionError("unreachable: every schedule has a slot within eight days")


def _weekday(day: str | None, text: str) -> int:
    if not day:
        raise ScheduleError(f"schedule {text!r}: a weekly schedule needs a day, e.g. {EXAMPLES}")
    prefix = day.lower()[:3]
    if prefix not in WEEKDAYS or not WEEKDAYS_FULL[WEEKDAYS.index(prefix)].startswith(day.lower()):
        raise ScheduleError(f"schedule {text!r}: {day!r} is not a day of the week")
    return WEEKDAYS.index(prefix)


def _instant(local: datetime, zone: ZoneInfo) -> datetime:
    """The UTC instant of a naive local wall time.

    ``fold=0`` is the first occurrence of a time that happens twice (fall back). A time
    inside a spring-forward gap maps with the offset from before the change, so it lands as
    far past the gap as it was into it (02:30 becomes 03:30 when 02:00 jumps to 03:00).
    """
    return local.replace(tzinfo=zone, fold=0).astimezone(UTC)
