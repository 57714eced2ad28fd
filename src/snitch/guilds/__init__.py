"""Per-guild configuration and scheduling, shared by every front end (bot, HTTP, Functions)."""

from snitch.guilds.schedule import Cadence, Schedule, ScheduleError, parse_zone
from snitch.guilds.settings import GuildSettings, SettingsError

__all__ = ["Cadence", "GuildSettings", "Schedule", "ScheduleError", "SettingsError", "parse_zone"]
