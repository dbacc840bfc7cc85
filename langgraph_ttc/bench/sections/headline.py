"""The machine-readable headline of a sweep (``results.json["headline"]``, issue 12 item 5).

One flat record, read from the assembled analysis so that it can never
disagree with the report's tables, to track the project's claims from run to
run::

    {"questions_per_split": int,
     "bon_weighted_at_64": float, "majority_at_64": float, "greedy": float,
     "router_generations_to_match_bon64": float,
     "router_efficiency_vs_bon64": float,
     "best_fixed_arm_at_64": {"arm": str, "accuracy": float},
     "router_efficiency_vs_best_fixed64": float,
     "flops_matched_bins_won": {"0.16": [int], "0.79": [int], "22": [int]},
     "flops_matched_bins_won_with_verifier": {"0.16": [int], "0.79": [int], "22": [int]}}

Accuracies are on the evaluation split. The router's figures come from its
own graph runs (probes counted): the generations it needs to reach the
target's accuracy, interpolated log2-linearly between the budgets it ran
(``sections.policies.needed_budget``), and the efficiency ``64 / that``. A
figure that was not measured, or a target the router never reached, is
``null``. ``questions_per_split`` is the fewest questions of any split. A bin
is *won* where the router at least ties policy-large at the FLOPs-matched
budget (``sections.flops.bins_won``); a ratio where no router budget fits the
FLOPs wins none.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from langgraph_ttc.bench.rounding import rounded
from langgraph_ttc.bench.sections.compute_optimal import TARGET_BUDGET as HEADLINE_BUDGET
from langgraph_ttc.bench.sections.flops import FLOPS_RATIOS, bins_won

__all__ = ["HEADLINE_BUDGET", "headline"]


def _at(curves: Mapping[str, Sequence[Mapping[str, Any]]], arm: str, budget: int) -> float | None:
    for p in curves.get(arm, []):
        if p["budget"] == budget:
            return rounded(p["accuracy"])
    return None


def _needed(need: Mapping[str, Any] | None) -> tuple[float | None, float | None]:
    """(generations, efficiency) from a ``needed_budget`` record; ``None`` where not reached."""
    if not need or not need.get("reached") or not need.get("interpolated"):
        return None, None
    x = float(need["interpolated"])
    return rounded(x, 2), rounded(HEADLINE_BUDGET / x, 2)


def _bins(entries: Sequence[Mapping[str, Any]]) -> dict[str, list[int]]:
    by_r = {float(e["R"]): e for e in entries}
    return {f"{r:g}": bins_won(by_r[r]) if r in by_r else [] for r in FLOPS_RATIOS}


def headline(analysis: Mapping[str, Any]) -> dict[str, Any]:
    """The headline record (see the module docstring) of ``bench.analysis.analyse``'s output."""
    ev = analysis["sweep"]["eval_split"]
    curves = analysis["splits"][ev]["curves"]
    co = analysis.get("compute_optimal", {})
    router = co.get("router", {})
    gens_bon, eff_bon = _needed(router.get("needed"))
    _, eff_fixed = _needed(router.get("needed_best_fixed"))
    fixed = co.get("best_fixed") or {}
    fm = analysis.get("flops_matched", {})
    return {
        "questions_per_split": min(analysis["questions"].values(), default=0),
        "bon_weighted_at_64": _at(curves, "bon_weighted", HEADLINE_BUDGET),
        "majority_at_64": _at(curves, "majority", HEADLINE_BUDGET),
        "greedy": _at(curves, "greedy", 1),
        "router_generations_to_match_bon64": gens_bon,
        "router_efficiency_vs_bon64": eff_bon,
        "best_fixed_arm_at_64": {
            "arm": fixed.get("arm"),
            "accuracy": rounded(fixed.get("accuracy")),
        },
        "router_efficiency_vs_best_fixed64": eff_fixed,
        "flops_matched_bins_won": _bins(fm.get("ratios", [])),
        "flops_matched_bins_won_with_verifier": _bins(fm.get("ratios_with_verifier", [])),
    }
