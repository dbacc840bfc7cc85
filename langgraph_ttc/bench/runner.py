"""Running a sweep: pools, graph runs, the policy fit and the router, resumable.

The work comes in stages; each unit of work is committed to the cache as
soon as it is done, and a unit already in the cache is never run again, so a
killed sweep resumes where it stopped:

1. ``pools``: per question, a sample pool (and a revision pool when a
   revision arm is in the sweep); then the voting and revision arms' results
   at every budget and seed, derived from the pools.
2. ``graphs``: greedy decoding and the tree searches, through the library's
   graphs, per question, budget and seed.
3. ``fit``: the router's policy, chosen on ``fit_split`` (unless one is given)
   by ``fit.fit_router_policy``.
4. ``router``: the compute-optimal graph with that policy on ``eval_split``.
5. ``reference``: the larger model, greedy, on ``eval_split``.

A tqdm bar counts units (cached ones are counted at once).

**Concurrency.** With ``concurrency=k > 1`` the graph stages (2, 4 and 5) run
``k`` graph runs at once on one event loop (``ainvoke`` on the same compiled
graph), so that the models can share forward passes across runs (a batching
``TransformersGenerator``) or requests in flight (``OpenAIGenerator``'s own
``max_concurrency`` caps them across all runs of the loop). A run's samples
depend on its question and seed only (``runs.question_seed``), never on what
runs beside it, so the results are those of a sequential sweep. Each unit is
committed the moment it finishes; a kill loses at most the ``k`` units in
flight. A unit's ``wall_s`` is then its own elapsed time, shared with the
others in flight: the payload says how many (``concurrency``), and the
report's compute times count ``wall_s / concurrency``.
"""

from __future__ import annotations

import sys
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from langgraph_ttc.bench.arms import (
    LARGE_GREEDY,
    ROUTER_META_KEY,
    Arm,
    config_key,
    policy_meta_key,
    revision_pool_kind,
    router_arm,
    sample_pool_kind,
)
from langgraph_ttc.bench.cache import BenchCache, ResultKey
from langgraph_ttc.bench.data import BenchItem, Checker
from langgraph_ttc.bench.fit import PolicyFit, fit_router_policy
from langgraph_ttc.bench.pools import (
    BenchModels,
    RecordingGenerator,
    build_revision_pool,
    build_sample_pool,
)
from langgraph_ttc.bench.runs import question_seed
from langgraph_ttc.bench.subsample import memoized_answers, pool_result, revision_result
from langgraph_ttc.bench.sweep import SweepConfig
from langgraph_ttc.bench.units import GraphUnit, execute_units
from langgraph_ttc.router.fitted import run_models
from langgraph_ttc.router.policy import ComputePolicy
from langgraph_ttc.types import StrategyConfig

__all__ = ["RunSummary", "SweepRunner"]


@dataclass
class RunSummary:
    """What a sweep session did.

    Attributes:
        computed: Units run in this session, per stage.
        cached: Units found in the cache, per stage.
        wall_s: Wall time per stage, and ``total``.
        policy: The policy the router ran (``None`` without a router).
        policy_fit: The fit, when this session fitted the policy.
    """

    computed: dict[str, int] = field(default_factory=dict)
    cached: dict[str, int] = field(default_factory=dict)
    wall_s: dict[str, float] = field(default_factory=dict)
    policy: ComputePolicy | None = None
    policy_fit: PolicyFit | None = None


class SweepRunner:
    """Runs a sweep into a cache.

    Args:
        config: The sweep.
        models: The models (the reference model may be ``None``).
        cache: Where results go (and come from).
        items: Questions per split.
        checker: Decides correctness.
        policy: The router's policy; ``None`` fits one on ``config.fit_split``
            (``fit.fit_router_policy``) or, with no fit split, uses
            ``ComputePolicy.default()``.
        progress: Show a tqdm bar on stderr.
        policy_out: Where to save a fitted policy.
        concurrency: Graph runs in flight at once in the graph stages (1:
            one after another, through the graphs' sync path).

    Raises:
        ValueError: If ``concurrency`` is not a positive int.
    """

    def __init__(
        self,
        config: SweepConfig,
        models: BenchModels,
        cache: BenchCache,
        items: dict[str, list[BenchItem]],
        *,
        checker: Checker,
        policy: ComputePolicy | None = None,
        progress: bool = True,
        policy_out: Path | None = None,
        concurrency: int = 1,
    ) -> None:
        if isinstance(concurrency, bool) or not isinstance(concurrency, int) or concurrency < 1:
            raise ValueError(f"concurrency must be a positive int, got {concurrency!r}")
        self.config = config
        self.models = models
        self.cache = cache
        self.items = items
        self.checker = checker
        self.policy = policy
        self.progress = progress
        self.policy_out = policy_out
        self.concurrency = concurrency
        self._in_flight = 1
        self._graphs: dict[str, Any] = {}
        self._bar: Any = None

    # ------------------------------------------------------------------ plumbing

    def _graph(self, key: str, build: Callable[[], Any]) -> Any:
        if key not in self._graphs:
            self._graphs[key] = build().compile()
        return self._graphs[key]

    def _tick(self, stage: str, n: int = 1) -> None:
        if self._bar is not None:
            self._bar.set_description_str(stage, refresh=False)
            self._bar.update(n)

    def _grow(self, n: int) -> None:
        if self._bar is not None and n:
            self._bar.total = (self._bar.total or 0) + n
            self._bar.refresh()

    def _arms(self, kind: str) -> list[Arm]:
        return [a for a in self.config.arm_list if a.kind == kind]

    # ------------------------------------------------------------------ plan

    def _graph_jobs(self) -> list[tuple[str, BenchItem, StrategyConfig, int, int, list[str]]]:
        """``(split, item, config, budget, seed, arm names)`` of every graph run, deduplicated."""
        jobs = []
        for split, items in self.items.items():
            for item in items:
                for budget in sorted({1, *self.config.tree_budgets}):
                    by_key: dict[str, tuple[StrategyConfig, list[str]]] = {}
                    for arm in self._arms("graph"):
                        cfg = arm.config(budget)
                        if cfg is not None:
                            by_key.setdefault(config_key(cfg), (cfg, []))[1].append(arm.name)
                    for cfg, names in by_key.values():
                        seeds = 1 if cfg.strategy == "greedy" else self.config.graph_seeds
                        for seed in range(seeds):
                            jobs.append((split, item, cfg, budget, seed, names))
        return jobs

    def _pool_rows_missing(self, split: str, item: BenchItem, have: set[ResultKey]) -> bool:
        for arm in self._arms("pool") + self._arms("revision_pool"):
            for budget in self._pool_budgets(arm):
                for seed in range(self.config.seeds):
                    if ResultKey(split, item.qid, arm.name, budget, seed) not in have:
                        return True
        return False

    def _pool_budgets(self, arm: Arm) -> list[int]:
        budgets = arm.budgets(self.config.budgets)
        if arm.kind == "revision_pool":
            c = self.config
            budgets = [
                b
                for b in budgets
                if arm.sequential <= c.revision_length and b // arm.sequential <= c.revision_chains
            ]
        return budgets

    # ------------------------------------------------------------------ run

    def run(self) -> RunSummary:
        """Run every stage; returns what was computed and how long it took."""
        from tqdm.auto import tqdm

        summary = RunSummary()
        started = time.perf_counter()
        # The models behind the results: a policy fitted on them names them.
        self.cache.set_meta("fitted_for", run_models(self.models.generator, self.models.verifier))
        # A sitting is on record from its start: a killed one stays, unfinished.
        self.cache.add_session(
            {"preset": self.config.name, "concurrency": self.concurrency, "finished": False}
        )
        have = self.cache.result_keys()
        pools = self.cache.pool_keys()
        graph_jobs = self._graph_jobs()
        n_questions = sum(len(v) for v in self.items.values())
        with tqdm(
            total=n_questions + len(graph_jobs),
            unit="unit",
            file=sys.stderr,
            disable=not self.progress,
            dynamic_ncols=True,
        ) as bar:
            self._bar = bar
            t = time.perf_counter()
            self._run_pools(summary, have, pools)
            summary.wall_s["pools"] = time.perf_counter() - t
            t = time.perf_counter()
            self._run_graphs(summary, graph_jobs, have)
            summary.wall_s["graphs"] = time.perf_counter() - t
            t = time.perf_counter()
            policy = self._policy(summary)
            summary.wall_s["fit"] = time.perf_counter() - t
            t = time.perf_counter()
            if self.config.router and policy is not None:
                self._run_router(summary, policy, have)
            summary.wall_s["router"] = time.perf_counter() - t
            t = time.perf_counter()
            if self.config.large and self.models.large is not None:
                self._run_reference(summary, have)
            summary.wall_s["reference"] = time.perf_counter() - t
            self._bar = None
        summary.wall_s["total"] = time.perf_counter() - started
        summary.policy = policy
        self.cache.finish_session(
            {
                "preset": self.config.name,
                "concurrency": self.concurrency,
                "computed": summary.computed,
                "cached": summary.cached,
                "wall_s": {k: round(v, 3) for k, v in summary.wall_s.items()},
                "finished": True,
            }
        )
        return summary

    def _count(self, summary: RunSummary, stage: str, computed: bool) -> None:
        target = summary.computed if computed else summary.cached
        target[stage] = target.get(stage, 0) + 1
        self._tick(stage)

    def _run_pools(
        self, summary: RunSummary, have: set[ResultKey], pools: set[tuple[str, str, str]]
    ) -> None:
        c = self.config
        kind = sample_pool_kind(c)
        rkind = revision_pool_kind(c)
        need_revisions = bool(self._arms("revision_pool"))
        revision_graph: Any = None
        recorders: tuple[RecordingGenerator, RecordingGenerator] | None = None
        for split, items in self.items.items():
            for item in items:
                fresh = False
                if (split, item.qid, kind) not in pools:
                    pool = build_sample_pool(
                        self.models,
                        item,
                        size=c.pool_size,
                        seed=question_seed(item.qid, 0),
                        checker=self.checker,
                        temperature=c.temperature,
                        max_tokens=c.max_tokens,
                    )
                    self.cache.put_pool(split, item.qid, kind, pool)
                    fresh = True
                if need_revisions and (split, item.qid, rkind) not in pools:
                    if revision_graph is None:
                        from langgraph_ttc.strategies import create_revision_graph

                        policy_rec = RecordingGenerator(self.models.generator)
                        reviser_rec = RecordingGenerator(
                            self.models.reviser or self.models.generator
                        )
                        recorders = (policy_rec, reviser_rec)
                        plan = StrategyConfig(
                            "revise",
                            n=c.revision_chains * c.revision_length,
                            sequential=c.revision_length,
                        )
                        revision_graph = create_revision_graph(
                            policy_rec,
                            verifier=self.models.verifier,
                            reviser=reviser_rec,
                            config=plan,
                        ).compile()
                    assert recorders is not None
                    rpool = build_revision_pool(
                        revision_graph,
                        recorders,
                        self.models,
                        item,
                        chains=c.revision_chains,
                        length=c.revision_length,
                        seed=question_seed(item.qid, 0),
                        checker=self.checker,
                        max_tokens=c.max_tokens,
                    )
                    self.cache.put_pool(split, item.qid, rkind, rpool)
                    fresh = True
                if self._pool_rows_missing(split, item, have):
                    t = time.perf_counter()
                    self._derive(split, item, have)
                    spent = time.perf_counter() - t
                    summary.wall_s["derive"] = summary.wall_s.get("derive", 0.0) + spent
                    fresh = True
                self._count(summary, "pools", fresh)

    def _derive(self, split: str, item: BenchItem, have: set[ResultKey]) -> None:
        """Write the voting and revision arms' results from the question's pools."""
        c = self.config
        pool = self.cache.get_pool(split, item.qid, sample_pool_kind(c))
        rpool = (
            self.cache.get_pool(split, item.qid, revision_pool_kind(c))
            if self._arms("revision_pool")
            else None
        )
        with memoized_answers():
            rows = self._derive_rows(split, item, pool, rpool, have)
        self.cache.put_results(rows)

    def _derive_rows(
        self,
        split: str,
        item: BenchItem,
        pool: Any,
        rpool: Any,
        have: set[ResultKey],
    ) -> list[tuple[ResultKey, dict[str, Any]]]:
        c = self.config
        rows = []
        for arm in self._arms("pool") + self._arms("revision_pool"):
            source = pool if arm.kind == "pool" else rpool
            derive = pool_result if arm.kind == "pool" else revision_result
            for budget in self._pool_budgets(arm):
                for seed in range(c.seeds):
                    key = ResultKey(split, item.qid, arm.name, budget, seed)
                    if key in have:
                        continue
                    payload = derive(
                        arm, source, item.qid, item.reference, budget, seed, self.checker
                    )
                    rows.append((key, payload))
                    have.add(key)
        return rows

    def _run_graphs(
        self,
        summary: RunSummary,
        jobs: Sequence[tuple[str, BenchItem, StrategyConfig, int, int, list[str]]],
        have: set[ResultKey],
    ) -> None:
        from langgraph_ttc.strategies import create_strategy_graph

        units = []
        for split, item, cfg, budget, seed, names in jobs:
            keys = [ResultKey(split, item.qid, name, budget, seed) for name in names]
            if all(k in have for k in keys):
                self._count(summary, "graphs", False)
                continue
            key = config_key(cfg)
            if key not in self._graphs:
                self._graphs[key] = create_strategy_graph(
                    cfg,
                    self.models.generator,
                    verifier=self.models.verifier,
                    reviser=self.models.reviser,
                ).compile()
            graph = self._graphs[key]
            units.append(
                GraphUnit("graphs", graph, item, budget, seed, keys, {"config": cfg.to_dict()})
            )
        self._execute(summary, units, have)

    def _policy(self, summary: RunSummary) -> ComputePolicy | None:
        if self.policy is not None:
            return self.policy
        c = self.config
        if not c.router:
            return None
        if c.fit_split is None:
            return ComputePolicy.default()
        fitted = fit_router_policy(self.cache, c, self.items[c.fit_split])
        summary.policy_fit = fitted
        if self.policy_out is not None:
            self.policy_out.parent.mkdir(parents=True, exist_ok=True)
            fitted.policy.save(self.policy_out)
        return fitted.policy

    def _run_router(self, summary: RunSummary, policy: ComputePolicy, have: set[ResultKey]) -> None:
        from langgraph_ttc.strategies.compute_optimal import create_ttc_graph

        c = self.config
        name = router_arm(policy)
        self.cache.set_meta(policy_meta_key(name), policy.to_dict())
        # Which router arm this sweep ran: `--report-only` reports it, whatever a refit says.
        self.cache.set_meta(ROUTER_META_KEY, name)
        items = self.items[c.eval_split]
        jobs = [(i, b, s) for i in items for b in c.router_budgets for s in range(c.graph_seeds)]
        self._grow(len(jobs))
        graph = self._graph(
            name,
            lambda: create_ttc_graph(
                self.models.generator,
                verifier=self.models.verifier,
                reviser=self.models.reviser,
                policy=policy,
            ),
        )
        units = []
        for item, budget, seed in jobs:
            key = ResultKey(c.eval_split, item.qid, name, budget, seed)
            if key in have:
                self._count(summary, "router", False)
                continue
            units.append(GraphUnit("router", graph, item, budget, seed, [key]))
        self._execute(summary, units, have)

    def _run_reference(self, summary: RunSummary, have: set[ResultKey]) -> None:
        from langgraph_ttc.strategies import create_best_of_n_graph

        c = self.config
        large = self.models.large
        assert large is not None
        items = self.items[c.eval_split]
        self._grow(len(items))
        greedy = StrategyConfig("greedy", n=1, temperature=0.0)
        graph = self._graph(LARGE_GREEDY, lambda: create_best_of_n_graph(large, config=greedy))
        units = []
        for item in items:
            key = ResultKey(c.eval_split, item.qid, LARGE_GREEDY, 1, 0)
            if key in have:
                self._count(summary, "reference", False)
                continue
            units.append(GraphUnit("reference", graph, item, 1, 0, [key], {"params": large.params}))
        self._execute(summary, units, have)

    # ------------------------------------------------------------------ executing graph runs

    def _store(self, summary: RunSummary, unit: GraphUnit, payload: dict[str, Any]) -> None:
        """Commit one finished unit at once (a kill never loses it)."""
        payload.update(unit.extra)
        if self._in_flight > 1:
            payload["concurrency"] = self._in_flight
        self.cache.put_results([(k, payload) for k in unit.keys])
        summary.computed[unit.stage] = summary.computed.get(unit.stage, 0) + 1
        self._tick(unit.stage)

    def _execute(
        self, summary: RunSummary, units: Sequence[GraphUnit], have: set[ResultKey]
    ) -> None:
        def store(unit: GraphUnit, payload: dict[str, Any]) -> None:
            self._store(summary, unit, payload)
            have.update(unit.keys)

        # A stage with fewer units than `concurrency` never has more than that in flight.
        self._in_flight = min(self.concurrency, len(units))
        m = self.models
        execute_units(
            units,
            store,
            checker=self.checker,
            concurrency=self.concurrency,
            models=(m.generator, m.verifier, m.reviser, m.large),
        )
