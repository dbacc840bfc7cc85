"""The report's difficulty estimates: oracle bins, and how well the predicted score matches them."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Mapping, Sequence
from typing import Any

from langgraph_ttc.bench.difficulty import ORACLE_MIN_SAMPLES, probe_count, threshold_bin
from langgraph_ttc.bench.rounding import rounded
from langgraph_ttc.bench.split_data import SplitData
from langgraph_ttc.bench.stats import mean, spearman
from langgraph_ttc.router.policy import NUM_BINS

__all__ = ["difficulty_estimates"]


def difficulty_estimates(data: SplitData, thresholds: Sequence[float] | None) -> dict[str, Any]:
    """Per oracle bin: pass@1 and predicted score; the predicted bins' agreement with them.

    Args:
        data: One split.
        thresholds: The router policy's thresholds on the predicted score
            (``None``: no policy, no predicted bins).

    Returns:
        Plain data: pool size, bins, Spearman correlation and bin agreement.
    """
    samples = min(len(p["samples"]) for p in data.pools.values())
    out: dict[str, Any] = {
        "pool_samples": samples,
        "oracle_ok": samples >= ORACLE_MIN_SAMPLES,
        "bins": {},
    }
    k = probe_count()
    pred = {q: data.predicted(q, k) for q in data.qids}
    for b in range(1, NUM_BINS + 1):
        out["bins"][str(b)] = _oracle_bin(data, pred, b)
    # How well the 4-probe score ranks questions by their true pass@1.
    out["spearman_predicted_vs_pass1"] = rounded(
        spearman([pred[q] for q in data.qids], [data.pass1[q] for q in data.qids])
    )
    if thresholds is not None:
        out |= _agreement(data, pred, thresholds)
    return out


def _oracle_bin(data: SplitData, pred: Mapping[str, float], b: int) -> dict[str, Any]:
    ids = [q for q in data.qids if data.oracle_bins.get(q) == b]
    groups: dict[str, int] = defaultdict(int)
    for item in data.items:
        if item.qid in ids and item.group:
            groups[item.group] += 1
    return {
        "questions": len(ids),
        "pass1_mean": rounded(mean([data.pass1[q] for q in ids])),
        "pass1_min": rounded(min((data.pass1[q] for q in ids), default=float("nan"))),
        "pass1_max": rounded(max((data.pass1[q] for q in ids), default=float("nan"))),
        "predicted_mean": rounded(mean([pred[q] for q in ids])),
        "groups": dict(sorted(groups.items())),
    }


def _agreement(
    data: SplitData, pred: Mapping[str, float], thresholds: Sequence[float]
) -> dict[str, Any]:
    pbins = {q: threshold_bin(pred[q], thresholds) for q in data.qids}
    agree = sum(pbins[q] == data.oracle_bins.get(q) for q in data.qids)
    within = sum(abs(pbins[q] - data.oracle_bins.get(q, 0)) <= 1 for q in data.qids)
    return {
        "predicted_bin_exact_agreement": rounded(agree / len(data.qids)),
        "predicted_bin_within_one": rounded(within / len(data.qids)),
        "predicted_bin_sizes": {
            str(b): sum(v == b for v in pbins.values()) for b in range(1, NUM_BINS + 1)
        },
    }
