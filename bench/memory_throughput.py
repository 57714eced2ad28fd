"""How fast the semantic memory ingests chat, next to the embedding model alone.

The model is the floor: turning 20,000 short messages into vectors with all-MiniLM-L6-v2 on
the CPU is work nothing else can remove. The pipeline does that and more, end to end, as
``snitch import`` and ``snitch run`` do: a producer puts batches on the in-process queue, and
ingestion workers store each batch in a fresh SQLite database, embed its messages and upsert
the vectors into a fresh persistent Chroma store, acknowledging a batch only once it is
stored and indexed. Both run in the same process, on the same messages, in the same batches,
so their ratio says what the queue, the store and the index cost on top of the model,
whatever the machine.

The model loads once (its load time is printed apart) and is warmed up before anything is
timed; it is called as the worker calls it, through ``aembed``. The messages are then split
into ``--rounds`` slices; for each slice the model alone embeds it and the pipeline ingests it
(the order alternating from round to round), so a machine whose speed drifts from one minute
to the next slows both figures alike. The pipeline keeps its stores and workers across rounds
and drains the queue (``join``) at the end of each, which can only cost it time: the ratio
errs against the pipeline.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import resource
import tempfile
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

from _shared import (
    MIB,
    ServerSpec,
    add_server_options,
    fail,
    median,
    require_positive,
    server_spec,
    verdict,
)
from snitch.config import DatabaseSettings, load_settings
from snitch.errors import SnitchError
from snitch.ingest import IngestWorker, InProcessQueue
from snitch.log import configure_logging
from snitch.memory.embeddings import LocalEmbedder
from snitch.memory.vectors import VectorStore
from snitch.models import Message
from snitch.sources.synthetic import SyntheticServer
from snitch.store import SqlStore, open_store

MIN_RATIO = 0.7

Batch = Sequence[Message]


@dataclass
class Timings:
    """Seconds spent by each side, round by round."""

    warmup: list[float] = field(default_factory=list)
    model: list[float] = field(default_factory=list)
    pipeline: list[float] = field(default_factory=list)
    setup: float = 0.0  # opening (and migrating) the fresh stores


def embeddable(batch: Batch) -> list[str]:
    """What the worker embeds: every message with visible text."""
    return [message.content for message in batch if message.content.strip()]


async def model_pass(embedder: LocalEmbedder, batches: Sequence[Batch]) -> float:
    """The bare model on the pipeline's batches, one call per batch: seconds.

    Called as the worker calls it (``aembed``: ``embed`` in the event loop's worker thread),
    so that the two sides differ by the queue, the store and the index, and by nothing else:
    the same ``embed`` run on the main thread measured up to a tenth faster on a quiet machine
    and up to three times slower on a busy one.
    """
    started = time.perf_counter()
    vectors = 0
    for batch in batches:
        vectors += len(await embedder.aembed(embeddable(batch)))
    elapsed = time.perf_counter() - started
    expected = sum(len(embeddable(batch)) for batch in batches)
    if vectors != expected:
        fail(f"the model returned {vectors} vectors for {expected} texts")
    return elapsed


async def pipeline_pass(queue: InProcessQueue, batches: Sequence[Batch]) -> float:
    """Put every batch on the queue (waiting while it is full) and wait until all are acked."""
    started = time.perf_counter()
    for batch in batches:
        await queue.put(batch)
    await queue.join()
    return time.perf_counter() - started


async def check_landed(
    server: SyntheticServer, messages: Sequence[Message], store: SqlStore, vectors: VectorStore
) -> None:
    """Every message stored and every message with text indexed, or nothing was measured."""
    stored = await store.count_messages(server.guild.id)
    if stored != len(messages):
        fail(f"the store holds {stored} messages, expected {len(messages)}")
    with_text = sum(1 for message in messages if message.content.strip())
    indexed = await asyncio.to_thread(vectors.count, server.guild.id)
    if indexed != with_text:
        fail(f"the index holds {indexed} vectors, expected {with_text}")


async def measure(
    server: SyntheticServer,
    rounds: Sequence[Sequence[Batch]],
    embedder: LocalEmbedder,
    args: argparse.Namespace,
) -> Timings:
    """Both sides, round by round, into stores made fresh in a temporary directory."""
    timings = Timings()
    # A fresh model's first passes can be slower than its steady speed (on a busy machine the
    # first pass over a round took up to 2-3 times the third), the round with the longest
    # message (the largest padded forward passes) most; so it is embedded ``--warmup`` times,
    # untimed, before either side is measured.
    heaviest = max(rounds, key=lambda slice_: max(len(m.content) for b in slice_ for m in b))
    for _ in range(args.warmup):
        timings.warmup.append(await model_pass(embedder, heaviest))
    with tempfile.TemporaryDirectory(prefix="snitch-bench-memory-") as scratch:
        # An explicit database section: the caller's SNITCH_DATABASE__URL (or .env) must not
        # point the benchmark at a real database.
        settings = load_settings(data_dir=Path(scratch), database=DatabaseSettings())
        started = time.perf_counter()
        store = await open_store(settings)
        vectors = VectorStore.persistent(settings.vectors_dir)
        timings.setup = time.perf_counter() - started
        queue = InProcessQueue(maxsize=args.queue_size)
        workers = [
            IngestWorker(
                queue=queue,
                store=store,
                guilds={server.guild.id: server.guild},
                channels={channel.id: channel for channel in server.channels},
                embedder=embedder,
                index=vectors,
            )
            for _ in range(args.workers)
        ]
        tasks = [asyncio.create_task(worker.run()) for worker in workers]
        try:
            for number, batches in enumerate(rounds, start=1):
                # While the model runs alone the workers sit idle on an empty queue.
                if number % 2:
                    timings.model.append(await model_pass(embedder, batches))
                    timings.pipeline.append(await pipeline_pass(queue, batches))
                else:
                    timings.pipeline.append(await pipeline_pass(queue, batches))
                    timings.model.append(await model_pass(embedder, batches))
                count = sum(len(batch) for batch in batches)
                print(
                    f"  round {number:2}/{len(rounds)}: {count:,} messages, model "
                    f"{timings.model[-1]:6.2f} s, pipeline {timings.pipeline[-1]:6.2f} s",
                    flush=True,
                )
        finally:
            for task in tasks:
                task.cancel()
            for task in tasks:
                with contextlib.suppress(asyncio.CancelledError):
                    await task
        messages = [message for batches in rounds for batch in batches for message in batch]
        try:
            await check_landed(server, messages, store, vectors)
            if sum(worker.processed for worker in workers) < len(messages):
                fail("the workers report fewer messages processed than were queued")
        finally:
            vectors.close()
            await store.close()
    return timings


def split(items: Sequence[Message], size: int) -> list[Sequence[Message]]:
    """Consecutive slices of ``size`` (the last one shorter)."""
    return [items[start : start + size] for start in range(0, len(items), size)]


def peak_rss_mib() -> float:
    """This process's peak resident memory so far (Linux reports it in KiB)."""
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024 / MIB


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    """Sizes are options, so the same script can be run small while iterating."""
    parser = argparse.ArgumentParser(
        description="Time memory ingestion (queue, store, embed, index) against the model alone.",
        formatter_class=argparse.ArgumentDefaultsHelpFormatter,
    )
    add_server_options(
        parser, ServerSpec(seed=7, channels=4, messages=20_000, days=6.7, planted=12)
    )
    parser.add_argument(
        "--batch-size", type=int, default=256, help="messages per queued batch and model call"
    )
    parser.add_argument(
        "--embed-batch-size", type=int, default=64, help="texts per forward pass of the model"
    )
    parser.add_argument("--workers", type=int, default=1, help="ingestion workers")
    parser.add_argument("--queue-size", type=int, default=64, help="batches the queue holds")
    parser.add_argument("--rounds", type=int, default=20, help="slices the two sides alternate on")
    parser.add_argument("--warmup", type=int, default=3, help="untimed passes of the model")
    args = parser.parse_args(argv)
    require_positive(
        parser, args, "batch_size", "embed_batch_size", "workers", "queue_size", "rounds", "warmup"
    )
    return args


def main(argv: list[str] | None = None) -> int:
    """Generate the chat, load the model, time both sides in rounds, print the verdict."""
    args = parse_args(argv)
    configure_logging("WARNING", "json")
    spec = server_spec(args)
    started = time.perf_counter()
    server = spec.generate()
    messages = server.messages
    batches = split(messages, args.batch_size)
    size = -(-len(batches) // args.rounds)  # batches a round
    rounds = [batches[start : start + size] for start in range(0, len(batches), size)]
    texts = sum(len(embeddable(batch)) for batch in batches)
    chars = sum(len(message.content) for message in messages) / len(messages)
    print(
        f"chat: {len(messages):,} messages ({texts:,} with text, {chars:.0f} characters on "
        f"average) in {len(server.channels)} channels, generated in "
        f"{time.perf_counter() - started:.1f} s"
    )
    print(
        f"batches: {len(batches)} of {args.batch_size} messages in {len(rounds)} rounds; "
        f"forward passes of {args.embed_batch_size}; {args.workers} worker(s)"
    )

    embedder = LocalEmbedder(batch_size=args.embed_batch_size)
    started = time.perf_counter()
    try:
        embedder.embed(["warm-up"])
    except SnitchError as exc:
        fail(str(exc))
    load = time.perf_counter() - started
    print(f"model: {embedder.name} loaded in {load:.2f} s (not counted)")
    timings = asyncio.run(measure(server, rounds, embedder, args))
    model_time = sum(timings.model)
    pipeline_time = sum(timings.pipeline)
    model_rate = len(messages) / model_time
    pipeline_rate = len(messages) / pipeline_time
    ratio = pipeline_rate / model_rate
    rss = peak_rss_mib()

    print()
    print(f"{'':38} {'time (total)':>13} {'messages/s':>11}")
    print(f"{'model alone (embed)':38} {model_time:11.2f} s {model_rate:11.1f}")
    print(
        f"{'pipeline (queue, store, embed, index)':38} {pipeline_time:11.2f} s "
        f"{pipeline_rate:11.1f}"
    )
    print(f"{'ratio pipeline/model':38} {'':13} {ratio:11.2f}")
    spread = sorted(m / p for m, p in zip(timings.model, timings.pipeline, strict=True))
    print(
        f"ratio round by round: median {median(spread):.2f}, range {spread[0]:.2f}-{spread[-1]:.2f}"
    )
    warm = ", ".join(f"{seconds:.1f}" for seconds in timings.warmup)
    print(f"model warm-up, {len(timings.warmup)} passes over one round: {warm} s (not counted)")
    print(f"opening the fresh stores: {timings.setup:.2f} s (not counted)")
    print(f"peak RSS: {rss:.0f} MiB (the whole process, model included)")
    print()
    verdict(
        ratio >= MIN_RATIO, f"pipeline throughput >= {MIN_RATIO:g}x the model's", f"{ratio:.2f}x"
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
