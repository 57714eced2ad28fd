"""The HTML edition: parsed back with the stdlib parser, so the assertions see what a browser
would build, not what the template happens to look like as a string."""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from html.parser import HTMLParser

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from snitch.models import Article, Newsletter, Quote, TimeWindow, Usage
from snitch.render import render_html

GUILD = "869237470565392384"
CHANNEL = "869237470565392387"
ALLOWED_HREF = re.compile(r"https://discord\.com/channels/(?:@me|[0-9]+)/[0-9]+(?:/[0-9]+)?")
RAW_MASS_MENTION = re.compile(r"@(?:everyone|here)", re.IGNORECASE)
VOID_TAGS = frozenset(
    {"area", "base", "br", "col", "embed", "hr", "img", "input", "link", "meta", "source", "wbr"}
)
# Every attribute the page may carry; anything else (on*, style, src, srcdoc ...) is a leak.
ALLOWED_ATTRIBUTES = frozenset(
    {
        "aria-labelledby",
        "charset",
        "class",
        "content",
        "datetime",
        "href",
        "http-equiv",
        "id",
        "lang",
        "name",
        "rel",
        "target",
    }
)
HOSTILE = (
    "<script>alert(1)</script>",
    '" onmouseover="alert(1)',
    "' onfocus='alert(1)' autofocus x='",
    "<img src=x onerror=alert(1)>",
    "</p></blockquote><script>alert(2)</script>",
    "<!-- --><svg onload=alert(3)>",
    "javascript:alert(1)",
    "&lt;script&gt;",
    "@everyone",
    "@here",
)


# --- a DOM just big enough to ask questions of -------------------------------------------


@dataclass
class Node:
    """An element, with its attributes and children (elements and text)."""

    tag: str
    attrs: dict[str, str | None] = field(default_factory=dict)
    children: list[Node | str] = field(default_factory=list)

    def text(self) -> str:
        """The visible text, with <br> as a line break."""
        parts: list[str] = []
        for child in self.children:
            if isinstance(child, str):
                parts.append(child)
            elif child.tag == "br":
                parts.append("\n")
            elif child.tag not in {"style", "head"}:
                parts.append(child.text())
        return "".join(parts)

    def iter(self) -> Iterator[Node]:
        """This element and every element under it, in document order."""
        yield self
        for child in self.children:
            if isinstance(child, Node):
                yield from child.iter()

    def find_all(self, tag: str, class_: str | None = None) -> list[Node]:
        """Descendant elements by tag, and by one of their classes when given."""
        return [
            node
            for node in self.iter()
            if node.tag == tag
            and (class_ is None or class_ in (node.attrs.get("class") or "").split())
        ]

    def one(self, tag: str, class_: str | None = None) -> Node:
        """The only matching descendant; fails the test when there are none or several."""
        found = self.find_all(tag, class_)
        assert len(found) == 1, f"expected one <{tag} class={class_}>, found {len(found)}"
        return found[0]


class _TreeBuilder(HTMLParser):
    """Builds `Node`s and records whatever a strict reader would object to."""

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.root = Node("#document")
        self.stack = [self.root]
        self.declarations: list[str] = []
        self.raw_attrs: list[tuple[str, str, str | None]] = []
        self.errors: list[str] = []

    def handle_decl(self, decl: str) -> None:
        self.declarations.append(decl)

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        names = [name for name, _ in attrs]
        if len(names) != len(set(names)):
            self.errors.append(f"duplicate attribute on <{tag}>: {names}")
        self.raw_attrs.extend((tag, name, value) for name, value in attrs)
        node = Node(tag, dict(attrs))
        self.stack[-1].children.append(node)
        if tag not in VOID_TAGS:
            self.stack.append(node)

    def handle_startendtag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.errors.append(f"self-closing <{tag}/>")
        self.handle_starttag(tag, attrs)

    def handle_endtag(self, tag: str) -> None:
        if self.stack[-1].tag != tag:
            self.errors.append(f"</{tag}> closes <{self.stack[-1].tag}>")
            return
        self.stack.pop()

    def handle_data(self, data: str) -> None:
        self.stack[-1].children.append(data)

    def handle_comment(self, data: str) -> None:
        self.errors.append(f"comment: {data!r}")


@dataclass
class Page:
    """A rendered edition, parsed."""

    source: str
    root: Node
    declarations: list[str]
    raw_attrs: list[tuple[str, str, str | None]]

    @property
    def body(self) -> Node:
        return self.root.one("body")


def parse(document: str) -> Page:
    """Parse a document and insist it is well formed: balanced, no comments, no stray tags."""
    builder = _TreeBuilder()
    builder.feed(document)
    builder.close()
    assert builder.errors == []
    assert [node.tag for node in builder.stack] == ["#document"], "unclosed elements"
    return Page(document, builder.root, builder.declarations, builder.raw_attrs)


def render(newsletter: Newsletter) -> Page:
    return parse(render_html(newsletter))


# --- editions built by hand ---------------------------------------------------------------


def jump(message_id: str) -> str:
    return f"https://discord.com/channels/{GUILD}/{CHANNEL}/{message_id}"


def make_quote(n: int, text: str = "", author: str = "", url: str | None = None) -> Quote:
    message_id = f"11000000000000000{n:02d}"
    return Quote(
        message_id=message_id,
        author_id=f"4000000000000000{n:02d}",
        author_name=author or f"author {n}",
        text=text or f"quote number {n}",
        jump_url=jump(message_id) if url is None else url,
    )


def make_article(
    title: str,
    *,
    role: str = "supporting",
    summary: str = "Something happened.",
    quotes: tuple[Quote, ...] = (),
) -> Article:
    return Article.model_validate(
        {
            "role": role,
            "title": title,
            "summary": summary,
            "channel_id": CHANNEL,
            "message_ids": tuple(q.message_id for q in quotes),
            "quotes": quotes,
        }
    )


def make_newsletter(*stories: Article, **overrides: object) -> Newsletter:
    fields: dict[str, object] = {
        "persona": "gossip",
        "persona_display_name": "Gossip Columnist",
        "masthead": "The Snitch",
        "engine": "offline",
        "guild_name": "Pineapple Appreciation Society",
        "headline": stories[0].title if stories else "Nothing to report",
        "window": TimeWindow(
            since=datetime(2025, 3, 3, tzinfo=UTC), until=datetime(2025, 3, 9, 23, 59, tzinfo=UTC)
        ),
        "stories": stories,
        "body_markdown": "",
        "message_count": 1284,
    }
    fields.update(overrides)
    return Newsletter.model_validate(fields)


def lead_only(*quotes: Quote, title: str = "T", summary: str = "S") -> Newsletter:
    """An edition of one headline article with these quotes."""
    return make_newsletter(make_article(title, role="headline", summary=summary, quotes=quotes))


def full_edition() -> Newsletter:
    """A headline with two quotes (placed second, to prove it is chosen by role) and four
    supporting stories, one of them without quotes."""
    return make_newsletter(
        make_article("Support one", quotes=(make_quote(3),)),
        make_article(
            "Mod caught deleting own messages",
            role="headline",
            summary="It began with a poll.\n\nIt ended at 3 a.m.",
            quotes=(make_quote(1, "pineapple is a war crime", "Tyrrrz"), make_quote(2)),
        ),
        make_article("Support two", quotes=(make_quote(4), make_quote(5))),
        make_article("Support three"),
        make_article("Support four", quotes=(make_quote(6),)),
    )


def hostile_edition(payload: str, url: str) -> Newsletter:
    """The payload in every text field the newsletter has, and the URL on every quote."""
    quotes = (make_quote(1, payload, payload, url), make_quote(2, payload, payload, url))
    return make_newsletter(
        make_article(payload, role="headline", summary=payload, quotes=quotes),
        make_article(payload, summary=f"**{payload}** *{payload}*", quotes=quotes),
        persona=payload,
        persona_display_name=payload,
        masthead=payload,
        engine=payload,
        guild_name=payload,
        headline=payload,
    )


def quote_triples(page: Page) -> set[tuple[str, str, str | None]]:
    """(text, author, href) of every pull-quote on the page."""
    triples = set()
    for block in page.body.find_all("blockquote", "quote"):
        links = block.find_all("a")
        assert len(links) <= 1
        href = links[0].attrs.get("href") if links else None
        author = block.one("cite").text().removeprefix("\u2014 ")
        triples.add((block.one("p").text(), author, href))
    return triples


def assert_safe(page: Page) -> None:
    """No executable markup, no foreign links, no pings: the security contract of the page."""
    elements = list(page.root.iter())
    tags = {node.tag for node in elements}
    assert not tags & {"script", "iframe", "object", "embed", "img", "svg", "link", "base", "form"}
    assert "<script" not in page.source.lower()
    for tag, name, value in page.raw_attrs:
        assert name in ALLOWED_ATTRIBUTES, f"<{tag} {name}={value!r}>"
        assert not name.startswith("on")
        assert "javascript:" not in (value or "").lower()
    for link in page.body.find_all("a"):
        assert ALLOWED_HREF.fullmatch(link.attrs.get("href") or "")
        assert set((link.attrs.get("rel") or "").split()) >= {"noopener", "noreferrer"}
    assert not RAW_MASS_MENTION.search(page.source)
    assert not RAW_MASS_MENTION.search(page.body.text())
    assert not RAW_MASS_MENTION.search(page.root.one("title").text())


# --- the document ---------------------------------------------------------------------------


def test_a_complete_utf8_document() -> None:
    page = render(full_edition())

    assert page.source.startswith("<!doctype html>")
    assert page.declarations == ["doctype html"]
    for tag in ("html", "head", "body", "title", "style", "main", "h1"):
        assert len(page.root.find_all(tag)) == 1, tag
    assert page.root.one("html").attrs["lang"] == "en"
    metas = page.root.one("head").find_all("meta")
    assert {"charset": "utf-8"} in [m.attrs for m in metas]
    assert any(m.attrs.get("name") == "viewport" for m in metas)
    csp = next(m for m in metas if m.attrs.get("http-equiv") == "Content-Security-Policy")
    assert "default-src 'none'" in (csp.attrs["content"] or "")
    assert page.root.one("title").text() == "The Snitch \u2014 Mod caught deleting own messages"
    page.source.encode("utf-8")


def test_self_contained_nothing_to_fetch() -> None:
    page = render(full_edition())

    css = page.root.one("style").text()
    assert "url(" not in css
    assert "@import" not in css
    assert "@font-face" not in css
    urls = set(re.findall(r"[a-z]+://[^\s\"<>)]+", page.source))
    assert urls == {jump(f"11000000000000000{n:02d}") for n in range(1, 7)}
    assert_safe(page)


def test_headline_article_screams_in_the_one_h1() -> None:
    page = render(full_edition())

    lead = page.body.one("article", "lead")
    assert lead.one("h1").text() == "Mod caught deleting own messages"
    assert lead.one("p", "ribbon").text().lower() == "exclusive"
    assert [p.text() for p in lead.one("div", "summary").find_all("p")] == [
        "It began with a poll.",
        "It ended at 3 a.m.",
    ]
    assert len(lead.find_all("blockquote", "quote")) == 2


def test_masthead_window_and_guild() -> None:
    page = render(full_edition())

    header = page.body.one("header")
    assert header.one("p", "flag").text() == "The Snitch"
    dateline = header.one("p", "dateline").text()
    assert "Pineapple Appreciation Society" in dateline
    assert "Mon 3 Mar \u2013 Sun 9 Mar 2025" in dateline
    assert "Gossip Columnist" in dateline
    assert [t.attrs["datetime"] for t in header.find_all("time")] == [
        "2025-03-03T00:00:00+00:00",
        "2025-03-09T23:59:00+00:00",
    ]


def test_window_across_a_new_year_names_both_years() -> None:
    window = TimeWindow(
        since=datetime(2024, 12, 30, tzinfo=UTC), until=datetime(2025, 1, 5, tzinfo=UTC)
    )
    page = render(make_newsletter(make_article("Hi", role="headline"), window=window))

    assert "Mon 30 Dec 2024 \u2013 Sun 5 Jan 2025" in page.body.one("p", "dateline").text()


def test_every_quote_has_its_text_author_and_receipt() -> None:
    edition = full_edition()
    page = render(edition)

    expected = {(q.text, q.author_name, q.jump_url) for a in edition.stories for q in a.quotes}
    assert quote_triples(page) == expected
    for link in page.body.find_all("a"):
        assert link.text().startswith("See the receipts")
        assert link.attrs["rel"] == "noopener noreferrer"


def test_four_supporting_stories_in_columns_in_order() -> None:
    page = render(full_edition())

    stories = page.body.one("ul", "columns").find_all("li", "story")
    assert [s.one("h2").text() for s in stories] == [
        "Support one",
        "Support two",
        "Support three",
        "Support four",
    ]
    assert [len(s.find_all("blockquote")) for s in stories] == [1, 2, 0, 1]


def test_one_article_only_has_no_supporting_section() -> None:
    quote = make_quote(1)
    page = render(make_newsletter(make_article("Alone", role="headline", quotes=(quote,))))

    assert page.body.one("h1").text() == "Alone"
    assert page.body.find_all("section") == []
    assert page.body.find_all("h2") == []
    assert quote_triples(page) == {(quote.text, quote.author_name, quote.jump_url)}


def test_a_lone_supporting_story_leads_the_paper() -> None:
    page = render(make_newsletter(make_article("Only a supporting one")))

    assert page.body.one("h1").text() == "Only a supporting one"
    assert page.body.find_all("section") == []


def test_empty_quote_lists_render_no_pull_quotes() -> None:
    page = render(make_newsletter(make_article("Quiet", role="headline"), make_article("Q2")))

    assert page.body.find_all("blockquote") == []
    assert page.body.find_all("a") == []
    assert "with-quotes" not in (page.body.one("div", "lead-body").attrs["class"] or "")


def test_no_stories_still_makes_a_front_page() -> None:
    page = render(make_newsletter(headline="Nothing happened this week"))

    assert page.body.one("h1").text() == "Nothing happened this week"
    assert page.body.one("div", "summary").text().strip() != ""


def test_colophon_names_engine_persona_counts_and_usage() -> None:
    usage = Usage(calls=3, prompt_tokens=1200, completion_tokens=345)
    page = render(
        make_newsletter(
            make_article("A", role="headline", quotes=(make_quote(1), make_quote(2))),
            engine="llm:groq/llama-3.3-70b",
            usage=usage,
        )
    )

    items = [li.text() for li in page.body.one("ul", "colophon").find_all("li")]
    assert items == [
        "Engine: llm:groq/llama-3.3-70b",
        "Persona: Gossip Columnist (gossip)",
        "Read: 1,284 messages",
        "Quoted: 2 messages",
        "LLM usage: 3 calls, 1,200 prompt + 345 completion tokens",
    ]


def test_colophon_of_an_offline_edition_says_no_llm() -> None:
    page = render(make_newsletter(make_article("A", role="headline"), message_count=1))

    items = [li.text() for li in page.body.one("ul", "colophon").find_all("li")]
    assert "Read: 1 message" in items
    assert "LLM usage: none, not a single token" in items


# --- hostile chat ---------------------------------------------------------------------------


@pytest.mark.parametrize("payload", HOSTILE)
def test_hostile_text_is_escaped_everywhere(payload: str) -> None:
    page = render(hostile_edition(payload, jump("1100000000000000001")))

    assert_safe(page)
    shown = payload.replace("@", "@\u200b")
    assert page.body.one("h1").text() == shown
    assert page.body.one("p", "flag").text() == shown
    assert page.root.one("title").text() == f"{shown} \u2014 {shown}"
    for block in page.body.find_all("blockquote"):
        assert block.one("p").text() == shown
        assert block.one("cite").text() == f"\u2014 {shown}"
    for summary in page.body.find_all("div", "summary"):
        assert shown in summary.text()


def test_attribute_breakers_stay_inside_text() -> None:
    page = render(hostile_edition('" onmouseover="alert(1)" x="', jump("1100000000000000001")))

    assert 'onmouseover="' not in page.source
    assert "&quot; onmouseover=&quot;alert(1)&quot; x=&quot;" in page.source
    assert_safe(page)


@pytest.mark.parametrize(
    "url",
    [
        "javascript:alert(1)",
        "JaVaScRiPt:alert(document.domain)",
        " javascript:alert(1)",
        "data:text/html,<script>alert(1)</script>",
        "vbscript:msgbox(1)",
        "http://discord.com/channels/1/2/3",
        "//discord.com/channels/1/2/3",
        "https://discord.com.evil.example/channels/1/2/3",
        "https://discord.com@evil.example/channels/1/2/3",
        "https://evil.example/https://discord.com/channels/1/2/3",
        "https://discord.com/channels/1/2/3\n",
        "https://discord.com/channels/1/2/3?x=1",
        'https://discord.com/channels/1/2/3"><script>alert(1)</script>',
        "https://discord.com/channels/\uff11/2/3",
        "https://discord.com/channels/../../evil",
        "https://canary.discord.com/channels/1/2/3",
        "https://discord.com/channels/@everyone/2/3",
    ],
)
def test_only_discord_jump_links_become_links(url: str) -> None:
    page = render(
        make_newsletter(make_article("T", role="headline", quotes=(make_quote(1, url=url),)))
    )

    assert_safe(page)
    assert page.body.find_all("a") == []
    receipt = page.body.one("blockquote").one("span", "unverified").text()
    assert receipt.replace("\u200b", "") == "unverified source: " + url


@pytest.mark.parametrize(
    "url",
    [
        "https://discord.com/channels/869237470565392384/869237470565392387/1100000000000000001",
        "https://discord.com/channels/869237470565392384/869237470565392387",
        "https://discord.com/channels/@me/869237470565392387/1100000000000000001",
    ],
)
def test_discord_jump_links_are_linked(url: str) -> None:
    page = render(
        make_newsletter(make_article("T", role="headline", quotes=(make_quote(1, url=url),)))
    )

    link = page.body.one("a")
    assert link.attrs == {"href": url, "rel": "noopener noreferrer", "target": "_blank"}


def test_a_quote_without_a_url_says_so() -> None:
    page = render(
        make_newsletter(make_article("T", role="headline", quotes=(make_quote(1, url=""),)))
    )

    assert page.body.find_all("a") == []
    assert page.body.one("span", "unverified").text() == "no receipt"


@pytest.mark.parametrize(
    "text",
    [
        "@everyone look at this",
        "hey @here",
        "@EVERYONE and @HeRe",
        "@**everyone** sneaky",
        "**@**everyone sneakier",
        "*@*here",
        "email me at a@everyone.example",
    ],
)
def test_mass_mentions_are_defused_in_markup_and_in_visible_text(text: str) -> None:
    quote = make_quote(1, text, text)
    edition = make_newsletter(
        make_article(text, role="headline", summary=text, quotes=(quote,)),
        guild_name=text,
        masthead=text,
        persona_display_name=text,
        engine=text,
    )
    page = render(edition)

    assert_safe(page)
    assert "@\u200b" in page.source
    assert page.body.one("blockquote").one("p").text() == text.replace("@", "@\u200b")
    assert page.body.one("h1").text().replace("\u200b", "") == text


def test_summary_emphasis_only_bold_and_italic() -> None:
    summary = (
        "This is **big news** and *quiet news*.\n"
        "2*3*4 stays maths, _underscores_ stay\n"
        "**unclosed stays\n"
        "**<b>tags</b>** stay text\n"
        "[links](javascript:alert(1)) stay text\n"
        "**mixed *nesting** here*"
    )
    page = render(make_newsletter(make_article("T", role="headline", summary=summary)))

    lead_summary = page.body.one("div", "summary")
    strong = [node.text() for node in lead_summary.find_all("strong")]
    assert strong == ["big news", "<b>tags</b>", "mixed *nesting"]
    assert [node.text() for node in lead_summary.find_all("em")] == ["quiet news"]
    assert lead_summary.find_all("b") == []
    assert lead_summary.find_all("a") == []
    lines = lead_summary.text().strip().split("\n")
    assert lines[1:3] == ["2*3*4 stays maths, _underscores_ stay", "**unclosed stays"]
    assert lines[4] == "[links](javascript:alert(1)) stay text"


def test_summary_lines_and_paragraphs() -> None:
    summary = "First line\nsecond line\r\n\r\n\n  \nNew paragraph"
    page = render(make_newsletter(make_article("T", role="headline", summary=summary)))

    paragraphs = page.body.one("div", "summary").find_all("p")
    assert [p.text() for p in paragraphs] == ["First line\nsecond line", "New paragraph"]


def test_long_words_and_quotes_survive_whole() -> None:
    word = "A" * 5000
    long_quote = " ".join(["blah"] * 2000)
    quote = make_quote(1, long_quote, "B" * 300)
    page = render(
        make_newsletter(make_article(word, role="headline", summary=word, quotes=(quote,)))
    )

    assert page.body.one("h1").text() == word
    assert quote_triples(page) == {(long_quote, "B" * 300, quote.jump_url)}
    assert "overflow-wrap: anywhere" in page.root.one("style").text()


def test_non_ascii_emoji_and_right_to_left_names() -> None:
    title = "Ærøskøbing 🍍 drama: naïve café owners 🔥"
    author = "مُدير \u202eevil"
    quote = make_quote(1, "日本語もOK 👀 — “quoted”", author)
    page = render(make_newsletter(make_article(title, role="headline", quotes=(quote,))))

    assert page.body.one("h1").text() == title
    assert quote_triples(page) == {(quote.text, author, quote.jump_url)}
    assert page.body.one("cite").one("bdi").text() == author
    assert "🍍".encode() in page.source.encode("utf-8")


def test_control_characters_and_lone_surrogates_are_removed() -> None:
    text = "bell\x07 nul\x00 esc\x1b[31m del\x7f half-emoji\ud83d end"
    page = render(
        make_newsletter(make_article(text, role="headline", quotes=(make_quote(1, text),)))
    )

    expected = "bell nul esc[31m del half-emoji\ufffd end"
    assert page.body.one("h1").text() == expected
    assert page.body.one("blockquote").one("p").text() == expected
    page.source.encode("utf-8")


# --- any text at all ---------------------------------------------------------------------------

# No controls or surrogates (tested above) and no zero-width space, which the page inserts.
_chars = st.characters(
    exclude_categories=("Cs", "Cc"), include_characters="\n", exclude_characters="\u200b"
)
_chat = st.lists(st.one_of(st.text(_chars, max_size=20), st.sampled_from((*HOSTILE, "*", "**"))))


@settings(max_examples=150, deadline=None)
@given(title=_chat, summary=_chat, text=_chat, author=_chat, url=st.text(max_size=60))
def test_any_chat_text_renders_safely_and_verbatim(
    title: list[str], summary: list[str], text: list[str], author: list[str], url: str
) -> None:
    title_s, summary_s, text_s, author_s = ("".join(p) for p in (title, summary, text, author))
    quote = make_quote(1, text_s or "x", author_s or "y", url)
    edition = make_newsletter(
        make_article(title_s, role="headline", summary=summary_s, quotes=(quote,)),
        make_article(title_s, summary=summary_s, quotes=(quote,)),
        guild_name=author_s,
    )
    page = render(edition)

    assert_safe(page)
    assert page.body.one("h1").text().replace("\u200b", "") == title_s
    for block in page.body.find_all("blockquote"):
        assert block.one("p").text().replace("\u200b", "") == quote.text.strip("\n")
        cite = block.one("cite").text().replace("\u200b", "")
        assert cite == "\u2014 " + quote.author_name
