"""Inter-rater agreement: Cohen's kappa for two raters, Fleiss' kappa for more.

Kappa is the share of agreement beyond what chance would give: 1 is full agreement, 0
what raters answering at random in their own proportions would reach, below 0 worse.
It is undefined (None here) when chance alone already predicts full agreement (every
rating falls in one class). Two formulas of a few lines each; a statistics library
would bring scipy and pandas into the service for them.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Hashable, Sequence


def cohens_kappa(pairs: Sequence[tuple[Hashable, Hashable]]) -> float | None:
    """Cohen's kappa of two raters over items, each a (first rater's, second rater's) label."""
    if not pairs:
        return None
    n = len(pairs)
    observed = sum(a == b for a, b in pairs) / n
    first = Counter(a for a, _ in pairs)
    second = Counter(b for _, b in pairs)
    expected = sum(first[label] * second[label] for label in first) / (n * n)
    if expected == 1:
        return None
    return (observed - expected) / (1 - expected)


def fleiss_kappa(ratings: Sequence[Sequence[Hashable]]) -> float | None:
    """Fleiss' kappa over items each rated by the same number (at least 2) of raters."""
    if not ratings:
        return None
    raters = len(ratings[0])
    if raters < 2 or any(len(item) != raters for item in ratings):
        raise ValueError("ratings: every item needs the same number (at least 2) of ratings")
    items = len(ratings)
    totals: Counter = Counter()
    agreement = 0.0
    for item in ratings:
        counts = Counter(item)
        totals.update(counts)
        agreement += (sum(c * c for c in counts.values()) - raters) / (raters * (raters - 1))
    observed = agreement / items
    expected = sum((count / (items * raters)) ** 2 for count in totals.values())
    if expected == 1:
        return None
    return (observed - expected) / (1 - expected)
