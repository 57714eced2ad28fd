"""The Discord edition: every message must pass Discord's limits, or the edition is lost.

The limits are checked here with this file's own counting, not the module's, so a mistake in
the renderer's arithmetic cannot hide behind the same mistake in the test.
"""

from __future__ import annotations

import ast
import json
import re
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import snitch.render.discord as discord_render
from snitch.models import Article, Newsletter, Quote, TimeWindow
from snitch.newsroom.text import defang
from snitch.render import render_discord
from snitch.render.discord import MessagePayload
from tests.render.test_html import (
    CHANNEL,
    full_edition,
    jump,
    make_article,
    make_newsletter,
    make_quote,
)

# Discord's limits, written out again on purpose (see the module docstring).
CONTENT_MAX = 2000
TITLE_MAX = 256
DESCRIPTION_MAX = 4096
FIELD_NAME_MAX = 256
FIELD_VALUE_MAX = 1024
FIELDS_MAX = 25
FOOTER_MAX = 2048
AUTHOR_MAX = 256
EMBEDS_MAX = 10
EMBED_TEXT_MAX = 6000

EMBED_KEYS = {"title", "description", "url", "color", "fields", "footer", "author", "timestamp"}
JUMP = re.compile(r"https://discord\.com/channels/(?:@me|[0-9]{1,20})/[0-9]{1,20}(?:/[0-9]{1,20})?")
PING = re.compile(r"@(?:everyone|here)|<@[!&]?\d+>|<#\d+>", re.IGNORECASE)
CONTROL = re.compile("[\x00-\x08\x0b-\x1f\x7f-\x9f]")
ESCAPED = re.compile(r"\\([\\`*_~|>\[\]()#])")
QUOTE_LINE = re.compile(r"^> ", re.MULTILINE)
JUMP_LINK_TARGET = re.compile(r"\[jump\]\(([^)]*)\)")


# --- what every rendering must satisfy -------------------------------------------------------


def strings(value: object) -> Iterator[str]:
    """Every string in a payload, keys excluded."""
    if isinstance(value, str):
        yield value
    elif isinstance(value, dict):
        for item in value.values():
            yield from strings(item)
    elif isinstance(value, list):
        for item in value:
            yield from strings(item)


def embed_text(embed: dict[str, Any]) -> int:
    return (
        len(embed.get("title", ""))
        + len(embed.get("description", ""))
        + sum(len(f["name"]) + len(f["value"]) for f in embed.get("fields", []))
        + len(embed.get("footer", {}).get("text", ""))
        + len(embed.get("author", {}).get("name", ""))
    )


def assert_postable(messages: list[MessagePayload]) -> None:
    """Each message is one Discord would accept, and none of them can ping."""
    assert messages
    for message in messages:
        payload: dict[str, Any] = dict(message)
        json.dumps(payload, ensure_ascii=False).encode("utf-8")
        assert set(payload) <= {"content", "embeds", "allowed_mentions"}
        assert payload["allowed_mentions"] == {"parse": []}
        if "content" in payload:
            assert 0 < len(payload["content"]) <= CONTENT_MAX
        embeds = payload["embeds"]
        assert 1 <= len(embeds) <= EMBEDS_MAX
        assert sum(embed_text(embed) for embed in embeds) <= EMBED_TEXT_MAX
        for embed in embeds:
            assert set(embed) <= EMBED_KEYS
            assert set(embed) & {"title", "description", "fields", "footer", "author"}
            if "title" in embed:
                assert 0 < len(embed["title"]) <= TITLE_MAX
            if "description" in embed:
                assert 0 < len(embed["description"]) <= DESCRIPTION_MAX
                assert embed["description"].strip()
            if "url" in embed:
                assert JUMP.fullmatch(embed["url"])
            assert len(embed.get("fields", [])) <= FIELDS_MAX
            for field in embed.get("fields", []):
                assert 0 < len(field["name"]) <= FIELD_NAME_MAX
                assert 0 < len(field["value"]) <= FIELD_VALUE_MAX
            if "footer" in embed:
                assert 0 < len(embed["footer"]["text"]) <= FOOTER_MAX
            if "author" in embed:
                assert 0 < len(embed["author"]["name"]) <= AUTHOR_MAX
        for text in strings(payload):
            assert not PING.search(text), text
    for target in JUMP_LINK_TARGET.findall(description_source(messages)):
        assert JUMP.fullmatch(target)


def embeds_of(messages: list[MessagePayload]) -> list[dict[str, Any]]:
    return [dict(embed) for message in messages for embed in message["embeds"]]


def description_source(messages: list[MessagePayload]) -> str:
    """All descriptions, in order, as Discord markdown."""
    return "\n".join(embed.get("description", "") for embed in embeds_of(messages))


def as_read(messages: list[MessagePayload]) -> str:
    """The descriptions as a reader sees the words: no quote bars, escapes, or layout."""
    text = QUOTE_LINE.sub("", description_source(messages))
    return " ".join(ESCAPED.sub(r"\1", text).split())


def chat_words(text: str) -> str:
    """The words of a chat string once made safe to post: controls dropped, pings defanged."""
    text = CONTROL.sub("", text.replace("\r\n", "\n").replace("\r", "\n"))
    return " ".join(defang(text).split())


def assert_in_order(needles: list[str], haystack: str) -> None:
    position = 0
    for needle in needles:
        found = haystack.find(needle, position)
        assert found >= 0, f"missing or out of order: {needle[:80]!r}"
        position = found + len(needle)


# --- any edition ---------------------------------------------------------------------------

HOSTILE_WORDS = (
    "@everyone",
    "@here",
    "@EVERYONE",
    "@\x00here",
    "@\r\neveryone",
    "<@123>",
    "<@!123>",
    "<@&456>",
    "<#789>",
    "<<@1>2>",
    "@@everyone",
    "@**everyone**",
    "[click me](https://evil.example/x)",
    "[**",
    "**",
    "> ",
    "#",
    "`",
    "```",
    "\\",
    "\u200b",
    "\ufeff",
)
LONG_URL = "https://example.com/" + "a" * 700
HUGE_RUN = "https://example.com/" + "b" * 5000
snowflakes = st.integers(min_value=0, max_value=10**20 - 1).map(str)
jump_urls = st.builds(
    "https://discord.com/channels/{}/{}/{}".format,
    snowflakes | st.just("@me"),
    snowflakes,
    snowflakes,
)
bad_urls = st.sampled_from(
    (
        "",
        "javascript:alert(1)",
        "https://evil.example/" + "c" * 3000,
        "https://discord.com/channels/1/2/3) [jump](https://evil.example",
        "https://discord.com.evil.example/channels/1/2/3",
        "https://discord.com/channels/1/2/" + "9" * 40,
    )
)
short_words = st.text(max_size=30) | st.sampled_from(HOSTILE_WORDS) | jump_urls
separators = st.sampled_from((" ", " ", " ", "\n", "\n\n", "\n> ", " \t\n \n", "\r\n"))
# At most one run too long to break per text: rare in chat, and the only thing ever cut.
long_runs = st.sampled_from(("", "", "", f" {LONG_URL} ", f" {HUGE_RUN} "))


def prose(*, max_pieces: int, max_repeat: int, long_run: bool = False) -> Any:
    """Text of words and breaks, repeated to make huge stories cheaply."""
    return st.builds(
        lambda pieces, times, run: ("".join(word + gap for word, gap in pieces) * times) + run,
        st.lists(st.tuples(short_words, separators), max_size=max_pieces),
        st.integers(min_value=1, max_value=max_repeat),
        long_runs if long_run else st.just(""),
    )


quotes = st.builds(
    Quote,
    message_id=snowflakes,
    author_id=snowflakes,
    author_name=short_words,
    # No long runs: no quote holds a run longer than an embed, so none may be cut.
    text=prose(max_pieces=10, max_repeat=20),
    jump_url=jump_urls | bad_urls,
)
articles = st.builds(
    Article,
    role=st.sampled_from(("headline", "supporting")),
    title=prose(max_pieces=4, max_repeat=30, long_run=True),
    summary=prose(max_pieces=12, max_repeat=300, long_run=True),
    channel_id=st.just(CHANNEL),
    message_ids=st.just(()),
    quotes=st.lists(quotes, max_size=12).map(tuple),
)
moments = st.datetimes(
    min_value=datetime(2000, 1, 1), max_value=datetime(2100, 1, 1), timezones=st.just(UTC)
)
labels = st.text(max_size=400) | st.sampled_from(HOSTILE_WORDS) | st.just(HUGE_RUN)


@st.composite
def newsletters(draw: st.DrawFn) -> Newsletter:
    stories = draw(st.lists(articles, max_size=25))
    since, until = sorted((draw(moments), draw(moments)))
    return make_newsletter(
        *stories,
        persona=draw(labels),
        persona_display_name=draw(labels),
        masthead=draw(labels),
        engine=draw(labels),
        guild_name=draw(labels),
        headline=draw(labels),
        window=TimeWindow(since=since, until=until),
        message_count=draw(st.integers(min_value=0, max_value=10**12)),
        warnings=tuple(
            draw(st.lists(prose(max_pieces=5, max_repeat=20, long_run=True), max_size=6))
        ),
        reader_tips=tuple(
            draw(st.lists(prose(max_pieces=8, max_repeat=40, long_run=True) | labels, max_size=3))
        ),
    )


@settings(
    max_examples=150,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)
@given(newsletters())
def test_any_edition_is_postable_and_keeps_every_quote_and_receipt(edition: Newsletter) -> None:
    messages = render_discord(edition)

    assert_postable(messages)
    embeds = embeds_of(messages)
    # The masthead, then exactly one titled embed per story (and one for reader tips);
    # continuations are untitled.
    tips_box = 1 if edition.reader_tips else 0
    assert sum("title" in embed for embed in embeds) == 1 + len(edition.stories) + tips_box
    assert embeds[-1]["footer"]["text"].startswith("Engine: ")
    all_quotes = [quote for article in edition.stories for quote in article.quotes]
    assert_in_order(
        [words for words in (chat_words(q.text) for q in all_quotes) if words],
        as_read(messages),
    )
    assert JUMP_LINK_TARGET.findall(description_source(messages)) == [
        q.jump_url for q in all_quotes if JUMP.fullmatch(q.jump_url)
    ]


# --- editions built by hand ------------------------------------------------------------------


def test_masthead_leads_with_persona_window_and_headline() -> None:
    messages = render_discord(full_edition())

    assert len(messages) == 1
    assert "Support one" in messages[0]["content"]
    masthead = messages[0]["embeds"][0]
    assert masthead["title"] == "The Snitch"
    assert masthead["author"] == {"name": "As told by Gossip Columnist"}
    assert masthead.get("description", "").startswith("**Support one**")
    fields = {field["name"]: field["value"] for field in masthead.get("fields", [])}
    since = int(datetime(2025, 3, 3, tzinfo=UTC).timestamp())
    until = int(datetime(2025, 3, 9, 23, 59, tzinfo=UTC).timestamp())
    assert fields == {
        "Edition": f"<t:{since}:D> \u2013 <t:{until}:D>",
        "Server": "Pineapple Appreciation Society",
        "Read": "1,284 messages",
    }
    assert masthead["timestamp"] == "2025-03-09T23:59:00+00:00"
    assert_postable(messages)


def test_one_embed_per_story_in_order_with_quotes_authors_and_receipts() -> None:
    edition = full_edition()
    embeds = embeds_of(render_discord(edition))

    assert [embed["title"] for embed in embeds[1:]] == [a.title for a in edition.stories]
    lead = embeds[2]
    assert lead["url"] == jump(make_quote(1).message_id)
    assert lead["description"] == (
        "It began with a poll.\n\nIt ended at 3 a.m.\n\n"
        f"> pineapple is a war crime\n> \u2014 Tyrrrz \u00b7 [jump]({make_quote(1).jump_url})\n\n"
        f"> quote number 2\n> \u2014 author 2 \u00b7 [jump]({make_quote(2).jump_url})"
    )
    assert embeds[4] == {
        "color": discord_render.SUPPORTING_COLOR,
        "title": "Support three",
        "description": "Something happened.",
    }
    assert "footer" not in embeds[0]
    assert embeds[-1]["footer"] == {"text": "Engine: offline"}


def test_an_edition_without_stories_is_one_quiet_masthead() -> None:
    messages = render_discord(make_newsletter(warnings=("editor: the LLM failed",)))

    assert len(messages) == 1
    [masthead] = messages[0]["embeds"]
    assert masthead.get("description") == (
        "**Nothing to report**\nNot a peep. Our sources went quiet. *Suspicious.*"
    )
    assert masthead.get("footer") == {"text": "Engine: offline\n\u26a0 editor: the LLM failed"}
    assert_postable(messages)


def test_a_long_story_splits_at_paragraphs_and_loses_nothing() -> None:
    paragraphs = [f"Paragraph {n}: " + "gossip " * 70 + "end." for n in range(60)]
    summary = "\n\n".join(paragraphs)
    messages = render_discord(make_newsletter(make_article("Epic", summary=summary)))

    assert_postable(messages)
    assert len(messages) > 1
    story = embeds_of(messages)[1:]
    assert story[0]["title"] == "Epic"
    assert all("title" not in embed for embed in story[1:])
    assert "\n\n".join(embed["description"] for embed in story) == summary


def test_a_paragraph_too_long_for_an_embed_splits_at_lines() -> None:
    summary = "\n".join(f"line {n} " + "x" * 90 for n in range(200))
    messages = render_discord(make_newsletter(make_article("Lines", summary=summary)))

    assert_postable(messages)
    descriptions = [embed["description"] for embed in embeds_of(messages)[1:]]
    assert len(descriptions) > 1
    assert "\n".join(descriptions) == summary


def test_a_line_too_long_splits_between_words_and_a_quoted_line_stays_quoted() -> None:
    text = " ".join(f"word{n}" for n in range(3000))
    quote = make_quote(1, text)
    messages = render_discord(make_newsletter(make_article("Rant", summary="S", quotes=(quote,))))

    assert_postable(messages)
    descriptions = [embed["description"] for embed in embeds_of(messages)[1:]]
    assert len(descriptions) > 1
    quoted = [d for d in descriptions if d != "S"]
    assert all(line.startswith("> ") for d in quoted for line in d.split("\n"))
    assert "S " + text + " \u2014 author 1" in as_read(messages)
    assert JUMP_LINK_TARGET.findall(description_source(messages)) == [quote.jump_url]


def test_links_are_never_cut() -> None:
    link = f"[the receipts, all of them]({jump('1')})"
    summary = " ".join([link] * 400)
    messages = render_discord(make_newsletter(make_article("Links", summary=summary)))

    assert_postable(messages)
    source = description_source(messages)
    assert source.count(link) == 400
    assert source.count("[") == source.count("]") == 400


def test_only_a_single_unbreakable_run_is_truncated() -> None:
    run = "a" * 10_000
    messages = render_discord(make_newsletter(make_article("Run", summary=f"before {run} after")))

    assert_postable(messages)
    descriptions = [embed["description"] for embed in embeds_of(messages)[1:]]
    assert descriptions[0] == "before"
    assert descriptions[1].endswith("\u2026")
    assert set(descriptions[1][:-1]) == {"a"}
    assert descriptions[2] == "after"


def test_a_title_too_long_is_shortened_and_printed_whole_in_the_text() -> None:
    title = "Scandal " * 60
    messages = render_discord(make_newsletter(make_article(title, summary="It was.")))

    story = embeds_of(messages)[1]
    assert len(story["title"]) <= TITLE_MAX
    assert story["title"].endswith("\u2026")
    assert story["description"] == title.strip() + "\n\nIt was."
    assert_postable(messages)


def test_many_stories_fill_several_messages_in_order() -> None:
    stories = [make_article(f"Story {n}", summary="words " * 300) for n in range(40)]
    messages = render_discord(make_newsletter(*stories))

    assert_postable(messages)
    assert len(messages) > 4
    assert "content" in messages[0]
    assert all("content" not in message for message in messages[1:])
    titles = [embed["title"] for embed in embeds_of(messages)[1:]]
    assert titles == [f"Story {n}" for n in range(40)]


def test_no_message_holds_more_than_ten_embeds() -> None:
    stories = [make_article(f"Brief {n}", summary="Short.") for n in range(25)]
    messages = render_discord(make_newsletter(*stories))

    assert_postable(messages)
    assert [len(message["embeds"]) for message in messages] == [10, 10, 6]


def test_warnings_too_long_for_the_footer_are_cut_with_an_ellipsis() -> None:
    edition = make_newsletter(make_article("A"), warnings=tuple("w " * 400 for _ in range(5)))
    messages = render_discord(edition)

    assert_postable(messages)
    footer = embeds_of(messages)[-1]["footer"]["text"]
    assert footer.startswith("Engine: offline\n\u26a0 w w")
    assert footer.endswith("\u2026")


@pytest.mark.parametrize(
    "payload", ["@everyone", "@here", "<@123>", "<@!123>", "<@&456>", "<#789>", "@\x00everyone"]
)
def test_nothing_pings_wherever_the_payload_hides(payload: str) -> None:
    quote = make_quote(1, f"hey {payload} look", payload)
    edition = make_newsletter(
        make_article(payload, role="headline", summary=payload, quotes=(quote,)),
        persona=payload,
        persona_display_name=payload,
        masthead=payload,
        engine=payload,
        guild_name=payload,
        headline=payload,
        warnings=(payload,),
    )
    messages = render_discord(edition)

    assert_postable(messages)
    assert chat_words(f"hey {payload} look") in as_read(messages)


def test_a_link_that_is_not_a_jump_link_is_not_linked() -> None:
    quote = make_quote(1, "trust me", url="https://evil.example/phish")
    messages = render_discord(make_newsletter(make_article("Hmm", quotes=(quote,))))

    assert_postable(messages)
    assert "evil.example" not in json.dumps(messages)
    assert embeds_of(messages)[1]["description"].endswith("\u2014 author 1 \u00b7 unverified")


def test_the_renderer_does_not_import_discord_py() -> None:
    source = Path(discord_render.__file__).read_text(encoding="utf-8")
    imported = set()
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.Import):
            imported |= {alias.name.split(".")[0] for alias in node.names}
        elif isinstance(node, ast.ImportFrom) and node.module:
            imported.add(node.module.split(".")[0])
    assert "discord" not in imported


def test_approved_reader_tips_close_the_edition_labelled_and_defanged() -> None:
    edition = full_edition().model_copy(
        update={"reader_tips": ("Unverified reader tip: the @everyone cake was a lie",)}
    )
    messages = render_discord(edition)

    assert_postable(messages)
    last = embeds_of(messages)[-1]
    assert last["title"] == "Reader tips (unverified)"
    assert "Unverified reader tip: the" in last["description"]
    assert "@everyone" not in last["description"]
