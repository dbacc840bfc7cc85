"""Adaptive sampling's stopping rules, replayed on a sweep's cached sample pools.

``ttc bench`` caches 256 samples a question (``samples:256:...`` pools in
``<out>/cache.sqlite``). This script replays adaptive sampling on them with
the library's own rule (``strategies.adaptive.settled``): for each question
and each of ``--reps`` random orders, rounds of 4 samples until the rule
stops or 64 are in, then a plain majority vote. It prints each rule's
accuracy and mean samples against majority@64 on the same orders, per split,
so a rule can be chosen on the validation split before the test split is
looked at. No model runs; ``benchmarks/beyond_the_paper.py`` then measures
the chosen rule with the real graph.

    python benchmarks/adaptive_stops.py --cache bench-out/cache.sqlite
"""

from __future__ import annotations

import argparse
import json
import random
import sqlite3
from typing import Any

from langgraph_ttc.answers import aggregate
from langgraph_ttc.strategies.adaptive import settled
from langgraph_ttc.types import Candidate, StrategyConfig

CAP, ROUND = 64, 4

RULES: dict[str, dict[str, Any]] = {
    "share 0.75": {},
    "share 0.6": {"stop_share": 0.6},
    "posterior 0.95": {"stop_confidence": 0.95},
    "share 0.75, give up 32/0.4": {"give_up_after": 32, "give_up_share": 0.4},
    "posterior 0.95, give up 32/0.4": {
        "stop_confidence": 0.95,
        "give_up_after": 32,
        "give_up_share": 0.4,
    },
    "posterior 0.95, give up 20/0.4": {
        "stop_confidence": 0.95,
        "give_up_after": 20,
        "give_up_share": 0.4,
    },
}


def load_pools(path: str) -> dict[str, list[list[dict[str, Any]]]]:
    """Each split's sample pools: per question, the cached samples (answer, correct)."""
    db = sqlite3.connect(path)
    pools: dict[str, list[list[dict[str, Any]]]] = {}
    for split, kind, payload in db.execute("SELECT split, kind, payload FROM pools"):
        if kind.startswith("samples:"):
            pools.setdefault(split, []).append(json.loads(payload)["samples"])
    return pools


def replay(pool: list[dict[str, Any]], plan: StrategyConfig | None, seed: int) -> tuple[bool, int]:
    """One adaptive run on a random order of ``pool``: (correct, samples drawn)."""
    order = random.Random(seed).sample(range(len(pool)), CAP)
    cands: list[Candidate] = []
    for k in range(CAP):
        s = pool[order[k]]
        cands.append({"id": f"s{k}", "answer": s["answer"], "done": True, "score": None})  # type: ignore[typeddict-item]
        if (k + 1) % ROUND == 0 and plan is not None and settled(plan, cands, verified=False):
            break
    answer, _, _ = aggregate(cands, selection="majority")
    right = {s["answer"]: s["correct"] for s in pool if s["answer"] is not None}
    return bool(answer is not None and right.get(answer)), len(cands)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--cache", required=True, help="a ttc bench cache.sqlite")
    parser.add_argument("--reps", type=int, default=20, help="random orders per question")
    args = parser.parse_args()
    pools = load_pools(args.cache)
    for split in sorted(pools, key=lambda s: s != "validation"):
        qs = pools[split]
        runs = [(q, r) for q in range(len(qs)) for r in range(args.reps)]
        base = sum(replay(qs[q], None, r)[0] for q, r in runs) / len(runs)
        print(f"{split}: {len(qs)} questions x {args.reps} orders; majority@64 {base:.3f}")
        for name, settings in RULES.items():
            plan = StrategyConfig(
                "adaptive", n=CAP, round_size=ROUND, selection="majority", **settings
            )
            got = [replay(qs[q], plan, r) for q, r in runs]
            acc = sum(c for c, _ in got) / len(got)
            mean = sum(n for _, n in got) / len(got)
            print(
                f"  {name:<32} accuracy {acc:.3f} ({acc - base:+.3f})  "
                f"samples {mean:5.1f} ({mean / CAP:.2f}x)"
            )


if __name__ == "__main__":
    main()
