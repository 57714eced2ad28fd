"""DiscordChatExporter JSON import, streamed so that a large export never sits in memory whole.

DCE writes one file per channel (threads get their own file). Older versions omit keys such
as ``exportedAt``, ``roles`` or ``reference.type``, so every field but a message's id,
timestamp and author is optional here.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, BinaryIO, TypeVar

import ijson
from pydantic import ValidationError

from snitch.errors import EmptyWindowError, ExportError
from snitch.models import Author, Channel, Chat, Guild, Message, Reaction

READ_CHUNK = 256 * 1024
ProgressCallback = Callable[[int], None]
T = TypeVar("T")


@dataclass(frozen=True)
class ExportHeader:
    """What one export file is about: its guild and its channel (or thread)."""

    path: Path
    guild: Guild
    channel: Channel


class _CountingReader:
    """Reports bytes read to a callback, so a progress bar can follow a streaming parse."""

    def __init__(self, raw: BinaryIO, on_read: ProgressCallback | None) -> None:
        self._raw = raw
        self._on_read = on_read

    def read(self, size: int = -1) -> bytes:
        data = self._raw.read(size)
        if self._on_read is not None and data:
            self._on_read(len(data))
        return data


def expand_paths(paths: Iterable[Path]) -> list[Path]:
    """Files as given, and every ``*.json`` below a directory (DCE writes folders of them)."""
    found: list[Path] = []
    for path in paths:
        if path.is_dir():
            found.extend(sorted(p for p in path.rglob("*.json") if p.is_file()))
        elif path.is_file():
            found.append(path)
        else:
            raise ExportError(f"{path}: no such file or directory")
    if not found:
        raise ExportError("no export files found in " + ", ".join(str(p) for p in paths))
    return found


def read_header(path: Path) -> ExportHeader:
    """Read only the guild and channel at the top of an export, without parsing its messages."""
    guild_raw = _first_item(path, "guild")
    channel_raw = _first_item(path, "channel")
    guild = _build(path, "guild", lambda: _guild(guild_raw))
    channel = _build(path, "channel", lambda: _channel(channel_raw, guild.id))
    return ExportHeader(path=path, guild=guild, channel=channel)


def read_messages(
    header: ExportHeader, on_read: ProgressCallback | None = None
) -> Iterator[Message]:
    """Stream the messages of one export, validating each; errors name the file and message."""
    authors: AuthorCache = {}
    index = -1
    try:
        with header.path.open("rb") as raw:
            reader = _CountingReader(raw, on_read)
            items = ijson.items(reader, "messages.item", use_float=True, buf_size=READ_CHUNK)
            for index, item in enumerate(items):
                yield _message(header, index, item, authors)
    except ijson.JSONError as exc:
        where = f"after message #{index + 1}" if index >= 0 else "before the first message"
        raise ExportError(f"{header.path}: not valid JSON ({where}): {_first_line(exc)}") from None
    except OSError as exc:
        raise ExportError(f"{header.path}: cannot read: {exc.strerror or exc}") from None
    if index < 0 and not _has_messages_array(header.path):
        raise ExportError(
            f"{header.path}: not a DiscordChatExporter JSON export (no 'messages' array)"
        )


def _first_item(path: Path, key: str) -> Any:
    try:
        with path.open("rb") as raw:
            for value in ijson.items(raw, key, use_float=True):
                return value
    except ijson.JSONError as exc:
        raise ExportError(f"{path}: not valid JSON: {_first_line(exc)}") from None
    except OSError as exc:
        raise ExportError(f"{path}: cannot read: {exc.strerror or exc}") from None
    raise ExportError(f"{path}: not a DiscordChatExporter JSON export (no '{key}' object)")


def _has_messages_array(path: Path) -> bool:
    with path.open("rb") as raw:
        for prefix, event, _value in ijson.parse(raw):
            if prefix == "messages" and event == "start_array":
                return True
    return False


def _first_line(exc: Exception) -> str:
    text = str(exc).strip()
    return text.splitlines()[0] if text else type(exc).__name__


def _build(path: Path, what: str, build: Callable[[], T]) -> T:
    try:
        return build()
    except (ValidationError, KeyError, TypeError, AttributeError) as exc:
        raise ExportError(f"{path}: bad '{what}': {_describe(exc)}") from None


def _describe(exc: Exception) -> str:
    if isinstance(exc, ValidationError):
        parts = []
        for error in exc.errors():
            field = ".".join(str(part) for part in error["loc"])
            parts.append(f"{field}: {error['msg']}" if field else error["msg"])
        return "; ".join(parts)
    if isinstance(exc, KeyError):
        return f"missing field {exc.args[0]!r}"
    return str(exc)


def _as_mapping(value: Any, what: str) -> Mapping[str, Any]:
    if type(value) is dict:  # the parser's own type: skip the slower ABC check
        return value
    if not isinstance(value, Mapping):
        raise TypeError(f"{what} should be an object, got {type(value).__name__}")
    return value


def _text(value: Any) -> str:
    if type(value) is str:
        return value
    if value is None:
        return ""
    if isinstance(value, bool) or not isinstance(value, str | int | float):
        raise TypeError(f"expected text, got {type(value).__name__}")
    return str(value)


def _guild(raw: Any) -> Guild:
    data = _as_mapping(raw, "guild")
    return Guild(id=_text(data["id"]), name=_text(data.get("name")) or "unnamed guild")


def _channel(raw: Any, guild_id: str) -> Channel:
    data = _as_mapping(raw, "channel")
    kind = _text(data.get("type")) or "GuildTextChat"
    category_id = data.get("categoryId")
    is_thread = "Thread" in kind
    return Channel(
        id=_text(data["id"]),
        guild_id=guild_id,
        name=_text(data.get("name")) or "unnamed channel",
        kind=kind,
        category=data.get("category"),
        parent_id=_text(category_id) if is_thread and category_id else None,
        topic=data.get("topic"),
    )


AuthorCache = dict[tuple[Any, ...], Author]


def _author(raw: Any, cache: AuthorCache, what: str) -> Author:
    """The Author of a raw DCE author object; one shared instance per distinct author."""
    data = _as_mapping(raw, what)
    key: tuple[Any, ...] | None = (
        data.get("id"),
        data.get("name"),
        data.get("nickname"),
        data.get("isBot"),
    )
    try:
        author = cache.get(key) if key else None
    except TypeError:  # an unhashable value: let validation below say what is wrong
        author, key = None, None
    if author is None:
        author_id = _text(data["id"])
        nickname = data.get("nickname")
        author = Author(
            id=author_id,
            name=_text(data.get("name")) or author_id,
            nickname=_text(nickname) if nickname else None,
            is_bot=bool(data.get("isBot", False)),
        )
        if key is not None:
            cache[key] = author
    return author


def _reaction(raw: Any) -> Reaction:
    data = _as_mapping(raw, "reaction")
    emoji = _as_mapping(data.get("emoji") or {}, "reaction.emoji")
    name = _text(emoji.get("name")) or _text(emoji.get("id")) or "?"
    return Reaction(emoji=name, count=int(data.get("count", 1)))


def _timestamp(value: Any) -> datetime | None:
    if value is None:
        return None
    moment = datetime.fromisoformat(_text(value))
    if moment.tzinfo is None:
        return moment.replace(tzinfo=UTC)
    return moment.astimezone(UTC)


def _message(header: ExportHeader, index: int, raw: Any, authors: AuthorCache) -> Message:
    """One validated Message; the hot path of every import, so optional parts are skipped
    when absent rather than validated empty."""
    message_id = raw.get("id") if type(raw) is dict else None
    try:
        data = _as_mapping(raw, "message")
        timestamp = _timestamp(data["timestamp"])
        if timestamp is None:
            raise TypeError("timestamp is null")
        content = data.get("content")
        fields: dict[str, Any] = {
            "id": _text(data["id"]),
            "guild_id": header.guild.id,
            "channel_id": header.channel.id,
            "author": _author(data["author"], authors, "author"),
            "content": content if isinstance(content, str) else _text(content),
            "timestamp": timestamp,
            "kind": data.get("type") or "Default",
            "is_pinned": bool(data.get("isPinned", False)),
        }
        if edited := data.get("timestampEdited"):
            fields["edited_at"] = _timestamp(edited)
        if reference := data.get("reference"):
            reply_to = _as_mapping(reference, "reference").get("messageId")
            fields["reply_to_id"] = _text(reply_to) if reply_to else None
        if mentions := data.get("mentions"):
            fields["mentions"] = tuple(_author(m, authors, "mention") for m in mentions)
        if reactions := data.get("reactions"):
            fields["reactions"] = tuple(_reaction(r) for r in reactions)
        if attachments := data.get("attachments"):
            fields["attachments_count"] = len(attachments)
        return Message(**fields)
    except (ValidationError, KeyError, TypeError, ValueError, AttributeError) as exc:
        which = f"message #{index + 1}" + (f" (id {message_id})" if message_id else "")
        raise ExportError(f"{header.path}: {which}: {_describe(exc)}") from None


def load_exports(
    paths: Iterable[Path],
    *,
    since: datetime | None = None,
    until: datetime | None = None,
    on_read: ProgressCallback | None = None,
) -> Chat:
    """Read exports of one guild into a Chat: messages deduplicated by id, oldest first.

    Only messages in ``[since, until)`` are kept, so a window over a huge export holds just
    that window in memory. When the same message appears in two exports (a channel exported
    twice) the most recently edited copy wins.
    """
    files = expand_paths(paths)
    headers = [read_header(path) for path in files]
    guild_ids = {header.guild.id for header in headers}
    if len(guild_ids) > 1:
        names = ", ".join(sorted({f"{h.guild.name} ({h.guild.id})" for h in headers}))
        raise ExportError(f"exports come from more than one guild: {names}; use one guild")
    channels = {header.channel.id: header.channel for header in headers}
    kept: dict[str, Message] = {}
    seen = 0
    first: datetime | None = None
    last: datetime | None = None
    for header in headers:
        for message in read_messages(header, on_read):
            seen += 1
            first = message.timestamp if first is None else min(first, message.timestamp)
            last = message.timestamp if last is None else max(last, message.timestamp)
            if (since and message.timestamp < since) or (until and message.timestamp >= until):
                continue
            previous = kept.get(message.id)
            if previous is None or _edited(message) >= _edited(previous):
                kept[message.id] = message
    if seen == 0:
        raise ExportError(
            "no messages in " + ", ".join(str(h.path) for h in headers) + " (empty export)"
        )
    if not kept and first and last:
        raise EmptyWindowError(
            f"no messages between {_moment(since)} and {_moment(until)}; the exports run from "
            f"{_moment(first)} to {_moment(last)}"
        )
    messages = sorted(kept.values(), key=lambda message: (message.timestamp, message.id))
    return Chat(guild=headers[-1].guild, channels=channels, messages=messages)


def _moment(moment: datetime | None) -> str:
    return moment.strftime("%Y-%m-%d %H:%M UTC") if moment else "the start"


def _edited(message: Message) -> datetime:
    return message.edited_at or message.timestamp
