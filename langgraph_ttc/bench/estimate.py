"""How long another sweep would take, from the unit timings of a cached one.

Every cached unit keeps its wall time (its share of it when units ran
concurrently: ``wall_s / concurrency``). The estimate scales them to another
sweep (the ``full`` preset by default): pools by samples drawn, graph runs
by a least-squares line in the budget per arm (fitted on the budgets that
were measured), the router and the reference model per run. It is a rough,
single-machine figure: it inherits that machine's speed and load.
"""

from __future__ import annotations

import json
from collections import defaultdict
from collections.abc import Sequence
from typing import Any

from langgraph_ttc.bench.arms import LARGE_GREEDY, ROUTER
from langgraph_ttc.bench.cache import BenchCache
from langgraph_ttc.bench.sweep import SweepConfig

__all__ = ["estimate_sweep_seconds"]


def _line(points: Sequence[tuple[float, float]]) -> tuple[float, float]:
    """Least-squares ``(intercept, slope)``; a flat line through one point."""
    if len(points) == 1 or len({x for x, _ in points}) == 1:
        return sum(y for _, y in points) / len(points), 0.0
    n = len(points)
    mx = sum(x for x, _ in points) / n
    my = sum(y for _, y in points) / n
    sxx = sum((x - mx) ** 2 for x, _ in points)
    slope = sum((x - mx) * (y - my) for x, y in points) / sxx
    return my - slope * mx, slope


def estimate_sweep_seconds(
    cache: BenchCache, measured: SweepConfig, target: SweepConfig, *, questions: int | None = None
) -> dict[str, Any]:
    """Estimated wall seconds of ``target``, scaled from the units cached by ``measured``.

    Args:
        cache: The cache of the measured sweep.
        measured: The sweep that filled it.
        target: The sweep to estimate.
        questions: Questions per split of the target (default: ``target.questions``).

    Returns:
        Seconds per part (``sample_pools``, ``revision_pools``, ``derive``,
        ``graphs``, ``router``, ``reference``) and ``total``; ``None`` for a
        part with nothing measured.
    """
    q = questions or target.questions
    splits = len(target.splits)
    sample_s: list[float] = []
    revision_s: list[float] = []
    for split, qid, kind in sorted(cache.pool_keys()):
        pool = cache.get_pool(split, qid, kind)
        if kind.startswith("samples"):
            sample_s.append(float(pool["wall_s"]) / len(pool["samples"]))
        else:
            attempts = sum(len(c) for c in pool["chains"])
            revision_s.append(float(pool["wall_s"]) / attempts)
    graph_points: dict[str, list[tuple[float, float]]] = defaultdict(list)
    seen: set[tuple[str, str, int, int, str]] = set()
    for row in cache.results():
        p = row.payload
        if p.get("source") != "graph":
            continue
        ident = json.dumps(p.get("config") or row.key.arm, sort_keys=True)
        run = (row.key.split, row.key.qid, row.key.budget, row.key.seed, ident)
        if run in seen:
            continue
        seen.add(run)
        # A unit run beside others (concurrency k) holds 1/k of the wall time it spanned.
        share = float(p["wall_s"]) / float(p.get("concurrency") or 1)
        graph_points[row.key.arm.split(":")[0]].append((float(row.key.budget), share))
    out: dict[str, float | None] = {}
    out["sample_pools"] = (
        sum(sample_s) / len(sample_s) * target.pool_size * q * splits if sample_s else None
    )
    chain_attempts = target.revision_chains * target.revision_length
    out["revision_pools"] = (
        sum(revision_s) / len(revision_s) * chain_attempts * q * splits if revision_s else None
    )
    sessions = cache.get_meta("sessions") or []
    derive = [
        float(s["wall_s"].get("derive", 0.0)) for s in sessions if "derive" in s.get("wall_s", {})
    ]
    measured_q = measured.questions * len(measured.splits)
    rows_ratio = (len(target.budgets) * target.seeds) / (len(measured.budgets) * measured.seeds)
    out["derive"] = sum(derive) / measured_q * q * splits * rows_ratio if derive else None
    graphs = 0.0
    any_graph = False
    for arm in target.arm_list:
        if arm.kind != "graph" or arm.name not in graph_points:
            continue
        any_graph = True
        a, b = _line(graph_points[arm.name])
        budgets = [1] if arm.strategy == "greedy" else arm.budgets(target.tree_budgets)
        seeds = 1 if arm.strategy == "greedy" else target.graph_seeds
        graphs += sum(max(0.0, a + b * n) for n in budgets) * seeds * q * splits
    out["graphs"] = graphs if any_graph else None
    if graph_points.get(ROUTER):
        a, b = _line(graph_points[ROUTER])
        per_q = sum(max(0.0, a + b * n) for n in target.router_budgets) * target.graph_seeds
        out["router"] = per_q * q if target.router else 0.0
    else:
        out["router"] = None
    if graph_points.get(LARGE_GREEDY):
        mean_s = sum(y for _, y in graph_points[LARGE_GREEDY]) / len(graph_points[LARGE_GREEDY])
        out["reference"] = mean_s * q if target.large else 0.0
    else:
        out["reference"] = None
    known = [v for v in out.values() if v is not None]
    result: dict[str, Any] = {k: None if v is None else round(v, 0) for k, v in out.items()}
    result["total"] = round(sum(known), 0)
    result["hours"] = round(sum(known) / 3600, 2)
    result["target"] = {"preset": target.name, "questions_per_split": q, "splits": splits}
    return result
