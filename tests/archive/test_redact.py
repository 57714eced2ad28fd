"""Forgetting a member in an archived edition, the pure part every backend shares: their quotes
dropped (never edited), their names made "a former member" where they stand as names, and
nothing else touched."""

from __future__ import annotations

import asyncio
from collections.abc import Sequence

import pytest

from snitch.archive.redact import FORMER_MEMBER, forgotten_names, redact
from snitch.models import Chat, Guild, Newsletter, Quote
from snitch.newsroom.edition import offline_newsroom
from snitch.newsroom.personas import PERSONAS, get_persona, voice_of
from snitch.newsroom.reporter import render_markdown
from snitch.render import render_html
from snitch.sources.dce import load_exports
from tests.helpers import FIXTURES
from tests.render.test_html import jump, make_article, make_newsletter

QUINN = "400000000000000777"
MARLOWE = "400000000000000888"


def said(who: str, name: str, text: str, n: int) -> Quote:
    message_id = f"1100000000000000{n:03d}"
    return Quote(
        message_id=message_id,
        author_id=who,
        author_name=name,
        text=text,
        jump_url=jump(message_id),
    )


def with_markdown(newsletter: Newsletter, persona: str = "gossip") -> Newsletter:
    """The edition with the Markdown body the newsroom would have written for it."""
    return newsletter.model_copy(update={"body_markdown": markdown_of(newsletter, persona)})


def markdown_of(newsletter: Newsletter, persona: str = "gossip") -> str:
    chosen = get_persona(persona)
    guild = Chat(Guild(id="1", name=newsletter.guild_name), {}, [])
    return render_markdown(guild, voice_of(chosen), chosen, newsletter.window, newsletter.stories)


def feud(marlowe_says: str = "you are wrong") -> Newsletter:
    """Quinn is quoted twice and named everywhere; Marlowe is quoted once and stays."""
    first = said(QUINN, "Quinn", "pineapple is a war crime", 1)
    reply = said(MARLOWE, "Marlowe", marlowe_says, 2)
    second = said(QUINN, "Quinn", "I regret nothing\n\n> not even this", 3)
    return with_markdown(
        make_newsletter(
            make_article(
                "QUINN SPARKS PINEAPPLE SHOWDOWN",
                role="headline",
                summary="Quinn started it. @Quinn then blamed Marlowe, and Quinnton watched.",
                quotes=(first, reply, second),
            ),
            make_article("Marlowe keeps calm", summary="Nothing to see.", quotes=(reply,)),
            headline="Quinn and Marlowe feud over pineapple",
            reader_tips=("Quinn was seen buying pineapples", "Marlowe did it"),
        )
    )


def quotes_of(newsletter: Newsletter) -> list[Quote]:
    return [quote for article in newsletter.stories for quote in article.quotes]


def only_names(text: str, names: Sequence[str]) -> str | None:
    """``text`` redacted, via a one-story edition whose summary it is."""
    edition = make_newsletter(make_article("T", role="headline", summary=text))
    redacted = redact(edition, QUINN, names)
    return None if redacted is None else redacted.stories[0].summary


# --- quotes ---------------------------------------------------------------------------------


def test_their_quotes_go_whole_and_the_others_stay_verbatim() -> None:
    edition = feud("you are wrong, @Quinn")

    redacted = redact(edition, QUINN, ["Quinn"])

    assert redacted is not None
    lead, other = redacted.stories
    assert [quote.author_id for quote in lead.quotes] == [MARLOWE]
    # Marlowe's words mention Quinn, and stay exactly as said: quotes are never edited.
    assert lead.quotes == (edition.stories[0].quotes[1],)
    assert other.quotes == edition.stories[1].quotes
    assert lead.message_ids == (edition.stories[0].quotes[1].message_id,)
    assert redacted.quote_count == 2


def test_their_names_become_a_former_member() -> None:
    redacted = redact(feud(), QUINN, ["Quinn"])

    assert redacted is not None
    assert redacted.headline == "A former member and Marlowe feud over pineapple"
    assert redacted.stories[0].title == "A FORMER MEMBER SPARKS PINEAPPLE SHOWDOWN"
    assert redacted.stories[0].summary == (
        "A former member started it. A former member then blamed Marlowe, and Quinnton watched."
    )
    assert redacted.stories[1] == feud().stories[1]
    assert redacted.reader_tips == ("A former member was seen buying pineapples", "Marlowe did it")


def test_the_names_on_their_quotes_are_forgotten_without_being_passed() -> None:
    redacted = redact(feud(), QUINN)

    assert redacted is not None
    assert redacted.headline == "A former member and Marlowe feud over pineapple"


def test_the_markdown_body_is_what_the_newsroom_writes_for_the_redacted_stories() -> None:
    edition = feud("you are wrong, @Quinn")

    redacted = redact(edition, QUINN, ["Quinn"])

    assert redacted is not None
    assert redacted.body_markdown == markdown_of(redacted)
    assert "pineapple is a war crime" not in redacted.body_markdown
    assert "regret nothing" not in redacted.body_markdown
    assert "you are wrong, @Quinn" in redacted.body_markdown  # Marlowe's, verbatim
    body_without_marlowes_words = redacted.body_markdown.replace("@Quinn", "")
    assert "Quinn" not in body_without_marlowes_words.replace("Quinnton", "")


@pytest.mark.parametrize("persona", sorted(PERSONAS))
def test_real_editions_lose_each_quoted_member_cleanly(persona: str) -> None:
    source = load_exports([FIXTURES])
    edition = asyncio.run(offline_newsroom().publish(source, get_persona(persona)))
    quoted = {quote.author_id: quote.author_name for quote in quotes_of(edition)}
    assert len(quoted) >= 2

    for author_id, name in quoted.items():
        redacted = redact(edition, author_id)

        assert redacted is not None
        assert [q for q in quotes_of(redacted) if q.author_id == author_id] == []
        assert [q for q in quotes_of(edition) if q.author_id != author_id] == quotes_of(redacted)
        chosen = get_persona(persona)
        assert redacted.body_markdown == render_markdown(
            source, voice_of(chosen), chosen, redacted.window, redacted.stories
        )
        page = render_html(redacted)
        for quote in quotes_of(edition):
            if quote.author_id == author_id:
                assert quote.jump_url not in redacted.body_markdown
                assert quote.jump_url not in page
        assert f"**{name}**" not in redacted.body_markdown
        assert redact(redacted, author_id) is None


def test_a_body_laid_out_otherwise_is_written_again_without_their_quotes() -> None:
    edition = feud("you are wrong, @Quinn").model_copy(
        update={"body_markdown": "Quinn said: pineapple is a war crime\n\nMarlowe disagreed.\n"}
    )

    redacted = redact(edition, QUINN, ["Quinn"])

    assert redacted is not None
    assert "pineapple is a war crime" not in redacted.body_markdown
    assert "Quinn" not in redacted.body_markdown.replace("@Quinn", "").replace("Quinnton", "")
    assert "you are wrong, @Quinn" in redacted.body_markdown
    assert redacted.stories[0].summary in redacted.body_markdown
    assert redact(redacted, QUINN, ["Quinn"]) is None


def test_a_blank_body_stays_blank() -> None:
    edition = feud().model_copy(update={"body_markdown": ""})

    redacted = redact(edition, QUINN, ["Quinn"])

    assert redacted is not None
    assert redacted.body_markdown == ""


# --- names ----------------------------------------------------------------------------------


def test_urls_and_channel_names_are_never_touched() -> None:
    text = (
        "al posted https://example.com/al/al?who=al and www.al.example, "
        "then [al](https://discord.com/channels/1/2/3) in #al-chat."
    )

    assert only_names(text, ["al"]) == (
        "A former member posted https://example.com/al/al?who=al and www.al.example, "
        "then [a former member](https://discord.com/channels/1/2/3) in #al-chat."
    )


@pytest.mark.parametrize(
    "text",
    [
        "alice and Al and pal and al_x and al2 and x@al.example",
        "ALICE and AL_X",
        "nothing here",
    ],
)
def test_only_whole_words_match(text: str) -> None:
    assert only_names(text, ["al"]) is None


def test_matching_is_case_sensitive_except_for_capitals() -> None:
    assert only_names("Will will, won't he?", ["Will"]) == "A former member will, won't he?"
    assert only_names("I said will.", ["Will"]) is None
    assert only_names("WILL STRIKES AGAIN", ["Will"]) == "A FORMER MEMBER STRIKES AGAIN"


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("ask @al.", "ask a former member."),
        ("(al)", "(A former member)"),
        ("so, al!", "so, a former member!"),
        ("al's idea", "A former member's idea"),
        ("Big Al Smith and Al", "Big a former member and a former member"),
        ("first.\n**al** next", "first.\n**A former member** next"),
    ],
)
def test_names_as_they_stand_in_text(text: str, expected: str) -> None:
    assert only_names(text, ["al", "Al", "Al Smith"]) == expected


def test_the_replacement_is_never_replaced_again() -> None:
    once = only_names("member and former met a", ["member", "former", "a"])

    assert once == f"A{FORMER_MEMBER[1:]} and {FORMER_MEMBER} met {FORMER_MEMBER}"
    assert only_names(once, ["member", "former", "a"]) is None


def test_nothing_of_theirs_means_no_new_edition() -> None:
    edition = feud()

    assert redact(edition, "12345", ["Nobody"]) is None
    assert redact(edition, "12345") is None


def test_names_come_from_their_quotes_in_every_edition_given() -> None:
    quoted = make_newsletter(
        make_article("T", role="headline", quotes=(said(QUINN, "Quinn Q", "hi", 1),))
    )
    other = make_newsletter(make_article("Quinn Q again", role="headline", summary="x"))

    names = forgotten_names(QUINN, ["@quinn.q", "  ", ""], [quoted, other])

    assert names == ("@QUINN.Q", "@quinn.q", "QUINN Q", "QUINN.Q", "Quinn Q", "quinn.q")
    redacted = redact(other, QUINN, names)
    assert redacted is not None
    assert redacted.stories[0].title == "A former member again"


def test_articles_without_quotes_stay_put() -> None:
    edition = make_newsletter(make_article("Calm", role="headline", summary="Quiet week."))

    assert redact(edition, QUINN, ["Quinn"]) is None
