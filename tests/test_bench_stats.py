"""Wilson intervals, AUROC and the seeded helpers of the benchmark."""

from __future__ import annotations

import math

import pytest

from langgraph_ttc.bench.stats import (
    auroc,
    rng_for,
    stable_hash,
    wilson_interval,
    within_question_auroc,
)


@pytest.mark.parametrize(
    ("k", "n", "low", "high"),
    [
        # Reference values: statsmodels' proportion_confint(k, n, method="wilson").
        (0, 10, 0.0, 0.2775328),
        (1, 10, 0.0178762, 0.4041500),
        (5, 10, 0.2365931, 0.7634069),
        (10, 10, 0.7224672, 1.0),
    ],
)
def test_wilson_interval_known_values(k: int, n: int, low: float, high: float) -> None:
    lo, hi = wilson_interval(k, n)
    assert lo == pytest.approx(low, abs=1e-6)
    assert hi == pytest.approx(high, abs=1e-6)


@pytest.mark.parametrize(("k", "n"), [(3, 7), (81, 263), (499, 1000)])
def test_wilson_bounds_solve_the_score_equation(k: int, n: int) -> None:
    # The Wilson bounds are the p where (p_hat - p)^2 = z^2 p (1 - p) / n.
    z = 1.959963984540054
    p_hat = k / n
    for p in wilson_interval(k, n):
        assert (p_hat - p) ** 2 == pytest.approx(z * z * p * (1 - p) / n, rel=1e-9)


def test_wilson_interval_edges_and_errors() -> None:
    assert wilson_interval(0, 0) == (0.0, 1.0)
    lo, hi = wilson_interval(2.5, 10)  # a seed-averaged count
    assert 0 < lo < 0.25 < hi < 1
    with pytest.raises(ValueError, match="successes"):
        wilson_interval(11, 10)
    with pytest.raises(ValueError, match="n must be"):
        wilson_interval(1, -1)
    with pytest.raises(ValueError, match="z must be"):
        wilson_interval(1, 10, z=0)


def test_seeded_helpers_are_stable() -> None:
    assert stable_hash("a", 1) == stable_hash("a", 1) != stable_hash("a", 2)
    assert rng_for("q", 3).random() == rng_for("q", 3).random()


def test_auroc() -> None:
    assert auroc([0.9, 0.8, 0.2, 0.1], [True, True, False, False]) == 1.0
    assert auroc([0.1, 0.2, 0.8, 0.9], [True, True, False, False]) == 0.0
    assert auroc([0.5, 0.5], [True, False]) == 0.5
    assert math.isnan(auroc([0.3, 0.7], [True, True]))


def test_within_question_auroc_ignores_difficulty() -> None:
    # Question 1 is easy (high scores), question 2 hard (low scores): pooled,
    # the verifier looks good; within each question it ranks one pair wrong.
    easy = ([0.8, 0.9, 0.95], [True, False, True])  # AUROC (0 + 1) / 2 = 0.5
    hard = ([0.1, 0.2, 0.3], [False, False, True])  # AUROC 1.0
    unmixed = ([0.5, 0.6], [True, True])  # no wrong sample: left out
    mean_auroc, mixed = within_question_auroc([easy, hard, unmixed])
    assert mixed == 2
    assert mean_auroc == 0.75
    pooled = auroc([*easy[0], *hard[0]], [*easy[1], *hard[1]])
    assert pooled > mean_auroc
    assert within_question_auroc([unmixed])[1] == 0
