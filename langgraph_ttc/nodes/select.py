"""``select``: aggregate the finished candidates into the final answer."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from langgraph.runtime import Runtime

from langgraph_ttc.answers import aggregate
from langgraph_ttc.nodes.calls import make_node
from langgraph_ttc.nodes.search import finished, hierarchical_select, revision_chains
from langgraph_ttc.nodes.settings import budget_label, context_of, emit, plan_of, usage_of
from langgraph_ttc.state import TTCContext, TTCState
from langgraph_ttc.types import Candidate, StrategyConfig

__all__ = ["effective_selection", "make_select_node", "select_answer"]


def effective_selection(
    plan: StrategyConfig, candidates: Sequence[Candidate], *, verified: bool
) -> str:
    """The selection rule that applies.

    Majority for ``majority`` and ``greedy`` (neither pays for the verifier),
    when the graph has no verifier, or when no finished candidate was scored
    (the run stopped before ``verify``); the plan's ``selection`` otherwise.
    """
    if plan.strategy in ("majority", "greedy") or not verified:
        return "majority"
    if not any(c.get("score") is not None and c.get("answer") is not None for c in candidates):
        return "majority"
    return plan.selection


def select_answer(
    plan: StrategyConfig, candidates: Sequence[Candidate], *, verified: bool
) -> tuple[str | None, float, dict[str, float], str]:
    """The final answer over the finished candidates: ``(answer, confidence, totals, rule)``.

    Every finished candidate takes part, router probes included: compute
    already spent is never thrown away.

    Revisions with a verifier use the paper's hierarchical selection (weighted
    within each chain, then across the chain winners); everything else one flat
    aggregate (weighted best-of-N, majority vote, or the single best score).
    """
    done = finished(candidates)
    rule = effective_selection(plan, done, verified=verified)
    if plan.strategy == "revise" and rule == "weighted":
        chains = revision_chains(candidates, plan.n // plan.sequential)
        answer, confidence, totals = hierarchical_select(list(chains.values()))
        return answer, confidence, totals, "hierarchical"
    answer, confidence, totals = aggregate(done, selection=rule)
    return answer, confidence, totals, rule


def make_select_node(*, graph: str, verified: bool) -> Any:
    """The ``select`` node: writes ``answer``, ``confidence`` and the final ``status``.

    ``status`` becomes ``done`` (or ``no_candidates`` when no candidate has an
    answer) unless an earlier node stopped the run for a reason (budget,
    deadline, backend error), which is kept. The frontier is closed: no
    candidate stays active.
    """

    def logic(state: TTCState, runtime: Runtime[TTCContext]) -> dict[str, Any]:
        ctx = context_of(runtime)
        plan = plan_of(state)
        cands = state.get("candidates") or []
        answer, confidence, totals, rule = select_answer(plan, cands, verified=verified)
        status = state.get("status", "running")
        if status == "running":
            status = "done" if answer is not None else "no_candidates"
        closed = [{**c, "active": False} for c in cands if c.get("active")]
        emit(
            runtime,
            {
                "node": "select",
                "round": state.get("round", 0),
                "strategy": plan.strategy,
                "answer": answer,
                "confidence": confidence,
                "selection": rule,
                "totals": totals,
                "status": status,
                "generations": usage_of(state)["generations"],
                "budget": budget_label(ctx.budget, plan),
            },
        )
        return {
            "answer": answer,
            "confidence": confidence if answer is not None else None,
            "status": status,
            "candidates": closed,
        }

    return make_node("select", logic)
