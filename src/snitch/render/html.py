"""Render a finished edition as one self-contained HTML page styled like a tabloid front page.

Everything in a `Newsletter` comes from chat, so every string is treated as hostile: it is
escaped (in attributes too), its mass mentions are defused, and only Discord jump links
become hrefs. The page fetches nothing: the CSS is inline, the fonts are system fonts, and a
Content-Security-Policy forbids scripts and every network load should something slip through.
"""

from __future__ import annotations

import html
import re
from datetime import datetime

from snitch.models import Article, Newsletter, Quote, TimeWindow

__all__ = ["render_html"]

# Pasting this page into Discord (or anything that pings) must never notify a whole server:
# a zero-width space after the "@" breaks the mention. The lookahead skips markdown stars,
# because "@**everyone**" renders as "@everyone" once the emphasis is applied.
_MASS_MENTION = re.compile(r"@(?=\**(?:everyone|here))", re.IGNORECASE)
_ZWSP = "\u200b"
# C0/C1 controls (except tab and newline) have no business in a page and some break parsers.
_CONTROL = re.compile("[\x00-\x08\x0b-\x1f\x7f-\x9f]")
# Lone surrogates (from JSON "\ud83d" escapes) cannot be encoded as UTF-8.
_SURROGATE = re.compile("[\ud800-\udfff]")
# The only links we emit: a Discord jump link to a guild (or DM) channel or message. ASCII
# digits only, matched on the whole string, so no userinfo, port, query or look-alike host.
_JUMP_LINK = re.compile(r"https://discord\.com/channels/(?:@me|[0-9]+)/[0-9]+(?:/[0-9]+)?")
_STRONG = re.compile(r"\*\*(?=\S)(.+?)(?<=\S)\*\*")
# Content cannot hold "<" or ">", so an <em> can never straddle a <strong> tag.
_EM = re.compile(r"(?<![*\w])\*(?=[^\s*])([^*<>]+?)(?<=\S)\*(?![*\w])")

_MONTHS = ("Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec")
_DAYS = ("Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun")
_KICKERS = ("Shock", "Revealed", "Spotted", "Whispers", "Meanwhile", "Overheard")

# Defence in depth: even if markup were injected, the browser would run and fetch nothing.
_CSP = "default-src 'none'; style-src 'unsafe-inline'; base-uri 'none'; form-action 'none'"

_CSS = """
:root {
  --red: #c8102e; --ink: #111; --paper: #fffdf8; --yellow: #ffd60a; --rule: #0003;
  /* Impact where it exists; else any condensed grotesque the reader has installed, in bold. */
  --head: Impact, Haettenschweiler, Anton, "Bebas Neue", Oswald, "Arial Narrow",
    "Liberation Sans Narrow", "Roboto Condensed", "Nimbus Sans Narrow", "DejaVu Sans Condensed",
    "Arial Black", sans-serif;
  --body: Georgia, Cambria, "Times New Roman", Times, serif;
  --sans: "Helvetica Neue", Helvetica, Arial, sans-serif;
  color-scheme: light;
}
* { box-sizing: border-box; }
html { -webkit-text-size-adjust: 100%; text-size-adjust: 100%; }
.flag, .ribbon, .lead h1, .also-label, .story h2 { font-synthesis: none; }
body { margin: 0; background: #dcd8cf; color: var(--ink); font: 1.0625rem/1.55 var(--body); }
.page { max-width: 76rem; margin: 0 auto; background: var(--paper); padding-bottom: 1.25rem;
  box-shadow: 0 0 0 1px #0002, 0 12px 40px #0003; }
a { color: var(--red); }
.ears { display: flex; flex-wrap: wrap; justify-content: space-between; gap: .25rem 1rem;
  margin: 0; padding: .55rem 1.25rem; font: 700 .72rem/1.3 var(--sans); letter-spacing: .1em;
  text-transform: uppercase; }
.flag { margin: 0; padding: .1em .3em 0; background: var(--red); color: #fff;
  font: 700 clamp(3.2rem, 13.5vw, 9.5rem)/1 var(--head); letter-spacing: .015em;
  text-align: center; text-transform: uppercase; text-shadow: .04em .04em 0 var(--ink);
  overflow-wrap: anywhere; border-top: .35rem solid var(--ink); }
.dateline { display: flex; flex-wrap: wrap; justify-content: space-between; gap: .25rem 1rem;
  margin: 0; padding: .5rem 1.25rem; background: var(--ink); color: #fff;
  font: 700 .8rem/1.3 var(--sans); letter-spacing: .08em; text-transform: uppercase; }
.dateline .guild { color: var(--yellow); }
main { padding: 0 1.25rem; }
.lead { padding: 1.4rem 0 1.6rem; border-bottom: 5px double var(--ink); }
.ribbon { display: inline-block; margin: 0; padding: .15rem .8rem .1rem; background: var(--yellow);
  color: var(--ink); font: 700 1.15rem/1.2 var(--head); letter-spacing: .16em;
  text-transform: uppercase; transform: rotate(-2deg); box-shadow: 3px 3px 0 var(--ink); }
.lead h1 { margin: .7rem 0 1.1rem; font: 700 clamp(2.6rem, 7.6vw, 6.2rem)/.92 var(--head);
  letter-spacing: .005em; text-transform: uppercase; overflow-wrap: anywhere; hyphens: auto; }
.lead-body { display: grid; gap: 1.5rem; }
.summary { overflow-wrap: anywhere; hyphens: auto; }
.summary p { margin: 0 0 .8em; }
.lead .summary { font-size: 1.15rem; }
.lead .summary p:first-child::first-letter { float: left; margin: .07em .07em 0 0;
  color: var(--red); font: 700 3.9em/.8 var(--body); }
.quotes { margin: 0; }
.quote { margin: 0 0 1.1rem; padding: .2rem 0 .2rem .9rem; border-left: 6px solid var(--red);
  break-inside: avoid; }
.quote p { margin: 0; font: italic 700 1.05rem/1.35 var(--body); overflow-wrap: anywhere; }
.quote p::before { content: "\\201C"; color: var(--red); }
.quote p::after { content: "\\201D"; color: var(--red); }
.lead .quote { padding: .4rem 0 .6rem 1rem; border-left-width: 8px; }
.lead .quote p { font-size: clamp(1.25rem, 2.2vw, 1.6rem); line-height: 1.25; }
.quote footer { display: flex; flex-wrap: wrap; gap: 0 .9rem; margin-top: .4rem;
  font: 700 .72rem/1.4 var(--sans); letter-spacing: .07em;
  text-transform: uppercase; overflow-wrap: anywhere; }
.quote cite { font-style: normal; }
.receipt { white-space: nowrap; }
.unverified { white-space: normal; color: #666; text-transform: none; letter-spacing: 0;
  font-weight: 400; }
.also { margin-top: 1.2rem; }
.columns-clip { overflow: hidden; border-top: 3px solid var(--ink); }
.also-label { display: inline-block; margin: 0; padding: .2rem .7rem .1rem; background: var(--ink);
  color: #fff; font: 700 1.2rem/1.2 var(--head); letter-spacing: .14em; text-transform: uppercase; }
.columns { display: grid; grid-template-columns: repeat(auto-fit, minmax(15.5rem, 1fr));
  margin: 0 -1.1rem; padding: 0; }
.story { margin: 0 0 0 -1px; padding: .9rem 1.1rem 1rem; border-left: 1px solid var(--rule);
  list-style: none; break-inside: avoid; }
.kicker { margin: 0; color: var(--red); font: 700 .72rem/1.3 var(--sans); letter-spacing: .14em;
  text-transform: uppercase; }
.story h2 { margin: .2rem 0 .6rem; font: 700 clamp(1.5rem, 2.5vw, 2.05rem)/1 var(--head);
  text-transform: uppercase; overflow-wrap: anywhere; hyphens: auto; }
.story .summary { font-size: 1rem; }
.colophon { display: flex; flex-wrap: wrap; gap: .2rem 1.6rem; margin: 1.5rem 1.25rem 0;
  padding: .7rem 0 0; border-top: 5px double var(--ink); list-style: none;
  font: .78rem/1.5 var(--sans); color: #444; }
.colophon b { color: var(--ink); letter-spacing: .06em; text-transform: uppercase; }
@media (min-width: 50rem) {
  .lead-body.with-quotes { grid-template-columns: minmax(0, 3fr) minmax(0, 2fr); gap: 2.2rem; }
  .lead .summary { column-count: 2; column-gap: 2rem; column-rule: 1px solid var(--rule); }
  .lead-body.with-quotes .quotes { padding-left: 2.2rem; border-left: 1px solid var(--rule); }
}
@media (max-width: 32rem) {
  body { font-size: 1rem; }
  main, .ears, .dateline { padding-left: .8rem; padding-right: .8rem; }
  .columns { margin: 0 -.8rem; }
  .story { padding: .9rem .8rem 1rem; border-left: 0; border-bottom: 1px solid var(--rule); }
}
@media print {
  @page { margin: 12mm; }
  * { -webkit-print-color-adjust: exact; print-color-adjust: exact; }
  body { background: #fff; font-size: 10.5pt; }
  .page { max-width: none; box-shadow: none; }
  .lead h1, .story, .quote { break-inside: avoid; }
  .receipt a::after { content: " " attr(href); font-weight: 400; text-transform: none;
    letter-spacing: 0; white-space: normal; overflow-wrap: anywhere; }
}
"""


def render_html(newsletter: Newsletter) -> str:
    """The edition as a complete, self-contained HTML document (no scripts, no fetches)."""
    lead, supporting = _split(newsletter.stories)
    title = lead.title if lead is not None else newsletter.headline
    document = "\n".join(
        (
            "<!doctype html>",
            '<html lang="en">',
            "<head>",
            '<meta charset="utf-8">',
            '<meta name="viewport" content="width=device-width, initial-scale=1">',
            f'<meta http-equiv="Content-Security-Policy" content="{_CSP}">',
            '<meta name="referrer" content="no-referrer">',
            f"<title>{_text(newsletter.masthead)} \u2014 {_text(title)}</title>",
            f"<style>{_CSS}</style>",
            "</head>",
            "<body>",
            '<div class="page">',
            _masthead(newsletter),
            "<main>",
            _lead(lead, title),
            _supporting(supporting),
            "</main>",
            _colophon(newsletter),
            "</div>",
            "</body>",
            "</html>",
            "",
        )
    )
    # Every string was defused on its way in; this pass keeps a future template edit honest.
    return _MASS_MENTION.sub("@" + _ZWSP, document)


def _split(stories: tuple[Article, ...]) -> tuple[Article | None, list[Article]]:
    """The lead (the first headline article, else the first story) and the rest, in order."""
    lead = next((story for story in stories if story.role == "headline"), None)
    if lead is None and stories:
        lead = stories[0]
    return lead, [story for story in stories if story is not lead]


def _masthead(newsletter: Newsletter) -> str:
    """The flag, with the ears and dateline a reader scans before the headline."""
    return (
        "<header>\n"
        '<p class="ears"><span>The paper your server deserves</span>'
        "<span>Price: one (1) secret</span></p>\n"
        f'<p class="flag">{_text(newsletter.masthead)}</p>\n'
        '<p class="dateline">'
        f'<span class="guild">{_bdi(newsletter.guild_name)}</span>'
        f"<span>{_date_range(newsletter.window)}</span>"
        f"<span>As told by {_bdi(newsletter.persona_display_name)}</span></p>\n"
        "</header>"
    )


def _lead(article: Article | None, title: str) -> str:
    """The front-page story: ribbon, screaming headline, summary and its pull-quotes."""
    if article is None:
        summary = _summary("Not a peep. Our sources went quiet. *Suspicious.*")
        quotes = ""
    else:
        summary = _summary(article.summary)
        quotes = _quotes(article.quotes)
    layout = "lead-body with-quotes" if quotes else "lead-body"
    return (
        '<article class="lead">\n'
        '<p class="ribbon">Exclusive</p>\n'
        f"<h1>{_text(title)}</h1>\n"
        f'<div class="{layout}">\n{summary}\n{quotes}</div>\n'
        "</article>"
    )


def _supporting(articles: list[Article]) -> str:
    """The other stories, side by side in ruled columns."""
    if not articles:
        return ""
    stories = "\n".join(_story(article, index) for index, article in enumerate(articles))
    return (
        '<section class="also" aria-labelledby="also-label">\n'
        '<h2 class="also-label" id="also-label">Also inside</h2>\n'
        f'<div class="columns-clip"><ul class="columns">\n{stories}\n</ul></div>\n'
        "</section>"
    )


def _story(article: Article, index: int) -> str:
    """One supporting story, under a tabloid kicker."""
    return (
        '<li class="story"><article>\n'
        f'<p class="kicker">{_KICKERS[index % len(_KICKERS)]}</p>\n'
        f"<h2>{_text(article.title)}</h2>\n"
        f"{_summary(article.summary)}\n"
        f"{_quotes(article.quotes)}"
        "</article></li>"
    )


def _quotes(quotes: tuple[Quote, ...]) -> str:
    """The article's quotes as pull-quotes, or nothing when it has none."""
    if not quotes:
        return ""
    return '<div class="quotes">\n' + "\n".join(_quote(quote) for quote in quotes) + "\n</div>\n"


def _quote(quote: Quote) -> str:
    """A verbatim message, its author, and the jump link that proves it was said."""
    href = _receipt_href(quote.jump_url)
    if href is not None:
        receipt = (
            f'<a href="{html.escape(href, quote=True)}" rel="noopener noreferrer" '
            'target="_blank">See the receipts \u2192</a>'
        )
    elif quote.jump_url.strip():
        receipt = f'<span class="unverified">unverified source: {_text(quote.jump_url)}</span>'
    else:
        receipt = '<span class="unverified">no receipt</span>'
    return (
        '<blockquote class="quote">'
        f"<p>{_lines(quote.text)}</p>"
        f"<footer><cite>\u2014 {_bdi(quote.author_name)}</cite> "
        f'<span class="receipt">{receipt}</span></footer>'
        "</blockquote>"
    )


def _colophon(newsletter: Newsletter) -> str:
    """Who wrote the edition, from how much chat, and what the LLM cost."""
    usage = newsletter.usage
    if usage.calls:
        llm = (
            f"{usage.calls:,} {_plural(usage.calls, 'call')}, "
            f"{usage.prompt_tokens:,} prompt + {usage.completion_tokens:,} completion tokens"
        )
    else:
        llm = "none, not a single token"
    items = (
        ("Engine", _text(newsletter.engine)),
        ("Persona", f"{_bdi(newsletter.persona_display_name)} ({_text(newsletter.persona)})"),
        (
            "Read",
            f"{newsletter.message_count:,} {_plural(newsletter.message_count, 'message')}",
        ),
        ("Quoted", f"{newsletter.quote_count:,} {_plural(newsletter.quote_count, 'message')}"),
        ("LLM usage", llm),
    )
    rows = "\n".join(f"<li><b>{label}:</b> {value}</li>" for label, value in items)
    return f'<footer>\n<ul class="colophon">\n{rows}\n</ul>\n</footer>'


def _summary(summary: str) -> str:
    """Plain-text paragraphs, with only **bold** and *italic* turned into markup."""
    paragraphs = [p for p in re.split(r"\n\s*\n", _clean(summary).strip()) if p.strip()]
    if not paragraphs:
        return '<div class="summary"></div>'
    body = "\n".join(f"<p>{_lines(p, emphasis=True)}</p>" for p in paragraphs)
    return f'<div class="summary">\n{body}\n</div>'


def _lines(value: str, *, emphasis: bool = False) -> str:
    """Escaped text whose line breaks survive as <br>; emphasis never spans two lines."""
    lines = [html.escape(line, quote=True) for line in _clean(value).strip("\n").split("\n")]
    if emphasis:
        lines = [_EM.sub(r"<em>\1</em>", _STRONG.sub(r"<strong>\1</strong>", ln)) for ln in lines]
    return "<br>".join(lines)


def _bdi(value: str) -> str:
    """A name isolated from its surroundings, so right-to-left or override marks stay inside."""
    return f"<bdi>{_text(value)}</bdi>"


def _text(value: str) -> str:
    """Chat text made safe for an element body or a quoted attribute."""
    return html.escape(_clean(value), quote=True)


def _clean(value: str) -> str:
    """Normalise line breaks, drop control characters, repair surrogates, defuse @everyone."""
    value = value.replace("\r\n", "\n").replace("\r", "\n")
    value = _SURROGATE.sub("\ufffd", _CONTROL.sub("", value))
    return _MASS_MENTION.sub("@" + _ZWSP, value)


def _receipt_href(url: str) -> str | None:
    """The URL if it is a Discord jump link, else None: nothing else may become a link."""
    return url if _JUMP_LINK.fullmatch(url) else None


def _date_range(window: TimeWindow) -> str:
    """ "Mon 3 Mar \u2013 Sun 9 Mar 2025", in a <time> pair machines can read too."""
    since, until = window.since, window.until
    if since.date() == until.date():
        return _time(since, with_year=True)
    start = _time(since, with_year=since.year != until.year)
    return f"{start} \u2013 {_time(until, with_year=True)}"


def _time(moment: datetime, *, with_year: bool) -> str:
    """One date, in English whatever the process locale."""
    label = f"{_DAYS[moment.weekday()]} {moment.day} {_MONTHS[moment.month - 1]}"
    if with_year:
        label += f" {moment.year}"
    return f'<time datetime="{html.escape(moment.isoformat(), quote=True)}">{label}</time>'


def _plural(count: int, noun: str) -> str:
    """ "message" or "messages"."""
    return noun if count == 1 else noun + "s"
