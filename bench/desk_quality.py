"""How well the News Desk untangles conversations, next to grouping by time gaps alone.

Not a speed benchmark: a quality one, kept beside them because it follows the same rule, a
baseline measured in the same run on the same data. Each generated server labels every
message with its true conversation; the score is the adjusted Rand index (1.0 is perfect,
0.0 is chance). Seeds 1, 7 and 42 and the 20,000-message server were used to tune the
desk's weights; the others are held out.
"""

from __future__ import annotations

import argparse
from collections.abc import Mapping

from _shared import ServerSpec, verdict
from snitch.models import Message
from snitch.newsroom.desk import group_by_time_gap, group_conversations
from snitch.newsroom.evaluation import score_grouping

TIME_GAPS = (60.0, 120.0, 300.0, 600.0, 900.0, 1800.0)
SERVERS = (
    ServerSpec(seed=100, channels=4, messages=3000, days=2.0, planted=6),
    ServerSpec(seed=200, channels=4, messages=3000, days=2.0, planted=6),
    ServerSpec(seed=300, channels=4, messages=3000, days=2.0, planted=6),
    ServerSpec(seed=2026, channels=5, messages=3000, days=2.0, planted=6),
    ServerSpec(seed=5, channels=10, messages=20000, days=1.4, planted=6),
)
MIN_MARGIN = 0.05


def _ari(labels: Mapping[str, str], groups: list[list[Message]]) -> float:
    return score_grouping(labels, [[message.id for message in group] for group in groups])


def main() -> int:
    """Print ARI per server for the desk, the best time gap and a 30-minute gap."""
    argparse.ArgumentParser(description=__doc__).parse_args()
    print(f"{'server':34} {'desk':>6} {'best gap':>9} {'(gap)':>7} {'30 min':>7}")
    margins = []
    for spec in SERVERS:
        server = spec.generate()
        labels = server.labels
        desk = _ari(labels, group_conversations(server.messages))
        by_gap = {gap: _ari(labels, group_by_time_gap(server.messages, gap)) for gap in TIME_GAPS}
        best_gap = max(by_gap, key=by_gap.__getitem__)
        margins.append(desk - by_gap[best_gap])
        print(
            f"{spec.stem():34} {desk:6.3f} {by_gap[best_gap]:9.3f} {best_gap:6.0f}s "
            f"{by_gap[1800.0]:7.3f}"
        )
    print()
    verdict(
        min(margins) >= MIN_MARGIN,
        f"desk beats the best time gap by >= {MIN_MARGIN} ARI on every server",
        f"smallest margin {min(margins):.3f}",
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
