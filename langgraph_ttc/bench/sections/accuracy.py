"""The report's accuracy sections: accuracy vs budget, and per difficulty bin."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from langgraph_ttc.bench.arms import choice_name
from langgraph_ttc.bench.split_data import SplitData
from langgraph_ttc.router.policy import NUM_BINS

__all__ = ["BIN_BUDGETS", "accuracy_by_bin", "accuracy_curves"]

BIN_BUDGETS = (4, 16, 64, 256)
"""Budgets at which accuracy is broken down by difficulty bin."""


def accuracy_curves(
    data: SplitData, arms: Sequence[str], budgets: Sequence[int]
) -> dict[str, list[dict[str, Any]]]:
    """``{arm: [point per budget]}``: accuracy, its interval and costs, for arms with results."""
    out: dict[str, list[dict[str, Any]]] = {}
    for arm in arms:
        points = []
        for b in budgets:
            acc = data.accuracy(arm, b)
            if acc is not None:
                points.append({"budget": b, **acc})
        if points:
            out[arm] = points
    return out


def accuracy_by_bin(
    data: SplitData, bins: Mapping[str, int], arms: Sequence[str], budgets: Sequence[int]
) -> dict[str, dict[str, dict[str, Any]]]:
    """``{bin: {arm@budget: accuracy}}`` for the given bins."""
    out: dict[str, dict[str, dict[str, Any]]] = {}
    for b in range(1, NUM_BINS + 1):
        ids = [q for q in data.qids if bins.get(q) == b]
        row: dict[str, dict[str, Any]] = {}
        for arm in arms:
            for budget in budgets:
                acc = data.accuracy(arm, budget, ids)
                if acc is not None:
                    row[choice_name(arm, budget)] = {
                        k: acc[k] for k in ("accuracy", "low", "high", "questions")
                    }
        out[str(b)] = row
    return out
