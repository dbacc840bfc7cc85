"""One split's cached pools and results, indexed for the fit and the report."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from langgraph_ttc.bench.arms import sample_pool_kind
from langgraph_ttc.bench.cache import BenchCache, ResultRow
from langgraph_ttc.bench.data import BenchItem
from langgraph_ttc.bench.difficulty import (
    pass_at_1,
    predicted_score,
    probes_at,
    quantile_bins,
    threshold_bin,
)
from langgraph_ttc.bench.rounding import rounded, significant
from langgraph_ttc.bench.stats import mean, wilson_interval
from langgraph_ttc.bench.sweep import SweepConfig
from langgraph_ttc.router.policy import NUM_BINS

__all__ = ["SplitData", "load_split"]

_COST_FIELDS = (
    "generations",
    "generated_tokens",
    "prompt_tokens",
    "flops",
    "verifier_tokens",
    "verifier_flops",
    "wall_s",
)


@dataclass
class SplitData:
    """One split's cached data, indexed.

    Attributes:
        split: The split's name.
        items: Its questions.
        pools: Sample pool per question id.
        rows: Every cached result of the split.
        table: ``(qid, arm, budget) -> accuracy`` (mean over seeds).
        per_q: ``(arm, budget) -> {qid: payloads}``.
        pass1: Oracle pass@1 per question.
        oracle_bins: Quantile bin of pass@1 per question (1 easiest).
    """

    split: str
    items: list[BenchItem]
    pools: dict[str, Mapping[str, Any]]
    rows: list[ResultRow]
    table: dict[tuple[str, str, int], float] = field(default_factory=dict)
    per_q: dict[tuple[str, int], dict[str, list[Mapping[str, Any]]]] = field(default_factory=dict)
    pass1: dict[str, float] = field(default_factory=dict)
    oracle_bins: dict[str, int] = field(default_factory=dict)

    @property
    def qids(self) -> list[str]:
        """The question ids, in item order."""
        return [i.qid for i in self.items]

    def predicted(self, qid: str, probes: int) -> float:
        """The mean verifier score of the question's first ``probes`` pool samples (or all, if fewer)."""
        pool = self.pools[qid]
        return predicted_score(pool, min(probes, len(pool["samples"])))

    def predicted_bin(self, qid: str, budget: int, thresholds: Sequence[float]) -> int | None:
        """The question's predicted bin with the router's probes at ``budget`` (``None``: none)."""
        p = probes_at(budget)
        return None if p is None else threshold_bin(self.predicted(qid, p), thresholds)

    def accuracy(
        self, arm: str, budget: int, qids: Sequence[str] | None = None
    ) -> dict[str, Any] | None:
        """Accuracy (mean over questions of the seed mean), its Wilson interval and costs."""
        runs = self.per_q.get((arm, budget))
        if not runs:
            return None
        ids = [q for q in (qids if qids is not None else self.qids) if q in runs]
        if not ids:
            return None
        per_question = [mean([float(p["correct"]) for p in runs[q]]) for q in ids]
        acc = mean(per_question)
        lo, hi = wilson_interval(acc * len(ids), len(ids))
        out: dict[str, Any] = {
            "accuracy": rounded(acc),
            "low": rounded(lo),
            "high": rounded(hi),
            "questions": len(ids),
            "runs": sum(len(runs[q]) for q in ids),
        }
        for f in _COST_FIELDS:
            values = [mean([float(p.get(f, 0.0) or 0.0) for p in runs[q]]) for q in ids]
            out[f] = (
                rounded(mean(values), 3)
                if f in ("generations", "wall_s")
                else significant(mean(values))
            )
        return out


def load_split(
    cache: BenchCache, config: SweepConfig, split: str, items: Sequence[BenchItem]
) -> SplitData:
    """Index one split's pools and results.

    Raises:
        ValueError: If a question has no sample pool (run the sweep first).
    """
    kind = sample_pool_kind(config)
    pools: dict[str, Mapping[str, Any]] = {}
    for item in items:
        pool = cache.get_pool(split, item.qid, kind)
        if pool is None:
            raise ValueError(
                f"no sample pool for question {item.qid} of split {split!r} in {cache.path}; "
                "run `ttc bench` first"
            )
        pools[item.qid] = pool
    wanted = {i.qid for i in items}
    rows = [r for r in cache.results(split) if r.key.qid in wanted]
    data = SplitData(split, list(items), pools, rows)
    grouped: dict[tuple[str, int], dict[str, list[Mapping[str, Any]]]] = defaultdict(dict)
    for row in rows:
        k = row.key
        grouped[(k.arm, k.budget)].setdefault(k.qid, []).append(row.payload)
    data.per_q = dict(grouped)
    for (arm, budget), runs in data.per_q.items():
        for qid, payloads in runs.items():
            data.table[(qid, arm, budget)] = mean([float(p["correct"]) for p in payloads])
    data.pass1 = {q: pass_at_1(p) for q, p in pools.items()}
    if len(items) >= NUM_BINS:
        data.oracle_bins = quantile_bins(data.pass1)
    return data
