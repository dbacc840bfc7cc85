"""Results of the voting and revision arms, computed from cached pools.

Best-of-N and majority voting at budget N take a seeded subset of N samples
of the question's pool; revisions with ``s`` sequential attempts at budget N
take a seeded subset of ``N / s`` chains, each cut to ``s`` attempts. The
subset becomes candidates and the library's ``select_answer`` (the ``select``
node's own rule: flat weighted/majority/max, or the paper's hierarchical
selection for revisions) picks the answer. All pool arms at one (budget,
seed) see the same subset, so they are compared on the same samples.

The cost of a subset is what drawing it would have cost: N generations, the
subset's own prompt and generated tokens, FLOPs = 2 x params x tokens, and,
for the arms that use the verifier, the subset's verifier tokens and FLOPs.
"""

from __future__ import annotations

import functools
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from typing import Any

from langgraph_ttc.bench.arms import Arm
from langgraph_ttc.bench.data import Checker, is_correct
from langgraph_ttc.bench.stats import rng_for
from langgraph_ttc.strategies.factory import select_answer
from langgraph_ttc.types import Candidate, fold_scores

__all__ = ["memoized_answers", "pool_result", "revision_result", "sample_candidate", "subset"]


@contextmanager
def memoized_answers() -> Iterator[None]:
    """Memoise ``answers.canonical`` and ``answers.answers_equal`` inside the block.

    Both are pure functions of strings, so results are unchanged; but
    ``group_answers`` compares every new answer with every group, which for
    thousands of subsets of a 256-sample pool of a weak model (many distinct
    answers) dominates the run. The originals are restored on exit.
    """
    from langgraph_ttc import answers

    saved = answers.canonical, answers.answers_equal
    answers.canonical = functools.lru_cache(maxsize=1 << 16)(saved[0])  # type: ignore[assignment]
    answers.answers_equal = functools.lru_cache(maxsize=1 << 16)(saved[1])  # type: ignore[assignment]
    try:
        yield
    finally:
        answers.canonical, answers.answers_equal = saved


def subset(qid: str, size: int, budget: int, seed: int) -> list[int]:
    """The pool indices a (question, budget, seed) uses, in draw order (sorted).

    Raises:
        ValueError: If the budget exceeds the pool.
    """
    if budget > size:
        raise ValueError(f"budget {budget} exceeds the pool of {size} samples")
    return sorted(rng_for("subset", qid, budget, seed).sample(range(size), budget))


def sample_candidate(
    sample: Mapping[str, Any],
    cid: str,
    fold: str,
    *,
    source: str = "sample",
    group: int | None = None,
) -> Candidate:
    """A stored sample as the finished, scored candidate the graph would hold."""
    steps = list(sample["steps"])
    cand = Candidate(
        id=cid,
        text=sample["text"],
        steps=sample["text"].split("\n") if sample["text"] else [],
        done=True,
        answer=sample["answer"],
        score=fold_scores(steps, fold) if steps else 0.0,  # type: ignore[arg-type]
        step_scores=steps,
        source=source,
        active=False,
    )
    if group is not None:
        cand["group"] = group
    return cand


def _cost(
    samples: Sequence[Mapping[str, Any]],
    params: Sequence[int | None],
    *,
    generations: int,
    verified: bool,
    verifier_flops_per_token: float,
) -> dict[str, Any]:
    prompt = sum(int(s["pt"]) for s in samples)
    generated = sum(int(s["ct"]) for s in samples)
    flops = sum(
        2.0 * p * (int(s["pt"]) + int(s["ct"])) for s, p in zip(samples, params, strict=True) if p
    )
    vt = sum(int(s["vt"]) for s in samples) if verified else 0
    return {
        "generations": float(generations),
        "prompt_tokens": prompt,
        "generated_tokens": generated,
        "flops": flops,
        "verifier_calls": 1 if verified and vt else 0,
        "verifier_tokens": vt,
        "verifier_flops": vt * verifier_flops_per_token,
    }


def _per_token(pool: Mapping[str, Any]) -> float:
    tokens = int(pool.get("verifier_tokens") or 0)
    return float(pool.get("verifier_flops") or 0.0) / tokens if tokens else 0.0


def pool_result(
    arm: Arm,
    pool: Mapping[str, Any],
    qid: str,
    reference: str,
    budget: int,
    seed: int,
    checker: Checker,
) -> dict[str, Any]:
    """The result of a voting arm at (budget, seed), from the question's sample pool.

    Raises:
        ValueError: If the arm has no config at ``budget`` or the pool is too small.
    """
    config = arm.config(budget)
    if config is None:
        raise ValueError(f"arm {arm.name!r} does not exist at budget {budget}")
    samples = pool["samples"]
    chosen = [samples[i] for i in subset(qid, len(samples), budget, seed)]
    cands = [sample_candidate(s, f"sample-{j}", config.fold) for j, s in enumerate(chosen)]
    verified = config.strategy == "best_of_n"
    answer, confidence, _, rule = select_answer(config, cands, verified=verified)
    out = {
        "correct": is_correct(checker, answer, reference),
        "answer": answer,
        "confidence": confidence,
        "selection": rule,
        "status": "done" if answer is not None else "no_candidates",
        "wall_s": float(pool.get("wall_s", 0.0)) * budget / len(samples),
        "source": "pool",
    }
    out.update(
        _cost(
            chosen,
            [pool.get("params")] * len(chosen),
            generations=budget,
            verified=verified,
            verifier_flops_per_token=_per_token(pool),
        )
    )
    return out


def revision_result(
    arm: Arm,
    pool: Mapping[str, Any],
    qid: str,
    reference: str,
    budget: int,
    seed: int,
    checker: Checker,
) -> dict[str, Any]:
    """The result of a revision arm at (budget, seed), from the question's revision pool.

    Raises:
        ValueError: If the arm has no config at ``budget``, or the pool has
            too few chains or too short ones.
    """
    config = arm.config(budget)
    if config is None:
        raise ValueError(f"arm {arm.name!r} does not exist at budget {budget}")
    chains_all: list[list[Mapping[str, Any]]] = pool["chains"]
    count, length = budget // config.sequential, config.sequential
    if count > len(chains_all) or length > min(len(c) for c in chains_all):
        raise ValueError(
            f"arm {arm.name!r} at budget {budget} needs {count} chains of {length}; the pool "
            f"holds {len(chains_all)} of {min(len(c) for c in chains_all)}"
        )
    picked = sorted(
        rng_for("chains", qid, budget, length, seed).sample(range(len(chains_all)), count)
    )
    cands: list[Candidate] = []
    used: list[Mapping[str, Any]] = []
    params: list[int | None] = []
    for g, index in enumerate(picked):
        for r, attempt in enumerate(chains_all[index][:length]):
            cid, source = (f"sample-{g}", "sample") if r == 0 else (f"revision-{g}-{r}", "revision")
            cands.append(sample_candidate(attempt, cid, config.fold, source=source, group=g))
            used.append(attempt)
            params.append(pool.get("params") if r == 0 else pool.get("reviser_params"))
    answer, confidence, _, rule = select_answer(config, cands, verified=True)
    out = {
        "correct": is_correct(checker, answer, reference),
        "answer": answer,
        "confidence": confidence,
        "selection": rule,
        "status": "done" if answer is not None else "no_candidates",
        "wall_s": float(pool.get("wall_s", 0.0)) * budget / sum(len(c) for c in chains_all),
        "source": "revision_pool",
    }
    out.update(
        _cost(
            used,
            params,
            generations=budget,
            verified=True,
            verifier_flops_per_token=_per_token(pool),
        )
    )
    return out
