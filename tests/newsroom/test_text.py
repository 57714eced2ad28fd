"""Mention rendering and defanging: the guarantees every desk's output leans on."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from snitch.newsroom.text import (
    CONFLICT_CUES,
    EXCITED_EMOJI_CHARS,
    EXCITEMENT_CUES,
    MYSTERY_CUES,
    NO_CUES,
    NOT_TOPICAL,
    PHRASE_TABLE,
    SHOUTING,
    STOPWORDS,
    WORD,
    Cues,
    analyse_text,
    cues,
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


def reference_cues(text: str) -> Cues:
    """The cue count as first written, every test run in full: the shortcuts in ``cues``
    (no cue word, no capitals, no phrase start) must not change a single count."""
    tokens = WORD.findall(text.lower())
    words = set(tokens)
    conflict = len(words & CONFLICT_CUES) + len(SHOUTING.findall(text))
    excitement = len(words & EXCITEMENT_CUES) + text.count("!!")
    mystery = len(words & MYSTERY_CUES) + min(text.count("?"), 2)
    excitement += len(EXCITED_EMOJI_CHARS.findall(text))
    for index in range(len(tokens)):
        for phrase_words, kind in PHRASE_TABLE.get(tuple(tokens[index : index + 2]), ()):
            if tuple(tokens[index : index + len(phrase_words)]) == phrase_words:
                if kind == "conflict":
                    conflict += 1
                elif kind == "excitement":
                    excitement += 1
                else:
                    mystery += 1
    return Cues(conflict, excitement, mystery)


CUE_SNIPPETS = [
    "you're wrong",
    "that's a lie",
    "LET'S GO",
    "no way",
    "who did it",
    "what happened",
    "omg",
    "LIAR",
    "WHAT",
    "!!",
    "??",
    "🔥",
    "🎉",
    "big news",
    "excuse me",
    "pizza",
    "the",
    "so good",
    "Who",
]
chat_text = st.lists(
    st.one_of(st.sampled_from(CUE_SNIPPETS), st.text(max_size=8)), max_size=10
).map(" ".join)


@given(chat_text)
def test_cues_match_the_plain_count(text: str) -> None:
    assert cues(text) == reference_cues(text)
    terms, found = analyse_text(text)
    cleaned = NOT_TOPICAL.sub(" ", text)
    assert found == reference_cues(cleaned)
    plain = {w for w in WORD.findall(cleaned.lower()) if w not in STOPWORDS}
    assert terms == {w for w in plain if len(w) > 2 and not w.isdigit()}


def test_cues_without_any_cue_share_one_value() -> None:
    assert cues("just a quiet line about lunch") is NO_CUES
    assert cues("HOW DARE you, liar!!") == Cues(conflict=3, excitement=1, mystery=0)
