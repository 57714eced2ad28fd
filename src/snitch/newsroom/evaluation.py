"""How well a grouping matches labelled conversations (used by tests and benchmarks)."""

from __future__ import annotations

from collections import Counter
from collections.abc import Hashable, Mapping, Sequence


def _pairs(count: int) -> float:
    return count * (count - 1) / 2.0


def adjusted_rand_index(truth: Sequence[Hashable], predicted: Sequence[Hashable]) -> float:
    """Agreement of two clusterings of the same items, 1.0 identical, about 0.0 random."""
    if len(truth) != len(predicted):
        raise ValueError("both labelings must cover the same items")
    contingency = Counter(zip(truth, predicted, strict=True))
    index = sum(_pairs(n) for n in contingency.values())
    truth_pairs = sum(_pairs(n) for n in Counter(truth).values())
    predicted_pairs = sum(_pairs(n) for n in Counter(predicted).values())
    total = _pairs(len(truth))
    if total == 0:
        return 1.0
    expected = truth_pairs * predicted_pairs / total
    maximum = (truth_pairs + predicted_pairs) / 2.0
    if maximum == expected:
        return 1.0
    return (index - expected) / (maximum - expected)


def grouping_labels(groups: Sequence[Sequence[str]]) -> dict[str, int]:
    """Message id to group number, for comparing a grouping with labels."""
    return {message_id: number for number, group in enumerate(groups) for message_id in group}


def score_grouping(labels: Mapping[str, str], groups: Sequence[Sequence[str]]) -> float:
    """ARI of a grouping of message ids against the true conversation labels."""
    predicted = grouping_labels(groups)
    ids = sorted(labels)
    return adjusted_rand_index([labels[i] for i in ids], [predicted[i] for i in ids])
