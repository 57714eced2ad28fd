"""The offline Star Reporter: writes the edition in the persona's voice from real messages.

Every quote is an excerpt of a message's displayed text (``display_content``), attributed to
that message's author and linked to it. Excerpts never contain anything that could ping, so
the final defanging pass leaves quotes untouched and they stay verbatim.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Mapping, Sequence
from datetime import datetime
from itertools import pairwise

from snitch.models import (
    Article,
    Chat,
    EditorialPlan,
    Message,
    Newsletter,
    Persona,
    Quote,
    Story,
    TimeWindow,
)
from snitch.newsroom.personas import Angle, Voice, voice_of
from snitch.newsroom.scoring import is_conversational
from snitch.newsroom.text import (
    STOPWORDS,
    cues,
    defang,
    display_content,
    is_pingless,
    safe_name,
    words,
)

MAX_QUOTE_CHARS = 220
MIN_QUOTE_WORDS = 3
SEGMENT = re.compile(r"[^\n.!?]+[.!?]*")
PLACEHOLDER = re.compile(r"\{(\w+)\}")
MARKDOWN_SPECIAL = re.compile(r"([\\`*_~|>\[\]()#])")


def quote_matches(quote: Quote, message: Message) -> bool:
    """The grounding rule: verbatim text of that message, its author, its link."""
    return (
        quote.message_id == message.id
        and quote.author_id == message.author.id
        and quote.jump_url == message.jump_url
        and bool(quote.text)
        and quote.text in display_content(message)
    )


def excerpt(text: str) -> str | None:
    """The most quotable stretch of a message that is safe to repeat, verbatim; None if none."""
    best: tuple[float, str] | None = None
    for match in SEGMENT.finditer(text):
        segment = match.group(0).strip()
        if len(segment) > MAX_QUOTE_CHARS:
            cut = segment.rfind(" ", 0, MAX_QUOTE_CHARS)
            segment = segment[: cut if cut > 40 else MAX_QUOTE_CHARS].rstrip()
        if len(segment.split()) < MIN_QUOTE_WORDS or not is_pingless(segment):
            continue
        if "```" in segment or "http" in segment:
            continue
        punch = cues(segment).total
        weight = punch + min(len(segment), 140) / 70.0
        if best is None or weight > best[0]:
            best = (weight, segment)
    return best[1] if best else None


def replies_received(messages: Sequence[Message]) -> dict[str, int]:
    """How many replies each message drew within these messages."""
    counts: dict[str, int] = {}
    for message in messages:
        if message.reply_to_id:
            counts[message.reply_to_id] = counts.get(message.reply_to_id, 0) + 1
    return counts


def quotable_score(message: Message, replies_to: Mapping[str, int]) -> float:
    content = message.content
    length = len(content)
    score = 2.0 * message.reaction_count + 1.5 * replies_to.get(message.id, 0)
    score += cues(content).total
    score += 3.0 * message.is_pinned
    score += 1.0 if 25 <= length <= 200 else (-1.0 if length < 12 else 0.0)
    return score


def pick_quotes(messages: Sequence[Message], limit: int) -> list[Quote]:
    """The most telling lines of a conversation, one per author while authors last."""
    replies_to = replies_received(messages)
    ranked = sorted(
        (m for m in messages if is_conversational(m) and m.content.strip()),
        key=lambda m: (-quotable_score(m, replies_to), m.timestamp, m.id),
    )
    chosen: list[tuple[Message, str]] = []
    quoted_authors: set[str] = set()
    for allow_repeat_author in (False, True):
        for message in ranked:
            if len(chosen) >= limit:
                break
            if any(message.id == picked.id for picked, _ in chosen):
                continue
            if not allow_repeat_author and message.author.id in quoted_authors:
                continue
            text = excerpt(display_content(message))
            if text is None:
                continue
            chosen.append((message, text))
            quoted_authors.add(message.author.id)
    chosen.sort(key=lambda pair: (pair[0].timestamp, pair[0].id))
    return [
        Quote(
            message_id=message.id,
            author_id=message.author.id,
            author_name=safe_name(message.author.display_name),
            text=text,
            jump_url=message.jump_url,
        )
        for message, text in chosen
    ]


def angle_of(story: Story) -> Angle:
    """What kind of story this is, from its strongest cue."""
    signals = story.signals
    if signals.pinned:
        return "announcement"
    cues: dict[Angle, float] = {
        "feud": signals.conflict,
        "hype": signals.excitement,
        "mystery": signals.mystery + signals.edits,
    }
    angle = max(cues, key=lambda name: (cues[name], name))
    return angle if cues[angle] >= max(2.0, 0.1 * signals.messages) else "chatter"


def _choose(options: Sequence[str], story_id: str, salt: str, used: set[str] | None = None) -> str:
    """A stable pick for this story; with ``used``, one not yet used in the edition if any."""
    digest = hashlib.blake2b(f"{story_id}:{salt}".encode(), digest_size=4).digest()
    start = int.from_bytes(digest, "big") % len(options)
    rotation = [options[(start + step) % len(options)] for step in range(len(options))]
    choice = next((option for option in rotation if used is None or option not in used), None)
    choice = choice or rotation[0]
    if used is not None:
        used.add(choice)
    return choice


def _fill(template: str, facts: Mapping[str, str]) -> str:
    return PLACEHOLDER.sub(lambda match: facts.get(match.group(1), match.group(0)), template)


def _names(ids: Sequence[str], authors: Mapping[str, str], limit: int = 3) -> str:
    names = [authors[author_id] for author_id in ids if author_id in authors][:limit]
    if not names:
        return "persons unknown"
    extra = len(ids) - len(names)
    if extra > 0:
        return ", ".join(names) + f" and {extra} more"
    return names[0] if len(names) == 1 else ", ".join(names[:-1]) + " and " + names[-1]


def topic_phrase(story: Story, messages: Sequence[Message]) -> str:
    """What the story is about, in words people actually wrote side by side.

    Two separate keywords read like word salad ("pineapple italians"); a pair of topic words
    that appears together in at least two messages ("pineapple pizza") reads like a topic.
    """
    keywords = set(story.keywords)
    pairs: dict[tuple[str, str], int] = {}
    for message in messages:
        tokens = words(message.content)
        for pair in set(pairwise(tokens)):
            first, second = pair
            if (first in keywords or second in keywords) and _topical(first) and _topical(second):
                pairs[pair] = pairs.get(pair, 0) + 1
    repeated = [(count, pair) for pair, count in pairs.items() if count >= 2]
    if repeated:
        _, (first, second) = max(repeated, key=lambda item: (item[0], item[1]))
        return f"{first} {second}"
    return story.keywords[0] if story.keywords else "small talk"


def _topical(word: str) -> bool:
    return len(word) > 2 and word not in STOPWORDS and not word.isdigit()


def _plural(count: int, noun: str) -> str:
    return f"{count:,} {noun}" + ("" if count == 1 else "s")


def story_facts(story: Story, messages: Sequence[Message]) -> dict[str, str]:
    """The facts a template may use, all taken from the chat."""
    authors: dict[str, str] = {}
    talk: dict[str, int] = {}
    for message in messages:
        authors.setdefault(message.author.id, safe_name(message.author.display_name))
        talk[message.author.id] = talk.get(message.author.id, 0) + 1
    by_voice = sorted(
        story.participants, key=lambda author_id: (-talk.get(author_id, 0), author_id)
    )
    topic = topic_phrase(story, messages)
    signals = story.signals
    return {
        "channel": safe_name(story.channel_name or story.channel_id).replace(" ", "-"),
        "topic": topic,
        "Topic": topic.title(),
        "TOPIC": topic.upper(),
        "star": authors.get(by_voice[0], "someone") if by_voice else "someone",
        "names": _names(by_voice, authors),
        "count": _plural(signals.messages, "message"),
        "people": str(signals.participants),
        "reactions": _plural(signals.reactions, "reaction"),
        "burst": str(int(signals.burst)),
    }


def _headline(voice: Voice, story: Story, facts: Mapping[str, str], used: set[str]) -> str:
    template = _choose(voice.headlines[angle_of(story)], story.id, "headline", used)
    literal = PLACEHOLDER.sub("", template)
    title = _fill(template, facts)
    return title.upper() if literal.upper() == literal else title


def _escape_markdown(text: str) -> str:
    return MARKDOWN_SPECIAL.sub(r"\\\1", text)


def _when(window: TimeWindow) -> str:
    def stamp(moment: datetime) -> str:
        return moment.strftime("%a %d %b %Y, %H:%M UTC")

    return f"{stamp(window.since)} to {stamp(window.until)}"


class OfflineReporter:
    """Template-driven reporter: the persona's voice around the chat's own words."""

    async def write(
        self,
        chat: Chat,
        stories: Sequence[Story],
        plan: EditorialPlan,
        persona: Persona,
        window: TimeWindow,
    ) -> Newsletter:
        """See ``StarReporter.write``; templates only, so nothing here awaits."""
        voice = voice_of(persona)
        by_id = {story.id: story for story in stories}
        wanted = {plan.headline_story_id, *plan.supporting_story_ids}
        needed = {mid for sid in wanted for mid in by_id[sid].message_ids}
        messages = {message.id: message for message in chat.messages if message.id in needed}
        used: set[str] = set()
        articles = [
            self._article(voice, by_id[story_id], messages, role, used)
            for story_id, role in [(plan.headline_story_id, "headline")]
            + [(story_id, "supporting") for story_id in plan.supporting_story_ids]
        ]
        return assemble(chat, voice, persona, window, articles)

    def _article(
        self,
        voice: Voice,
        story: Story,
        messages: Mapping[str, Message],
        role: str,
        used: set[str],
    ) -> Article:
        """One story written up; ``used`` keeps templates from repeating within an edition."""
        conversation = [messages[mid] for mid in story.message_ids if mid in messages]
        facts = story_facts(story, conversation)
        if role == "headline":
            summary = _fill(_choose(voice.leads, story.id, "lead", used), facts)
            limit = 3
        else:
            summary = _fill(_choose(voice.supporting, story.id, "support", used), facts)
            limit = 2 if story.signals.messages >= 8 else 1
        return Article(
            role="headline" if role == "headline" else "supporting",
            title=defang(_headline(voice, story, facts, used)),
            summary=defang(summary),
            channel_id=story.channel_id,
            message_ids=story.message_ids,
            quotes=tuple(pick_quotes(conversation, limit)),
        )


def render_markdown(
    chat: Chat,
    voice: Voice,
    persona: Persona,
    window: TimeWindow,
    articles: Sequence[Article],
) -> str:
    """The edition as Markdown; quotes are escaped so they show verbatim, links from data."""
    lines = [
        f"# {persona.masthead}",
        f"*{persona.display_name} reporting on {chat.guild.name} · {_when(window)}*",
        "",
    ]
    for article in articles:
        lines.append(("## " if article.role == "headline" else "### ") + article.title)
        lines += ["", article.summary, ""]
        for index, quote in enumerate(article.quotes):
            intro = _choose(voice.quote_intros, quote.message_id, "intro")
            lines.append(
                f"> {intro} “{_escape_markdown(quote.text)}” "
                f"— **{_escape_markdown(quote.author_name)}** ([jump]({quote.jump_url}))"
            )
            if index < len(article.quotes) - 1:
                lines.append(">")
        lines += ["", "---", ""]
    lines.append(f"*{voice.sign_off}*")
    return defang("\n".join(lines)) + "\n"


def assemble(
    chat: Chat,
    voice: Voice,
    persona: Persona,
    window: TimeWindow,
    articles: Sequence[Article],
    *,
    engine: str = "offline",
) -> Newsletter:
    """The finished edition from its articles, whichever engine wrote them."""
    return Newsletter(
        persona=persona.name,
        persona_display_name=persona.display_name,
        masthead=persona.masthead,
        engine=engine,
        guild_name=defang(chat.guild.name),
        headline=articles[0].title,
        window=window,
        stories=tuple(articles),
        body_markdown=render_markdown(chat, voice, persona, window, articles),
        message_count=len(chat.messages),
    )
