"""The report's FLOPs-matched comparison: policy-small + router vs policy-large greedy.

Two ledgers (issue 12, item 4): ``ratios`` counts the generator's FLOPs only
(the paper's accounting, where the verifier is not charged), and
``ratios_with_verifier`` adds the verifier's FLOPs to the router's side. In
both, the small model may spend X = M + 3(M-1)/R greedy passes of its own
generator FLOPs (greedy runs no verifier).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from langgraph_ttc.bench.arms import LARGE_GREEDY, router_arm
from langgraph_ttc.bench.rounding import rounded
from langgraph_ttc.bench.split_data import SplitData
from langgraph_ttc.router.policy import NUM_BINS, ComputePolicy

__all__ = ["FLOPS_RATIOS", "LEDGERS", "bins_won", "flops_matched"]

FLOPS_RATIOS = (0.16, 0.79, 22.0)
"""R = inference tokens / pretraining tokens, as in the paper's FLOPs-matched study."""

LEDGERS = {"ratios": ("flops",), "ratios_with_verifier": ("flops", "verifier_flops")}
"""Each ledger's output key and the cost fields it sums: generator only, and with the verifier."""


def flops_matched(
    data: SplitData, policy: ComputePolicy | None, router_budgets: Sequence[int]
) -> dict[str, Any]:
    """policy-small + router at M + 3(M-1)/R generations vs the larger model's greedy, per bin."""
    large = data.per_q.get((LARGE_GREEDY, 1))
    if not large:
        return {"available": False, "why": "no reference-model runs in the cache"}
    params_large = next(float(p[0].get("params") or 0) for p in large.values())
    params_small = float(next(iter(data.pools.values())).get("params") or 0)
    if not params_large or not params_small:
        return {"available": False, "why": "parameter counts unknown"}
    m = params_large / params_small
    small_greedy = data.accuracy("greedy", 1)
    large_acc = data.accuracy(LARGE_GREEDY, 1)
    out: dict[str, Any] = {
        "available": True,
        "params_small": int(params_small),
        "params_large": int(params_large),
        "M": rounded(m, 2),
        "large_greedy": large_acc,
        "small_greedy": small_greedy,
    }
    name = router_arm(policy) if policy is not None else None
    for ledger, fields in LEDGERS.items():
        out[ledger] = []
        for r in FLOPS_RATIOS:
            x = m + 3 * (m - 1) / r
            out[ledger].append(
                _ratio(data, name, router_budgets, r, x, fields, small_greedy, large_acc)
            )
    return out


def bins_won(entry: Mapping[str, Any]) -> list[int]:
    """The oracle bins where the router at least ties the larger model (one ratio's entry).

    A ratio where no router budget fits the FLOPs wins no bin.
    """
    return sorted(
        int(b)
        for b, v in (entry.get("by_bin") or {}).items()
        if v["router"] is not None and v["large"] is not None and v["router"] >= v["large"]
    )


def _cost(acc: Mapping[str, Any] | None, fields: Sequence[str]) -> float:
    return sum(float((acc or {}).get(f) or 0.0) for f in fields)


def _ratio(
    data: SplitData,
    name: str | None,
    router_budgets: Sequence[int],
    ratio: float,
    x: float,
    fields: Sequence[str],
    small_greedy: Mapping[str, Any] | None,
    large_acc: Mapping[str, Any] | None,
) -> dict[str, Any]:
    """One ratio R: the router's largest budget within X greedy passes, against the large model.

    Matched in FLOPs, not generations: a revision's long context costs more
    than a greedy pass. The router's largest budget whose mean FLOPs (the
    ledger's ``fields``) stay within X greedy passes of policy-small.
    """
    greedy_flops = float((small_greedy or {}).get("flops") or 0.0)
    by_gens = [b for b in router_budgets if b <= x + 1e-9]
    fits = []
    for b in router_budgets:
        acc = data.accuracy(name, b) if name is not None else None
        if acc is not None and greedy_flops and _cost(acc, fields) <= x * greedy_flops:
            fits.append(b)
    budget = max(fits) if fits else None
    entry: dict[str, Any] = {
        "R": ratio,
        "X": rounded(x, 1),
        "ledger": "+".join(fields),
        "budget": budget,
        "budget_by_generations": max(by_gens) if by_gens else None,
    }
    if budget is not None and name is not None and (name, budget) in data.per_q:
        router = data.accuracy(name, budget)
        assert router is not None
        entry["router"] = router
        if small_greedy and small_greedy.get("flops"):
            entry["flops_used_vs_small_greedy"] = rounded(
                _cost(router, fields) / _cost(small_greedy, fields), 2
            )
        if large_acc and large_acc.get("flops"):
            entry["flops_used_vs_large_greedy"] = rounded(
                _cost(router, fields) / _cost(large_acc, fields), 2
            )
        entry["by_bin"] = _by_bin(data, name, budget)
    else:
        entry["missing"] = (
            f"no router budget in this sweep spends at most {x:.0f} greedy passes of FLOPs "
            f"({' + '.join(fields)})"
            if budget is None
            else f"the router did not run at {budget} generations"
        )
    entry["bins_won"] = bins_won(entry)
    return entry


def _by_bin(data: SplitData, name: str, budget: int) -> dict[str, Any]:
    """Per oracle bin: the router at ``budget`` and the large model, with intervals."""
    by_bin = {}
    for b in range(1, NUM_BINS + 1):
        ids = [q for q in data.qids if data.oracle_bins.get(q) == b]
        r_acc = data.accuracy(name, budget, ids)
        l_acc = data.accuracy(LARGE_GREEDY, 1, ids)
        if r_acc is None or l_acc is None:
            continue
        by_bin[str(b)] = {
            "router": r_acc["accuracy"],
            "router_low": r_acc["low"],
            "router_high": r_acc["high"],
            "large": l_acc["accuracy"],
            "large_low": l_acc["low"],
            "large_high": l_acc["high"],
            "questions": r_acc["questions"],
        }
    return by_bin
