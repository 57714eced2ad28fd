"""Mention rendering and defanging: the guarantees every desk's output leans on."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from snitch.newsroom.text import (
    defang,
    display_content,
    is_pingless,
    safe_name,
    topic_terms,
)
from tests.helpers import author, message

HAZARDS = ["@everyone", "@here", "@EVERYONE", "<@123456789>", "<@!42>", "<@&777>", "<#555>"]
hostile_text = st.lists(st.one_of(st.sampled_from(HAZARDS), st.text(max_size=12)), max_size=12).map(
    "".join
)


def test_user_mentions_render_as_names() -> None:
    alice = author("alice", "42")
    text = display_content(message(author("bob"), "hey <@42> and <@!42>", mentions=[alice]))
    assert text == "hey @alice and @alice"


def test_unknown_mentions_do_not_leak_ids() -> None:
    text = display_content(message(author("bob"), "who is <@999>?"))
    assert text == "who is @unknown-user?"


def test_mass_pings_and_raw_tokens_are_defanged() -> None:
    cleaned = defang("@everyone look <@&12> <@34> <#56> @here")
    assert is_pingless(cleaned)
    assert "everyone" in cleaned
    assert "here" in cleaned
    assert "<@" not in cleaned
    assert "<#" not in cleaned


def test_names_cannot_become_pings() -> None:
    assert is_pingless("@" + safe_name("everyone"))
    assert is_pingless("@" + safe_name("@here"))
    assert safe_name("  ") == "someone"


@given(hostile_text)
def test_defang_always_yields_pingless_text(text: str) -> None:
    assert is_pingless(defang(text))


@given(hostile_text)
def test_defang_is_idempotent(text: str) -> None:
    once = defang(text)
    assert defang(once) == once


def test_topic_terms_ignore_links_emoji_and_stopwords() -> None:
    terms = topic_terms("I think the PIZZA https://x.com/pineapple is :fire: great")
    assert terms == {"pizza", "great"}
