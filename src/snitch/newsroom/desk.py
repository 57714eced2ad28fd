"""The offline News Desk: untangles interleaved chat into conversations, then scores them.

A busy channel carries several conversations at once, so silence alone cannot separate them.
Each message joins the live conversation with the strongest evidence: the message it replies
to, the people it addresses, whether its author is already talking there, shared topic words,
and how recently the conversation spoke. Without enough evidence it starts a new one.

Given message embeddings, a second pass then joins conversations of one channel that talk
about the same thing at the same time. The first pass leaves many conversations in pieces
(shared words are few in short chat lines, and a lull ends a thread's claim), and a piece's
mean embedding knows its topic better than its words do: on the held-out labelled servers
of bench/desk_quality.py --embeddings the pass raises the ARI by 0.02 to 0.10.
"""

from __future__ import annotations

import heapq
import math
import multiprocessing
import re
from bisect import bisect_left, bisect_right
from collections import deque
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from itertools import islice, repeat
from operator import attrgetter
from typing import TYPE_CHECKING, Protocol

from snitch.errors import SnitchError
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

if TYPE_CHECKING:  # numpy loads only when vectors are used; the memory package not at all
    import numpy as np
    import numpy.typing as npt

    from snitch.memory.embeddings import Embedder

    Vector = npt.NDArray[np.float32]

ADDRESS_PREFIX = re.compile(r"^\s*@?([^\s:,@<>]{2,32})\s*[:,]")
AT_NAME = re.compile(r"@([^\W_][\w.'-]{1,31})")
# Below this many messages, forking workers costs more than it saves.
PARALLEL_FROM_MESSAGES = 20_000
TOPIC_MEMORY = 12  # messages whose topic words a conversation matches new messages against
_ORDER = attrgetter("timestamp", "id")  # chat order: (timestamp, id), as a C-level key


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
    # Used only with topic vectors. Two conversations of one channel become one when their
    # mean vectors have at least this cosine and they overlap or nearly touch in time; the
    # caps keep topic alone from chaining a busy afternoon into one story. Chosen on seeds 1,
    # 7 and 42 (bench/desk_embeddings.py); the benchmark's other servers are held out.
    topic_similarity: float = 0.3
    topic_gap_seconds: float = 300.0
    topic_min_vectors: int = 2
    topic_max_messages: int = 60
    topic_max_span_seconds: float = 3600.0


@dataclass(slots=True, eq=False)
class _Thread:
    """A conversation being assembled (slots: its fields are read for every candidate of
    every message)."""

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
        # Authors in order of first appearance, by identity: hashing a pydantic model hashes
        # all its fields, and an equal author met again maps the same names to the same id.
        people: dict[int, Author] = {}
        for message in messages:
            people.setdefault(id(message.author), message.author)
            if message.mentions:
                for person in message.mentions:
                    people.setdefault(id(person), person)
        for author in people.values():
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


class TopicVectors:
    """Message embeddings made comparable by topic: centred on their mean, then unit length.

    Chat lines embed close together whatever they are about (short, casual, similar words),
    so raw cosines say little; less their common mean, what is left is mostly the topic.
    Build it once per chat and share it among the chat's parts: the centring, and so the
    grouping, then does not depend on how the chat was split.
    """

    def __init__(self, vectors: Mapping[str, Sequence[float]]) -> None:
        import numpy as np

        self._row = {message_id: row for row, message_id in enumerate(vectors)}
        matrix = np.asarray(list(vectors.values()), dtype=np.float32)
        if len(self._row):
            matrix -= matrix.mean(axis=0)
            norms = np.linalg.norm(matrix, axis=1, keepdims=True)
            matrix /= np.where(norms == 0.0, 1.0, norms)
        self._matrix: Vector = matrix

    def __len__(self) -> int:
        return len(self._row)

    def total(self, messages: Iterable[Message]) -> tuple[Vector, int] | None:
        """The sum of these messages' vectors and how many had one; None if none had."""
        rows = [self._row[m.id] for m in messages if m.id in self._row]
        if not rows:
            return None
        return self._matrix[rows].sum(axis=0), len(rows)


def group_conversations(
    messages: Sequence[Message],
    weights: GroupingWeights | None = None,
    analysis: ChatAnalysis | None = None,
    topics: TopicVectors | None = None,
) -> list[list[Message]]:
    """Partition messages into conversations; every message lands in exactly one.

    With ``topics``, conversations that the evidence split but that talk about the same
    thing in the same channel at the same time are joined afterwards (``merge_same_topic``).
    """
    weights = weights or GroupingWeights()
    conversations = _thread_in_order(sorted(messages, key=_ORDER), weights, analysis)
    if topics:
        conversations = merge_same_topic(conversations, topics, weights)
    return conversations


def _thread_in_order(
    ordered: Sequence[Message], weights: GroupingWeights, analysis: ChatAnalysis | None = None
) -> list[list[Message]]:
    """``group_conversations`` before the topic pass, on messages already in chat order
    (an independent part is, and sorting it again costs a key per message)."""
    analysis = analysis or ChatAnalysis.of(ordered)
    names = _NameIndex(ordered)
    best_thread = _thread_picker(analysis.idf, weights)
    threads: list[_Thread] = []
    thread_of: dict[str, _Thread] = {}
    channels: dict[str, _Channel] = {}

    resume = weights.resume_seconds
    all_terms = analysis.terms
    addressed_by = names.addressed
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
        addressed = addressed_by(message)
        chosen = thread_of.get(message.reply_to_id) if message.reply_to_id else None
        if chosen is None or chosen.messages[0].channel_id != message.channel_id:
            chosen = best_thread(message.author.id, now, terms, addressed, channel)
        thread = chosen or _Thread()
        if chosen is None:
            threads.append(thread)
        _join(thread, message, now, terms, addressed)
        thread_of[message.id] = thread
        channel.touch(thread, message.author.id, addressed)
    return [thread.messages for thread in threads]


@dataclass(eq=False)
class _Topical:
    """A conversation as the topic pass sees it; ``version`` changes when it grows."""

    index: int
    start: float
    end: float
    size: int
    total: Vector
    norm: float
    alive: bool = True
    version: int = 0


def merge_same_topic(
    conversations: Sequence[list[Message]], topics: TopicVectors, weights: GroupingWeights
) -> list[list[Message]]:
    """Join conversations of one channel whose mean topic vectors are close and that are
    close in time, closest pair first, the merged mean counting from then on.

    Conversations stay in the order of their first messages; a merged one is re-sorted.
    """
    members = [list(conversation) for conversation in conversations]
    by_channel: dict[str, list[_Topical]] = {}
    for index, conversation in enumerate(conversations):
        if len(conversation) + weights.topic_min_vectors > weights.topic_max_messages:
            continue
        found = topics.total(conversation)
        if found is None or found[1] < weights.topic_min_vectors:
            continue
        total, _ = found
        by_channel.setdefault(conversation[0].channel_id, []).append(
            _Topical(
                index=index,
                start=conversation[0].timestamp.timestamp(),
                end=conversation[-1].timestamp.timestamp(),
                size=len(conversation),
                total=total,
                norm=math.sqrt(float(total @ total)),
            )
        )
    merged = False
    for candidates in by_channel.values():
        for keep, gone in _closest_pairs_first(candidates, weights):
            members[keep].extend(members[gone])
            members[gone] = []
            merged = True
    if not merged:
        return members
    return [
        sorted(group, key=lambda message: (message.timestamp, message.id))
        for group in members
        if group
    ]


def _closest_pairs_first(
    items: list[_Topical], weights: GroupingWeights
) -> Iterable[tuple[int, int]]:
    """Merge ``items`` (one channel's, by start) greedily, yielding (kept, absorbed) indexes.

    A heap holds every allowed pair above the similarity bar; a pair whose members have
    grown since it was pushed is stale and skipped. The earlier-starting conversation
    absorbs the later, so every item keeps its start and ``starts`` stays sorted.
    """
    starts = [item.start for item in items]
    span = weights.topic_max_span_seconds
    heap: list[tuple[float, int, int, int, int]] = []

    def consider(i: int, j: int) -> None:
        first, second = items[i], items[j]
        if (
            second.start - first.end > weights.topic_gap_seconds
            or first.size + second.size > weights.topic_max_messages
            or max(first.end, second.end) - first.start > span
            or first.norm == 0.0
            or second.norm == 0.0
        ):
            return
        cosine = float(first.total @ second.total) / (first.norm * second.norm)
        if cosine >= weights.topic_similarity:
            heapq.heappush(heap, (-cosine, i, j, first.version, second.version))

    for i, item in enumerate(items):
        for j in range(i + 1, bisect_right(starts, item.start + span)):
            consider(i, j)
    while heap:
        _, i, j, version_i, version_j = heapq.heappop(heap)
        first, second = items[i], items[j]
        current = first.alive and second.alive
        if not current or (first.version, second.version) != (version_i, version_j):
            continue
        first.end = max(first.end, second.end)
        first.size += second.size
        first.total = first.total + second.total
        first.norm = math.sqrt(float(first.total @ first.total))
        first.version += 1
        second.alive = False
        yield first.index, second.index
        # Only items starting within a span of this one can still pair with it.
        low = bisect_left(starts, first.end - span)
        for k in range(low, bisect_right(starts, first.start + span)):
            if k != i and items[k].alive:
                consider(min(i, k), max(i, k))


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
        live = self.live
        found = list(islice(reversed(live.values()), recent))
        if len(live) <= recent:  # every live conversation is a candidate already
            return found
        taken = {id(thread) for thread in found}
        latest_of = self.latest_of
        for thread in (
            latest_of.get(author),
            self.asked_in.get(author),
            *(latest_of.get(person) for person in addressed),
        ):
            if thread is not None and id(thread) in live and id(thread) not in taken:
                taken.add(id(thread))
                found.append(thread)
        return found


class _PickThread(Protocol):
    """What ``_thread_picker`` returns: the live thread a message joins, or None."""

    def __call__(
        self, author: str, now: float, terms: frozenset[str], addressed: set[str], channel: _Channel
    ) -> _Thread | None: ...


def _thread_picker(idf: Mapping[str, float], weights: GroupingWeights) -> _PickThread:
    """``best_thread`` with the weights and word rarities bound once, as local names: it
    runs for every message against a handful of candidates, the desk's innermost loop."""
    gap, recency_seconds = weights.gap_seconds, weights.recency_seconds
    recency, own_thread, author_pull = weights.recency, weights.own_thread, weights.author
    addressed_weight, addressed_back = weights.addressed, weights.addressed_back
    lexical_weight, threshold, novelty = weights.lexical, weights.threshold, weights.novelty
    max_span, max_messages = weights.max_span_seconds, weights.max_messages
    recent = weights.recent_candidates
    exp = math.exp
    rarity = idf.get
    no_rarity = repeat(0.0)

    def best_thread(
        author: str, now: float, terms: frozenset[str], addressed: set[str], channel: _Channel
    ) -> _Thread | None:
        """The live conversation with the strongest evidence, or None to start a new one.

        Everything that does not depend on the candidate is worked out once, before the loop.
        """
        own = channel.latest_of.get(author)
        addressed_in = [(person, channel.latest_of.get(person)) for person in addressed]
        term_weight = sum(map(rarity, terms, no_rarity))
        lexical = lexical_weight / term_weight if term_weight > 0.0 else 0.0
        oldest_start = now - max_span
        best: _Thread | None = None
        best_score = 0.0
        any_overlap = False
        for thread in channel.candidates(author, addressed, recent):
            if len(thread.messages) >= max_messages or thread.first < oldest_start:
                continue
            idle = now - thread.last
            score = recency * exp(-idle / recency_seconds)
            spoke = thread.spoke.get(author)
            if spoke is not None:
                pull = own_thread if thread is own else author_pull
                score += pull * exp((spoke - now) / gap)
            for person, their_thread in addressed_in:
                if their_thread is thread:
                    score += addressed_weight
                elif person in thread.spoke:
                    score += addressed_weight / 2.0
            asked = thread.addressed.get(author)
            if asked is not None:
                score += addressed_back * exp((asked - now) / gap)
            if lexical and not thread.terms.keys().isdisjoint(terms):
                any_overlap = True
                common = thread.terms.keys() & terms  # summed in this set's order, as ever
                score += lexical * sum(map(rarity, common, no_rarity))
            if idle > gap:
                score *= gap / idle
            if score > best_score:
                best, best_score = thread, score
        bar = threshold
        if lexical and not any_overlap and len(terms) >= 2:
            bar += novelty
        return best if best_score >= bar else None

    return best_thread


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
    for message in sorted(messages, key=_ORDER):
        channel_messages = by_channel.get(message.channel_id)
        if channel_messages is None:
            by_channel[message.channel_id] = [message]
        else:
            channel_messages.append(message)
    parts: list[list[Message]] = []
    for channel_messages in by_channel.values():
        segment_of: dict[str, int] = {}
        starts = [0]  # index in channel_messages where each segment starts
        previous = channel_messages[0].timestamp.timestamp()
        segment = 0
        for index, message in enumerate(channel_messages):
            now = message.timestamp.timestamp()
            if now - previous > quiet_seconds:
                starts.append(index)
                segment += 1
            previous = now
            segment_of[message.id] = segment
        joined = [False] * len(starts)  # joined[k]: segment k continues segment k - 1
        if len(starts) > 1:  # replies can only join segments when there are several
            for message in channel_messages:
                if message.reply_to_id is None:
                    continue
                target = segment_of.get(message.reply_to_id)
                if target is not None:
                    for later in range(target + 1, segment_of[message.id] + 1):
                        joined[later] = True
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
    topics: TopicVectors | None = None


_JOB: _PartJob | None = None


def _install_job(job: _PartJob) -> None:
    global _JOB
    _JOB = job


def _stories_of_part(index: int) -> list[Story]:
    """Pool task: the stories of one part, by index, so only stories cross the pipe."""
    job = _JOB
    if job is None:  # pragma: no cover - the pool initializer always installs it
        raise RuntimeError("no part job installed in this worker")
    return _stories(job.parts[index], job.channel_names, job.weights, job.include_all, job.topics)


def _stories(
    messages: Sequence[Message],
    channel_names: Mapping[str, str],
    weights: GroupingWeights,
    include_all: bool,
    topics: TopicVectors | None = None,
) -> list[Story]:
    """Thread one independent part (in chat order, as ``independent_parts`` cuts them) and
    turn its conversations into scored stories."""
    analysis = ChatAnalysis.of(messages)
    conversations = _thread_in_order(messages, weights, analysis)
    if topics:
        conversations = merge_same_topic(conversations, topics, weights)
    stories = []
    for conversation in conversations:
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
    processes; the stories are the same as with one worker, only sooner. With an
    ``embedder``, every message with text is embedded first and conversations on the same
    topic are joined (see ``merge_same_topic``); if embedding fails, the desk carries on
    without, since the offline desk is what keeps an edition from being skipped.
    """

    def __init__(
        self,
        weights: GroupingWeights | None = None,
        *,
        workers: int = 1,
        parallel_from: int = PARALLEL_FROM_MESSAGES,
        embedder: Embedder | None = None,
    ) -> None:
        self._weights = weights or GroupingWeights()
        self._workers = workers
        self._parallel_from = parallel_from
        self._embedder = embedder

    async def find_stories(self, chat: Chat, *, include_all: bool = False) -> list[Story]:
        """See ``NewsDesk.find_stories``; embeds off the event loop when it has an embedder."""
        vectors: dict[str, Sequence[float]] | None = None
        if self._embedder is not None:
            texts, row_of = _texts(chat)
            try:
                vectors = _by_message(row_of, await self._embedder.aembed(texts))
            except (SnitchError, ValueError) as exc:
                _carry_on_without(exc)
                vectors = {}
        return self.find_stories_now(chat, include_all=include_all, vectors=vectors)

    def find_stories_now(
        self,
        chat: Chat,
        *,
        include_all: bool = False,
        vectors: Mapping[str, Sequence[float]] | None = None,
    ) -> list[Story]:
        """The synchronous core, for callers that are not in an event loop.

        ``vectors`` (message id -> embedding) are used as given, e.g. ones already stored;
        without them the desk's embedder, if any, embeds the chat here, blocking.
        """
        if vectors is None and self._embedder is not None:
            texts, row_of = _texts(chat)
            try:
                vectors = _by_message(row_of, self._embedder.embed(texts))
            except (SnitchError, ValueError) as exc:
                _carry_on_without(exc)
        topics = TopicVectors(vectors) if vectors else None
        parts = independent_parts(chat.messages, self._weights.resume_seconds)
        names = {channel_id: chat.channel_name(channel_id) for channel_id in chat.channels}
        job = _PartJob(parts, names, self._weights, include_all, topics)
        workers = min(self._workers, len(parts))
        if workers > 1 and len(chat.messages) >= self._parallel_from and _can_fork():
            context = multiprocessing.get_context("fork")
            # Largest parts first, so that no worker is left with a big one at the end.
            order = sorted(range(len(parts)), key=lambda index: -len(parts[index]))
            with context.Pool(workers, initializer=_install_job, initargs=(job,)) as pool:
                results = pool.map(_stories_of_part, order, chunksize=1)
        else:
            results = [_stories(part, names, self._weights, include_all, topics) for part in parts]
        stories = [story for part_stories in results for story in part_stories]
        stories.sort(key=lambda story: (-story.score, story.start, story.id))
        return stories


def _texts(chat: Chat) -> tuple[list[str], dict[str, int]]:
    """Each distinct text worth embedding, once (chat repeats "lol" a lot), and the row of
    each message's text among them."""
    rows: dict[str, int] = {}
    row_of = {
        message.id: rows.setdefault(message.content, len(rows))
        for message in chat.messages
        if message.content.strip()
    }
    return list(rows), row_of


def _by_message(
    row_of: Mapping[str, int], vectors: Sequence[Sequence[float]]
) -> dict[str, Sequence[float]]:
    """Each message's vector, from the vectors of the distinct texts."""
    expected = max(row_of.values(), default=-1) + 1
    if len(vectors) != expected:
        raise ValueError(f"the embedder returned {len(vectors)} vectors for {expected} texts")
    return {message_id: vectors[row] for message_id, row in row_of.items()}


def _carry_on_without(error: Exception) -> None:
    # Imported here: logging pulls in structlog and rich, which the plain desk never needs.
    from snitch.log import get_logger

    get_logger(__name__).warning("news desk continues without embeddings", error=str(error))


def _can_fork() -> bool:
    return "fork" in multiprocessing.get_all_start_methods()
