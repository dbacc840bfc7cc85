"""How long ``answers.group_answers`` takes on large pools: one pass against the old scan.

Three pools of 256 answers: all distinct integers (the worst case of the old
pairwise scan), a realistic vote (a few answers repeated, the bundled task's
shape), and LaTeX-ish texts (where math-verify, when installed, is still
asked about each new text against earlier ones, as ``answers_equal`` is).
The old function is reproduced here as the reference; both must agree.

Run: ``python benchmarks/answer_grouping.py [--reps 5]``.
"""

from __future__ import annotations

import argparse
import random
import statistics
import time
from collections.abc import Callable, Sequence

from langgraph_ttc import answers
from langgraph_ttc.answers import answers_equal, canonical, group_answers


def pairwise_groups(pool: Sequence[str | None]) -> dict[str, list[int]]:
    """The former ``group_answers``: each new form scans every earlier group."""
    groups: dict[str, list[int]] = {}
    for i, answer in enumerate(pool):
        if answer is None:
            continue
        key = canonical(answer)
        if not key:
            continue
        if key not in groups:
            key = next((rep for rep in groups if answers_equal(rep, key)), key)
        groups.setdefault(key, []).append(i)
    return groups


def _pools(seed: int) -> dict[str, list[str | None]]:
    rng = random.Random(seed)
    return {
        "256 distinct integers": [str(k * 7 - 300) for k in range(256)],
        "256 votes, 12 answers": [str(rng.choice(range(12)) * 11) for _ in range(256)],
        "256 texts, 16 distinct": [f"x^{rng.randrange(16)}+1" for _ in range(256)],
    }


def _time(fn: Callable[[list[str | None]], object], pool: list[str | None], reps: int) -> float:
    runs = []
    for _ in range(reps):
        # Cold caches each time: a new question's answers are new strings.
        for cached in ("_canonical_cached", "_number", "_math_verify_equal", "_math_verify_parse"):
            clear = getattr(getattr(answers, cached, None), "cache_clear", None)
            if clear is not None:
                clear()
        start = time.perf_counter()
        fn(pool)
        runs.append(time.perf_counter() - start)
    return statistics.median(runs)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--reps", type=int, default=5)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()
    print(f"{'pool':<26} {'one pass (ms)':>14} {'pairwise (ms)':>14} {'same':>6}")
    for name, pool in _pools(args.seed).items():
        same = group_answers(pool) == pairwise_groups(pool)
        new = _time(group_answers, pool, args.reps) * 1e3
        old = _time(pairwise_groups, pool, args.reps) * 1e3
        print(f"{name:<26} {new:>14.2f} {old:>14.2f} {same!s:>6}")


if __name__ == "__main__":
    main()
