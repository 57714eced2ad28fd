"""What an LLM edition costs in prompt tokens and calls, next to LangChain's map-reduce summary.

Map-reduce (split the chat into chunks, summarise each, then summarise the summaries) is how
most chat summarisers reach an LLM, and its cost grows with the chat: every message is sent
at least once. Our newsroom threads and scores the chat offline and sends the model three
budgeted digests, so an edition should cost about the same on a quiet server as on a busy
one. Both pipelines run in the same process, on the same generated messages, through the
real ``langchain_openai.ChatOpenAI`` client, against one token-counting fake server on
loopback (``tests/fake_llm.py``). Its token counts are a local estimate (four characters per
token), the same for both pipelines, which is all a ratio needs.

The baseline is LangChain's own ``load_summarize_chain(chain_type="map_reduce")`` (from
``langchain-classic``) with its default prompts and ``token_max``, fed chunks of about 3,000
tokens by ``RecursiveCharacterTextSplitter`` with no overlap (the cheapest setting for it).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import re
import sys
import warnings
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from pydantic import SecretStr

from _shared import ServerSpec, fail, verdict
from snitch.config import LLMSettings
from snitch.log import configure_logging
from snitch.models import Chat, Newsletter
from snitch.newsroom.edition import build_newsroom
from snitch.newsroom.llm import RetryPolicy
from snitch.newsroom.personas import get_persona
from snitch.newsroom.prompts import DESK_SYSTEM, EDITOR_SYSTEM, REPORTER_SYSTEM
from snitch.newsroom.text import display_content

# The fake server is stdlib-only but lives in tests/: bench scripts run from the repo root
# with bench/ (not the root) on sys.path.
sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
from tests.fake_llm import Failure, FakeLLMServer, Recorded, Reply, estimate_tokens

SIZES = (1_000, 5_000, 20_000)
RATIO_SIZE = 5_000
MIN_RATIO = 10.0
MAX_GROWTH = 1.5
MODEL = "fake-model"

# What the fake model answers to every map, collapse and reduce prompt: a short, realistic
# summary (about 70 tokens), so the reduce step sees what a real model would hand it.
SUMMARY = (
    "Members compared weekend plans, argued about the latest patch to ranked mode and "
    "whether the new map is broken, and shared memes about the server's cat. A moderator "
    "reminded everyone about the self-promotion rule, and a few people organised a voice "
    "call for the evening."
)

STORY = re.compile(r'<story id="(S\d+)"[^>]*>(.*?)</story>', re.DOTALL)
# A message line; the id is there only where the model must cite messages (the reporter).
MESSAGE = re.compile(r'<m(?: id="([^"]+)")?[^>]*>([^<]*)</m>')
EDITOR_LABEL = re.compile(r"^(S\d+): ", re.MULTILINE)


# ----------------------------------------------------------------------------- the fake model


def _text(message: Any) -> str:
    content = message.get("content") if isinstance(message, dict) else None
    return content if isinstance(content, str) else ""


def _words(text: str, count: int) -> str:
    return " ".join(text.split()[:count])


def _desk(prompt: str) -> dict[str, Any]:
    """Pick the first five candidates, titled after their opening message."""
    stories = []
    for label, block in STORY.findall(prompt)[:5]:
        messages = MESSAGE.findall(block)
        title = _words(messages[0][1], 8) if messages else label
        stories.append(
            {
                "candidate": label,
                "title": title or label,
                "why": "lots of replies and reactions in a short time",
            }
        )
    return {"stories": stories}


def _editor(prompt: str) -> dict[str, Any]:
    """The first candidate leads, the next three support it."""
    labels = EDITOR_LABEL.findall(prompt)
    return {
        "headline": labels[0] if labels else "S0",
        "supporting": labels[1:4],
        "reason": "the loudest drama of the week leads, the rest keeps the gossip going",
    }


def _reporter(prompt: str) -> dict[str, Any]:
    """One article per story, quoting the opening words of its first message."""
    articles = []
    for label, block in STORY.findall(prompt):
        messages = MESSAGE.findall(block)
        quotes = [{"message_id": mid, "text": _words(text, 8)} for mid, text in messages[:1]]
        articles.append(
            {
                "story": label,
                "title": f"You will not believe what happened in {label}",
                "summary": (
                    "Darlings, the channel was on fire. Everyone had an opinion, nobody "
                    "backed down, and the reactions kept piling up until a moderator stepped "
                    "in. We are still recovering."
                ),
                "quotes": quotes,
            }
        )
    return {"articles": articles}


def respond(record: Recorded) -> Reply | Failure:
    """Answer each desk with valid JSON (told apart by its system prompt), summaries otherwise.

    Anything else is a 400, so an unexpected prompt shows up as a failure, not as a figure.
    """
    messages = record.body.get("messages")
    if not isinstance(messages, list) or not messages:
        return Failure(400, message="no messages")
    system = _text(messages[0]) if messages[0].get("role") == "system" else ""
    user = _text(messages[-1])
    if system == DESK_SYSTEM:
        return Reply(json.dumps(_desk(user)))
    if system == EDITOR_SYSTEM:
        return Reply(json.dumps(_editor(user)))
    if system == REPORTER_SYSTEM:
        return Reply(json.dumps(_reporter(user)))
    if not system and "concise summary" in user.lower():
        return Reply(SUMMARY)
    return Failure(400, message=f"unexpected prompt: {(system or user)[:80]!r}")


# ----------------------------------------------------------------------------- accounting


@dataclass(frozen=True)
class Tally:
    """What one pipeline cost on one chat, as the fake server counted it."""

    calls: int
    prompt_tokens: int
    completion_tokens: int
    prompts: tuple[int, ...]  # each call's prompt tokens, in the order sent

    @property
    def largest_prompt(self) -> int:
        """The largest single prompt: what a model's context window must hold."""
        return max(self.prompts, default=0)


class Meter:
    """Differences of the server's totals: one server serves every run, one run at a time."""

    def __init__(self, server: FakeLLMServer) -> None:
        self._server = server
        self._start = (0, 0, 0, 0)

    def start(self) -> None:
        """Remember the totals before a run."""
        s = self._server
        self._start = (s.calls, s.total_prompt_tokens, s.total_completion_tokens, len(s.requests))

    def stop(self) -> Tally:
        """The run's own calls and tokens; every request of the run must have succeeded."""
        s = self._server
        calls, prompt, completion, first = self._start
        requests = s.requests[first:]
        if len(requests) != s.calls - calls:
            fail(f"{len(requests) - (s.calls - calls)} requests to the fake server failed")
        return Tally(
            calls=s.calls - calls,
            prompt_tokens=s.total_prompt_tokens - prompt,
            completion_tokens=s.total_completion_tokens - completion,
            prompts=tuple(r.prompt_tokens for r in requests),
        )


def desk_digest(requests: Sequence[Recorded]) -> tuple[int, int]:
    """How many candidate stories and messages the News Desk's prompt carried."""
    for record in requests:
        messages = record.body["messages"]
        if _text(messages[0]) == DESK_SYSTEM:
            prompt = _text(messages[-1])
            return len(STORY.findall(prompt)), len(MESSAGE.findall(prompt))
    return 0, 0


# ----------------------------------------------------------------------------- the pipelines


def as_chat(spec: ServerSpec) -> Chat:
    """The generated server as the newsroom takes it."""
    server = spec.generate()
    channels = {channel.id: channel for channel in server.channels}
    return Chat(guild=server.guild, channels=channels, messages=server.messages)


async def ours(chat: Chat, base_url: str, max_prompt_tokens: int) -> Newsletter:
    """One LLM edition; one attempt per call, so a failure falls back and is caught below."""
    settings = LLMSettings(
        provider="openai",
        model=MODEL,
        api_key=SecretStr("bench"),
        base_url=base_url,
        max_prompt_tokens=max_prompt_tokens,
    )
    newsroom = build_newsroom(settings, retry=RetryPolicy(attempts=1))
    edition = await newsroom.publish(chat, get_persona("gossip"))
    # Never measure a fallback: the offline engine would cost nothing and flatter us.
    if edition.engine != f"openai:{MODEL}" or edition.usage.calls != 3:
        fail(
            f"the edition did not go through the LLM: engine {edition.engine!r}, "
            f"{edition.usage.calls} calls, warnings {list(edition.warnings)}"
        )
    if not edition.headline.strip() or not edition.stories:
        fail("the LLM edition has no headline or no stories")
    return edition


def transcript(chat: Chat) -> list[tuple[str, str]]:
    """Each channel's history as "Author: text" lines, the way a chat summariser feeds it."""
    lines: dict[str, list[str]] = {}
    for message in chat.messages:
        text = " ".join(display_content(message).split())
        if text:
            lines.setdefault(message.channel_id, []).append(
                f"{message.author.display_name}: {text}"
            )
    return [(chat.channel_name(cid), "\n".join(body)) for cid, body in lines.items()]


def map_reduce(chat: Chat, base_url: str, chunk_tokens: int, token_max: int) -> tuple[str, int]:
    """LangChain's map-reduce summary of the chat; (summary, chunks mapped).

    Synchronous, so the chunks are mapped one after another: the async chain would send
    every chunk at once, more connections than the fake server's listen backlog takes.
    """
    from langchain_classic.chains.summarize import load_summarize_chain
    from langchain_core.documents import Document
    from langchain_openai import ChatOpenAI
    from langchain_text_splitters import RecursiveCharacterTextSplitter

    # tiktoken downloads its encodings on first use, which fails offline: LangChain's own
    # hook for a tokenizer takes the fake server's estimate, so chunks and token_max are
    # measured in the same tokens the server counts.
    llm = ChatOpenAI(
        model=MODEL,
        api_key=SecretStr("bench"),
        base_url=base_url,
        temperature=0,
        max_retries=0,
        custom_get_token_ids=lambda text: [0] * estimate_tokens(text),
    )
    splitter = RecursiveCharacterTextSplitter(
        chunk_size=chunk_tokens, chunk_overlap=0, length_function=estimate_tokens
    )
    documents = [
        Document(page_content=body, metadata={"channel": name}) for name, body in transcript(chat)
    ]
    chunks = splitter.split_documents(documents)
    with warnings.catch_warnings():  # LLMChain and friends are deprecated in favour of LangGraph
        warnings.simplefilter("ignore", DeprecationWarning)
        chain = load_summarize_chain(llm, chain_type="map_reduce", token_max=token_max)
        result = chain.invoke({"input_documents": chunks})
    summary = result.get("output_text")
    if not isinstance(summary, str) or not summary.strip():
        fail("map-reduce returned no summary")
    return summary, len(chunks)


def langchain_missing() -> str | None:
    """Why the baseline cannot run here, or None."""
    try:
        import langchain_classic  # noqa: F401
        import langchain_text_splitters  # noqa: F401
    except ImportError as exc:
        return f"{exc.name} is not installed: pip install langchain-classic"
    return None


# ----------------------------------------------------------------------------- the report


@dataclass(frozen=True)
class Row:
    """One chat size: both pipelines' costs."""

    messages: int
    ours: Tally
    theirs: Tally
    chunks: int

    @property
    def ratio(self) -> float:
        """Map-reduce's prompt tokens per one of ours."""
        return self.theirs.prompt_tokens / self.ours.prompt_tokens


def days_for(messages: int, per_day: int) -> float:
    """A busy but plausible server: about ``per_day`` messages a day, at least one day."""
    return max(1.0, round(messages / per_day, 1))


def print_table(rows: Sequence[Row]) -> None:
    """Calls and tokens side by side, and the ratio of prompt tokens."""
    print()
    print(
        f"{'':>8}  {'ours (3 desks)':^30}  {'LangChain map-reduce':^36}  {'ratio':>7}\n"
        f"{'messages':>8}  {'calls':>5} {'prompt':>8} {'compl.':>7} {'max/call':>8}  "
        f"{'chunks':>6} {'calls':>5} {'prompt':>9} {'compl.':>7} {'max/call':>8}  "
        f"{'mr/ours':>7}"
    )
    for row in rows:
        o, t = row.ours, row.theirs
        print(
            f"{row.messages:>8,}  {o.calls:>5} {o.prompt_tokens:>8,} {o.completion_tokens:>7,} "
            f"{o.largest_prompt:>8,}  {row.chunks:>6} {t.calls:>5} {t.prompt_tokens:>9,} "
            f"{t.completion_tokens:>7,} {t.largest_prompt:>8,}  {row.ratio:>6.1f}x"
        )


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    """Sizes and budgets are options; the defaults are the issue's targets."""
    parser = argparse.ArgumentParser(
        description="Prompt tokens and calls of an LLM edition against LangChain's map-reduce "
        "summary of the same messages, on one token-counting fake server.",
        formatter_class=argparse.ArgumentDefaultsHelpFormatter,
    )
    parser.add_argument(
        "--messages", type=int, nargs="+", default=list(SIZES), help="chat sizes to compare"
    )
    parser.add_argument("--channels", type=int, default=4, help="channels generated")
    parser.add_argument("--per-day", type=int, default=3_000, help="messages per day of chat")
    parser.add_argument("--planted", type=int, default=6, help="planted newsworthy stories")
    parser.add_argument("--seed", type=int, default=7, help="generator seed")
    parser.add_argument(
        "--max-prompt-tokens", type=int, default=6_000, help="our per-call prompt budget"
    )
    parser.add_argument(
        "--chunk-tokens", type=int, default=3_000, help="map-reduce chunk size (tokens)"
    )
    parser.add_argument(
        "--token-max", type=int, default=3_000, help="map-reduce reduce/collapse budget"
    )
    return parser.parse_args(argv)


async def measure(args: argparse.Namespace, server: FakeLLMServer) -> list[Row]:
    """Both pipelines on every size, one run at a time, on one event loop.

    One loop for the whole run: langchain-openai caches its async HTTP client per base URL
    for the process, and a second ``asyncio.run`` would find it bound to a closed loop.
    """
    rows: list[Row] = []
    meter = Meter(server)
    for size in sorted(set(args.messages)):
        days = days_for(size, args.per_day)
        spec = ServerSpec(args.seed, args.channels, size, days, args.planted)
        chat = as_chat(spec)
        print(f"chat {spec.stem()}: {len(chat.messages):,} messages", flush=True)

        meter.start()
        edition = await ours(chat, server.openai_base_url, args.max_prompt_tokens)
        mine = meter.stop()
        if edition.usage.prompt_tokens != mine.prompt_tokens:
            fail(
                f"the edition reports {edition.usage.prompt_tokens} prompt tokens, "
                f"the server counted {mine.prompt_tokens}"
            )
        desks = " / ".join(f"{tokens:,}" for tokens in mine.prompts)
        stories, messages = desk_digest(server.requests[-mine.calls :])
        print(f"  ours: {len(edition.stories)} stories; prompt tokens desk / editor / reporter:")
        print(f"        {desks}; the desk's digest held {stories} candidates, {messages} messages")

        meter.start()
        summary, chunks = await asyncio.to_thread(
            map_reduce, chat, server.openai_base_url, args.chunk_tokens, args.token_max
        )
        theirs = meter.stop()
        collapses = theirs.calls - chunks - 1
        print(f"  map-reduce: {chunks} chunks mapped, {collapses} collapse calls, 1 reduce")
        print(f"  map-reduce summary: {summary[:70]!r}...", flush=True)
        rows.append(Row(size, mine, theirs, chunks))
    return rows


def main(argv: list[str] | None = None) -> int:
    """Run both pipelines on every size against one fake server; print figures and verdicts."""
    args = parse_args(argv)
    problem = langchain_missing()
    if problem:
        fail(problem)
    configure_logging("WARNING", "json")  # the newsroom's info line would drown the figures
    with FakeLLMServer(responder=respond, model=MODEL) as server:
        rows = asyncio.run(measure(args, server))

    print_table(rows)
    print()
    by_size = {row.messages: row for row in rows}
    if RATIO_SIZE in by_size:
        ratio = by_size[RATIO_SIZE].ratio
        verdict(
            ratio >= MIN_RATIO,
            f"at {RATIO_SIZE:,} messages map-reduce sends >= {MIN_RATIO:g}x our prompt tokens",
            f"{ratio:.1f}x",
        )
    else:
        print(f"(no {RATIO_SIZE:,}-message run: the ratio target was not checked)")

    smallest, largest = rows[0], rows[-1]
    if len(rows) > 1:
        growth = largest.ours.prompt_tokens / smallest.ours.prompt_tokens
        verdict(
            growth <= MAX_GROWTH,
            f"ours at {largest.messages:,} messages <= {MAX_GROWTH:g}x ours at "
            f"{smallest.messages:,}",
            f"{largest.ours.prompt_tokens:,} / {smallest.ours.prompt_tokens:,} = {growth:.2f}x",
        )
    else:
        print("(one size only: the growth target was not checked)")
    systems = sum(estimate_tokens(s) for s in (DESK_SYSTEM, EDITOR_SYSTEM, REPORTER_SYSTEM))
    budget = 3 * args.max_prompt_tokens + systems
    most = max(row.ours.prompt_tokens for row in rows)
    verdict(
        most <= budget,
        f"ours <= 3 calls x {args.max_prompt_tokens:,} tokens + system prompts "
        f"({systems:,}) = {budget:,} per edition",
        f"largest edition {most:,}, largest call {max(row.ours.largest_prompt for row in rows):,}",
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
