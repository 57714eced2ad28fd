"""How the News Desk's topic pass was tuned: its parameters swept on the tuning servers only.

The topic pass (``merge_same_topic``, used when the desk has message embeddings) joins
conversations of one channel whose mean vectors are close and that are close in time. Its
parameters in ``GroupingWeights`` were chosen here, one at a time around the defaults, on
seeds 1, 7 and 42 (4 channels, 3,000 messages) and a dense server from seed 1 (10 channels,
20,000 messages, like the held-out one); every server of desk_quality.py stays held out.
Run desk_quality.py --embeddings for the held-out figures.

The first run embeds the four servers (minutes); later runs read bench/.cache.
"""

from __future__ import annotations

import argparse
from dataclasses import replace
from typing import Any

from _shared import ServerSpec
from desk_quality import server_vectors
from snitch.newsroom.desk import GroupingWeights, TopicVectors, group_conversations
from snitch.newsroom.evaluation import score_grouping
from snitch.sources.synthetic import SyntheticServer

TUNING = (
    ServerSpec(seed=1, channels=4, messages=3000, days=2.0, planted=6),
    ServerSpec(seed=7, channels=4, messages=3000, days=2.0, planted=6),
    ServerSpec(seed=42, channels=4, messages=3000, days=2.0, planted=6),
    ServerSpec(seed=1, channels=10, messages=20000, days=1.4, planted=6),
)
SWEEP: dict[str, tuple[float, ...]] = {
    "topic_similarity": (0.2, 0.25, 0.35, 0.4, 0.5, 0.6),
    "topic_gap_seconds": (0.0, 120.0, 300.0, 900.0),
    "topic_min_vectors": (2, 3, 4),
    "topic_max_messages": (30, 40, 60, 80, 250),
    "topic_max_span_seconds": (1800.0, 3600.0, 21600.0),
}


def _ari(server: SyntheticServer, weights: GroupingWeights, topics: TopicVectors | None) -> float:
    groups = group_conversations(server.messages, weights, topics=topics)
    return score_grouping(server.labels, [[message.id for message in group] for group in groups])


def main() -> int:
    """Print ARI on each tuning server without embeddings, then for each swept value."""
    argparse.ArgumentParser(description=__doc__).parse_args()
    servers = [spec.generate() for spec in TUNING]
    topics = [
        TopicVectors(server_vectors(spec, server))
        for spec, server in zip(TUNING, servers, strict=True)
    ]
    default = GroupingWeights()
    header = " ".join(f"{f's{spec.seed}/{spec.messages // 1000}k':>9}" for spec in TUNING)
    print(f"{'setting':34} {header} {'mean':>7}")

    def row(label: str, weights: GroupingWeights, with_topics: bool) -> None:
        scores = [
            _ari(server, weights, vectors if with_topics else None)
            for server, vectors in zip(servers, topics, strict=True)
        ]
        figures = " ".join(f"{score:9.4f}" for score in scores)
        print(f"{label:34} {figures} {sum(scores) / len(scores):7.4f}", flush=True)

    row("no embeddings", default, with_topics=False)
    row("topic pass, defaults", default, with_topics=True)
    for name, values in SWEEP.items():
        for value in values:
            if value == getattr(default, name):
                continue
            change: dict[str, Any] = {name: type(getattr(default, name))(value)}
            row(f"{name}={value:g}", replace(default, **change), with_topics=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
