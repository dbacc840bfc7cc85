"""Question difficulty for the benchmark: oracle and predicted bins.

* **Oracle difficulty** (the paper's): pass@1 of the policy estimated from
  the question's sample pool (at least 64 samples), binned into five
  quantiles over the split, bin 1 the easiest. Ties (many hard questions
  have pass@1 = 0) are broken by a fixed hash of the question id, so the bins
  stay equal in size, as quantile bins are.
* **Predicted difficulty** (the paper's model-predicted, and what the router
  uses): the mean verifier score (fold ``last``) of the first ``k`` samples of
  the pool, which are drawn like the router's probes. It is binned with a
  ``ComputePolicy``'s thresholds: quantiles of the 4-probe score over the
  split that the policy was fitted on.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from langgraph_ttc.bench.stats import stable_hash
from langgraph_ttc.router.difficulty import VerifierDifficulty
from langgraph_ttc.router.policy import NUM_BINS
from langgraph_ttc.types import fold_scores

__all__ = [
    "ORACLE_MIN_SAMPLES",
    "pass_at_1",
    "predicted_score",
    "probe_count",
    "probes_at",
    "quantile_bins",
    "threshold_bin",
]

ORACLE_MIN_SAMPLES = 64
"""The fewest samples an oracle pass@1 may rest on (the issue's floor; the paper used 2048)."""


def pass_at_1(pool: Mapping[str, Any]) -> float:
    """The share of a pool's samples that are correct."""
    samples = pool["samples"]
    return sum(bool(s["correct"]) for s in samples) / len(samples)


def predicted_score(pool: Mapping[str, Any], probes: int, fold: str = "last") -> float:
    """The mean folded verifier score of the pool's first ``probes`` samples.

    Raises:
        ValueError: If ``probes`` is not in ``1..len(pool)``.
    """
    samples = pool["samples"]
    if not 1 <= probes <= len(samples):
        raise ValueError(f"probes must be in 1..{len(samples)}, got {probes}")
    scores = [fold_scores(s["steps"], fold) if s["steps"] else 0.0 for s in samples[:probes]]  # type: ignore[arg-type]
    return sum(scores) / probes


def quantile_bins(values: Mapping[str, float], *, bins: int = NUM_BINS) -> dict[str, int]:
    """Rank-based quantile bins: the highest values are bin 1 (easiest).

    Questions are ranked by value (descending), ties broken by a fixed hash
    of the id, and cut into ``bins`` groups whose sizes differ by at most one.

    Raises:
        ValueError: For fewer questions than bins.
    """
    ids = sorted(values, key=lambda q: (-values[q], stable_hash("bin-tie", q), q))
    if len(ids) < bins:
        raise ValueError(f"need at least {bins} questions to form {bins} bins, got {len(ids)}")
    return {q: 1 + (rank * bins) // len(ids) for rank, q in enumerate(ids)}


def threshold_bin(score: float, thresholds: Sequence[float]) -> int:
    """The bin of a score under decreasing thresholds (``ComputePolicy.bin``'s rule)."""
    return 1 + sum(score < t for t in thresholds)


def probe_count() -> int:
    """The probes behind a full predicted estimate (the router's ``VerifierDifficulty().k``)."""
    return VerifierDifficulty().k


def probes_at(budget: int) -> int | None:
    """The probes the router draws at ``budget`` generations; ``None`` where it draws none."""
    return VerifierDifficulty().probes_for(budget)
