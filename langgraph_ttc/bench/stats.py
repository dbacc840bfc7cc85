"""Small statistics for the benchmark: Wilson intervals, AUROC, rank correlation, seeded subsets.

Pure functions over plain numbers (no torch, no numpy), so the report is a
deterministic function of the cached results.
"""

from __future__ import annotations

import hashlib
import math
import random
from collections.abc import Sequence

__all__ = [
    "Z_95",
    "auroc",
    "mean",
    "ranks",
    "rng_for",
    "spearman",
    "stable_hash",
    "wilson_interval",
]

Z_95 = 1.959963984540054
"""The normal quantile of a two-sided 95% interval."""


def wilson_interval(successes: float, n: int, z: float = Z_95) -> tuple[float, float]:
    """The Wilson score interval of a binomial proportion.

    ``successes`` may be fractional (a seed-averaged count): the interval then
    treats ``successes / n`` as the observed proportion over ``n`` trials.

    Args:
        successes: Observed successes, in ``[0, n]``.
        n: Trials (questions); 0 gives ``(0.0, 1.0)``.
        z: Normal quantile (1.96 for 95%).

    Returns:
        ``(low, high)`` within ``[0, 1]``.

    Raises:
        ValueError: For ``n < 0``, ``successes`` outside ``[0, n]``, or ``z <= 0``.
    """
    if isinstance(n, bool) or not isinstance(n, int) or n < 0:
        raise ValueError(f"n must be an int >= 0, got {n!r}")
    if not (isinstance(successes, int | float) and 0 <= successes <= n + 1e-9):
        raise ValueError(f"successes must lie in [0, n={n}], got {successes!r}")
    if not z > 0:
        raise ValueError(f"z must be > 0, got {z!r}")
    if n == 0:
        return 0.0, 1.0
    p = min(1.0, successes / n)
    z2 = z * z
    denom = 1 + z2 / n
    center = (p + z2 / (2 * n)) / denom
    half = z * math.sqrt(p * (1 - p) / n + z2 / (4 * n * n)) / denom
    return max(0.0, center - half), min(1.0, center + half)


def mean(values: Sequence[float]) -> float:
    """The arithmetic mean; NaN for an empty sequence."""
    return float(sum(values) / len(values)) if values else float("nan")


def stable_hash(*parts: object) -> int:
    """A 63-bit hash of ``parts`` that is the same in every process (unlike ``hash``)."""
    text = "\x1f".join(str(p) for p in parts)
    return int.from_bytes(hashlib.blake2b(text.encode(), digest_size=8).digest(), "big") >> 1


def rng_for(*parts: object) -> random.Random:
    """A ``random.Random`` seeded from ``parts`` (question id, budget, seed, ...)."""
    return random.Random(stable_hash(*parts))


def auroc(scores: Sequence[float], labels: Sequence[bool]) -> float:
    """Area under the ROC curve (ties count half); NaN without both classes."""
    pos = [s for s, y in zip(scores, labels, strict=True) if y]
    neg = [s for s, y in zip(scores, labels, strict=True) if not y]
    if not pos or not neg:
        return float("nan")
    ranked = sorted([(s, 1) for s in pos] + [(s, 0) for s in neg])
    # Mann-Whitney U with average ranks for ties.
    rank_sum, i = 0.0, 0
    while i < len(ranked):
        j = i
        while j < len(ranked) and ranked[j][0] == ranked[i][0]:
            j += 1
        avg = (i + j + 1) / 2
        rank_sum += avg * sum(lbl for _, lbl in ranked[i:j])
        i = j
    u = rank_sum - len(pos) * (len(pos) + 1) / 2
    return u / (len(pos) * len(neg))


def within_question_auroc(
    groups: Sequence[tuple[Sequence[float], Sequence[bool]]],
) -> tuple[float, int]:
    """Mean AUROC within each question whose samples are mixed, and how many were.

    The pooled AUROC rewards a verifier for knowing which *questions* are
    hard; this one only for ranking a question's own solutions, which is what
    weighted voting and search need.

    Args:
        groups: One ``(scores, labels)`` pair per question.

    Returns:
        ``(mean AUROC, questions with both right and wrong samples)``; NaN and
        0 when no question is mixed.
    """
    per_question = [a for s, y in groups if math.isfinite(a := auroc(s, y))]
    if not per_question:
        return float("nan"), 0
    return sum(per_question) / len(per_question), len(per_question)


def ranks(values: Sequence[float]) -> list[float]:
    """0-based ranks of ``values``; ties share their average rank."""
    order = sorted(range(len(values)), key=lambda i: values[i])
    out = [0.0] * len(values)
    i = 0
    while i < len(order):
        j = i
        while j + 1 < len(order) and values[order[j + 1]] == values[order[i]]:
            j += 1
        for k in range(i, j + 1):
            out[order[k]] = (i + j) / 2
        i = j + 1
    return out


def spearman(x: Sequence[float], y: Sequence[float]) -> float:
    """Spearman's rank correlation; NaN for fewer than 3 points or a constant sequence."""
    if len(x) < 3:
        return float("nan")
    rx, ry = ranks(x), ranks(y)
    mx, my = mean(rx), mean(ry)
    cov = sum((a - mx) * (b - my) for a, b in zip(rx, ry, strict=True))
    vx = math.sqrt(sum((a - mx) ** 2 for a in rx))
    vy = math.sqrt(sum((b - my) ** 2 for b in ry))
    return cov / (vx * vy) if vx and vy else float("nan")
