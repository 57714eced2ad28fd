"""DiscordChatExporter import: real fixtures, older shapes, and every kind of bad input."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path

import pytest

from snitch.errors import EmptyWindowError, ExportError
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
