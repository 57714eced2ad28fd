"""The synthetic server: deterministic, labelled, realistic enough to test grouping against.

The News Desk is judged on this data, so these tests pin down what makes the test meaningful:
conversations really interleave, signals appear in realistic (not total) proportions, planted
stories stand out, and the DCE files are the exporter's exact shape.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import subprocess
import sys
from collections import Counter, defaultdict
from datetime import UTC, datetime, timedelta
from itertools import pairwise
from pathlib import Path
from typing import Any

import pytest

from snitch.models import Message
from snitch.sources import dce
from snitch.sources.synthetic import (
    DEFAULT_START,
    SyntheticServer,
    generate_server,
    snowflake_time,
    write_dce_export,
    write_dce_exports,
)
from tests.helpers import FIXTURES

HOSTILE_MARKERS = ("@everyone", "@here", "<@", "<#")


@pytest.fixture(scope="module")
def server() -> SyntheticServer:
    return generate_server()


@pytest.fixture(scope="module")
def exports(server: SyntheticServer, tmp_path_factory: pytest.TempPathFactory) -> list[Path]:
    return write_dce_exports(server, tmp_path_factory.mktemp("dce"))


def _by_label(server: SyntheticServer) -> dict[str, list[Message]]:
    groups: dict[str, list[Message]] = defaultdict(list)
    for message in server.messages:
        groups[server.labels[message.id]].append(message)
    return groups


def _background(server: SyntheticServer) -> list[Message]:
    return [m for m in server.messages if server.labels[m.id].startswith("conv-")]


def _planted_messages(server: SyntheticServer) -> list[Message]:
    ids = {i for story in server.planted for i in story.message_ids}
    return [m for m in server.messages if m.id in ids]


def _digest(server: SyntheticServer) -> str:
    text = json.dumps(
        [m.model_dump(mode="json") for m in server.messages]
        + [dict(server.labels)]
        + [[p.id, p.kind, p.channel_id, list(p.message_ids), p.topic] for p in server.planted],
        sort_keys=True,
    )
    return hashlib.sha256(text.encode()).hexdigest()


# ------------------------------------------------------------------------------- determinism


def test_same_seed_gives_the_same_server() -> None:
    first = generate_server(seed=3, messages=800, channels=3, planted=3)
    again = generate_server(seed=3, messages=800, channels=3, planted=3)
    other = generate_server(seed=4, messages=800, channels=3, planted=3)

    assert first.messages == again.messages
    assert dict(first.labels) == dict(again.labels)
    assert first.planted == again.planted
    assert first.channels == again.channels
    assert [m.content for m in other.messages] != [m.content for m in first.messages]


def test_same_seed_gives_the_same_server_in_another_process() -> None:
    """Nothing may depend on string hashing (set order), which changes per process."""
    code = (
        "from snitch.sources.synthetic import generate_server\n"
        "from tests.sources.test_synthetic import _digest\n"
        "print(_digest(generate_server(seed=5, messages=600, channels=2, planted=2)))\n"
    )
    env = {**os.environ, "PYTHONHASHSEED": "12345"}
    root = Path(__file__).resolve().parents[2]
    result = subprocess.run(
        [sys.executable, "-c", code], env=env, cwd=root, capture_output=True, text=True, check=True
    )
    here = _digest(generate_server(seed=5, messages=600, channels=2, planted=2))
    assert result.stdout.strip() == here


# ------------------------------------------------------------------------------------ shape


def test_exact_count_sorted_and_ids_are_time_snowflakes(server: SyntheticServer) -> None:
    messages = server.messages
    assert len(messages) == 3000
    assert len({m.id for m in messages}) == len(messages)
    stamps = [m.timestamp for m in messages]
    assert stamps == sorted(stamps)
    assert [int(m.id) for m in messages] == sorted(int(m.id) for m in messages)
    for m in messages[::97]:
        assert snowflake_time(m.id) == m.timestamp
    assert stamps[0] >= DEFAULT_START
    assert stamps[-1] < DEFAULT_START + timedelta(days=2)
    assert all(m.guild_id == server.guild.id for m in messages)


def test_every_message_validates_as_a_model(server: SyntheticServer) -> None:
    for message in server.messages:
        assert Message.model_validate(message.model_dump()) == message


def test_labels_cover_every_message_and_strays_are_alone(server: SyntheticServer) -> None:
    assert set(server.labels) == {m.id for m in server.messages}
    groups = _by_label(server)
    strays = [label for label in groups if label.startswith("stray-")]
    assert strays
    assert all(len(groups[label]) == 1 for label in strays)
    conversations = [ms for label, ms in groups.items() if label.startswith("conv-")]
    assert len(conversations) >= 120
    assert all(len(ms) >= 2 for ms in conversations)
    for ms in groups.values():  # a conversation stays in one channel
        assert len({m.channel_id for m in ms}) == 1


def test_cast_has_a_few_heavy_writers_and_many_light_ones(server: SyntheticServer) -> None:
    people = Counter(m.author.id for m in server.messages if not m.author.is_bot)
    counts = sorted(people.values(), reverse=True)
    assert 35 <= len(counts) <= 40
    assert sum(counts[:5]) > 0.4 * sum(counts)
    assert counts[len(counts) // 2] < 0.03 * sum(counts)
    nicknamed = {m.author.name for m in server.messages if m.author.nickname != m.author.name}
    assert len(nicknamed) >= 4


def test_channels_and_a_thread(server: SyntheticServer) -> None:
    text = [c for c in server.channels if c.kind == "GuildTextChat"]
    threads = [c for c in server.channels if c.kind == "GuildPublicThread"]
    assert [c.name for c in text] == ["general", "memes", "gaming", "food"]
    assert len(threads) == 1
    parent = next(c for c in text if c.id == threads[0].parent_id)
    assert threads[0].category == parent.name
    in_thread = [m for m in server.messages if m.channel_id == threads[0].id]
    assert len(in_thread) >= 20
    assert any(m.kind == "ThreadCreated" and m.channel_id == parent.id for m in server.messages)


# ------------------------------------------------------------------------ conversation signals


def test_conversations_interleave_within_channels(server: SyntheticServer) -> None:
    """Most messages sit next to a message of another conversation: time alone cannot split.

    Threads are exempt: a thread is focused, one or two conversations at a time.
    """
    by_channel: dict[str, list[Message]] = defaultdict(list)
    for message in server.messages:
        by_channel[message.channel_id].append(message)
    all_mixed = 0
    for channel in server.channels:
        labels = [server.labels[m.id] for m in by_channel[channel.id]]
        mixed = sum(
            (i > 0 and labels[i - 1] != label) or (i + 1 < len(labels) and labels[i + 1] != label)
            for i, label in enumerate(labels)
        )
        all_mixed += mixed
        if channel.kind == "GuildTextChat":
            assert mixed / len(labels) >= 0.4, channel.name
    assert all_mixed / len(server.messages) >= 0.5


def test_most_conversations_overlap_another_in_time(server: SyntheticServer) -> None:
    spans: dict[str, list[tuple[datetime, datetime]]] = defaultdict(list)
    for label, ms in _by_label(server).items():
        if label.startswith("conv-"):
            spans[ms[0].channel_id].append((ms[0].timestamp, ms[-1].timestamp))
    overlapping = total = 0
    for items in spans.values():
        for k, (start, end) in enumerate(items):
            total += 1
            overlapping += any(s < end and start < e for j, (s, e) in enumerate(items) if j != k)
    assert overlapping / total >= 0.6


def test_replies_point_back_into_the_same_conversation(server: SyntheticServer) -> None:
    by_id = {m.id: m for m in server.messages}
    replies = [m for m in server.messages if m.reply_to_id is not None]
    assert replies
    for message in replies:
        target = by_id[message.reply_to_id or ""]
        assert message.kind in {"Reply", "ChannelPinnedMessage"}
        assert target.timestamp < message.timestamp
        assert target.channel_id == message.channel_id
        assert server.labels[target.id] == server.labels[message.id]
    assert all(m.reply_to_id is not None for m in server.messages if m.kind == "Reply")


def test_background_signals_are_present_but_partial(server: SyntheticServer) -> None:
    background = _background(server)
    n = len(background)
    replies = sum(m.kind == "Reply" for m in background) / n
    mentions = sum(bool(m.mentions) for m in background) / n
    names = {m.author.name.lower() for m in server.messages} | {
        m.author.display_name.lower() for m in server.messages
    }
    addressed = (
        sum(
            not m.mentions and re.split(r"[:, ]", m.content, maxsplit=1)[0].lower() in names
            for m in background
        )
        / n
    )
    short = sum(len(m.content.split()) <= 2 for m in background) / n
    assert 0.06 <= replies <= 0.25
    assert 0.01 <= mentions <= 0.1
    assert 0.02 <= addressed <= 0.12
    assert 0.1 <= short <= 0.35
    assert sum(m.reaction_count for m in background) / n < 0.3


def test_mentions_are_rendered_like_dce(server: SyntheticServer) -> None:
    mentioned = [m for m in server.messages if m.mentions]
    assert mentioned
    for message in mentioned:
        for person in message.mentions:
            assert f"@{person.display_name}" in message.content


def test_participants_and_topic_words_per_conversation(server: SyntheticServer) -> None:
    groups = [ms for label, ms in _by_label(server).items() if label.startswith("conv-")]
    sizes = Counter(len({m.author.id for m in ms}) for ms in groups)
    assert max(sizes) <= 7
    assert sum(n for people, n in sizes.items() if people >= 2) >= 0.9 * len(groups)
    # Members take part in several conversations.
    per_member = Counter(author for ms in groups for author in {m.author.id for m in ms})
    assert sorted(per_member.values())[-10] >= 5

    # Messages of one conversation share topic words more than messages of two different ones.
    # Filler ("that's", "think") is everywhere, so drop the commonest words first, as IDF would.
    frequency = Counter(
        w for m in server.messages for w in set(re.findall(r"[a-z]{4,}", m.content.lower()))
    )
    common = {w for w, _ in frequency.most_common(60)}

    def words(ms: list[Message]) -> set[str]:
        return {w for m in ms for w in re.findall(r"[a-z]{4,}", m.content.lower())} - common

    big = [ms for ms in groups if len(ms) >= 10][:40]
    within = [len(words(ms[:5]) & words(ms[5:10])) for ms in big]
    across = [len(words(a[:5]) & words(b[5:10])) for a, b in pairwise(big)]
    assert sum(within) > 3 * sum(across)
    assert sum(w > 0 for w in within) >= 0.6 * len(big)  # noisy: not every pair shares a word


# ------------------------------------------------------------------------- planted stories


def test_planted_stories_are_spread_and_sized(server: SyntheticServer) -> None:
    stories = server.planted
    assert len(stories) == 6
    assert {s.kind for s in stories} == {"drama", "hype", "mystery", "announcement"}
    assert len({s.channel_id for s in stories}) == 4
    by_id = {m.id: m for m in server.messages}
    starts = sorted(by_id[s.message_ids[0]].timestamp for s in stories)
    assert starts[-1] - starts[0] > timedelta(days=1)
    for story in stories:
        assert 15 <= len(story.message_ids) <= 60
        assert story.topic
        assert all(server.labels[i] == story.id for i in story.message_ids)
        assert all(by_id[i].channel_id == story.channel_id for i in story.message_ids)
        assert sum(label == story.id for label in server.labels.values()) == len(story.message_ids)
        people = {by_id[i].author.id for i in story.message_ids}
        assert len(people) >= 5, story.topic


def test_planted_stories_stand_out_from_background(server: SyntheticServer) -> None:
    planted = _planted_messages(server)
    background = _background(server)

    def rate(ms: list[Message], test: Any) -> float:
        return sum(bool(test(m)) for m in ms) / len(ms)

    planted_reactions = sum(m.reaction_count for m in planted) / len(planted)
    background_reactions = sum(m.reaction_count for m in background) / len(background)
    assert planted_reactions > 10 * background_reactions
    assert rate(planted, lambda m: m.kind == "Reply") > 2 * rate(
        background, lambda m: m.kind == "Reply"
    )
    custom = {r.emoji for m in planted for r in m.reactions if r.emoji.isascii()}
    assert custom  # custom emoji such as "thisisfine" alongside unicode ones


def test_planted_stories_are_interleaved_with_chatter(server: SyntheticServer) -> None:
    """Other conversations go on while a story unfolds (a hype burst may take two minutes)."""
    inside = []
    for story in server.planted:
        ids = set(story.message_ids)
        channel = [m for m in server.messages if m.channel_id == story.channel_id]
        first = next(k for k, m in enumerate(channel) if m.id in ids)
        last = max(k for k, m in enumerate(channel) if m.id in ids)
        inside.append(sum(m.id not in ids for m in channel[first : last + 1]))
    assert min(inside) >= 3
    assert sorted(inside)[len(inside) // 2] >= 10


def test_planted_cues_match_their_kind(server: SyntheticServer) -> None:
    by_id = {m.id: m for m in server.messages}
    for story in server.planted:
        messages = [by_id[i] for i in story.message_ids]
        text = " ".join(m.content for m in messages)
        if story.kind == "drama":
            assert re.search(r"wrong|lie|ridiculous|!!|[A-Z]{4,}", text)
        elif story.kind == "hype":
            assert re.search(r"omg|let's go|no way|!!!|LET'S GO", text, re.IGNORECASE)
        elif story.kind == "mystery":
            assert text.count("?") >= 3
            assert any(m.edited_at is not None and m.edited_at > m.timestamp for m in messages)
        else:
            head = messages[0]
            assert head.is_pinned
            assert "big news" in head.content
            assert head.reaction_count >= 20
            assert messages[1].kind == "ChannelPinnedMessage"


# --------------------------------------------------------------------------- hostile content


def test_hostile_content_only_in_a_few_messages(server: SyntheticServer) -> None:
    hostile = [m for m in server.messages if any(t in m.content for t in HOSTILE_MARKERS)]
    assert 8 <= len(hostile) <= 40
    text = "\n".join(m.content for m in hostile)
    assert "@everyone" in text
    assert "@here" in text
    assert re.search(r"<@\d{17,20}>", text)
    assert re.search(r"<@&\d{17,20}>", text)
    assert re.search(r"<#\d{17,20}>", text)
    assert re.search(r"(<@\d+>\s*){5,}", text)  # mention spam
    assert "ignore your instructions" in text
    planted = {i for story in server.planted for i in story.message_ids}
    assert sum(m.id in planted for m in hostile) >= 3
    assert all(not m.mentions for m in hostile)


def test_no_hostile_content_when_turned_off() -> None:
    calm = generate_server(messages=1500, hostile=False)
    for message in calm.messages:
        assert not any(token in message.content for token in HOSTILE_MARKERS), message.content
        assert "ignore" not in message.content.lower()


def test_bots_and_attachment_only_messages(server: SyntheticServer) -> None:
    bots = [m for m in server.messages if m.author.is_bot]
    pictures = [m for m in server.messages if m.attachments_count and not m.content]
    assert 5 <= len(bots) <= 0.03 * len(server.messages)
    assert 10 <= len(pictures) <= 0.05 * len(server.messages)


# ---------------------------------------------------------------------------- DCE export files


def _fixture_keys() -> tuple[set[str], set[frozenset[str]], set[str], set[str], set[str]]:
    top: set[str] = set()
    message_keys: set[frozenset[str]] = set()
    author: set[str] = set()
    emoji: set[str] = set()
    mention: set[str] = set()
    for path in FIXTURES.glob("*.json"):
        document = json.loads(path.read_text(encoding="utf-8"))
        top |= set(document)
        for item in document["messages"]:
            message_keys.add(frozenset(item))
            author |= set(item["author"])
            for reaction in item["reactions"]:
                emoji |= set(reaction["emoji"])
            for person in item["mentions"]:
                mention |= set(person)
    return top, message_keys, author, emoji, mention


def test_export_files_have_the_fixture_shape(server: SyntheticServer, exports: list[Path]) -> None:
    top, message_keys, author_keys, emoji_keys, mention_keys = _fixture_keys()
    assert len(exports) == len(server.channels)
    total = 0
    for path in exports:
        with path.open(encoding="utf-8") as handle:
            document = json.load(handle)
        assert set(document) == top
        assert set(document["guild"]) == {"id", "name", "iconUrl"}
        assert set(document["channel"]) == {"id", "type", "categoryId", "category", "name", "topic"}
        assert document["dateRange"] == {"after": None, "before": None}
        assert document["messageCount"] == len(document["messages"])
        total += len(document["messages"])
        for item in document["messages"]:
            assert frozenset(item) in message_keys
            assert set(item["author"]) == author_keys
            assert ("reference" in item) == (item["type"] in {"Reply", "ChannelPinnedMessage"})
            assert re.fullmatch(
                r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d{1,3})?\+00:00", item["timestamp"]
            )
            for reaction in item["reactions"]:
                assert set(reaction) == {"emoji", "count"}
                assert set(reaction["emoji"]) == emoji_keys
            for person in item["mentions"]:
                assert set(person) == mention_keys
            for attachment in item["attachments"]:
                assert set(attachment) == {"id", "url", "fileName", "fileSizeBytes"}
    assert total == len(server.messages)


def test_export_text_is_dce_pretty_print(exports: list[Path]) -> None:
    """Streamed by hand, but byte for byte what a two-space pretty printer writes."""
    for path in exports:
        text = path.read_text(encoding="utf-8")
        assert text == json.dumps(json.loads(text), indent=2, ensure_ascii=False)


def test_thread_file_carries_its_parent(server: SyntheticServer, exports: list[Path]) -> None:
    thread = next(c for c in server.channels if c.kind == "GuildPublicThread")
    parent = next(c for c in server.channels if c.id == thread.parent_id)
    path = next(p for p in exports if f"[{thread.id}]" in p.name)
    assert path.name == f"The Snack Pack - {parent.name} - {thread.name} [{thread.id}].json"
    channel = json.loads(path.read_text(encoding="utf-8"))["channel"]
    assert channel["type"] == "GuildPublicThread"
    assert channel["categoryId"] == parent.id
    assert channel["category"] == parent.name


def test_custom_and_unicode_reactions_are_written_like_dce(exports: list[Path]) -> None:
    emoji = [
        reaction["emoji"]
        for path in exports
        for item in json.loads(path.read_text(encoding="utf-8"))["messages"]
        for reaction in item["reactions"]
    ]
    custom = [e for e in emoji if e["id"] is not None]
    unicode = [e for e in emoji if e["id"] is None]
    assert custom
    assert unicode
    assert all(e["imageUrl"].startswith("https://cdn.discordapp.com/emojis/") for e in custom)
    assert all(e["name"].isascii() for e in custom)
    assert all(not e["name"].isascii() for e in unicode)


def test_exports_round_trip_through_the_importer(
    server: SyntheticServer, exports: list[Path]
) -> None:
    imported: list[Message] = []
    channels = []
    for path in exports:
        header = dce.read_header(path)
        channels.append(header.channel)
        assert header.guild == server.guild
        imported.extend(dce.read_messages(header))
    assert sorted(channels, key=lambda c: c.id) == sorted(server.channels, key=lambda c: c.id)
    assert sorted(imported, key=lambda m: int(m.id)) == list(server.messages)


def test_single_file_export_holds_everything_in_the_first_channel(
    server: SyntheticServer, tmp_path: Path
) -> None:
    path = write_dce_export(server, tmp_path / "nested" / "all.json")
    document = json.loads(path.read_text(encoding="utf-8"))
    assert document["channel"]["id"] == server.channels[0].id
    assert document["messageCount"] == len(server.messages) == len(document["messages"])
    assert [item["id"] for item in document["messages"]] == [m.id for m in server.messages]
    references = [item["reference"] for item in document["messages"] if "reference" in item]
    assert references
    assert {r["channelId"] for r in references} == {server.channels[0].id}


# ---------------------------------------------------------------------------- sizes and limits


def test_other_sizes_and_start() -> None:
    start = datetime(2025, 3, 1, tzinfo=UTC)
    small = generate_server(seed=1, channels=1, messages=120, days=0.25, planted=1, start=start)
    assert len(small.messages) == 120
    assert len(small.planted) == 1
    assert len(small.channels) == 2  # one text channel and its thread
    assert all(start <= m.timestamp < start + timedelta(hours=6) for m in small.messages)

    wide = generate_server(seed=2, channels=15, messages=3000, planted=0)
    names = [c.name for c in wide.channels if c.kind == "GuildTextChat"]
    assert len(names) == len(set(names)) == 15
    assert wide.planted == ()


@pytest.mark.parametrize(
    "kwargs",
    [
        {"channels": 0},
        {"days": 0},
        {"messages": 0},
        {"messages": 100, "planted": 6},
        {"planted": -1},
        {"start": datetime(2026, 1, 1)},  # naive on purpose
    ],
)
def test_bad_arguments_are_refused(kwargs: dict[str, Any]) -> None:
    with pytest.raises(ValueError):  # noqa: PT011 - each case has its own message
        generate_server(**kwargs)


def test_a_benchmark_sized_server_generates() -> None:
    big = generate_server(messages=100_000, channels=10, days=7)
    assert len(big.messages) == 100_000
    assert len(big.labels) == 100_000
    assert sum(c.kind == "GuildTextChat" for c in big.channels) == 10
    assert sum(c.kind == "GuildPublicThread" for c in big.channels) == 2
    assert big.messages[-1].timestamp < DEFAULT_START + timedelta(days=7)
