"""DiscordChatExporter import: real fixtures, older shapes, and every kind of bad input."""

from __future__ import annotations

import json
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import ijson
import pytest

from snitch.errors import EmptyWindowError, ExportError
from snitch.models import Message
from snitch.sources import dce
from snitch.sources.dce import expand_paths, load_exports, read_header, read_messages
from tests.helpers import FIXTURES, START, dce_export, raw_message, write_json

THREAD = FIXTURES / "Example_guild_-_general_-_Thomas_is_Thomas_1060927310439657577.json"
CHILL = FIXTURES / "Example_guild_-_Text_Channels_-_chill_talk_1012224565567125544.json"
CHILL_AFTER_DELETE = CHILL.with_name(CHILL.stem + "_without_deleted_message.json")


def test_reads_every_real_fixture() -> None:
    chat = load_exports([FIXTURES])
    assert chat.guild.id == "748545324524575035"
    assert len(chat.messages) == 12  # 6 + 1 + 5 distinct ids, the duplicated channel merged
    assert [m.timestamp for m in chat.messages] == sorted(m.timestamp for m in chat.messages)
    assert len(chat.channels) == 3


def test_thread_keeps_its_parent_channel_and_replies() -> None:
    header = read_header(THREAD)
    assert header.channel.kind == "GuildPublicThread"
    assert header.channel.parent_id == "1012224565567721552"
    messages = list(read_messages(header))
    reply = next(m for m in messages if m.id == "1060927555093413928")
    assert reply.reply_to_id == "1060927520008065176"
    assert reply.kind == "Reply"
    assert reply.reactions[0].emoji == "thisisfine"
    assert reply.reaction_count == 1
    asker = next(m for m in messages if m.id == "1060927520008065176")
    assert [a.name for a in asker.mentions] == ["Adam"]
    assert reply.jump_url == (
        "https://discord.com/channels/748545324524575035/1060927310439657577/1060927555093413928"
    )


def test_channel_exported_twice_keeps_the_edited_copy() -> None:
    chat = load_exports([CHILL_AFTER_DELETE, CHILL])
    edited = next(m for m in chat.messages if m.id == "1060954419862188072")
    assert edited.edited_at == datetime(2023, 1, 12, 16, 14, 5, 275000, tzinfo=UTC)
    assert edited.content == ":pepeheart: :pepeheart: :pepeheart:"
    assert len({m.id for m in chat.messages}) == len(chat.messages) == 6


def test_pinned_and_timestamps_are_utc() -> None:
    pinned = next(m for m in load_exports([FIXTURES]).messages if m.is_pinned)
    assert pinned.id == "1045178587575242772"
    assert pinned.timestamp.tzinfo is UTC


def test_older_exports_without_optional_keys(tmp_path: Path) -> None:
    document = {
        "guild": {"id": "1"},
        "channel": {"id": "2"},
        "messages": [
            {"id": "10", "timestamp": "2022-05-01T10:00:00", "author": {"id": "7"}},
            {
                "id": "11",
                "timestamp": "2022-05-01T12:01:00+02:00",
                "author": {"id": "8", "name": "bo"},
                "content": "hi",
                "reference": {"messageId": "10"},
                "reactions": [{"emoji": {"name": "👍"}}],
            },
        ],
    }
    chat = load_exports([write_json(tmp_path / "old.json", document)])
    first, second = chat.messages
    assert first.content == ""
    assert first.author.name == "7"
    assert first.timestamp == datetime(2022, 5, 1, 10, 0, tzinfo=UTC)
    assert second.reply_to_id == "10"
    assert second.timestamp == datetime(2022, 5, 1, 10, 1, tzinfo=UTC)
    assert second.reaction_count == 1
    assert chat.channels["2"].name == "unnamed channel"


def test_window_filters_while_streaming(tmp_path: Path) -> None:
    path = write_json(
        tmp_path / "e.json",
        dce_export(raw_message(str(i), f"m{i}", minutes=i * 60) for i in range(10)),
    )
    since = START.replace(hour=20)
    until = START.replace(hour=23)
    chat = load_exports([path], since=since, until=until)
    assert [m.id for m in chat.messages] == ["2", "3", "4"]


def test_empty_window_names_the_span_of_the_exports(tmp_path: Path) -> None:
    path = write_json(tmp_path / "e.json", dce_export([raw_message("1", "hi")]))
    with pytest.raises(EmptyWindowError, match=r"exports run from 2026-11-20 18:00 UTC"):
        load_exports([path], since=datetime(2030, 1, 1, tzinfo=UTC))


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("not json at all", r"bad\.json: not valid JSON"),
        ('{"guild": {"id": "1"}, "channel": {"id": "2"}, "messages": [{"id": "1",', "not valid"),
        ("[1, 2, 3]", r"bad\.json: not a DiscordChatExporter JSON export \(no 'guild' object\)"),
        ('{"guild": {"id": "1"}, "channel": {"id": "2"}}', r"no 'messages' array"),
        ('{"guild": {"name": "x"}, "channel": {"id": "2"}, "messages": []}', r"bad 'guild'.*id"),
        ('{"guild": {"id": "1"}, "channel": "general", "messages": []}', r"bad 'channel'"),
    ],
)
def test_malformed_files_name_the_file_and_the_problem(
    tmp_path: Path, text: str, expected: str
) -> None:
    path = tmp_path / "bad.json"
    path.write_text(text, encoding="utf-8")
    with pytest.raises(ExportError, match=expected):
        load_exports([path])


def test_bad_message_names_its_index_id_and_field(tmp_path: Path) -> None:
    messages = [raw_message("1", "fine"), raw_message("2", "fine")]
    messages[1]["timestamp"] = "yesterday-ish"
    path = write_json(tmp_path / "x.json", dce_export(messages))
    with pytest.raises(ExportError, match=r"x\.json: message #2 \(id 2\): .*isoformat"):
        load_exports([path])


def test_message_without_author_is_rejected(tmp_path: Path) -> None:
    broken = raw_message("5", "who wrote me")
    del broken["author"]
    path = write_json(tmp_path / "x.json", dce_export([broken]))
    with pytest.raises(ExportError, match=r"message #1 \(id 5\): missing field 'author'"):
        load_exports([path])


def test_empty_export_is_an_error(tmp_path: Path) -> None:
    path = write_json(tmp_path / "empty.json", dce_export([]))
    with pytest.raises(ExportError, match=r"no messages in .*empty\.json \(empty export\)"):
        load_exports([path])


def test_exports_of_two_guilds_are_refused(tmp_path: Path) -> None:
    one = write_json(tmp_path / "a.json", dce_export([raw_message("1", "a")]))
    other = write_json(
        tmp_path / "b.json",
        dce_export([raw_message("2", "b")], guild={"id": "999", "name": "Other"}),
    )
    with pytest.raises(ExportError, match="more than one guild"):
        load_exports([one, other])


def test_missing_path_and_empty_folder(tmp_path: Path) -> None:
    with pytest.raises(ExportError, match="no such file"):
        expand_paths([tmp_path / "nope.json"])
    with pytest.raises(ExportError, match="no export files found"):
        expand_paths([tmp_path])


def test_progress_callback_sees_every_byte(tmp_path: Path) -> None:
    path = write_json(tmp_path / "e.json", dce_export(raw_message(str(i), "x") for i in range(50)))
    seen: list[int] = []
    list(read_messages(read_header(path), seen.append))
    assert sum(seen) == path.stat().st_size
    assert json.loads(path.read_text())["messageCount"] == 50


def test_checked_messages_equal_validated_ones(tmp_path: Path) -> None:
    """Messages are built without validating them a second time; they must be exactly
    what validation would have built: equal, same field order, same fields set."""
    rich = raw_message("7", "hi <@1>", minutes=5)
    rich.update(
        type="Reply",
        isPinned=True,
        timestampEdited="2026-11-20T19:00:00+01:00",
        reference={"messageId": "3"},
        mentions=[{"id": "1", "name": "user1"}],
        reactions=[{"emoji": {"name": "🔥"}, "count": 2}],
        attachments=[{"id": "9"}],
    )
    bare = raw_message("8", "plain", minutes=6)
    bare["reference"] = {"channelId": "200"}  # a reference without a message id
    path = write_json(tmp_path / "e.json", dce_export([rich, bare]))
    messages = [*load_exports([FIXTURES]).messages, *load_exports([path]).messages]
    for message in messages:
        given = {name: getattr(message, name) for name in message.model_fields_set}
        validated = Message(**given)
        assert message == validated
        assert message.model_fields_set == validated.model_fields_set
        assert list(message.__dict__) == list(validated.__dict__)
        assert message.model_dump_json() == validated.model_dump_json()
    last = messages[-1]
    assert last.reply_to_id is None
    assert "reply_to_id" in last.model_fields_set


def test_message_kind_must_be_text(tmp_path: Path) -> None:
    odd = raw_message("4", "hi")
    odd["type"] = 19
    path = write_json(tmp_path / "x.json", dce_export([odd]))
    with pytest.raises(ExportError, match=r"message #1 \(id 4\): kind: Input should be a valid"):
        load_exports([path])


def ijson_items(path: Path) -> list[Any] | str:
    """What streaming alone gives: the items, or the kind of error."""
    try:
        with path.open("rb") as raw:
            return list(ijson.items(raw, "messages.item", use_float=True))
    except ijson.JSONError as exc:
        return type(exc).__name__


def read_items(path: Path, on_read: Callable[[int], None] | None = None) -> list[Any] | str:
    try:
        return list(dce._raw_messages(path, on_read))
    except ijson.JSONError as exc:
        return type(exc).__name__


ESCAPED_EMOJI = '{"messages": [{"content": "cold \\uD83E\\uDD76"}]}'
ODD_DOCUMENTS = [
    '{"guild": {}, "messages": [{"id": "1"}], "messages": [{"id": "2"}]}',  # repeated key
    '{"messages": {"item": {"id": "1"}}}',  # not an array: ijson still finds an "item"
    '{"messages": [{"id": "1", "n": NaN}]}',
    '{"messages": [{"content": "half \\ud800 a pair"}]}',
    ESCAPED_EMOJI,
    '{"messages": [{"id": "1"}]} trailing',
    '{"messages": [{"id": "1"}, {"id": ',
    '\ufeff{"messages": [{"id": "1"}]}',
    '[{"messages": [1]}]',
    '{"messages": [1, 2.5, -0, "x", null, true, [], {}]}',
    '{"messages": [{"text": "tab\tinside"}]}',
]


@pytest.mark.parametrize("text", ODD_DOCUMENTS)
def test_whole_file_parse_gives_what_streaming_gives(tmp_path: Path, text: str) -> None:
    path = tmp_path / "odd.json"
    path.write_text(text, encoding="utf-8")
    seen: list[int] = []
    assert read_items(path, seen.append) == ijson_items(path)
    assert sum(seen) <= path.stat().st_size  # a second pass does not count bytes twice


def test_fixtures_parse_whole_as_they_stream() -> None:
    for path in expand_paths([FIXTURES]):
        assert read_items(path) == ijson_items(path)


def test_escaped_emoji_are_read_whole(tmp_path: Path) -> None:
    path = tmp_path / "emoji.json"
    path.write_text(ESCAPED_EMOJI, encoding="utf-8")
    assert dce._parse_whole is not None
    parsed = dce._whole_file_messages(path.read_bytes(), dce._parse_whole)
    assert parsed == [{"content": "cold 🥶"}]


def test_large_files_stream(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    path = write_json(tmp_path / "e.json", dce_export(raw_message(str(i), "x") for i in range(5)))
    monkeypatch.setattr(dce, "WHOLE_FILE_BYTES", 10)
    monkeypatch.setattr(dce, "_whole_file_messages", None)  # would fail if it were called
    seen: list[int] = []
    assert [m.id for m in read_messages(read_header(path), seen.append)] == list("01234")
    assert sum(seen) == path.stat().st_size
