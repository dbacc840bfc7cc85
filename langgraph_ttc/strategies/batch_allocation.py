"""The batch budget's rule: how many probes, who gets the rest, and which plan each runs.

Pure functions of their arguments, used by ``create_batch_graph``
(``batch_budget.py``) and testable without a model:

* :func:`probes_per_question`: the router's estimator share of the mean
  budget (4 probes a question at a mean of 16, none under 4).
* :func:`allocate_budgets`: each question's budget, probes included. What
  the probes left is handed out ``step`` generations at a time (4 by
  default: one revision chain, one beam's expansions, one adaptive round)
  to the question furthest below its weighted share, the harder first on
  ties. The weight is by predicted bin (``DEFAULT_WEIGHTS``): a question the
  router predicts easy (bin 1) weighs 0 and answers from its probes alone,
  so what it would have spent goes to the others. No question gets more
  than ``max_share`` times the mean budget. The sum never exceeds the total.
* :func:`question_plan`: the plan a question runs at its budget: a vote
  over its probes when it got nothing more, else the policy's plan for its
  bin, scaled to the budget (:func:`scale_plan`) and fitted with its probes.
"""

from __future__ import annotations

import heapq
import math
from collections.abc import Collection, Mapping, Sequence
from dataclasses import replace

from langgraph_ttc.router.planning import available_plan, fit_after_probes, fit_plan
from langgraph_ttc.router.policy import ComputePolicy
from langgraph_ttc.types import StrategyConfig

__all__ = [
    "DEFAULT_WEIGHTS",
    "allocate_budgets",
    "check_options",
    "probes_per_question",
    "question_plan",
    "scale_plan",
]

DEFAULT_WEIGHTS: Mapping[int, float] = {1: 0.0, 2: 1.0, 3: 1.0, 4: 1.0, 5: 1.0}
"""Share of the budget left after the probes, per predicted bin (1 = easiest).

Bin 1 answers from its probes: on the bundled models its questions pass
about 3 samples in 4, so the probes' vote settles them. A question with no
estimate weighs 1.
"""


def probes_per_question(total: int, questions: int, *, k: int = 4, fraction: float = 0.25) -> int:
    """Probes each question draws: ``min(k, floor(fraction * total / questions))``.

    The router's own share (``VerifierDifficulty``): 4 probes at a mean of 16
    generations a question, 1 at a mean of 4, none below.
    """
    return max(0, min(k, math.floor(fraction * total / questions + 1e-9)))


def check_options(weights: Mapping[int, float], step: int, max_share: float) -> None:
    """Check the allocation's options (see :func:`allocate_budgets`).

    Raises:
        TypeError: If ``weights`` is not a mapping.
        ValueError: For a weight that is negative or not finite, a step
            below 1 or a share below 1.
    """
    if not isinstance(weights, Mapping):
        raise TypeError(f"weights must be a mapping bin -> weight, got {type(weights).__name__}")
    for b, w in weights.items():
        if (
            isinstance(w, bool)
            or not isinstance(w, int | float)
            or not (math.isfinite(w) and w >= 0)
        ):
            raise ValueError(f"weights[{b!r}] must be a finite number >= 0, got {w!r}")
    if isinstance(step, bool) or not isinstance(step, int) or step < 1:
        raise ValueError(f"step must be a positive int, got {step!r}")
    if isinstance(max_share, bool) or not isinstance(max_share, int | float) or not max_share >= 1:
        raise ValueError(f"max_share must be a number >= 1, got {max_share!r}")


def allocate_budgets(
    total: int,
    spent: Sequence[float],
    difficulties: Sequence[int | None],
    *,
    weights: Mapping[int, float] = DEFAULT_WEIGHTS,
    step: int = 4,
    max_share: float = 4.0,
) -> list[int]:
    """Each question's total budget in generations (what it ``spent`` included).

    Args:
        total: The batch's budget in generations.
        spent: Generations each question has already spent (its probes).
        difficulties: Each question's predicted bin (1..5), or ``None``.
        weights: Weight per bin of what is left after the probes; a bin not
            named (and ``None``) weighs 1. When every weight is 0, all weigh 1.
        step: Generations handed out at a time (the remainder goes one by one).
        max_share: No question gets more than this times the mean budget.

    Returns:
        One budget per question, each at least ``max(1, spent)``, summing to
        at most ``total`` (less only when every question reached its cap).

    Raises:
        ValueError: For lengths that differ, a total below what the questions
            need at least, a negative weight, or a step or share below 1.
    """
    n = len(spent)
    if n == 0:
        raise ValueError("allocate_budgets needs at least one question")
    if len(difficulties) != n:
        raise ValueError(f"got {n} spent values but {len(difficulties)} difficulties")
    check_options(weights, step, max_share)
    alloc = [max(1, math.ceil(s - 1e-9)) for s in spent]
    left = total - sum(alloc)
    if left < 0:
        raise ValueError(
            f"a budget of {total} generations is below what the {n} questions need "
            f"at least ({sum(alloc)}: their probes, and one generation each)"
        )
    cap = max(max(alloc), math.floor(max_share * total / n))
    weight = [1.0 if d is None else float(weights.get(d, 1.0)) for d in difficulties]
    if not any(weight):
        weight = [1.0] * n
    # Weighted first; if those all reach their cap, the rest may take what remains.
    base = list(alloc)
    for pool in (weight, [w or 1.0 for w in weight]):
        for size in (step, 1):
            left = _hand_out(alloc, base, pool, difficulties, left, size, cap)
    return alloc


def _hand_out(
    alloc: list[int],
    base: Sequence[int],
    weight: Sequence[float],
    difficulties: Sequence[int | None],
    left: int,
    size: int,
    cap: int,
) -> int:
    """Give ``size`` at a time to the question furthest below its share; return what is left.

    The share is what a question got beyond ``base`` (its probes), over its weight.
    """
    heap = [
        ((alloc[i] - base[i] + size) / weight[i], -(difficulties[i] or 0), i)
        for i in range(len(alloc))
        if weight[i] > 0 and alloc[i] + size <= cap
    ]
    heapq.heapify(heap)
    while heap and left >= size:
        _, hard, i = heapq.heappop(heap)
        alloc[i] += size
        left -= size
        if alloc[i] + size <= cap:
            heapq.heappush(heap, ((alloc[i] - base[i] + size) / weight[i], hard, i))
    return left


def scale_plan(plan: StrategyConfig, budget: int) -> StrategyConfig:
    """``plan`` grown or shrunk to spend ``budget`` generations (greedy stays one).

    The policy's table holds a few budgets (1, 2, 4, ... 256); a question
    allotted 20 would otherwise run the plan for 16 and leave 4 unspent.
    Revisions keep their chain length (whole chains only); tree searches keep
    ``n`` a multiple of ``beam_width``.
    """
    if plan.strategy == "greedy" or budget < 1:
        return plan
    if plan.strategy == "revise":
        seq = min(plan.sequential, budget)
        return replace(plan, n=budget // seq * seq, sequential=seq)
    if plan.strategy in ("beam", "dvts", "lookahead"):
        n = budget // (plan.lookahead + 1) // plan.beam_width * plan.beam_width
        if n >= plan.beam_width:
            return replace(plan, n=n)
        return fit_plan(plan, budget) or plan
    return replace(plan, n=budget)


def question_plan(
    policy: ComputePolicy,
    difficulty: int | None,
    budget: int,
    probes: int,
    *,
    available: Collection[str],
    has_verifier: bool,
) -> StrategyConfig:
    """The plan one question runs: its budget includes the ``probes`` it drew.

    With nothing beyond its probes, a vote over them (weighted with a
    verifier, else majority); otherwise the policy's plan for its bin at its
    budget, made runnable, scaled to the budget and fitted with the probes.
    """
    if probes >= 1 and budget <= probes:
        if has_verifier and "best_of_n" in available:
            return StrategyConfig("best_of_n", n=probes, probes="samples")
        return StrategyConfig("majority", n=probes, selection="majority", probes="samples")
    wanted = policy.lookup(difficulty, budget)
    runnable = available_plan(wanted, available, has_verifier=has_verifier)
    return fit_after_probes(scale_plan(runnable, budget), budget, probes)
