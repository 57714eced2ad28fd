"""How newsworthy a conversation is, and what to call it: signals, score, topic, title.

Separate from threading (``desk``): the two change for different reasons, and the LLM
engine and the editor use the scores without caring how conversations were found.
"""

from __future__ import annotations

import hashlib
import math
from collections import Counter
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from itertools import chain

from snitch.models import Message, StorySignals
from snitch.newsroom.text import (
    CONFLICT_CUES,
    EXCITEMENT_CUES,
    MYSTERY_CUES,
    NO_CUES,
    Cues,
    analyse_text,
    cues,
    safe_name,
)

CONVERSATIONAL_KINDS = frozenset({"Default", "Reply"})
BURST_WINDOW_SECONDS = 300.0
# Words that say how people talk, not what about: no good as a story's topic.
CUE_WORDS = CONFLICT_CUES | EXCITEMENT_CUES | MYSTERY_CUES | {"believe"}


def is_conversational(message: Message) -> bool:
    """Human chat that can belong to a conversation (not bots, joins or pin notices)."""
    return not message.author.is_bot and message.kind in CONVERSATIONAL_KINDS


@dataclass(frozen=True)
class ChatAnalysis:
    """Each message's topic words and cues, and how rare each word is: computed once per
    edition and shared by threading, scoring and titling, which all ask about every message."""

    terms: Mapping[str, frozenset[str]]
    cues: Mapping[str, Cues]
    idf: Mapping[str, float]

    @classmethod
    def of(cls, messages: Sequence[Message]) -> ChatAnalysis:
        """Analyse every message once."""
        terms: dict[str, frozenset[str]] = {}
        found: dict[str, Cues] = {}
        for message in messages:
            terms[message.id], found[message.id] = analyse_text(message.content)
        # One count over all the words: ``Counter.update`` per message pays an ABC check each.
        document_frequency = Counter(chain.from_iterable(terms.values()))
        total = max(len(messages), 1)
        return cls(
            terms=terms,
            cues=found,
            idf={term: math.log1p(total / count) for term, count in document_frequency.items()},
        )


def measure(conversation: Sequence[Message], analysis: ChatAnalysis | None = None) -> StorySignals:
    """Newsworthiness signals of one conversation, each on its natural scale.

    Runs for every conversation of an edition, newsworthy or not, so it reads each message
    once rather than once per signal.
    """
    ids = {message.id for message in conversation}
    cues_of = analysis.cues if analysis is not None else None
    humans: set[str] = set()
    times: list[float] = []
    reactions = replies = mentions = edits = pinned = 0
    conflict = excitement = mystery = 0
    for message in conversation:
        if not message.author.is_bot:
            humans.add(message.author.id)
        times.append(message.timestamp.timestamp())
        if message.reactions:
            reactions += message.reaction_count
        if message.reply_to_id in ids:
            replies += 1
        if message.mentions:
            mentions += len(message.mentions)
        if message.edited_at is not None:
            edits += 1
        if message.is_pinned:
            pinned += 1
        found = cues_of[message.id] if cues_of is not None else cues(message.content)
        if found is not NO_CUES:
            conflict += found.conflict
            excitement += found.excitement
            mystery += found.mystery
    burst, start = 0, 0
    for end, moment in enumerate(times):
        while moment - times[start] > BURST_WINDOW_SECONDS:
            start += 1
        burst = max(burst, end - start + 1)
    return StorySignals(
        messages=len(conversation),
        participants=len(humans),
        reactions=reactions,
        replies=replies,
        mentions=mentions,
        burst=float(burst),
        conflict=float(conflict),
        excitement=float(excitement),
        mystery=float(mystery),
        edits=edits,
        pinned=pinned,
    )


def newsworthiness(signals: StorySignals) -> float:
    """One score from the signals; logarithms so no single signal can drown the rest."""
    if signals.participants == 0:
        return 0.0
    log = math.log1p
    score = (
        1.0 * log(signals.messages)
        + 1.6 * log(max(signals.participants - 1, 0))
        + 1.2 * log(signals.reactions)
        + 0.8 * log(signals.replies)
        + 0.7 * log(max(signals.burst - 1, 0))
        + 0.9 * log(signals.conflict)
        + 0.7 * log(signals.excitement)
        + 0.5 * log(signals.mystery + signals.edits)
        + 1.0 * log(signals.pinned)
    )
    return round(score, 3)


def is_newsworthy(signals: StorySignals) -> bool:
    """Worth a reader's time: a real exchange, or a single message the server rallied around."""
    if signals.participants == 0:
        return False
    exchange = signals.participants >= 2 and signals.messages >= 3
    return exchange or signals.reactions >= 3 or signals.pinned > 0


def keywords(
    conversation: Sequence[Message], analysis: ChatAnalysis, limit: int = 3
) -> tuple[str, ...]:
    """The words that set this conversation apart from the rest of the chat."""
    counts: Counter[str] = Counter()
    # By identity: hashing a pydantic model hashes all its fields, and the names of equal
    # authors are the same anyway.
    people = {id(message.author): message.author for message in conversation}
    for message in conversation:
        if message.mentions:
            people.update((id(person), person) for person in message.mentions)
        if is_conversational(message):
            counts.update(analysis.terms[message.id])
    names = {
        name.lower()
        for person in people.values()
        for name in (person.name, person.nickname)
        if name
    }
    for word in [word for word in counts if word in names or word in CUE_WORDS]:
        del counts[word]
    idf = analysis.idf
    # Rarest-weighted first, then alphabetical; terms are unique, so counts never compare.
    ranked = sorted(
        [(-(count * idf.get(term, 0.0)), term, count) for term, count in counts.items()]
    )
    repeated = [term for _, term, count in ranked if count >= 2]
    chosen = repeated[:limit] if len(repeated) >= 2 else [term for _, term, _ in ranked[:limit]]
    return tuple(chosen)


def neutral_title(
    keywords: Sequence[str], channel_name: str, conversation: Sequence[Message]
) -> str:
    """A plain, factual title; the Star Reporter writes the tabloid one."""
    if keywords:
        topic = " & ".join(keywords[:2])
        return f"{topic[0].upper()}{topic[1:]} in #{channel_name}"
    first = conversation[0]
    return f"A message from {safe_name(first.author.display_name)} in #{channel_name}"


def story_id(conversation: Sequence[Message]) -> str:
    """Stable id for the same conversation, whatever order the input came in."""
    # One update with the ids joined hashes the same bytes as one update per id.
    joined = "".join(sorted(message.id for message in conversation))
    return f"story-{hashlib.blake2b(joined.encode(), digest_size=6).hexdigest()}"
