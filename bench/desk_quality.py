"""How well the News Desk untangles conversations, next to grouping by time gaps alone.

Not a speed benchmark: a quality one, kept beside them because it follows the same rule, a
baseline measured in the same run on the same data. Each generated server labels every
message with its true conversation; the score is the adjusted Rand index (1.0 is perfect,
0.0 is chance). Seeds 1, 7 and 42 and the 20,000-message server were used to tune the
desk's weights; the others are held out.

With --embeddings, the desk also runs with message embeddings from the local MiniLM model
(the topic pass, tuned on seeds 1, 7 and 42 only: for it every server below is held out),
beside the desk without them. The vectors are cached in bench/.cache, so only the first run
pays for embedding (about a minute per 3,000 messages on a busy 2-core machine).
"""

from __future__ import annotations

import argparse
import sys
import time
from collections.abc import Mapping, Sequence
from pathlib import Path

import numpy as np

from _shared import DEFAULT_CACHE, ServerSpec, verdict
from snitch.models import Message
from snitch.newsroom.desk import TopicVectors, group_by_time_gap, group_conversations
from snitch.newsroom.evaluation import score_grouping
from snitch.sources.synthetic import SyntheticServer

TIME_GAPS = (60.0, 120.0, 300.0, 600.0, 900.0, 1800.0)
SERVERS = (
    ServerSpec(seed=100, channels=4, messages=3000, days=2.0, planted=6),
    ServerSpec(seed=200, channels=4, messages=3000, days=2.0, planted=6),
    ServerSpec(seed=300, channels=4, messages=3000, days=2.0, planted=6),
    ServerSpec(seed=2026, channels=5, messages=3000, days=2.0, planted=6),
    ServerSpec(seed=5, channels=10, messages=20000, days=1.4, planted=6),
)
MIN_MARGIN = 0.05
MIN_EMBEDDING_GAIN = 0.01


def _ari(labels: Mapping[str, str], groups: list[list[Message]]) -> float:
    return score_grouping(labels, [[message.id for message in group] for group in groups])


def server_vectors(
    spec: ServerSpec, server: SyntheticServer, cache: Path = DEFAULT_CACHE
) -> dict[str, Sequence[float]]:
    """Every message's MiniLM vector (messages with text only), embedded once per server
    and generator version, each distinct text once, as the desk does."""
    from snitch.memory.embeddings import LocalEmbedder

    embedder = LocalEmbedder()
    path = cache / f"emb-{spec.key()}-{embedder.name}.npz"
    ids = [message.id for message in server.messages if message.content.strip()]
    if path.is_file():
        with np.load(path) as stored:
            if [str(i) for i in stored["ids"]] == ids:
                return dict(zip(ids, stored["vectors"], strict=True))
    texts = {message.id: message.content for message in server.messages if message.id in ids}
    distinct = list(dict.fromkeys(texts.values()))
    started = time.perf_counter()
    print(f"embedding {len(distinct)} texts of {spec.stem()} ...", file=sys.stderr, flush=True)
    rows = dict(zip(distinct, embedder.embed(distinct), strict=True))
    print(f"  {time.perf_counter() - started:.0f}s", file=sys.stderr, flush=True)
    vectors = np.asarray([rows[texts[i]] for i in ids], dtype=np.float32)
    cache.mkdir(parents=True, exist_ok=True)
    partial = path.with_name(f".tmp-{path.name}")
    with partial.open("wb") as file:
        np.savez(file, ids=np.asarray(ids), vectors=vectors)
    partial.replace(path)
    return dict(zip(ids, vectors, strict=True))


def main() -> int:
    """Print ARI per server for the desk (and with embeddings), the best gap and 30 minutes."""
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument(
        "--embeddings",
        action="store_true",
        help="also run the desk with local MiniLM message embeddings",
    )
    embeddings = parser.parse_args().embeddings
    with_column = f" {'+emb':>6} {'gain':>6}" if embeddings else ""
    print(f"{'server':34} {'desk':>6}{with_column} {'best gap':>9} {'(gap)':>7} {'30 min':>7}")
    margins, gains = [], []
    for spec in SERVERS:
        server = spec.generate()
        labels = server.labels
        desk = _ari(labels, group_conversations(server.messages))
        by_gap = {gap: _ari(labels, group_by_time_gap(server.messages, gap)) for gap in TIME_GAPS}
        best_gap = max(by_gap, key=by_gap.__getitem__)
        margins.append(desk - by_gap[best_gap])
        column = ""
        if embeddings:
            topics = TopicVectors(server_vectors(spec, server))
            embedded = _ari(labels, group_conversations(server.messages, topics=topics))
            gains.append(embedded - desk)
            column = f" {embedded:6.3f} {embedded - desk:+6.3f}"
        print(
            f"{spec.stem():34} {desk:6.3f}{column} {by_gap[best_gap]:9.3f} {best_gap:6.0f}s "
            f"{by_gap[1800.0]:7.3f}"
        )
    print()
    verdict(
        min(margins) >= MIN_MARGIN,
        f"desk beats the best time gap by >= {MIN_MARGIN} ARI on every server",
        f"smallest margin {min(margins):.3f}",
    )
    if embeddings:
        verdict(
            min(gains) >= MIN_EMBEDDING_GAIN,
            f"embeddings raise the desk's ARI by >= {MIN_EMBEDDING_GAIN} on every server",
            f"smallest gain {min(gains):+.3f}, mean {sum(gains) / len(gains):+.3f}",
        )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
