"""The report's "beyond the paper" section, simulated from the cached pools.

* **Early stopping**: sample in chunks and stop once the weighted vote is decided.
* **Allocation**: spread a batch's budget over the predicted bins.
"""

from __future__ import annotations

import itertools
from collections import defaultdict
from collections.abc import Sequence
from typing import Any

from langgraph_ttc.answers import aggregate
from langgraph_ttc.bench.difficulty import probe_count, probes_at, threshold_bin
from langgraph_ttc.bench.fit import PolicyFit
from langgraph_ttc.bench.rounding import rounded
from langgraph_ttc.bench.split_data import SplitData
from langgraph_ttc.bench.stats import mean, rng_for, wilson_interval
from langgraph_ttc.bench.subsample import sample_candidate
from langgraph_ttc.router.policy import NUM_BINS

__all__ = ["TAUS", "allocation", "early_stop", "early_stop_section"]

TAUS = (0.5, 0.6, 0.7, 0.8, 0.9, 1.0)
"""The weighted-vote shares at which early stopping is tried."""

BinCurves = dict[int, dict[int, tuple[float, float, int]]]
"""``{bin: {key budget: (accuracy, cost, questions)}}``."""


def early_stop_section(
    fit_data: SplitData | None, eval_data: SplitData, budget: int, seeds: int
) -> dict[str, Any]:
    """Early stopping at ``budget`` on the evaluation split (and the fit split, if another)."""
    out: dict[str, Any] = {
        "budget": budget,
        "test": early_stop(eval_data, budget, TAUS, seeds),
    }
    if fit_data is not None and fit_data is not eval_data:
        out["validation"] = early_stop(fit_data, budget, TAUS, seeds)
    return out


def early_stop(
    data: SplitData, budget: int, taus: Sequence[float], seeds: int, chunk: int = 4
) -> dict[str, Any]:
    """Sample in chunks (the first is the probes) and stop once the weighted vote is decided.

    A question stops after a chunk when the leading answer holds at least
    ``tau`` of the PRM-weighted mass, or at ``budget``. Simulated on the pool
    (each seed a different sample order), selected with ``answers.aggregate``.
    """
    out = {}
    for tau in taus:
        accs, costs = [], []
        for q in data.qids:
            for seed in range(seeds):
                correct, drawn = _stop_early(data.pools[q]["samples"], q, seed, budget, tau, chunk)
                accs.append(float(correct))
                costs.append(float(drawn))
        acc = mean(accs)
        n = len(data.qids)
        lo, hi = wilson_interval(acc * n, n)
        out[f"{tau:g}"] = {
            "accuracy": rounded(acc),
            "low": rounded(lo),
            "high": rounded(hi),
            "generations": rounded(mean(costs), 3),
        }
    return out


def _stop_early(
    samples: Sequence[Any], q: str, seed: int, budget: int, tau: float, chunk: int
) -> tuple[bool, int]:
    """One question and seed: whether the early-stopped vote is correct, and samples drawn."""
    order = rng_for("early", q, seed).sample(range(len(samples)), min(budget, len(samples)))
    drawn: list[int] = []
    answer = None
    for start in range(0, len(order), chunk):
        drawn += order[start : start + chunk]
        cands = [sample_candidate(samples[i], f"s{i}", "last") for i in drawn]
        answer, confidence, _ = aggregate(cands, selection="weighted")
        if answer is not None and confidence >= tau:
            break
    # A sample's stored verdict is the checker's on its own (canonical) answer.
    correct = answer is not None and any(
        samples[i]["correct"] and samples[i]["answer"] == answer for i in drawn
    )
    return correct, len(drawn)


def allocation(
    val: SplitData, test: SplitData, fit: PolicyFit, keys: Sequence[int], target: float
) -> dict[str, Any]:
    """Spread a batch's budget over predicted bins (chosen on validation), applied to test."""
    vc, tc = _bin_curves(val, fit, keys), _bin_curves(test, fit, keys)
    bins = [b for b in range(1, NUM_BINS + 1) if vc.get(b)]
    best = _best_plan(vc, bins, target)
    if best is None:
        return {"target": target, "found": False}
    plan = dict(zip(bins, best[1], strict=True))
    hits = [tc[b][plan[b]] for b in bins if plan[b] in tc.get(b, {})]
    t_total = sum(h[2] for h in hits)
    if not t_total:
        return {"target": target, "found": False}
    t_acc = sum(h[0] * h[2] for h in hits) / t_total
    t_cost = sum(h[1] * h[2] for h in hits) / t_total
    lo, hi = wilson_interval(t_acc * t_total, t_total)
    return {
        "target": target,
        "found": True,
        "budgets_by_bin": {str(b): plan[b] for b in bins},
        "validation_accuracy": rounded(best[0]),
        "accuracy": rounded(t_acc),
        "low": rounded(lo),
        "high": rounded(hi),
        "generations": rounded(t_cost, 3),
    }


def _bin_curves(data: SplitData, fit: PolicyFit, keys: Sequence[int]) -> BinCurves:
    """Per predicted bin and key budget: the fit's choice's accuracy, cost and questions."""
    k = probe_count()
    th = fit.policy.thresholds
    out: BinCurves = defaultdict(dict)
    bins = {q: threshold_bin(data.predicted(q, k), th) for q in data.qids}
    for b in range(1, NUM_BINS + 1):
        ids = [q for q in data.qids if bins[q] == b]
        for key in keys:
            p = probes_at(key)
            if p is None or p < k:
                continue  # allocation needs the full estimate first
            choice = fit.choices[b][key]
            vals = [data.table.get((q, choice.arm, choice.budget)) for q in ids]
            vals_ok = [v for v in vals if v is not None]
            if ids and len(vals_ok) == len(ids):
                out[b][key] = (mean(vals_ok), float(choice.cost), len(ids))
    return out


def _best_plan(
    vc: BinCurves, bins: Sequence[int], target: float
) -> tuple[float, tuple[int, ...]] | None:
    """The key budget per bin with the best validation accuracy at mean cost <= ``target``."""
    total_q = sum(next(iter(vc[b].values()))[2] for b in bins)
    best: tuple[float, tuple[int, ...]] | None = None
    for combo in itertools.product(*[sorted(vc[b]) for b in bins]):
        cost = (
            sum(vc[b][key][1] * vc[b][key][2] for b, key in zip(bins, combo, strict=True)) / total_q
        )
        if cost > target + 1e-9:
            continue
        acc = (
            sum(vc[b][key][0] * vc[b][key][2] for b, key in zip(bins, combo, strict=True)) / total_q
        )
        if best is None or acc > best[0] + 1e-12:
            best = (acc, combo)
    return best
