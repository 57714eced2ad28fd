"""``/snitch config`` and ``/snitch status`` without Discord's plumbing: what an admin's
options change, what to suggest while they type, and how a guild's setup reads back.

Channel filters follow the words an admin uses. ``include`` narrows reading to a list
("only these"), ``exclude`` carves channels out, and a channel is never in both: naming it
on one side takes it off the other. ``clear_filters`` empties both first, so one command can
say "only #general from now on".
"""

from __future__ import annotations

from collections.abc import Sequence
from contextlib import suppress
from datetime import datetime
from functools import cache
from typing import Final
from zoneinfo import available_timezones

import discord
from discord import app_commands

from snitch.guilds import Cadence, GuildSettings, Schedule, ScheduleError, SettingsError
from snitch.newsroom.personas import PERSONAS
from snitch.store.archive import ArchivedEdition

MAX_CHOICES: Final = 25  # Discord shows at most 25 autocomplete choices
PERSONA_CHOICES: Final = [
    app_commands.Choice(name=persona.display_name, value=name) for name, persona in PERSONAS.items()
]
COMMON_ZONES: Final = (
    "UTC",
    "Europe/London",
    "Europe/Paris",
    "Europe/Berlin",
    "Europe/Madrid",
    "Europe/Rome",
    "Europe/Amsterdam",
    "Europe/Stockholm",
    "Europe/Warsaw",
    "Europe/Kyiv",
    "Europe/Moscow",
    "America/New_York",
    "America/Chicago",
    "America/Denver",
    "America/Los_Angeles",
    "America/Toronto",
    "America/Mexico_City",
    "America/Sao_Paulo",
    "Africa/Lagos",
    "Asia/Kolkata",
    "Asia/Shanghai",
    "Asia/Tokyo",
    "Asia/Singapore",
    "Australia/Sydney",
    "Pacific/Auckland",
)
SCHEDULE_EXAMPLES: Final = (
    "daily 18:00",
    "daily 09:00",
    "weekly fri 17:30",
    "weekly mon 09:00",
    "weekly sun 20:00",
    "off",
)
# What an admin called each setting (the command's option names), for "Saved: ...".
OPTION_OF: Final = {
    "edition_channel_id": "channel",
    "admin_channel_id": "admin_channel",
    "schedule": "schedule",
    "timezone": "timezone",
    "persona": "persona",
    "included_channel_ids": "include",
    "excluded_channel_ids": "exclude",
    "retention_days": "retention_days",
    "llm_enabled": "llm",
}
LISTED_CHANNELS: Final = 20  # a long filter list is summarised, to stay within an embed
# The bot's permissions an edition channel needs; the admin channel gets plain text.
POSTING: Final = ("view_channel", "send_messages", "embed_links")
ALERTING: Final = ("view_channel", "send_messages")


@cache
def _zones() -> tuple[str, ...]:
    return tuple(sorted(available_timezones()))


def zone_suggestions(typed: str) -> list[str]:
    """Time zones for what an admin has typed so far; the common ones for nothing."""
    needle = typed.strip().lower().replace(" ", "_")
    if not needle:
        return list(COMMON_ZONES[:MAX_CHOICES])
    matches = [zone for zone in _zones() if needle in zone.lower()]
    # "paris" should find Europe/Paris before anything that merely contains the letters.
    matches.sort(
        key=lambda zone: (
            not zone.lower().rsplit("/", 1)[-1].startswith(needle),
            not zone.lower().startswith(needle),
            zone not in COMMON_ZONES,
            zone,
        )
    )
    return matches[:MAX_CHOICES]


def schedule_suggestions(typed: str) -> list[str]:
    """What was typed, normalised, if it already parses; then the examples it could start."""
    text = typed.strip().lower()
    suggestions = []
    if text:
        with suppress(ScheduleError):
            suggestions.append(str(Schedule.parse(text)))
    suggestions += [
        example
        for example in SCHEDULE_EXAMPLES
        if example.startswith(text) and example not in suggestions
    ]
    return suggestions[:MAX_CHOICES]


def filter_changes(
    settings: GuildSettings, *, include: str | None, exclude: str | None, clear: bool
) -> dict[str, tuple[str, ...]]:
    """The channel lists after clearing, including and excluding (see the module docstring)."""
    if include is not None and include == exclude:
        raise SettingsError("include, exclude: a channel cannot be both included and excluded")
    included = [] if clear else list(settings.included_channel_ids)
    excluded = [] if clear else list(settings.excluded_channel_ids)
    if include is not None:
        excluded = [channel for channel in excluded if channel != include]
        included.append(include)
    if exclude is not None:
        included = [channel for channel in included if channel != exclude]
        excluded.append(exclude)
    return {"included_channel_ids": tuple(included), "excluded_channel_ids": tuple(excluded)}


def changed_options(before: GuildSettings, after: GuildSettings) -> list[str]:
    """The option names whose values differ, in the command's order."""
    return [
        option
        for field, option in OPTION_OF.items()
        if getattr(before, field) != getattr(after, field)
    ]


def _channels(ids: Sequence[str]) -> str:
    shown = ", ".join(f"<#{channel_id}>" for channel_id in ids[:LISTED_CHANNELS])
    more = len(ids) - LISTED_CHANNELS
    return f"{shown} and {more} more" if more > 0 else shown


def reading_scope(settings: GuildSettings) -> str:
    """Which channels the bot stores, in words."""
    if settings.included_channel_ids:
        scope = f"only {_channels(settings.included_channel_ids)}"
    else:
        scope = "every channel I can see"
    if settings.excluded_channel_ids:
        scope += f", except {_channels(settings.excluded_channel_ids)}"
    return scope + " (threads follow their channel)"


def when(moment: datetime | None, *, otherwise: str = "none") -> str:
    """A Discord timestamp each reader sees in their own zone, with a relative hint."""
    if moment is None:
        return otherwise
    return f"{discord.utils.format_dt(moment, 'F')} ({discord.utils.format_dt(moment, 'R')})"


def next_edition(settings: GuildSettings, now: datetime) -> datetime | None:
    """When the schedule next comes round (None when it is off)."""
    return settings.parsed_schedule.next_after(now, settings.zone)


def settings_lines(settings: GuildSettings, next_at: datetime | None) -> list[str]:
    """A guild's configuration as an admin reads it."""
    persona = PERSONAS.get(settings.persona)
    persona_name = f"{persona.display_name} (`{persona.name}`)" if persona else settings.persona
    schedule = settings.parsed_schedule
    if settings.edition_channel_id is None:
        channel = "not set yet: pick one with `/snitch config channel:`"
        upcoming = "none until an edition channel is set"
    else:
        channel = f"<#{settings.edition_channel_id}>"
        upcoming = when(next_at, otherwise="none (the schedule is off)")
    return [
        f"**Edition channel:** {channel}",
        f"**Schedule:** {schedule} ({settings.timezone})"
        if schedule.cadence is not Cadence.off
        else "**Schedule:** off (editions only on demand, with `/breaking-news`)",
        f"**Next edition:** {upcoming}",
        f"**Persona:** {persona_name}",
        f"**Reading:** {reading_scope(settings)}",
        f"**Retention:** stored messages are deleted after {settings.retention_days} days",
        "**Writing:** "
        + ("with the configured LLM" if settings.llm_enabled else "offline engine only (no LLM)"),
    ]


def posting_gaps(channel: discord.abc.GuildChannel, needs: Sequence[str] = POSTING) -> list[str]:
    """The permissions the bot lacks to post editions (or what ``needs`` names) in
    ``channel``, as Discord names them."""
    me = channel.guild.me
    if me is None:
        return []
    allowed = channel.permissions_for(me)
    return [name.replace("_", " ").title() for name in needs if not getattr(allowed, name)]


def admin_channel_line(settings: GuildSettings) -> str:
    """Where moderators are warned when scheduled editions keep failing."""
    if settings.admin_channel_id is None:
        return (
            "**Admin channel:** not set: warnings about failing editions go only to the "
            "bot's log (pick one with `/snitch config admin_channel:`)"
        )
    return f"**Admin channel:** <#{settings.admin_channel_id}> (warnings about failing editions)"


def last_edition_line(guild_id: str, edition: ArchivedEdition | None) -> str:
    """The latest edition: its headline, when, and a link to it where it was posted."""
    if edition is None:
        return "**Last edition:** none yet"
    headline = discord.utils.escape_markdown(edition.newsletter.headline)
    line = f"**Last edition:** “{headline}”, {when(edition.published_at)}"
    if edition.channel_id and edition.discord_message_ids:
        url = (
            f"https://discord.com/channels/{guild_id}/{edition.channel_id}/"
            f"{edition.discord_message_ids[0]}"
        )
        line += f" [read it]({url})"
    return line
