"""``verify``: score every candidate that has no score yet, in one verifier call."""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

from langgraph.runtime import Runtime

from langgraph_ttc.budget import prompt_token_bound, verifier_usage
from langgraph_ttc.models.errors import BackendError
from langgraph_ttc.nodes.calls import NodeLogic, ScoreCall, make_node
from langgraph_ttc.nodes.settings import (
    backend_error,
    budget_label,
    call_metadata,
    call_tags,
    context_of,
    emit,
    out_of_time,
    plan_of,
    usage_of,
)
from langgraph_ttc.state import TTCContext, TTCState
from langgraph_ttc.types import Candidate, ScoreResult, Verifier, add_usage, fold_scores

__all__ = ["check_scores", "make_verify_node", "verifier_budget_left"]


def check_scores(verifier: Verifier, result: object, count: int) -> list[list[float]]:
    """A verifier's step scores, checked: one non-empty finite list per solution.

    Raises:
        TypeError: If the result is not a ``ScoreResult``.
        ValueError: On a wrong count, an empty list or a NaN/infinite score,
            naming the verifier.
    """
    if not isinstance(result, ScoreResult):
        raise TypeError(
            f"verifier {verifier.name!r} returned {type(result).__name__}, not ScoreResult"
        )
    if len(result.steps) != count:
        raise ValueError(
            f"verifier {verifier.name!r} returned {len(result.steps)} score lists "
            f"for {count} solutions"
        )
    for i, steps in enumerate(result.steps):
        if not steps:
            raise ValueError(f"verifier {verifier.name!r} returned no score for solution {i}")
        if any(not isinstance(s, int | float) or not math.isfinite(s) for s in steps):
            raise ValueError(
                f"verifier {verifier.name!r} returned a non-finite score for solution {i}: {steps}"
            )
    return [[float(s) for s in steps] for steps in result.steps]


def verifier_budget_left(
    state: TTCState, ctx: TTCContext, question: str, texts: Sequence[str]
) -> bool:
    """Whether scoring ``texts`` stays within ``budget.verifier_tokens`` (upper estimate)."""
    budget = ctx.budget
    if budget is None or budget.verifier_tokens is None:
        return True
    need = sum(prompt_token_bound(question, text) for text in texts)
    return usage_of(state)["verifier_tokens"] + need <= budget.verifier_tokens


def make_verify_node(verifier: Verifier, *, graph: str) -> Any:
    """The ``verify`` node: one ``score`` call for all unscored candidates.

    Step scores fold into one score with the plan's ``fold``. A verifier that
    fails for good ends the run (status ``backend_error``); one that returns
    NaN raises ``ValueError`` naming it.
    """

    def logic(state: TTCState, runtime: Runtime[TTCContext]) -> NodeLogic:
        ctx = context_of(runtime)
        plan = plan_of(state)
        round_ = state.get("round", 0)
        todo = [c for c in state.get("candidates") or [] if c.get("score") is None and c["text"]]
        if not todo:
            return {}
        question = state["question"]
        texts = [c["text"] for c in todo]
        if out_of_time(state, ctx):
            return {"status": "deadline"}
        if not verifier_budget_left(state, ctx, question, texts):
            return {"status": "budget_exhausted"}
        try:
            result = yield ScoreCall(
                verifier,
                question,
                texts,
                run_name=f"{graph}/verify",
                tags=call_tags(ctx, graph, "verify"),
                metadata=call_metadata(
                    plan, ctx.budget, round_, candidates=[c["id"] for c in todo]
                ),
            )
        except BackendError as exc:
            return backend_error(exc, f"verifier {verifier.name!r}")
        step_scores = check_scores(verifier, result, len(todo))
        scored = [_scored(c, s, plan.fold) for c, s in zip(todo, step_scores, strict=True)]
        spent = verifier_usage(result)
        emit(
            runtime,
            {
                "node": "verify",
                "round": round_,
                "strategy": plan.strategy,
                "scored": len(scored),
                "generations": add_usage(usage_of(state), spent)["generations"],
                "budget": budget_label(ctx.budget, plan),
            },
        )
        return {"candidates": scored, "usage": spent}

    return make_node("verify", logic)


def _scored(cand: Candidate, steps: list[float], fold: str) -> Candidate:
    return {**cand, "step_scores": steps, "score": fold_scores(steps, fold)}  # type: ignore[arg-type]
