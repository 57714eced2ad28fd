"""Render a finished edition as Discord messages: REST payloads cut to fit Discord's limits.

No discord.py here: the result is plain JSON-ready dicts in the shape of Discord's "create
message" body, so the gateway bot (``discord.Embed.from_dict``) and the HTTP interactions
webhook send the very same edition.

Discord rejects a whole message when one limit is broken, and a rejected message means a
missing edition, so every limit is enforced here. Stories too long for one embed are split
at paragraph, then line, then word boundaries; an ellipsis cuts text only when a single
unbreakable run is longer than an embed can hold. Discord counts code points (its API is
Python), so Python's ``len`` is the right measure.

Nothing may ping: every message carries ``allowed_mentions: {"parse": []}``, and every string
from chat is defanged as well, because sinks such as the archive may not pass that field on.
"""

from __future__ import annotations

import re
from collections import deque
from datetime import UTC, datetime
from typing import NotRequired, TypedDict

from snitch.models import Article, Newsletter, Quote, TimeWindow
from snitch.newsroom.text import defang

__all__ = [
    "EMBEDS_PER_MESSAGE_LIMIT",
    "EMBED_AUTHOR_NAME_LIMIT",
    "EMBED_DESCRIPTION_LIMIT",
    "EMBED_FIELDS_LIMIT",
    "EMBED_FIELD_NAME_LIMIT",
    "EMBED_FIELD_VALUE_LIMIT",
    "EMBED_FOOTER_TEXT_LIMIT",
    "EMBED_TITLE_LIMIT",
    "MESSAGE_CONTENT_LIMIT",
    "MESSAGE_EMBED_TEXT_LIMIT",
    "AllowedMentionsPayload",
    "EmbedAuthorPayload",
    "EmbedFieldPayload",
    "EmbedFooterPayload",
    "EmbedPayload",
    "MessagePayload",
    "embed_text_length",
    "render_discord",
]

# Discord's limits (https://discord.com/developers/docs/resources/message#embed-object-embed-limits).
MESSAGE_CONTENT_LIMIT = 2000
EMBED_TITLE_LIMIT = 256
EMBED_DESCRIPTION_LIMIT = 4096
EMBED_FIELD_NAME_LIMIT = 256
EMBED_FIELD_VALUE_LIMIT = 1024
EMBED_FIELDS_LIMIT = 25
EMBED_FOOTER_TEXT_LIMIT = 2048
EMBED_AUTHOR_NAME_LIMIT = 256
EMBEDS_PER_MESSAGE_LIMIT = 10
# Titles, descriptions, field names and values, footers and author names of ALL the embeds
# of one message together; the content does not count.
MESSAGE_EMBED_TEXT_LIMIT = 6000

# The tabloid's colours, as in the HTML edition.
MASTHEAD_COLOR = 0xC8102E
HEADLINE_COLOR = 0xC8102E
SUPPORTING_COLOR = 0xFFD60A

ELLIPSIS = "\u2026"
PARAGRAPH_BREAK = "\n\n"
LINE_BREAK = "\n"
QUOTE_PREFIX = "> "
READER_TIPS_TITLE = "Reader tips (unverified)"
QUIET_EDITION = "Not a peep. Our sources went quiet. *Suspicious.*"

# C0/C1 controls (except tab and newline) are invisible in Discord and some break clients.
_CONTROL = re.compile("[\x00-\x08\x0b-\x1f\x7f-\x9f]")
# Lone surrogates cannot be encoded as UTF-8, so the JSON body could not be sent at all.
_SURROGATE = re.compile("[\ud800-\udfff]")
# Quotes are verbatim: the reporter's escape set, so chat text cannot format or forge links.
_MARKDOWN_SPECIAL = re.compile(r"([\\`*_~|>\[\]()#])")
# The only links we write. Snowflakes have at most 20 digits, which also bounds the length.
_JUMP_LINK = re.compile(
    r"https://discord\.com/channels/(?:@me|[0-9]{1,20})/[0-9]{1,20}(?:/[0-9]{1,20})?"
)
# A "word" for splitting: a run of non-blanks, where a markdown link counts as one piece
# even when its label has spaces, so no cut ever lands inside [label](url).
_WORD = re.compile(r"(?:\[[^\[\]\n]*\]\([^()\s]*\)|\S)+")
_PARAGRAPHS = re.compile(r"\n\s*\n")
_BLANKS = re.compile(r"\s+")


class AllowedMentionsPayload(TypedDict):
    """Which mentions Discord may turn into pings; we always send none."""

    parse: list[str]


class EmbedFieldPayload(TypedDict):
    name: str
    value: str
    inline: bool


class EmbedFooterPayload(TypedDict):
    text: str


class EmbedAuthorPayload(TypedDict):
    name: str


class EmbedPayload(TypedDict, total=False):
    """An embed; keys are left out rather than sent empty, which Discord refuses."""

    title: str
    description: str
    url: str
    color: int
    fields: list[EmbedFieldPayload]
    footer: EmbedFooterPayload
    author: EmbedAuthorPayload
    timestamp: str


class MessagePayload(TypedDict):
    """One message to post, in the shape of Discord's "create message" JSON body."""

    content: NotRequired[str]
    embeds: list[EmbedPayload]
    allowed_mentions: AllowedMentionsPayload


def render_discord(newsletter: Newsletter) -> list[MessagePayload]:
    """The edition as messages to post in order: masthead, one embed per story, footer."""
    footer = _footer_text(newsletter)
    pager = _Pager(reserve=len(footer), content=_notification_line(newsletter))
    pager.add(_masthead(newsletter))
    for article in newsletter.stories:  # the newsroom puts the headline story first
        _add_story(pager, article)
    if newsletter.reader_tips:
        _add_story(pager, _tips_article(newsletter.reader_tips))
    return pager.finish(footer)


def _tips_article(tips: tuple[str, ...]) -> Article:
    """Approved reader tips as one more story, so they split and fit like any other."""
    return Article(
        role="supporting",
        title=READER_TIPS_TITLE,
        summary=PARAGRAPH_BREAK.join(tips),
        channel_id="",
        message_ids=(),
        quotes=(),
    )


def embed_text_length(embed: EmbedPayload) -> int:
    """What Discord counts of one embed towards the message's ``MESSAGE_EMBED_TEXT_LIMIT``."""
    fields = embed.get("fields", [])
    return (
        len(embed.get("title", ""))
        + len(embed.get("description", ""))
        + sum(len(field["name"]) + len(field["value"]) for field in fields)
        + len(embed.get("footer", {"text": ""})["text"])
        + len(embed.get("author", {"name": ""})["name"])
    )


class _Pager:
    """Fills messages with embeds in order, starting a new message when one is full.

    ``reserve`` characters are kept free in every message, so whichever message turns out
    to be the last can still take the footer.
    """

    def __init__(self, *, reserve: int, content: str) -> None:
        self.reserve = reserve
        self.content = content
        self.messages: list[MessagePayload] = []
        self.embeds: list[EmbedPayload] = []
        self.used = 0

    @property
    def empty(self) -> bool:
        return not self.embeds

    @property
    def room(self) -> int:
        """Embed text the current message can still take."""
        if len(self.embeds) >= EMBEDS_PER_MESSAGE_LIMIT:
            return 0
        return MESSAGE_EMBED_TEXT_LIMIT - self.reserve - self.used

    def add(self, embed: EmbedPayload) -> None:
        cost = embed_text_length(embed)
        if not self.empty and (len(self.embeds) >= EMBEDS_PER_MESSAGE_LIMIT or cost > self.room):
            self.flush()
        self.embeds.append(embed)
        self.used += cost

    def flush(self) -> None:
        if self.empty:
            return
        # A fresh allowed_mentions per message: a sender that edits one cannot unmute the rest.
        message: MessagePayload = {"embeds": self.embeds, "allowed_mentions": {"parse": []}}
        if not self.messages and self.content:
            message = {"content": self.content, **message}
        self.messages.append(message)
        self.embeds = []
        self.used = 0

    def finish(self, footer: str) -> list[MessagePayload]:
        """Every message, the last embed signed with the footer."""
        if footer:
            self.embeds[-1]["footer"] = {"text": footer}
        self.flush()
        return self.messages


def _add_story(pager: _Pager, article: Article) -> None:
    """One story: its first embed is titled, any continuation embeds follow it untitled."""
    title = _label(article.title) or "Untitled"
    shown_title = _fit(title, EMBED_TITLE_LIMIT)
    body: deque[str] = deque()
    if shown_title != title:
        # Nothing is lost: the whole title opens the story's text.
        body.append(title)
    body += _paragraphs(_clean(article.summary))
    body += (_quote_block(quote) for quote in article.quotes)
    url = next((q.jump_url for q in article.quotes if _JUMP_LINK.fullmatch(q.jump_url)), None)
    color = HEADLINE_COLOR if article.role == "headline" else SUPPORTING_COLOR

    def embed(description: str | None, *, first: bool) -> EmbedPayload:
        payload: EmbedPayload = {"color": color}
        if first:
            payload["title"] = shown_title
            if url is not None:
                payload["url"] = url
        if description:
            payload["description"] = description
        return payload

    if not body:
        pager.add(embed(None, first=True))
        return
    first = True
    while body:
        title_cost = len(shown_title) if first else 0
        budget = min(EMBED_DESCRIPTION_LIMIT, pager.room - title_cost)
        description = _take(body, budget, fresh=pager.empty) if budget > 0 else None
        if description is None:
            pager.flush()
            continue
        pager.add(embed(description, first=first))
        first = False


def _take(body: deque[str], budget: int, *, fresh: bool) -> str | None:
    """Take from the front of ``body`` the longest text that fits ``budget``.

    Whole paragraphs when any fit. Otherwise, in a message that already holds embeds, None:
    a fresh message may take the paragraph whole. Only in a fresh message is a paragraph cut,
    at a line break, else between words, else (one huge word) with an ellipsis.
    """
    taken: list[str] = []
    size = -len(PARAGRAPH_BREAK)
    while body and size + len(PARAGRAPH_BREAK) + len(body[0]) <= budget:
        size += len(PARAGRAPH_BREAK) + len(body[0])
        taken.append(body.popleft())
    if taken:
        return PARAGRAPH_BREAK.join(taken)
    if not fresh:
        return None
    head, rest = _split_paragraph(body.popleft(), budget)
    if rest:
        body.appendleft(rest)
    return head


def _split_paragraph(paragraph: str, budget: int) -> tuple[str, str]:
    """A paragraph longer than ``budget``, cut after the last whole line that fits."""
    cut = paragraph.rfind(LINE_BREAK, 0, budget + 1)
    if cut > 0:
        return paragraph[:cut], paragraph[cut + 1 :]
    line, _, other_lines = paragraph.partition(LINE_BREAK)
    head, rest = _split_line(line, budget)
    return head, LINE_BREAK.join(part for part in (rest, other_lines) if part)


def _split_line(line: str, budget: int) -> tuple[str, str]:
    """A line longer than ``budget``, cut between words; a quoted line stays quoted."""
    prefix = QUOTE_PREFIX if line.startswith(QUOTE_PREFIX) else ""
    text = line[len(prefix) :]
    room = budget - len(prefix)
    end = 0
    for word in _WORD.finditer(text):
        if word.end() > room:
            break
        end = word.end()
    if end:
        head = text[:end]
    else:
        # The last resort: one run with no break in it, longer than an embed holds.
        first_word = next(_WORD.finditer(text))
        end = first_word.end()
        head = first_word.group()
        if len(head) > room:
            head = head[: room - len(ELLIPSIS)] + ELLIPSIS
    rest = text[end:].strip()
    return prefix + head, prefix + rest if rest else ""


def _masthead(newsletter: Newsletter) -> EmbedPayload:
    """The front page: masthead, who tells it, the headline, and the window it covers."""
    headline = _fit(_label(newsletter.headline), EMBED_TITLE_LIMIT)
    lines = []
    if headline:
        lines.append(f"**{_escape(headline)}**")
    if not newsletter.stories:
        lines.append(QUIET_EDITION)
    embed: EmbedPayload = {
        "title": _fit(_label(newsletter.masthead) or "The Snitch", EMBED_TITLE_LIMIT),
        "color": MASTHEAD_COLOR,
        "timestamp": _utc(newsletter.window.until).isoformat(),
        "fields": [
            _field("Edition", _window(newsletter.window)),
            _field("Server", _escape(_label(newsletter.guild_name)) or "\u2014"),
            _field("Read", f"{newsletter.message_count:,} messages"),
        ][:EMBED_FIELDS_LIMIT],
    }
    if lines:
        embed["description"] = _fit(LINE_BREAK.join(lines), EMBED_DESCRIPTION_LIMIT)
    persona = _label(newsletter.persona_display_name)
    if persona:
        embed["author"] = {"name": _fit(f"As told by {persona}", EMBED_AUTHOR_NAME_LIMIT)}
    return embed


def _notification_line(newsletter: Newsletter) -> str:
    """The message text: push notifications and channel previews show it, never embeds."""
    masthead = _escape(_fit(_label(newsletter.masthead) or "The Snitch", EMBED_TITLE_LIMIT))
    headline = _escape(_fit(_label(newsletter.headline), EMBED_TITLE_LIMIT))
    line = f"\U0001f4f0 **{masthead}** is out" + (f": {headline}" if headline else "")
    return _fit(line, MESSAGE_CONTENT_LIMIT)


def _footer_text(newsletter: Newsletter) -> str:
    """Which engine wrote the edition and what went wrong on the way, one line each."""
    lines = [f"Engine: {_label(newsletter.engine) or 'unknown'}"]
    lines += [f"\u26a0 {_label(warning)}" for warning in newsletter.warnings]
    return _fit(LINE_BREAK.join(lines), EMBED_FOOTER_TEXT_LIMIT)


def _quote_block(quote: Quote) -> str:
    """A verbatim quote as a Discord block quote, signed, with the link that proves it."""
    lines = [_escape(line.strip()) for line in _clean(quote.text).split(LINE_BREAK)]
    author = _escape(_label(quote.author_name)) or "someone"
    receipt = f"[jump]({quote.jump_url})" if _JUMP_LINK.fullmatch(quote.jump_url) else "unverified"
    lines.append(f"\u2014 {author} \u00b7 {receipt}")
    return LINE_BREAK.join(QUOTE_PREFIX + line for line in lines if line)


def _field(name: str, value: str) -> EmbedFieldPayload:
    return {
        "name": _fit(name, EMBED_FIELD_NAME_LIMIT),
        "value": _fit(value, EMBED_FIELD_VALUE_LIMIT),
        "inline": True,
    }


def _window(window: TimeWindow) -> str:
    """Discord timestamps, which each reader sees in their own time zone and language."""
    since = int(_utc(window.since).timestamp())
    until = int(_utc(window.until).timestamp())
    return f"<t:{since}:D> \u2013 <t:{until}:D>"


def _utc(moment: datetime) -> datetime:
    """An aware datetime; the newsroom's naive datetimes are UTC."""
    return moment.replace(tzinfo=UTC) if moment.tzinfo is None else moment


def _paragraphs(text: str) -> list[str]:
    """Non-blank paragraphs of trimmed, non-blank lines, so no cut ever yields blank text."""
    paragraphs = []
    for block in _PARAGRAPHS.split(text):
        lines = [line.strip() for line in block.split(LINE_BREAK)]
        if any(lines):
            paragraphs.append(LINE_BREAK.join(line for line in lines if line))
    return paragraphs


def _fit(text: str, limit: int) -> str:
    """A one-line label that cannot be split, shortened at a word break with an ellipsis."""
    if len(text) <= limit:
        return text
    cut = text[: limit - len(ELLIPSIS)]
    last_break = max(cut.rfind(" "), cut.rfind(LINE_BREAK))
    if last_break > limit // 2:
        cut = cut[:last_break]
    # A dangling backslash would escape the ellipsis.
    return cut.rstrip().rstrip("\\") + ELLIPSIS


def _label(value: str) -> str:
    """Chat text for a one-line slot (title, name, field): cleaned, blanks collapsed."""
    return _BLANKS.sub(" ", _clean(value)).strip()


def _escape(text: str) -> str:
    """Text that shows verbatim in Discord markdown."""
    return _MARKDOWN_SPECIAL.sub(r"\\\1", text)


def _clean(value: str) -> str:
    """Normalised line breaks, no controls or lone surrogates, and nothing that pings.

    Controls go first: "@\\x00everyone" must not become "@everyone" after defanging.
    """
    value = value.replace("\r\n", "\n").replace("\r", "\n")
    value = _SURROGATE.sub("\ufffd", _CONTROL.sub("", value))
    return defang(value)
