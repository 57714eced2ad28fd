"""A guild's own configuration: where and when editions go, and what the bot may read.

Validated here, once, whichever front end changes it (the ``/snitch config`` command, the
HTTP interactions endpoint, a test), so every entry point refuses the same bad values with
the same words.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Final
from zoneinfo import ZoneInfo

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from snitch.errors import SnitchError
from snitch.guilds.schedule import Schedule, parse_zone
from snitch.models import is_snowflake
from snitch.newsroom.personas import get_persona

DEFAULT_SCHEDULE: Final = "daily 18:00"


class SettingsError(SnitchError):
    """A guild setting was refused; the message names the setting and what is wrong."""


@contextmanager
def _as_value_error() -> Iterator[None]:
    """Pydantic reports only ValueErrors as validation errors: convert ours."""
    try:
        yield
    except SnitchError as exc:
        raise ValueError(str(exc)) from None


def _describe(exc: ValidationError) -> str:
    parts = []
    for error in exc.errors():
        where = ".".join(str(part) for part in error["loc"]) or "settings"
        message = str(error["msg"]).removeprefix("Value error, ")
        parts.append(f"{where}: {message}")
    return "; ".join(parts)


MAX_RETENTION_DAYS: Final = 3650


class GuildSettings(BaseModel):
    """What an admin configures for one guild; defaults are what a fresh install gets."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    guild_id: str
    edition_channel_id: str | None = None
    # Where the bot warns moderators (editions failing or falling back, say); None: the log.
    admin_channel_id: str | None = None
    schedule: str = DEFAULT_SCHEDULE
    timezone: str = "UTC"
    persona: str = "gossip"
    # Empty means every channel the bot can see, minus the excluded ones.
    included_channel_ids: tuple[str, ...] = ()
    excluded_channel_ids: tuple[str, ...] = ()
    retention_days: int = Field(default=30, ge=1, le=MAX_RETENTION_DAYS)
    llm_enabled: bool = True

    @field_validator("guild_id", "edition_channel_id", "admin_channel_id")
    @classmethod
    def _snowflake(cls, value: str | None) -> str | None:
        if value is not None and not is_snowflake(value):
            raise ValueError(f"{value!r} is not a Discord id")
        return value

    @field_validator("included_channel_ids", "excluded_channel_ids")
    @classmethod
    def _snowflakes(cls, values: tuple[str, ...]) -> tuple[str, ...]:
        for value in values:
            if not is_snowflake(value):
                raise ValueError(f"{value!r} is not a Discord channel id")
        return tuple(dict.fromkeys(values))

    @field_validator("schedule")
    @classmethod
    def _schedule(cls, value: str) -> str:
        # Stored normalised: "Weekly Friday at 6:00" becomes "weekly fri 06:00".
        with _as_value_error():
            return str(Schedule.parse(value))

    @field_validator("timezone")
    @classmethod
    def _zone(cls, value: str) -> str:
        with _as_value_error():
            return parse_zone(value).key

    @field_validator("persona")
    @classmethod
    def _persona(cls, value: str) -> str:
        with _as_value_error():
            return get_persona(value).name

    def updated(self, **changes: object) -> GuildSettings:
        """A copy with ``changes`` applied and validated; a ``SettingsError`` names the field."""
        try:
            return GuildSettings.model_validate({**self.model_dump(), **changes})
        except ValidationError as exc:
            raise SettingsError(_describe(exc)) from None

    @classmethod
    def defaults(cls, guild_id: str) -> GuildSettings:
        """What a guild gets before an admin changes anything."""
        return cls(guild_id=guild_id)

    @property
    def zone(self) -> ZoneInfo:
        """The guild's time zone."""
        return ZoneInfo(self.timezone)

    @property
    def parsed_schedule(self) -> Schedule:
        """The schedule as the scheduler uses it."""
        return Schedule.parse(self.schedule)

    def reads(self, channel_id: str, parent_id: str | None = None) -> bool:
        """Whether the bot may store messages of this channel (a thread follows its parent)."""
        ids = {channel_id} | ({parent_id} if parent_id else set())
        if ids & set(self.excluded_channel_ids):
            return False
        return not self.included_channel_ids or bool(ids & set(self.included_channel_ids))
