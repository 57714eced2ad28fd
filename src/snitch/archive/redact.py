"""Forgetting a member in archived editions (``/snitch forget-me``): one pure function,
``Newsletter -> Newsletter | None``, that every archive backend applies the same way.

An edition that quotes or names the member is redacted:

* Their quotes are dropped, never edited: a quote is a member's verbatim words, so it stays
  whole or goes (and its message id leaves the article's ``message_ids``).
* Their names become "a former member" (capitalised to start a sentence, in capitals on a
  shouted line) wherever they stand as a whole word, or as ``@name``, in the headline, the
  stories' titles and summaries, the Markdown body and the reader tips. The names are the
  ones the caller knows and the ``author_name`` of every quote of theirs, each also in
  capitals (the offline reporter shouts its headlines); see ``forgotten_names``. The match
  is otherwise case-sensitive ("Will" leaves "will" alone), and never inside a URL (jump
  links must keep working) or a ``#channel`` name (a channel is not a member).
* Other members' quotes stay verbatim, even where they mention the member by name.

The Markdown body repeats every quote as ``render_markdown`` writes it. Each quote is found
there by that exact form: the dropped ones are cut out with their ``>`` separator, the kept
ones are copied as they are, and names are replaced in the rest. A body where a quote cannot
be found that way (written by something else) is written again from the redacted stories
whenever it has something to lose, so a dropped quote never survives in it.

Redacting twice changes nothing the second time: the replacement is never matched again,
and an edition with nothing to redact comes back as None, so it is not rewritten at all.
"""

from __future__ import annotations

import functools
import re
from collections.abc import Iterable, Sequence
from typing import Final

from snitch.models import Article, Newsletter, Quote
from snitch.newsroom.text import defang, safe_name

__all__ = ["FORMER_MEMBER", "forgotten_names", "redact"]

FORMER_MEMBER: Final = "a former member"
# What ``safe_name`` calls someone without a usable name: a placeholder, not their name.
_NAMELESS: Final = safe_name("")
# Left alone, names in them included: URLs (scheme links such as jump links and Markdown
# link targets, and bare www. hosts) up to the next whitespace, and #channel names.
_UNTOUCHED: Final = re.compile(r"(?:[A-Za-z][A-Za-z0-9+.-]*://|www\.)\S+|(?<!\w)#[^\s#]+")
# What ``snitch.newsroom.reporter`` escapes in quote text and names in the Markdown body.
_MARKDOWN_SPECIAL: Final = re.compile(r"([\\`*_~|>\[\]()#])")
# A replacement at the start of a sentence is capitalised; these may stand before it.
_OPENERS: Final = " \t*_#>\"'“‘([-"
_SENTENCE_ENDS: Final = ".!?\n"


def forgotten_names(
    author_id: str, names: Iterable[str], newsletters: Iterable[Newsletter] = ()
) -> tuple[str, ...]:
    """The names to replace: ``names``, and the author's name on each of their quotes in
    ``newsletters`` (pass every edition of the guild, so that an edition that only names
    them is redacted too). Each also as the newsroom writes names (``safe_name``: no ``@``,
    single spaces) and in capitals, as shouted headlines write it; blank ones dropped;
    longest first, so "Al Smith" wins over "Al"."""
    found: set[str] = set()
    for name in names:
        found.update(_forms(name))
    for newsletter in newsletters:
        for article in newsletter.stories:
            for quote in article.quotes:
                if quote.author_id == author_id and quote.author_name != _NAMELESS:
                    found.update(_forms(quote.author_name))
    return tuple(sorted(found, key=lambda name: (-len(name), name)))


def _forms(name: str) -> set[str]:
    stripped = name.strip()
    if not stripped:
        return set()
    forms = {stripped}
    if stripped.replace("@", "").strip():
        forms.add(safe_name(stripped))
    # The offline reporter shouts its headlines ("{star} AND FRIENDS DISH ON ..." comes out
    # in capitals), so the capitalised name is one of the ways an edition writes it.
    return forms | {form.upper() for form in forms}


def redact(newsletter: Newsletter, author_id: str, names: Sequence[str] = ()) -> Newsletter | None:
    """The edition without the author's quotes and names; None when there is nothing of
    theirs in it (so the caller leaves it as it is).

    ``names`` are replaced as given (see ``forgotten_names``); the author's names on their
    quotes in this edition are always replaced too.
    """
    everyone = forgotten_names(author_id, names, (newsletter,))
    pattern = _name_pattern(everyone) if everyone else None
    dropped = [q for a in newsletter.stories for q in a.quotes if q.author_id == author_id]
    stories = tuple(_redact_article(article, author_id, pattern) for article in newsletter.stories)
    redacted = newsletter.model_copy(
        update={
            "headline": _replace_names(newsletter.headline, pattern),
            "stories": stories,
            "reader_tips": tuple(_replace_names(tip, pattern) for tip in newsletter.reader_tips),
        }
    )
    body = _redact_body(newsletter, redacted, dropped, pattern)
    redacted = redacted.model_copy(update={"body_markdown": body})
    return None if redacted == newsletter else redacted


def _redact_article(article: Article, author_id: str, pattern: re.Pattern[str] | None) -> Article:
    gone = {quote.message_id for quote in article.quotes if quote.author_id == author_id}
    return article.model_copy(
        update={
            "title": _replace_names(article.title, pattern),
            "summary": _replace_names(article.summary, pattern),
            "quotes": tuple(quote for quote in article.quotes if quote.author_id != author_id),
            "message_ids": tuple(m for m in article.message_ids if m not in gone),
        }
    )


# --- names --------------------------------------------------------------------------------


@functools.lru_cache(maxsize=16)
def _name_pattern(names: tuple[str, ...]) -> re.Pattern[str]:
    """One pass for every name. The replacement itself is matched first and kept as it is,
    so a name such as "member" never eats into an earlier "a former member"."""
    alternatives = "|".join(re.escape(name) for name in names)
    done = f"[Aa]{re.escape(FORMER_MEMBER[1:])}|{re.escape(FORMER_MEMBER.upper())}"
    return re.compile(rf"(?P<done>(?<!\w)(?:{done})(?!\w))|(?<![\w@])@?(?:{alternatives})(?!\w)")


def _replace_names(text: str, pattern: re.Pattern[str] | None) -> str:
    """``text`` with every whole-word (or ``@``) name made "a former member", except in URLs
    and channel names."""
    if pattern is None or not text:
        return text
    pieces: list[str] = []
    done = 0
    for start, end in _outside_untouched(text):
        for match in pattern.finditer(text, start, end):
            if match["done"] is not None:
                continue
            pieces += [text[done : match.start()], _former_member(text, *match.span())]
            done = match.end()
    if not pieces:
        return text
    pieces.append(text[done:])
    return "".join(pieces)


def _outside_untouched(text: str) -> list[tuple[int, int]]:
    """The spans of ``text`` between its URLs and channel names."""
    spans = []
    start = 0
    for untouched in _UNTOUCHED.finditer(text):
        spans.append((start, untouched.start()))
        start = untouched.end()
    spans.append((start, len(text)))
    return spans


def _former_member(text: str, start: int, end: int) -> str:
    """The replacement, shouted on a shouted line and capitalised to start a sentence."""
    line_end = text.find("\n", end)
    line = text[text.rfind("\n", 0, start) + 1 : len(text) if line_end == -1 else line_end]
    if line.upper() == line != line.lower():
        return FORMER_MEMBER.upper()
    before = text[:start].rstrip(_OPENERS)
    if not before or before[-1] in _SENTENCE_ENDS:
        return FORMER_MEMBER[0].upper() + FORMER_MEMBER[1:]
    return FORMER_MEMBER


def _mentions(text: str, pattern: re.Pattern[str] | None) -> bool:
    return _replace_names(text, pattern) != text


# --- the Markdown body --------------------------------------------------------------------


def _redact_body(
    original: Newsletter,
    redacted: Newsletter,
    dropped: list[Quote],
    pattern: re.Pattern[str] | None,
) -> str:
    body = original.body_markdown
    if not body.strip():
        return body
    quotes = [quote for article in original.stories for quote in article.quotes]
    entries = _find_entries(body, quotes)
    if entries is None:
        # Not laid out as render_markdown lays it out: nothing to cut a quote out of safely.
        if dropped or _mentions(body, pattern):
            return _render_body(redacted)
        return body
    lines = body.split("\n")
    gone = set(dropped)
    kept_lines: set[int] = set()
    gone_lines: set[int] = set()
    cut: list[tuple[int, int]] = []
    for first, last, quote in entries:
        span = range(first, last + 1)
        if quote in gone:
            gone_lines.update(span)
            cut.append((first, last))
        else:
            kept_lines.update(span)
    kept_lines -= gone_lines
    for first, last in sorted(cut):
        _drop_separator(lines, first, last, gone_lines)
    out: list[str] = []
    prose: list[str] = []
    for index, line in enumerate(lines):
        if index in gone_lines:
            continue
        if index in kept_lines:
            if prose:
                out.append(_replace_names("\n".join(prose), pattern))
                prose = []
            out.append(line)
        else:
            prose.append(line)
    if prose:
        out.append(_replace_names("\n".join(prose), pattern))
    return "\n".join(out)


def _drop_separator(lines: list[str], first: int, last: int, gone: set[int]) -> None:
    """With a quote cut out, the ``>`` line that parted it from its neighbour goes too, which
    leaves the body exactly as ``render_markdown`` writes the story without that quote."""
    before = next((i for i in range(first - 1, -1, -1) if i not in gone), None)
    after = next((i for i in range(last + 1, len(lines)) if i not in gone), None)
    if before is not None and lines[before] == ">":
        gone.add(before)
    elif after is not None and lines[after] == ">":
        gone.add(after)


def _find_entries(body: str, quotes: list[Quote]) -> list[tuple[int, int, Quote]] | None:
    """Each quote's entry in the body as (first line, last line, quote): a line that starts
    with "> " (the intro) and runs to the end of its jump link. None when a quote is missing.

    Quote text cannot start a line with "> " of its own: ``>`` is escaped in it.
    """
    starts = [0] + [i + 1 for i, char in enumerate(body) if char == "\n"]
    entries: set[tuple[int, int, Quote]] = set()
    for quote in quotes:
        tail = _entry_tail(quote)
        found = False
        at = body.find(tail)
        while at != -1:
            end = at + len(tail)
            line_start = body.rfind("\n", 0, at) + 1
            if (end == len(body) or body[end] == "\n") and body.startswith("> ", line_start):
                first = starts.index(line_start)
                last = first + body.count("\n", line_start, end)
                entries.add((first, last, quote))
                found = True
            at = body.find(tail, at + 1)
        if not found:
            return None
    return sorted(entries, key=lambda entry: (entry[0], entry[1]))


def _entry_tail(quote: Quote) -> str:
    """A quote as ``render_markdown`` writes it, from the opening quotation mark on."""
    return defang(
        f"“{_escape_markdown(quote.text)}” — **{_escape_markdown(quote.author_name)}** "
        f"([jump]({quote.jump_url}))"
    )


def _escape_markdown(text: str) -> str:
    return _MARKDOWN_SPECIAL.sub(r"\\\1", text)


def _render_body(newsletter: Newsletter) -> str:
    """A plain Markdown body for the (redacted) edition, in the layout ``render_markdown``
    uses, for a body that could not be redacted in place."""
    lines = [
        f"# {newsletter.masthead}",
        f"*{newsletter.persona_display_name} reporting on {newsletter.guild_name}*",
        "",
    ]
    for article in newsletter.stories:
        lines.append(("## " if article.role == "headline" else "### ") + article.title)
        lines += ["", article.summary, ""]
        for index, quote in enumerate(article.quotes):
            lines.append(f"> {_entry_tail(quote)}")
            if index < len(article.quotes) - 1:
                lines.append(">")
        lines += ["", "---", ""]
    return defang("\n".join(lines)).rstrip("\n") + "\n"
