"""``verify``: score every candidate that has no score yet, in one verifier call."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from langgraph_ttc.budget import prompt_token_bound
from langgraph_ttc.engine.calls import ScoreCall
from langgraph_ttc.engine.driver import NodeLogic, NodeRun, Stop, make_node
from langgraph_ttc.engine.settings import budget_label, call_metadata, plan_of
from langgraph_ttc.state import TTCState
from langgraph_ttc.types import Candidate, Verifier, fold_scores

__all__ = ["check_verifier_budget", "make_verify_node", "scored"]


def check_verifier_budget(run: NodeRun, question: str, texts: Sequence[str]) -> None:
    """Stop the node unless scoring ``texts`` stays within ``budget.verifier_tokens``.

    The need is an upper estimate, so a run never scores past the cap.

    Raises:
        Stop: With ``status="budget_exhausted"``.
    """
    budget = run.ctx.budget
    if budget is None or budget.verifier_tokens is None:
        return
    need = sum(prompt_token_bound(question, text) for text in texts)
    if run.usage["verifier_tokens"] + need > budget.verifier_tokens:
        raise Stop(status="budget_exhausted")


def scored(cand: Candidate, steps: list[float], fold: str) -> Candidate:
    """``cand`` with its step scores and their fold."""
    return {**cand, "step_scores": steps, "score": fold_scores(steps, fold)}  # type: ignore[arg-type]


def make_verify_node(verifier: Verifier, *, graph: str) -> Any:
    """The ``verify`` node: one ``score`` call for all unscored candidates.

    Step scores fold into one score with the plan's ``fold``. A verifier that
    fails for good ends the run (status ``backend_error``); one that returns
    NaN raises ``ValueError`` naming it.
    """

    def logic(state: TTCState, run: NodeRun) -> NodeLogic:
        plan = plan_of(state)
        round_ = state.get("round", 0)
        todo = [c for c in state.get("candidates") or [] if c.get("score") is None and c["text"]]
        if not todo:
            return {}
        question = state["question"]
        texts = [c["text"] for c in todo]
        check_verifier_budget(run, question, texts)
        result = yield ScoreCall(
            verifier,
            question,
            texts,
            run_name=f"{graph}/verify",
            tags=run.tags(graph, "verify"),
            metadata=call_metadata(
                plan, run.ctx.budget, round_, candidates=[c["id"] for c in todo]
            ),
        )
        new = [scored(c, s, plan.fold) for c, s in zip(todo, result.steps, strict=True)]
        run.emit(
            {
                "node": "verify",
                "round": round_,
                "strategy": plan.strategy,
                "scored": len(new),
                "generations": run.usage["generations"],
                "budget": budget_label(run.ctx.budget, plan),
            }
        )
        return {"candidates": new}

    return make_node("verify", logic)
