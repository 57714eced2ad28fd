"""How an archived edition is checked, named and written down, the same on every backend.

An edition is two objects side by side: ``<guild_id>/<stamp>_<id>.json`` (the record the
archive reads back) and ``<guild_id>/<stamp>_<id>.html`` (the page, for people). ``stamp`` is
the publication time in UTC as fixed-width text, so names sort in publication order; there
are no colons in it, so the names are valid file names on every operating system.

The JSON is written last, and only names that match the JSON pattern exactly are read back,
so an interrupted write (or anything else left in the folder) is never mistaken for an
edition.
"""

from __future__ import annotations

import json
import re
import uuid
from collections.abc import Iterable, Sequence
from datetime import UTC, datetime
from typing import Any, Final, Literal

from pydantic import AwareDatetime, BaseModel, ConfigDict, ValidationError

from snitch.errors import StoreError
from snitch.models import Newsletter, is_snowflake
from snitch.store.archive import ArchivedEdition, EditionArchive

__all__ = [
    "CheckedArchive",
    "check_forget",
    "check_guild_id",
    "check_limit",
    "decode",
    "encode",
    "html_name",
    "json_name",
    "new_edition",
    "newest_first",
]

# 2026-11-26T12-00-00.000000Z_<uuid4 hex>.json
_JSON_NAME: Final = re.compile(
    r"(?P<stamp>[0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9]{2}-[0-9]{2}-[0-9]{2}\.[0-9]{6}Z)"
    r"_(?P<id>[0-9a-f]{32})\.json"
)
_FORMAT_VERSION: Final = 1


class _Record(BaseModel):
    """The JSON form of an ``ArchivedEdition``; validated on the way back in."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    version: Literal[1] = _FORMAT_VERSION
    id: str
    guild_id: str
    published_at: AwareDatetime
    slot: AwareDatetime | None
    channel_id: str | None
    discord_message_ids: tuple[str, ...]
    newsletter: Newsletter


def check_guild_id(guild_id: str) -> None:
    """Refuse anything but a Discord id: the guild id becomes a folder or name prefix, so
    ``..`` or ``a/b`` would reach outside the guild's own editions."""
    if not isinstance(guild_id, str) or not is_snowflake(guild_id):
        raise StoreError(f"edition archive: guild id {guild_id!r} is not a Discord snowflake")


def check_limit(limit: int) -> None:
    """A negative limit means "no limit" to SQLite and nothing to the others: refuse it."""
    if isinstance(limit, bool) or not isinstance(limit, int) or limit < 0:
        raise StoreError(f"edition archive: limit must be a whole number >= 0, got {limit!r}")


def check_forget(guild_id: str, author_id: str, names: Iterable[str]) -> tuple[str, ...]:
    """Refuse what ``forget_author`` cannot act on; the names, as a tuple."""
    check_guild_id(guild_id)
    if not isinstance(author_id, str) or not is_snowflake(author_id):
        raise StoreError(f"edition archive: author id {author_id!r} is not a Discord snowflake")
    if isinstance(names, str):
        # A lone name would otherwise be forgotten one letter at a time.
        raise StoreError("edition archive: names must be a list of names, not a str")
    try:
        listed = tuple(names)
    except TypeError as exc:
        raise StoreError(f"edition archive: names must be a list of names: {exc}") from exc
    for name in listed:
        if not isinstance(name, str):
            raise StoreError(f"edition archive: a name must be text, got {name!r}")
    return listed


def check_edition(
    newsletter: Newsletter,
    *,
    guild_id: str,
    published_at: datetime,
    slot: datetime | None,
    channel_id: str | None,
    discord_message_ids: Sequence[str],
) -> None:
    """Refuse an edition that must not be archived (bad ids, naive times, not a
    Newsletter), with a ``StoreError`` naming what is wrong."""
    _check_ids(guild_id, channel_id, discord_message_ids)
    _check_moment("published_at", published_at)
    if slot is not None:
        _check_moment("slot", slot)
    if not isinstance(newsletter, Newsletter):
        raise StoreError(f"edition archive: expected a Newsletter, got {type(newsletter).__name__}")


def new_edition(
    newsletter: Newsletter,
    *,
    guild_id: str,
    published_at: datetime,
    slot: datetime | None,
    channel_id: str | None,
    discord_message_ids: Sequence[str],
) -> ArchivedEdition:
    """The edition to keep, with a fresh id, after checking everything that came in."""
    check_edition(
        newsletter,
        guild_id=guild_id,
        published_at=published_at,
        slot=slot,
        channel_id=channel_id,
        discord_message_ids=discord_message_ids,
    )
    return ArchivedEdition(
        id=uuid.uuid4().hex,
        guild_id=guild_id,
        published_at=published_at,
        slot=slot,
        channel_id=channel_id,
        newsletter=newsletter,
        discord_message_ids=tuple(discord_message_ids),
    )


def _check_ids(guild_id: str, channel_id: str | None, message_ids: Sequence[str]) -> None:
    check_guild_id(guild_id)
    if channel_id is not None and not (isinstance(channel_id, str) and is_snowflake(channel_id)):
        raise StoreError(f"edition archive: channel id {channel_id!r} is not a Discord snowflake")
    if isinstance(message_ids, str):
        # A lone id would otherwise be archived as one id per digit.
        raise StoreError("edition archive: discord_message_ids must be a list of ids, not a str")
    for message_id in message_ids:
        if not (isinstance(message_id, str) and is_snowflake(message_id)):
            raise StoreError(
                f"edition archive: message id {message_id!r} is not a Discord snowflake"
            )


def _check_moment(name: str, moment: datetime) -> None:
    """Names sort by UTC time, which a naive datetime does not have."""
    if not isinstance(moment, datetime) or moment.utcoffset() is None:
        raise StoreError(f"edition archive: {name} must be a timezone-aware datetime")


def _stem(edition: ArchivedEdition) -> str:
    moment = edition.published_at.astimezone(UTC)
    # Formatted by hand: strftime("%Y") does not pad years before 1000 on every platform.
    stamp = (
        f"{moment.year:04d}-{moment.month:02d}-{moment.day:02d}T"
        f"{moment.hour:02d}-{moment.minute:02d}-{moment.second:02d}.{moment.microsecond:06d}Z"
    )
    return f"{stamp}_{edition.id}"


def json_name(edition: ArchivedEdition) -> str:
    """The record's name inside the guild's folder (or after the ``<guild_id>/`` prefix)."""
    return _stem(edition) + ".json"


def html_name(edition: ArchivedEdition) -> str:
    """The page's name, beside the record."""
    return _stem(edition) + ".html"


def newest_first(names: Iterable[str], limit: int) -> list[str]:
    """The ``limit`` newest record names among ``names``, ignoring anything else.

    Ties on the publication time are broken by id, ascending, like the SQL archive does.
    """
    matches = [match for name in names if (match := _JSON_NAME.fullmatch(name))]
    matches.sort(key=lambda match: match["id"])
    matches.sort(key=lambda match: match["stamp"], reverse=True)
    return [match.string for match in matches[:limit]]


def encode(edition: ArchivedEdition) -> bytes:
    """The record as JSON.

    ASCII-escaped on purpose: chat can carry lone surrogates (from ``"\\ud83d"`` escapes in
    exports), which UTF-8 cannot encode but a ``\\u`` escape round-trips exactly.
    """
    payload: dict[str, Any] = {
        "version": _FORMAT_VERSION,
        "id": edition.id,
        "guild_id": edition.guild_id,
        "published_at": edition.published_at.astimezone(UTC).isoformat(),
        "slot": edition.slot.astimezone(UTC).isoformat() if edition.slot else None,
        "channel_id": edition.channel_id,
        "discord_message_ids": list(edition.discord_message_ids),
        # Computed fields are derived on the way back in, and the model forbids extras.
        "newsletter": edition.newsletter.model_dump(
            mode="json", exclude=set(Newsletter.model_computed_fields)
        ),
    }
    return json.dumps(payload, ensure_ascii=True, indent=1).encode("ascii")


def decode(data: bytes, where: str) -> ArchivedEdition:
    """A record read back; ``where`` names the file or blob when it is not one."""
    try:
        record = _Record.model_validate(json.loads(data))
    except (ValueError, ValidationError) as exc:
        first_line = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
        raise StoreError(
            f"edition archive: {where} is not an archived edition: {first_line}"
        ) from exc
    return ArchivedEdition(
        id=record.id,
        guild_id=record.guild_id,
        published_at=record.published_at,
        slot=record.slot,
        channel_id=record.channel_id,
        newsletter=record.newsletter,
        discord_message_ids=record.discord_message_ids,
    )


class CheckedArchive:
    """Another archive behind the same checks the file and Blob archives make, so every
    backend refuses the same bad input (the SQL archive would store any text)."""

    def __init__(self, inner: EditionArchive) -> None:
        self._inner = inner

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
        """See ``EditionArchive.keep``."""
        check_edition(
            newsletter,
            guild_id=guild_id,
            published_at=published_at,
            slot=slot,
            channel_id=channel_id,
            discord_message_ids=discord_message_ids,
        )
        return await self._inner.keep(
            newsletter,
            guild_id=guild_id,
            published_at=published_at,
            slot=slot,
            channel_id=channel_id,
            discord_message_ids=discord_message_ids,
        )

    async def latest(self, guild_id: str, limit: int = 1) -> list[ArchivedEdition]:
        """See ``EditionArchive.latest``."""
        check_guild_id(guild_id)
        check_limit(limit)
        if limit == 0:
            return []
        return await self._inner.latest(guild_id, limit)

    async def forget_author(
        self, guild_id: str, author_id: str, *, names: Sequence[str] = ()
    ) -> int:
        """See ``EditionArchive.forget_author``."""
        listed = check_forget(guild_id, author_id, names)
        return await self._inner.forget_author(guild_id, author_id, names=listed)
