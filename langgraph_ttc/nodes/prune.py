"""``prune``: decide which partial solutions stay on the frontier (no model call)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from langgraph.runtime import Runtime

from langgraph_ttc.nodes.calls import make_node
from langgraph_ttc.nodes.search import beam_keep, dvts_keep, finished, slots
from langgraph_ttc.nodes.settings import budget_label, context_of, emit, plan_of, usage_of
from langgraph_ttc.state import TTCContext, TTCState
from langgraph_ttc.types import Candidate, StrategyConfig

__all__ = ["make_prune_node", "prune_frontier"]


def prune_frontier(
    candidates: Sequence[Candidate], plan: StrategyConfig, source: str
) -> tuple[list[Candidate], list[Candidate]]:
    """Which frontier paths to keep, and which to drop.

    Beam search (and lookahead) keeps the top ``width / beam_width`` unfinished
    paths, and stops (keeps none) once ``width`` solutions have finished or
    none is left unfinished. DVTS keeps, in each subtree still alive, its single
    best child; a subtree whose best child finished is done.

    Returns:
        ``(kept, dropped)``: the paths that will be expanded, and the active
        paths that leave the frontier.
    """
    frontier = slots(candidates, source)
    active = [c for c in frontier if c.get("active") and not c.get("done")]
    if plan.strategy == "dvts":
        kept: list[Candidate] = []
        groups = sorted({c.get("group", 0) for c in active})
        for g in groups:
            # A live subtree refilled all its slots this round: they are its children.
            best = dvts_keep([c for c in frontier if c.get("group", 0) == g])
            if best is not None:
                kept.append(best)
    elif len(finished(candidates, source)) >= len(frontier):
        kept = []
    else:
        kept = beam_keep(active, len(frontier), plan.beam_width)
    kept_ids = {c["id"] for c in kept}
    return kept, [c for c in active if c["id"] not in kept_ids]


def make_prune_node(*, graph: str, source: str) -> Any:
    """The ``prune`` node: marks dropped paths inactive; the kept ones stay active."""

    def logic(state: TTCState, runtime: Runtime[TTCContext]) -> dict[str, Any]:
        ctx = context_of(runtime)
        plan = plan_of(state)
        cands = state.get("candidates") or []
        kept, dropped = prune_frontier(cands, plan, source)
        emit(
            runtime,
            {
                "node": "prune",
                "round": state.get("round", 0),
                "strategy": plan.strategy,
                "kept": [c["id"] for c in kept],
                "finished": len(finished(cands, source)),
                "generations": usage_of(state)["generations"],
                "budget": budget_label(ctx.budget, plan),
            },
        )
        return {"candidates": [{**c, "active": False} for c in dropped]}

    return make_node("prune", logic)
