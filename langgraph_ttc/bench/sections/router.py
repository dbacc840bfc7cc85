"""The report's router section: its own runs, and routers that ran other policies."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Mapping, Sequence
from typing import Any

from langgraph_ttc.bench.arms import is_router_arm, policy_meta_key, router_arm
from langgraph_ttc.bench.cache import BenchCache
from langgraph_ttc.bench.rounding import rounded
from langgraph_ttc.bench.sections.policies import needed_budget
from langgraph_ttc.bench.split_data import SplitData
from langgraph_ttc.bench.stats import mean
from langgraph_ttc.router.policy import NUM_BINS, ComputePolicy

__all__ = ["router_runs", "router_section"]

_OTHER_FIELDS = ("budget", "accuracy", "low", "high", "generations", "questions")


def router_section(
    cache: BenchCache,
    data: SplitData,
    policy: ComputePolicy,
    budgets: Sequence[int],
    target: Mapping[str, Any] | None,
    best_fixed: Mapping[str, Any] | None,
) -> dict[str, Any]:
    """The router's runs with ``policy`` and those of every other router in the cache.

    Args:
        cache: The sweep's cache (for the other routers' stored policies).
        data: The evaluation split.
        policy: The policy the router ran.
        budgets: The router's budgets.
        target: The best-of-N accuracy to match, if measured.
        best_fixed: The best single arm at the target budget, if any.

    Returns:
        ``router`` (arm, runs, and the budget it needs to match the targets)
        and ``other_routers``.
    """
    name = router_arm(policy)
    runs = router_runs(data, name, budgets)
    router: dict[str, Any] = {"arm": name, "runs": runs}
    # Routers that ran other policies on the same questions (e.g. the hand-set default).
    others = sorted({r.key.arm for r in data.rows if is_router_arm(r.key.arm)} - {name})
    other_routers = [_other_router(cache, data, other, budgets) for other in others]
    if target is not None and runs:
        curve = [(float(p["generations"]), float(p["accuracy"])) for p in runs]
        router["needed"] = needed_budget(curve, float(target["accuracy"]))
        if best_fixed is not None:
            router["needed_best_fixed"] = needed_budget(curve, float(best_fixed["accuracy"]))
    return {"router": router, "other_routers": other_routers}


def _other_router(
    cache: BenchCache, data: SplitData, arm: str, budgets: Sequence[int]
) -> dict[str, Any]:
    stored = cache.get_meta(policy_meta_key(arm)) or {}
    return {
        "arm": arm,
        "description": str(stored.get("description", ""))[:160],
        "runs": [{k: p[k] for k in _OTHER_FIELDS} for p in router_runs(data, arm, budgets)],
    }


def router_runs(data: SplitData, name: str, budgets: Sequence[int]) -> list[dict[str, Any]]:
    """Per budget: the router's accuracy and costs, probes, strategies, bins and errors."""
    out = []
    for b in budgets:
        acc = data.accuracy(name, b)
        if acc is None:
            continue
        runs = data.per_q[(name, b)]
        payloads = [p for q in data.qids for p in runs.get(q, [])]
        strategies: dict[str, int] = defaultdict(int)
        difficulty: dict[str, int] = defaultdict(int)
        for p in payloads:
            strategies[str(p.get("strategy"))] += 1
            difficulty[str(p.get("difficulty"))] += 1
        out.append(
            {
                "budget": b,
                **acc,
                "probes": rounded(mean([float(p.get("probes", 0)) for p in payloads]), 3),
                "strategies": dict(sorted(strategies.items())),
                "predicted_bins": dict(sorted(difficulty.items())),
                "errors": sum(p.get("status") == "backend_error" for p in payloads),
                "by_oracle_bin": _by_oracle_bin(data, name, b),
            }
        )
    return out


def _by_oracle_bin(data: SplitData, name: str, budget: int) -> dict[str, Any]:
    by_bin = {}
    for ob in range(1, NUM_BINS + 1):
        ids = [q for q in data.qids if data.oracle_bins.get(q) == ob]
        sub = data.accuracy(name, budget, ids)
        if sub is not None:
            by_bin[str(ob)] = sub["accuracy"]
    return by_bin
