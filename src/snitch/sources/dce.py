"""DiscordChatExporter JSON import, streamed so that a large export never sits in memory whole.

DCE writes one file per channel (threads get their own file). Older versions omit keys such
as ``exportedAt``, ``roles`` or ``reference.type``, so every field but a message's id,
timestamp and author is optional here. A file of up to ``WHOLE_FILE_BYTES`` is parsed in
one go with orjson (the import's biggest cost is parsing), a larger one streams.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from operator import attrgetter
from pathlib import Path
from typing import Any, BinaryIO, TypeVar

import ijson
import orjson
from pydantic import ValidationError

from snitch.errors import EmptyWindowError, ExportError
from snitch.models import Author, Channel, Chat, Guild, Message, Reaction

# Whole-file parsing; None makes every file stream through ijson (tests compare the two).
_parse_whole: Callable[[bytes], Any] | None = orjson.loads

READ_CHUNK = 256 * 1024
# Files up to this size are parsed whole with orjson: three times faster than
# streaming them through ijson, and a bounded amount of memory. Larger files stream.
WHOLE_FILE_BYTES = 16 * 1024 * 1024
ProgressCallback = Callable[[int], None]
T = TypeVar("T")


@dataclass(frozen=True)
class ExportHeader:
    """What one export file is about: its guild and its channel (or thread)."""

    path: Path
    guild: Guild
    channel: Channel


class _CountingReader:
    """Reports bytes read to a callback, so a progress bar can follow a streaming parse.

    The first ``already`` bytes are not reported: an earlier pass over the same file did,
    and the bar must not run past the file's size.
    """

    def __init__(self, raw: BinaryIO, on_read: ProgressCallback | None, already: int = 0) -> None:
        self._raw = raw
        self._on_read = on_read
        self._unreported = already

    def read(self, size: int = -1) -> bytes:
        data = self._raw.read(size)
        fresh = len(data) - self._unreported
        self._unreported = max(0, -fresh)
        if self._on_read is not None and fresh > 0:
            self._on_read(fresh)
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
        for index, item in enumerate(_raw_messages(header.path, on_read)):
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


def _raw_messages(path: Path, on_read: ProgressCallback | None) -> Iterator[Any]:
    """The raw message objects of one export: a small file parsed whole, a large one
    streamed by ijson. ijson also reads every file the whole-file parse refuses or is unsure
    of, so bad JSON gets ijson's error, worded as ever."""
    with path.open("rb") as raw:
        already = 0
        if _parse_whole is not None and path.stat().st_size <= WHOLE_FILE_BYTES:
            data = raw.read()
            already = len(data)
            if on_read is not None and data:
                on_read(already)
            items = _whole_file_messages(data, _parse_whole)
            del data
            if items is not None:
                yield from items
                return
            raw.seek(0)
        reader = _CountingReader(raw, on_read, already)
        yield from ijson.items(reader, "messages.item", use_float=True, buf_size=READ_CHUNK)


def _whole_file_messages(data: bytes, parse: Callable[[bytes], Any]) -> list[Any] | None:
    """The items of the document's top-level "messages" array, as ijson's ``messages.item``
    gives them; None for ijson to decide.

    orjson refuses what ijson refuses (NaN, a lone surrogate escape, bad UTF-8, a BOM,
    trailing data), with one exception, integers beyond 64 bits, which ijson cannot hold and
    orjson reads. A repeated "messages" key is left to ijson, which reads both arrays.
    """
    if data.count(b'"messages"') != 1:
        return None
    try:
        document = parse(data)
    except ValueError:  # orjson.JSONDecodeError
        return None
    messages = document.get("messages") if type(document) is dict else None
    return messages if type(messages) is list else None


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
    moment = datetime.fromisoformat(value if type(value) is str else _text(value))
    if moment.tzinfo is UTC:  # DCE writes "+00:00", which parses to UTC itself
        return moment
    if moment.tzinfo is None:
        return moment.replace(tzinfo=UTC)
    return moment.astimezone(UTC)


# Message fields that every message read here sets (copying a set skips rehashing them).
_ALWAYS_SET = frozenset(
    {"id", "guild_id", "channel_id", "author", "content", "timestamp", "kind", "is_pinned"}
)
_new_object = object.__new__
_set_slot = object.__setattr__


def _checked_message(values: dict[str, Any], fields_set: set[str]) -> Message:
    """A Message from values ``_message`` has already checked, built the way pydantic's own
    ``model_construct`` builds one, minus its generic per-field loop.

    Validating them again costs more than reading the message from JSON (about 3 µs each,
    a third of a second per 100,000 messages) and cannot fail: every value has its final
    type already (``_message`` sends anything else through validation). ``values`` holds
    every field, in the model's order, as validation would; ``fields_set`` the fields
    given, as validation would record them.
    """
    message: Message = _new_object(Message)
    _set_slot(message, "__dict__", values)
    _set_slot(message, "__pydantic_fields_set__", fields_set)
    _set_slot(message, "__pydantic_extra__", None)
    _set_slot(message, "__pydantic_private__", None)
    return message


def _message(header: ExportHeader, index: int, raw: Any, authors: AuthorCache) -> Message:
    """One checked Message; the hot path of every import, so optional parts are skipped
    when absent rather than validated empty."""
    message_id = raw.get("id") if type(raw) is dict else None
    try:
        data = raw if type(raw) is dict else _as_mapping(raw, "message")
        timestamp = _timestamp(data["timestamp"])
        if timestamp is None:
            raise TypeError("timestamp is null")
        raw_id = data["id"]
        checked_id = raw_id if type(raw_id) is str else _text(raw_id)
        author = _author(data["author"], authors, "author")
        content = data.get("content")
        if type(content) is not str:
            content = _text(content)
        kind = data.get("type") or "Default"
        fields_set = set(_ALWAYS_SET)
        edited_at = reply_to_id = None
        mentions: tuple[Author, ...] = ()
        reactions: tuple[Reaction, ...] = ()
        attachments = 0
        if edited := data.get("timestampEdited"):
            edited_at = _timestamp(edited)
            fields_set.add("edited_at")
        if reference := data.get("reference"):
            reply_to = _as_mapping(reference, "reference").get("messageId")
            reply_to_id = _text(reply_to) if reply_to else None
            fields_set.add("reply_to_id")
        if mentioned := data.get("mentions"):
            mentions = tuple(_author(m, authors, "mention") for m in mentioned)
            fields_set.add("mentions")
        if reacted := data.get("reactions"):
            reactions = tuple(_reaction(r) for r in reacted)
            fields_set.add("reactions")
        if attached := data.get("attachments"):
            attachments = len(attached)
            fields_set.add("attachments_count")
        values: dict[str, Any] = {
            "id": checked_id,
            "guild_id": header.guild.id,
            "channel_id": header.channel.id,
            "author": author,
            "content": content,
            "timestamp": timestamp,
            "edited_at": edited_at,
            "kind": kind,
            "reply_to_id": reply_to_id,
            "mentions": mentions,
            "reactions": reactions,
            "attachments_count": attachments,
            "is_pinned": bool(data.get("isPinned", False)),
        }
        if type(kind) is not str:  # let validation say what is wrong with it
            return Message(**{name: values[name] for name in fields_set})
        return _checked_message(values, fields_set)
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
            moment = message.timestamp
            if first is None or moment < first:
                first = moment
            if last is None or moment > last:
                last = moment
            if (since is not None and moment < since) or (until is not None and moment >= until):
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
    messages = sorted(kept.values(), key=attrgetter("timestamp", "id"))
    return Chat(guild=headers[-1].guild, channels=channels, messages=messages)


def _moment(moment: datetime | None) -> str:
    return moment.strftime("%Y-%m-%d %H:%M UTC") if moment else "the start"


def _edited(message: Message) -> datetime:
    return message.edited_at or message.timestamp
