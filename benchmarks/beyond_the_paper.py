"""Beyond the paper, measured: adaptive sampling, batch budgets, particle filtering.

On the bundled models (``load_bundled()``: ``policy-small`` samples,
``policy-large``'s step likelihood verifies, ``reviser`` revises) and the
suite's test questions, each arm runs the library's own graph per question
(the batch arm runs ``create_batch_graph`` once over all of them):

* adaptive sampling (majority vote, at most 64, rounds of 4, stop at a 0.75
  share) against majority@64: the issue's target is within 0.02 of its
  accuracy at no more than half its mean generations;
* batch budgets at a mean of 16 generations a question (the shipped policy,
  probes counted) against a flat 16 a question (the router, same seed, so
  the same probes): the target is to beat it;
* particle filtering against beam search (M=4) at N=16 and N=64.

Every run uses the same base seed (``--seed``). Results are cached per arm
and question in a JSON file (``--cache``), so a rerun continues where the
last stopped; the batch arm is one unit. Arms run cheapest first; ``--arms``
picks some. Tree search at N=64 with the default verifier costs ~15 s a
question on one CPU thread.

Run: ``OMP_NUM_THREADS=1 nice -n 10 python benchmarks/beyond_the_paper.py
[--questions 120] [--seed 0] [--threads 1] [--arms ...] [--cache PATH]``.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import re
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any, cast

from tqdm import tqdm

from langgraph_ttc.bench.data import BenchItem, default_checker, is_correct, suite_items
from langgraph_ttc.defaults import load_bundled
from langgraph_ttc.state import TTCContext
from langgraph_ttc.strategies import (
    create_adaptive_graph,
    create_beam_search_graph,
    create_best_of_n_graph,
    create_particle_filter_graph,
)
from langgraph_ttc.strategies.batch_budget import create_batch_graph
from langgraph_ttc.strategies.compute_optimal import create_ttc_graph
from langgraph_ttc.types import Budget, StrategyConfig

ARMS: dict[str, str] = {
    "majority@64": "majority vote over 64 samples",
    "adaptive@64": "adaptive sampling, majority, cap 64, rounds of 4, stop share 0.75",
    "adaptive@64/s0.6": "the same, stop share 0.6",
    "adaptive@64/s0.5": "the same, stop share 0.5",
    "adaptive@64/p": "adaptive, majority, cap 64: posterior stop 0.95, give up after 32 under 0.4",
    "weighted@64": "best-of-N weighted by the verifier, 64 samples",
    "adaptive@64/w": "adaptive sampling, verifier-weighted vote, cap 64, rounds of 4, share 0.75",
    "adaptive@64/w0.9": "the same, stop share 0.9",
    "flat@16": "the router at 16 generations per question (shipped policy)",
    "batch@16": "batch budget, a mean of 16 per question (create_batch_graph)",
    "beam@16": "beam search N=16 M=4",
    "particle@16": "particle filtering N=16",
    "beam@64": "beam search N=64 M=4",
    "particle@64": "particle filtering N=64",
}
"""Arms, cheapest first. ``adaptive@64/r<R>/s<S>`` names another adaptive setting
(rounds of R, stop share S), to choose one on the validation split (``--split``)."""

_ADAPTIVE = re.compile(r"^adaptive@64/r(\d+)/s(0?\.\d+|1)$")


def _adaptive(arm: str, gen: Any) -> Any:
    """The graph of an ``adaptive@64/r<R>/s<S>`` arm."""
    m = _ADAPTIVE.match(arm)
    assert m is not None
    config = StrategyConfig(
        "adaptive",
        n=64,
        round_size=int(m.group(1)),
        stop_share=float(m.group(2)),
        selection="majority",
    )
    return create_adaptive_graph(gen, config=config).compile()


_KEYS = ["answer", "status", "usage", "strategy"]


def _graphs(models: Any) -> dict[str, tuple[Any, int | None]]:
    """Each per-question arm's compiled graph and its budget (``None``: the plan's own)."""
    gen, ver, rev = models

    def tree(strategy: str, n: int) -> Any:
        config = StrategyConfig(strategy, n=n, beam_width=4)
        build = create_beam_search_graph if strategy == "beam" else create_particle_filter_graph
        return build(gen, verifier=ver, config=config).compile()

    return {
        "majority@64": (
            create_best_of_n_graph(
                gen, config=StrategyConfig("majority", n=64, selection="majority")
            ).compile(),
            None,
        ),
        **{
            arm: (
                create_adaptive_graph(
                    gen,
                    config=StrategyConfig(
                        "adaptive", n=64, round_size=4, stop_share=share, selection="majority"
                    ),
                ).compile(),
                None,
            )
            for arm, share in (
                ("adaptive@64", 0.75),
                ("adaptive@64/s0.6", 0.6),
                ("adaptive@64/s0.5", 0.5),
            )
        },
        # Chosen by simulation on the validation split's cached 256-sample pools.
        "adaptive@64/p": (
            create_adaptive_graph(
                gen,
                config=StrategyConfig(
                    "adaptive",
                    n=64,
                    round_size=4,
                    selection="majority",
                    stop_confidence=0.95,
                    give_up_after=32,
                    give_up_share=0.4,
                ),
            ).compile(),
            None,
        ),
        "weighted@64": (
            create_best_of_n_graph(
                gen, verifier=ver, config=StrategyConfig("best_of_n", n=64, selection="weighted")
            ).compile(),
            None,
        ),
        **{
            arm: (
                create_adaptive_graph(
                    gen,
                    verifier=ver,
                    config=StrategyConfig(
                        "adaptive", n=64, round_size=4, stop_share=share, selection="weighted"
                    ),
                ).compile(),
                None,
            )
            for arm, share in (("adaptive@64/w", 0.75), ("adaptive@64/w0.9", 0.9))
        },
        "flat@16": (create_ttc_graph(gen, verifier=ver, reviser=rev).compile(), 16),
        "beam@16": (tree("beam", 16), None),
        "particle@16": (tree("particle_filter", 16), None),
        "beam@64": (tree("beam", 64), None),
        "particle@64": (tree("particle_filter", 64), None),
    }


class Cache:
    """Per-arm, per-question results in one JSON file, rewritten atomically after each."""

    def __init__(self, path: Path, seed: int) -> None:
        self.path = path
        self.data: dict[str, Any] = {"seed": seed, "arms": {}}
        if path.is_file():
            data = json.loads(path.read_text())
            if data.get("seed") != seed:
                raise SystemExit(f"{path} holds seed {data.get('seed')}, not {seed}: use --cache")
            self.data = data

    def get(self, arm: str, qid: str) -> dict[str, Any] | None:
        return self.data["arms"].get(arm, {}).get(qid)

    def put(self, arm: str, qid: str, row: dict[str, Any]) -> None:
        self.data["arms"].setdefault(arm, {})[qid] = row
        tmp = self.path.with_suffix(".tmp")
        tmp.write_text(json.dumps(self.data))
        os.replace(tmp, self.path)


def _row(out: dict[str, Any], item: BenchItem, wall: float) -> dict[str, Any]:
    usage = out.get("usage") or {}
    return {
        "correct": is_correct(default_checker, out.get("answer"), item.reference),
        "answer": out.get("answer"),
        "status": out.get("status"),
        "strategy": out.get("strategy"),
        "generations": float(usage.get("generations", 0.0)),
        "verifier_tokens": int(usage.get("verifier_tokens", 0)),
        "wall_s": round(wall, 3),
    }


def run_arm(
    arm: str, graph: Any, budget: int | None, items: list[BenchItem], cache: Cache, seed: int
) -> None:
    """Run one per-question arm on every question not cached yet."""
    todo = [i for i in items if cache.get(arm, i.qid) is None]
    for item in tqdm(todo, desc=arm, unit="q", leave=False):
        ctx = TTCContext(seed=seed, budget=Budget(generations=budget) if budget else None)
        start = time.perf_counter()
        out = graph.invoke({"question": item.question}, context=ctx, output_keys=_KEYS)
        cache.put(arm, item.qid, _row(out, item, time.perf_counter() - start))


def run_batch(models: Any, items: list[BenchItem], cache: Cache, seed: int, mean: int) -> None:
    """The batch arm: one ``create_batch_graph`` run over every question (one cache unit)."""
    arm = f"batch@{mean}"
    if all(cache.get(arm, i.qid) is not None for i in items):
        return
    gen, ver, rev = models
    graph = create_batch_graph(gen, verifier=ver, reviser=rev).compile()
    ctx = TTCContext(seed=seed, budget=Budget(generations=mean * len(items)))
    bar = tqdm(total=len(items), desc=arm, unit="q", leave=False)
    start = time.perf_counter()
    out: dict[str, Any] = {}
    for mode, data in graph.stream(
        {"questions": [i.question for i in items]},
        context=ctx,
        stream_mode=["updates", "values"],
    ):
        if mode == "values":
            out = cast(dict[str, Any], data)
            continue
        for update in cast(dict[str, Any], data).values():
            bar.update(len((update or {}).get("results") or []))
    bar.close()
    wall = time.perf_counter() - start
    for item, res in zip(items, out["results"], strict=True):
        row = _row(dict(res), item, wall / len(items))
        row["budget"] = res.get("budget")
        row["difficulty"] = res.get("difficulty")
        cache.put(arm, item.qid, row)


def _summary(rows: list[dict[str, Any]]) -> tuple[float, float, float, float]:
    n = len(rows)
    acc = sum(r["correct"] for r in rows) / n
    z = 1.96
    centre = (acc + z * z / (2 * n)) / (1 + z * z / n)
    half = z * math.sqrt(acc * (1 - acc) / n + z * z / (4 * n * n)) / (1 + z * z / n)
    return acc, centre - half, centre + half, sum(r["generations"] for r in rows) / n


def report(cache: Cache, items: list[BenchItem]) -> None:
    """Print each arm's accuracy and mean generations, and the issue's three comparisons."""
    stats: dict[str, tuple[float, float, float, float, int]] = {}
    print(f"{'arm':<13} {'q':>4} {'accuracy':>9} {'95% CI':>15} {'mean gens':>10}  what")
    extra = sorted({a for a in cache.data["arms"] if _ADAPTIVE.match(a)})
    for arm, what in {**ARMS, **{a: "adaptive, another setting" for a in extra}}.items():
        rows = [r for i in items if (r := cache.get(arm, i.qid)) is not None]
        if not rows:
            continue
        acc, lo, hi, gens = _summary(rows)
        stats[arm] = (acc, lo, hi, gens, len(rows))
        print(f"{arm:<13} {len(rows):>4} {acc:>9.3f} [{lo:.3f}, {hi:.3f}] {gens:>10.2f}  {what}")

    def paired(a: str, b: str, show: Callable[[float, float, float, float, int], str]) -> None:
        ids = [i.qid for i in items if cache.get(a, i.qid) and cache.get(b, i.qid)]
        if not ids:
            return
        ra = [cache.get(a, q) for q in ids]
        rb = [cache.get(b, q) for q in ids]
        acc_a = sum(r["correct"] for r in ra if r) / len(ids)
        acc_b = sum(r["correct"] for r in rb if r) / len(ids)
        gen_a = sum(r["generations"] for r in ra if r) / len(ids)
        gen_b = sum(r["generations"] for r in rb if r) / len(ids)
        print(
            f"{a} vs {b} on the same {len(ids)} questions: "
            + show(acc_a, acc_b, gen_a, gen_b, len(ids))
        )

    print()
    for arm in (
        "adaptive@64",
        "adaptive@64/s0.6",
        "adaptive@64/s0.5",
        "adaptive@64/p",
        "adaptive@64/w",
        "adaptive@64/w0.9",
        *extra,
    ):
        paired(
            arm,
            "majority@64",
            lambda a, b, ga, gb, n: (
                f"accuracy {a:.3f} vs {b:.3f} ({a - b:+.3f}; target >= -0.02), "
                f"generations {ga:.1f} vs {gb:.1f} ({ga / gb:.2f}x; target <= 0.5x): "
                + ("MET" if a >= b - 0.02 and ga <= 0.5 * gb else "NOT MET")
            ),
        )
    paired(
        "batch@16",
        "flat@16",
        lambda a, b, ga, gb, n: (
            f"accuracy {a:.3f} vs {b:.3f} ({a - b:+.3f}; target > 0), "
            f"generations {ga:.1f} vs {gb:.1f}: " + ("MET" if a > b else "NOT MET")
        ),
    )
    for n in (16, 64):
        paired(
            f"particle@{n}",
            f"beam@{n}",
            lambda a, b, ga, gb, q: (
                f"accuracy {a:.3f} vs {b:.3f} ({a - b:+.3f}), generations {ga:.1f} vs {gb:.1f}"
            ),
        )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--questions", type=int, default=120, help="test questions (default 120)")
    parser.add_argument("--seed", type=int, default=0, help="base seed of every run (default 0)")
    parser.add_argument("--threads", type=int, default=1, help="torch CPU threads (default 1)")
    parser.add_argument(
        "--arms",
        default=",".join(ARMS),
        help=f"comma-separated arms (default all: {','.join(ARMS)})",
    )
    parser.add_argument(
        "--cache", type=Path, default=Path("beyond_the_paper.json"), help="results cache (JSON)"
    )
    parser.add_argument(
        "--split", default="test", help="suite split (default test; validation to choose settings)"
    )
    parser.add_argument("--report-only", action="store_true", help="print from the cache only")
    args = parser.parse_args()
    arms = [a.strip() for a in args.arms.split(",") if a.strip()]
    unknown = [a for a in arms if a not in ARMS and not _ADAPTIVE.match(a)]
    if unknown:
        parser.error(f"unknown arms {unknown}; choose from {list(ARMS)}")
    items = suite_items(args.split, args.questions, seed=0)
    cache = Cache(args.cache, args.seed)
    if not args.report_only:
        import torch

        torch.set_num_threads(args.threads)
        models = load_bundled("cpu")
        print(
            f"models: bundled policy-small, {models.verifier.name} (verifier), reviser; "
            f"{len(items)} {args.split} questions; seed {args.seed}; cache {args.cache}",
            flush=True,
        )
        graphs = _graphs(models)
        for arm in arms:
            if arm.startswith("batch@"):
                run_batch(models, items, cache, args.seed, int(arm.split("@")[1]))
            elif _ADAPTIVE.match(arm):
                run_arm(arm, _adaptive(arm, models.generator), None, items, cache, args.seed)
            else:
                graph, budget = graphs[arm]
                run_arm(arm, graph, budget, items, cache, args.seed)
    report(cache, items)


if __name__ == "__main__":
    main()
