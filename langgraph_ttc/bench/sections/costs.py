"""The report's compute time: wall seconds per split and source, each run counted once."""

from __future__ import annotations

import json
from collections import defaultdict
from collections.abc import Mapping

from langgraph_ttc.bench.arms import arm_family, revision_pool_kind
from langgraph_ttc.bench.cache import BenchCache
from langgraph_ttc.bench.rounding import rounded
from langgraph_ttc.bench.split_data import SplitData
from langgraph_ttc.bench.sweep import SweepConfig

__all__ = ["compute_seconds"]


def compute_seconds(
    cache: BenchCache, config: SweepConfig, splits: Mapping[str, SplitData]
) -> dict[str, dict[str, float | None]]:
    """Wall seconds per split: sample pools, revision pools and each arm family's graph runs."""
    return {s: _split_seconds(cache, config, s, data) for s, data in splits.items()}


def _split_seconds(
    cache: BenchCache, config: SweepConfig, split: str, data: SplitData
) -> dict[str, float | None]:
    by_source: dict[str, float] = defaultdict(float)
    for pool in data.pools.values():
        by_source["sample_pools"] += float(pool.get("wall_s", 0.0))
    rkind = revision_pool_kind(config)
    for q in data.qids:
        rp = cache.get_pool(split, q, rkind)
        if rp is not None:
            by_source["revision_pools"] += float(rp.get("wall_s", 0.0))
    seen: set[tuple[str, int, int, str]] = set()
    for row in data.rows:
        if row.payload.get("source") == "graph":
            # Arms that share a config share one run: count it once.
            ident = json.dumps(row.payload.get("config") or row.key.arm, sort_keys=True)
            run = (row.key.qid, row.key.budget, row.key.seed, ident)
            if run in seen:
                continue
            seen.add(run)
            # A unit run beside others (concurrency k) holds 1/k of the wall time it spanned.
            share = float(row.payload.get("wall_s", 0.0)) / float(
                row.payload.get("concurrency") or 1
            )
            by_source[arm_family(row.key.arm)] += share
    return {k: rounded(v, 1) for k, v in sorted(by_source.items())}
