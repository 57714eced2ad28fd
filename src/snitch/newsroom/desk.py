"""The offline News Desk: untangles interleaved chat into conversations, then scores them.

A busy channel carries several conversations at once, so silence alone cannot separate them.
Each message joins the live conversation with the strongest evidence: the message it replies
to, the people it addresses, whether its author is already talking there, shared topic words,
and how recently the conversation spoke. Without enough evidence it starts a new one.
"""

from __future__ import annotations

import math
import multiprocessing
import re
from collections import deque
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from itertools import islice

from snitch.models import Author, Chat, Message, Story
from snitch.newsroom.scoring import (
    CONVERSATIONAL_KINDS,
    ChatAnalysis,
    is_newsworthy,
    keywords,
    measure,
    neutral_title,
    newsworthiness,
    story_id,
)

ADDRESS_PREFIX = re.compile(r"^\s*@?([^\s:,@<>]{2,32})\s*[:,]")
AT_NAME = re.compile(r"@([^\W_][\w.'-]{1,31})")
# Below this many messages, forking workers costs more than it saves.
PARALLEL_FROM_MESSAGES = 20_000
TOPIC_MEMORY = 12  # messages whose topic words a conversation matches new messages against


@dataclass(frozen=True)
class GroupingWeights:
    """How much each kind of evidence counts when a message picks its conversation."""

    gap_seconds: float = 1800.0
    resume_seconds: float = 7200.0
    recent_candidates: int = 6
    addressed: float = 3.0
    addressed_back: float = 1.5
    own_thread: float = 2.3
    author: float = 1.0
    lexical: float = 1.3
    recency: float = 1.15
    recency_seconds: float = 120.0
    threshold: float = 1.95
    novelty: float = 0.6
    # Past these a conversation takes new messages only by explicit reply, so one busy
    # channel cannot snowball into a single never-ending "story".
    max_span_seconds: float = 6 * 3600.0
    max_messages: int = 250


@dataclass
class _Thread:
    """A conversation being assembled."""

    messages: list[Message] = field(default_factory=list)
    first: float = 0.0
    last: float = 0.0
    spoke: dict[str, float] = field(default_factory=dict)
    addressed: dict[str, float] = field(default_factory=dict)
    # Topic words of the last few messages only: a long conversation's whole vocabulary
    # would match anything, and it would swallow every new topic in a busy channel.
    terms: dict[str, int] = field(default_factory=dict)
    recent_terms: deque[frozenset[str]] = field(default_factory=deque)


class _NameIndex:
    """Resolves "alice: ..." and "@alice" to author ids, from the names seen in the chat."""

    def __init__(self, messages: Iterable[Message]) -> None:
        self._ids: dict[str, str] = {}
        people: dict[Author, None] = {}  # distinct authors, in order of first appearance
        for message in messages:
            people[message.author] = None
            if message.mentions:
                people.update(dict.fromkeys(message.mentions))
        for author in people:
            for name in (author.name, author.nickname):
                if name:
                    self._ids.setdefault(name.lower(), author.id)

    def addressed(self, message: Message) -> set[str]:
        """Everyone a message speaks to, by mention or by name, apart from its author."""
        found = {author.id for author in message.mentions} if message.mentions else set()
        content = message.content
        prefix = ADDRESS_PREFIX.match(content)
        if prefix:
            found.add(self._ids.get(prefix.group(1).lower(), ""))
        if "@" in content:
            for name in AT_NAME.findall(content):
                found.add(self._ids.get(name.lower(), ""))
        if found:
            found.discard("")
            found.discard(message.author.id)
        return found


def group_conversations(
    messages: Sequence[Message],
    weights: GroupingWeights | None = None,
    analysis: ChatAnalysis | None = None,
) -> list[list[Message]]:
    """Partition messages into conversations; every message lands in exactly one."""
    weights = weights or GroupingWeights()
    ordered = sorted(messages, key=lambda message: (message.timestamp, message.id))
    analysis = analysis or ChatAnalysis.of(ordered)
    names = _NameIndex(ordered)
    idf = analysis.idf
    threads: list[_Thread] = []
    thread_of: dict[str, _Thread] = {}
    channels: dict[str, _Channel] = {}

    resume = weights.resume_seconds
    all_terms = analysis.terms
    for message in ordered:
        now = message.timestamp.timestamp()
        if message.author.is_bot or message.kind not in CONVERSATIONAL_KINDS:
            thread = _Thread()
            threads.append(thread)
            thread.messages.append(message)
            thread_of[message.id] = thread
            continue
        channel = channels.get(message.channel_id)
        if channel is None:
            channel = channels[message.channel_id] = _Channel()
        channel.forget_before(now - resume)
        terms = all_terms[message.id]
        addressed = names.addressed(message)
        chosen = thread_of.get(message.reply_to_id) if message.reply_to_id else None
        if chosen is None or chosen.messages[0].channel_id != message.channel_id:
            chosen = _best_thread(message, now, terms, addressed, channel, idf, weights)
        thread = chosen or _Thread()
        if chosen is None:
            threads.append(thread)
        _join(thread, message, now, terms, addressed)
        thread_of[message.id] = thread
        channel.touch(thread, message.author.id, addressed)
    return [thread.messages for thread in threads]


@dataclass
class _Channel:
    """The conversations still open in one channel, and where each person last spoke."""

    live: dict[int, _Thread] = field(default_factory=dict)
    latest_of: dict[str, _Thread] = field(default_factory=dict)
    asked_in: dict[str, _Thread] = field(default_factory=dict)

    def forget_before(self, horizon: float) -> None:
        # ``live`` is ordered by last activity, oldest first: stop at the first fresh one.
        while self.live:
            key, thread = next(iter(self.live.items()))
            if thread.last >= horizon:
                return
            del self.live[key]

    def touch(self, thread: _Thread, author: str, addressed: Iterable[str]) -> None:
        self.live.pop(id(thread), None)
        self.live[id(thread)] = thread  # most recently active last
        self.latest_of[author] = thread
        for person in addressed:
            self.asked_in[person] = thread

    def candidates(self, author: str, addressed: Iterable[str], recent: int) -> list[_Thread]:
        """The most recently active conversations, plus any older one that has a claim on
        this message: where its author last spoke or was last asked something, and where
        the people it addresses last spoke."""
        found = {id(thread): thread for thread in islice(reversed(self.live.values()), recent)}
        for thread in (
            self.latest_of.get(author),
            self.asked_in.get(author),
            *(self.latest_of.get(person) for person in addressed),
        ):
            if thread is not None and id(thread) in self.live:
                found.setdefault(id(thread), thread)
        return list(found.values())


def _best_thread(
    message: Message,
    now: float,
    terms: frozenset[str],
    addressed: set[str],
    channel: _Channel,
    idf: Mapping[str, float],
    weights: GroupingWeights,
) -> _Thread | None:
    """The live conversation with the strongest evidence, or None to start a new one.

    Runs for every message against a handful of candidate conversations, so everything
    that does not depend on the candidate is worked out once, before the loop.
    """
    author = message.author.id
    own = channel.latest_of.get(author)
    addressed_in = [(person, channel.latest_of.get(person)) for person in addressed]
    term_idf = {term: idf.get(term, 0.0) for term in terms}
    term_weight = sum(term_idf.values())
    lexical = weights.lexical / term_weight if term_weight > 0.0 else 0.0
    gap, recency_seconds = weights.gap_seconds, weights.recency_seconds
    oldest_start = now - weights.max_span_seconds
    best: _Thread | None = None
    best_score = 0.0
    any_overlap = False
    for thread in channel.candidates(author, addressed, weights.recent_candidates):
        if len(thread.messages) >= weights.max_messages or thread.first < oldest_start:
            continue
        idle = now - thread.last
        score = weights.recency * math.exp(-idle / recency_seconds)
        spoke = thread.spoke.get(author)
        if spoke is not None:
            pull = weights.own_thread if thread is own else weights.author
            score += pull * math.exp((spoke - now) / gap)
        for person, their_thread in addressed_in:
            if their_thread is thread:
                score += weights.addressed
            elif person in thread.spoke:
                score += weights.addressed / 2.0
        asked = thread.addressed.get(author)
        if asked is not None:
            score += weights.addressed_back * math.exp((asked - now) / gap)
        if lexical:
            common = thread.terms.keys() & terms
            if common:
                any_overlap = True
                score += lexical * sum(term_idf[term] for term in common)
        if idle > gap:
            score *= gap / idle
        if score > best_score:
            best, best_score = thread, score
    bar = weights.threshold
    if lexical and not any_overlap and len(terms) >= 2:
        bar += weights.novelty
    return best if best_score >= bar else None


def _join(
    thread: _Thread, message: Message, now: float, terms: frozenset[str], addressed: set[str]
) -> None:
    if not thread.messages:
        thread.first = now
    thread.messages.append(message)
    thread.last = now
    thread.spoke[message.author.id] = now
    for person in addressed:
        thread.addressed[person] = now
    counts = thread.terms
    for term in terms:
        counts[term] = counts.get(term, 0) + 1
    thread.recent_terms.append(terms)
    if len(thread.recent_terms) > TOPIC_MEMORY:
        for term in thread.recent_terms.popleft():
            left = counts[term] - 1
            if left:
                counts[term] = left
            else:
                del counts[term]


def group_by_time_gap(messages: Sequence[Message], gap_seconds: float) -> list[list[Message]]:
    """The baseline most recap bots use: a channel's silence longer than the gap ends a topic."""
    groups: list[list[Message]] = []
    open_group: dict[str, list[Message]] = {}
    last_seen: dict[str, float] = {}
    for message in sorted(messages, key=lambda message: (message.timestamp, message.id)):
        now = message.timestamp.timestamp()
        channel = message.channel_id
        group = open_group.get(channel)
        if group is None or now - last_seen[channel] > gap_seconds:
            group = []
            groups.append(group)
            open_group[channel] = group
        group.append(message)
        last_seen[channel] = now
    return groups


def independent_parts(messages: Sequence[Message], quiet_seconds: float) -> list[list[Message]]:
    """Split a chat into stretches that no conversation can span, oldest first.

    Threading never crosses channels, and after a silence longer than ``quiet_seconds`` no
    conversation is still open, so each channel splits at such silences, unless a reply
    reaches back across one (a late reply rejoins its conversation). Each part can then be
    threaded on its own, on any core, with the same result.
    """
    by_channel: dict[str, list[Message]] = {}
    for message in sorted(messages, key=lambda message: (message.timestamp, message.id)):
        by_channel.setdefault(message.channel_id, []).append(message)
    parts: list[list[Message]] = []
    for channel_messages in by_channel.values():
        segment_of: dict[str, int] = {}
        starts = [0]  # index in channel_messages where each segment starts
        previous = channel_messages[0].timestamp.timestamp()
        for index, message in enumerate(channel_messages):
            now = message.timestamp.timestamp()
            if now - previous > quiet_seconds:
                starts.append(index)
            previous = now
            segment_of[message.id] = len(starts) - 1
        joined = [False] * len(starts)  # joined[k]: segment k continues segment k - 1
        for message in channel_messages:
            target = segment_of.get(message.reply_to_id or "")
            if target is not None:
                for segment in range(target + 1, segment_of[message.id] + 1):
                    joined[segment] = True
        bounds = [start for segment, start in enumerate(starts) if not joined[segment]]
        for begin, end in zip(bounds, [*bounds[1:], len(channel_messages)], strict=True):
            parts.append(channel_messages[begin:end])
    parts.sort(key=lambda part: (part[0].timestamp, part[0].channel_id))
    return parts


@dataclass(frozen=True)
class _PartJob:
    """What every part needs besides its messages; inherited by forked workers, not pickled."""

    parts: list[list[Message]]
    channel_names: Mapping[str, str]
    weights: GroupingWeights
    include_all: bool


_JOB: _PartJob | None = None


def _install_job(job: _PartJob) -> None:
    global _JOB
    _JOB = job


def _stories_of_part(index: int) -> list[Story]:
    """Pool task: the stories of one part, by index, so only stories cross the pipe."""
    job = _JOB
    if job is None:  # pragma: no cover - the pool initializer always installs it
        raise RuntimeError("no part job installed in this worker")
    return _stories(job.parts[index], job.channel_names, job.weights, job.include_all)


def _stories(
    messages: Sequence[Message],
    channel_names: Mapping[str, str],
    weights: GroupingWeights,
    include_all: bool,
) -> list[Story]:
    """Thread one independent part and turn its conversations into scored stories."""
    analysis = ChatAnalysis.of(messages)
    stories = []
    for conversation in group_conversations(messages, weights, analysis):
        signals = measure(conversation, analysis)
        if not include_all and not is_newsworthy(signals):
            continue
        first = conversation[0]
        channel_name = channel_names.get(first.channel_id, first.channel_id)
        terms = keywords(conversation, analysis)
        participants = dict.fromkeys(
            message.author.id for message in conversation if not message.author.is_bot
        )
        stories.append(
            Story(
                id=story_id(conversation),
                title=neutral_title(terms, channel_name, conversation),
                guild_id=first.guild_id,
                channel_id=first.channel_id,
                channel_name=channel_name,
                message_ids=tuple(message.id for message in conversation),
                participants=tuple(participants),
                score=newsworthiness(signals),
                start=first.timestamp,
                end=conversation[-1].timestamp,
                signals=signals,
                keywords=terms,
            )
        )
    return stories


class OfflineNewsDesk:
    """The News Desk with no network: conversation threading and newsworthiness scoring.

    With ``workers`` above one, a large chat's independent parts are threaded in forked
    processes; the stories are the same as with one worker, only sooner.
    """

    def __init__(
        self,
        weights: GroupingWeights | None = None,
        *,
        workers: int = 1,
        parallel_from: int = PARALLEL_FROM_MESSAGES,
    ) -> None:
        self._weights = weights or GroupingWeights()
        self._workers = workers
        self._parallel_from = parallel_from

    async def find_stories(self, chat: Chat, *, include_all: bool = False) -> list[Story]:
        """See ``NewsDesk.find_stories``."""
        return self.find_stories_now(chat, include_all=include_all)

    def find_stories_now(self, chat: Chat, *, include_all: bool = False) -> list[Story]:
        """The synchronous core, for callers that are not in an event loop."""
        parts = independent_parts(chat.messages, self._weights.resume_seconds)
        names = {channel_id: chat.channel_name(channel_id) for channel_id in chat.channels}
        job = _PartJob(parts, names, self._weights, include_all)
        workers = min(self._workers, len(parts))
        if workers > 1 and len(chat.messages) >= self._parallel_from and _can_fork():
            context = multiprocessing.get_context("fork")
            # Largest parts first, so that no worker is left with a big one at the end.
            order = sorted(range(len(parts)), key=lambda index: -len(parts[index]))
            with context.Pool(workers, initializer=_install_job, initargs=(job,)) as pool:
                results = pool.map(_stories_of_part, order, chunksize=1)
        else:
            results = [_stories(part, names, self._weights, include_all) for part in parts]
        stories = [story for part_stories in results for story in part_stories]
        stories.sort(key=lambda story: (-story.score, story.start, story.id))
        return stories


def _can_fork() -> bool:
    return "fork" in multiprocessing.get_all_start_methods()
