"""Our offline newsroom against sumy's LexRank, the summariser many chat digests are built on.

Both start from the same loaded chat, in the same process, in the same run, so the ratio
says how the two algorithms compare regardless of the machine. LexRank compares every
message with every other one (quadratic), which is why it is the baseline worth beating.

sumy runs fully offline here: its own ``Tokenizer`` needs nltk's punkt data downloaded, so
it gets a tokenizer of ours instead (one message is one sentence, words by a regex), no
stemmer and no stop words.
"""

from __future__ import annotations

import argparse
import asyncio
import re
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any, TypeVar

from _shared import (
    DEFAULT_CACHE,
    ServerSpec,
    add_server_options,
    fail,
    median,
    per_channel_exports,
    server_spec,
    verdict,
)
from snitch.log import configure_logging
from snitch.models import Chat, Newsletter
from snitch.newsroom.edition import offline_newsroom
from snitch.newsroom.personas import get_persona
from snitch.sources.dce import load_exports

MIN_SPEEDUP = 10.0
T = TypeVar("T")


class ChatTokenizer:
    """sumy's tokenizer protocol without nltk data: one chat message is one sentence."""

    WORD = re.compile(r"\w+(?:['’]\w+)*")

    def to_sentences(self, text: str) -> tuple[str, ...]:
        """The message itself (blank messages, e.g. attachments only, are no sentence)."""
        return (text,) if text.strip() else ()

    def to_words(self, sentence: str) -> tuple[str, ...]:
        """Words as the regex finds them; sumy lower-cases them itself."""
        return tuple(self.WORD.findall(sentence))


def lexrank(messages: Sequence[str], sentences: int) -> tuple[Any, ...]:
    """sumy's LexRank over the messages, the way a chat summariser would call it."""
    # Imported here so that a missing sumy or numpy is reported by main(), not as a traceback.
    from sumy.models.dom import ObjectDocumentModel, Paragraph, Sentence
    from sumy.parsers.parser import DocumentParser
    from sumy.summarizers.lex_rank import LexRankSummarizer

    tokenizer = ChatTokenizer()
    # PlaintextParser would glue lines back together and turn all-caps messages ("LOL")
    # into headings, which LexRank skips; build the document one message per sentence.
    parser = DocumentParser(tokenizer)
    document = ObjectDocumentModel(
        [
            Paragraph(
                [
                    Sentence(text, tokenizer)
                    for message in messages
                    for text in parser.tokenize_sentences(message)
                ]
            )
        ]
    )
    summarizer = LexRankSummarizer()  # null stemmer by default
    summarizer.stop_words = frozenset()
    return tuple(summarizer(document, sentences))


def newsroom(chat: Chat) -> Newsletter:
    """One offline edition, exactly as ``snitch newsletter`` writes it."""
    return asyncio.run(offline_newsroom().publish(chat, get_persona("gossip")))


def timed(label: str, runs: int, work: Callable[[], T]) -> tuple[list[float], T]:
    """Run ``work`` ``runs`` times; the times, and the last result to check."""
    times: list[float] = []
    result: T | None = None
    for attempt in range(1, runs + 1):
        started = time.perf_counter()
        result = work()
        times.append(time.perf_counter() - started)
        print(f"  {label} run {attempt}/{runs}: {times[-1]:.3f} s")
    assert result is not None
    return times, result


def sumy_available() -> str | None:
    """Why LexRank cannot run here, or None."""
    try:
        import numpy  # noqa: F401  # LexRank's matrix; sumy lists it under its [lexrank] extra
        import sumy  # noqa: F401
    except ImportError as exc:
        return f"{exc.name} is not installed: pip install 'sumy[lexrank]'"
    return None


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    """Sizes are options: LexRank is quadratic, so a larger export grows its time fast."""
    parser = argparse.ArgumentParser(
        description="Time the offline newsroom against sumy's LexRank on one generated chat.",
        formatter_class=argparse.ArgumentDefaultsHelpFormatter,
    )
    add_server_options(parser, ServerSpec(seed=7, channels=3, messages=2_000, days=1.0, planted=4))
    parser.add_argument("--sentences", type=int, default=10, help="sentences asked of LexRank")
    parser.add_argument("--repeat", type=int, default=5, help="newsroom runs (median)")
    parser.add_argument("--lexrank-repeat", type=int, default=2, help="LexRank runs (median)")
    parser.add_argument("--cache-dir", type=Path, default=DEFAULT_CACHE, help="export cache")
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    """Load the export once, time both summarisers on it, print the figures and verdict."""
    args = parse_args(argv)
    problem = sumy_available()
    if problem:
        fail(problem)
    configure_logging("WARNING", "json")  # the newsroom's info line would drown the figures

    spec = server_spec(args)
    folder, reused = per_channel_exports(spec, args.cache_dir)
    chat = load_exports([folder])
    texts = [message.content for message in chat.messages]
    print(f"export: {folder} ({'reused' if reused else 'generated'})")
    print(f"chat: {len(chat.messages):,} messages in {len(chat.channels)} channels")

    ours, edition = timed("newsroom", args.repeat, lambda: newsroom(chat))
    theirs, picked = timed("LexRank ", args.lexrank_repeat, lambda: lexrank(texts, args.sentences))
    if not edition.headline.strip() or not edition.stories:
        fail("the newsroom wrote an edition without a headline or stories")
    if len(picked) != args.sentences:
        fail(f"LexRank returned {len(picked)} sentences, asked for {args.sentences}")

    ours_time = median(ours)
    theirs_time = median(theirs)
    speedup = theirs_time / ours_time
    print()
    print(f"newsroom headline: {edition.headline}")
    print(f"LexRank's first picks: {' | '.join(str(s)[:60] for s in picked[:3])}")
    print()
    print(f"{'':28} {'median':>10}")
    print(f"{'offline newsroom (gossip)':28} {ours_time:8.3f} s   ({args.repeat} runs)")
    print(
        f"{f'sumy LexRank ({args.sentences} sentences)':28} {theirs_time:8.3f} s   "
        f"({args.lexrank_repeat} runs)"
    )
    print(f"{'ratio LexRank/newsroom':28} {speedup:8.1f} x")
    # The newsroom caches tokens per message text, so runs after the first are warm.
    cold = ours[0]
    print(f"(newsroom's first, cold-cache run: {cold:.3f} s, ratio {theirs_time / cold:.1f} x)")
    print()
    verdict(
        speedup >= MIN_SPEEDUP, f"newsroom >= {MIN_SPEEDUP:g}x faster", f"{speedup:.1f}x faster"
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
