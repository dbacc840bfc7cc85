"""Fitted policies replayed on cached results, and the budget a curve needs to reach a target."""

from __future__ import annotations

import math
from collections import defaultdict
from collections.abc import Callable, Mapping, Sequence
from typing import Any

from langgraph_ttc.bench.arms import choice_name
from langgraph_ttc.bench.fit import PolicyFit
from langgraph_ttc.bench.rounding import rounded
from langgraph_ttc.bench.sections.accuracy import BIN_BUDGETS
from langgraph_ttc.bench.split_data import SplitData
from langgraph_ttc.bench.stats import mean, wilson_interval

__all__ = ["choices_table", "cv_curve", "needed_budget", "simulate"]


def needed_budget(curve: Sequence[tuple[float, float]], target: float) -> dict[str, Any]:
    """The smallest cost at which a curve reaches ``target`` accuracy.

    Args:
        curve: ``(cost, accuracy)`` points in increasing cost.
        target: The accuracy to reach.

    Returns:
        ``reached``; ``cost`` (the first point at or above target);
        ``interpolated`` (log2-linear between that point and the one before);
        and ``best`` (the highest accuracy on the curve).
    """
    pts = sorted(curve)
    best = max((a for _, a in pts), default=float("nan"))
    for i, (cost, acc) in enumerate(pts):
        if acc >= target - 1e-12:
            interp = cost
            if i > 0 and pts[i - 1][1] < target and pts[i - 1][0] > 0 and cost > 0:
                c0, a0 = pts[i - 1]
                frac = (target - a0) / (acc - a0)
                interp = 2 ** (math.log2(c0) + frac * (math.log2(cost) - math.log2(c0)))
            return {
                "reached": True,
                "cost": rounded(cost, 2),
                "interpolated": rounded(interp, 2),
                "best": rounded(best),
            }
    return {"reached": False, "cost": None, "interpolated": None, "best": rounded(best)}


def simulate(
    data: SplitData,
    fit: PolicyFit,
    bin_of: Callable[[str, int], int | None],
    keys: Sequence[int],
    bins: Mapping[str, int] | None = None,
) -> dict[str, Any]:
    """A fitted policy applied to a split's cached results (no new runs).

    For each question and key budget, the question's bin gives the choice;
    its cached accuracy at the chosen arm and budget is the outcome.

    Args:
        data: The split to replay on.
        fit: The fitted policy.
        bin_of: A question's bin at a key budget (``None``: the default bin).
        keys: The key budgets.
        bins: Bins to break the accuracy down by (at ``BIN_BUDGETS``).

    Returns:
        ``curve`` (a point per key budget) and ``by_bin``.
    """
    curve = []
    per_bin: dict[str, dict[str, Any]] = {}
    for key in keys:
        accs: list[float] = []
        costs: list[float] = []
        used: dict[str, int] = defaultdict(int)
        by_bin: dict[int, list[float]] = defaultdict(list)
        for q in data.qids:
            b = bin_of(q, key)
            choice = fit.choices[b if b is not None else fit.policy.default_bin][key]
            value = data.table.get((q, choice.arm, choice.budget))
            if value is None:
                continue
            accs.append(value)
            costs.append(choice.cost)
            used[choice_name(choice.arm, choice.budget)] += 1
            if bins is not None and q in bins:
                by_bin[bins[q]].append(value)
        if not accs:
            continue
        curve.append(_point(key, accs, costs, used))
        if key in BIN_BUDGETS:
            per_bin[str(key)] = {str(b): rounded(mean(v)) for b, v in sorted(by_bin.items())}
    return {"curve": curve, "by_bin": per_bin}


def _point(
    key: int, accs: Sequence[float], costs: Sequence[float], used: Mapping[str, int]
) -> dict[str, Any]:
    acc = mean(accs)
    lo, hi = wilson_interval(acc * len(accs), len(accs))
    return {
        "budget": key,
        "accuracy": rounded(acc),
        "low": rounded(lo),
        "high": rounded(hi),
        "generations": rounded(mean(costs), 3),
        "questions": len(accs),
        "choices": dict(sorted(used.items())),
    }


def choices_table(fit: PolicyFit) -> dict[str, dict[str, dict[str, Any]]]:
    """``{bin: {budget: choice}}``: the fit's arm per bin and budget, with its CV accuracy."""
    return {
        str(b): {
            str(k): {
                "arm": c.arm,
                "budget": c.budget,
                "accuracy": rounded(c.accuracy),
                "cost": c.cost,
                "cv_accuracy": rounded(fit.cv[b].get(k)),
            }
            for k, c in sorted(row.items())
        }
        for b, row in sorted(fit.choices.items())
    }


def cv_curve(fit: PolicyFit) -> list[dict[str, Any]]:
    """The fit's cross-validated accuracy per key budget."""
    return [{"budget": k, "accuracy": rounded(v)} for k, v in sorted(fit.cv_overall.items())]
