"""``prune``: decide which partial solutions stay on a tree search's frontier (no model call).

Which paths to keep is the strategy's ``keep`` rule; the node marks the rest
inactive.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

from langgraph_ttc.engine.driver import NodeRun, make_node
from langgraph_ttc.engine.settings import budget_label, plan_of
from langgraph_ttc.engine.tree import finished, slots
from langgraph_ttc.state import TTCState
from langgraph_ttc.types import Candidate, StrategyConfig

__all__ = ["KeepRule", "make_prune_node", "prune_frontier"]

KeepRule = Callable[
    [Sequence[Candidate], Sequence[Candidate], StrategyConfig, int], list[Candidate]
]
"""``(frontier, finished solutions, plan, seed) -> the paths to expand next``.

``seed`` is the run's seed (``context.seed``): a rule that draws at random
derives its own seeds from it (with ``derive_seed``), so it stays a pure
function of its arguments.
"""


def prune_frontier(
    candidates: Sequence[Candidate],
    plan: StrategyConfig,
    source: str,
    keep: KeepRule,
    seed: int = 0,
) -> tuple[list[Candidate], list[Candidate]]:
    """Apply ``keep`` to the frontier of ``source``.

    Returns:
        ``(kept, dropped)``: the paths that will be expanded, and the active
        unfinished paths that leave the frontier.
    """
    frontier = slots(candidates, source)
    kept = keep(frontier, finished(candidates, source), plan, seed)
    kept_ids = {c["id"] for c in kept}
    active = [c for c in frontier if c.get("active") and not c.get("done")]
    return kept, [c for c in active if c["id"] not in kept_ids]


def make_prune_node(*, graph: str, source: str, keep: KeepRule) -> Any:
    """The ``prune`` node: marks dropped paths inactive; the kept ones stay active."""

    def logic(state: TTCState, run: NodeRun) -> dict[str, Any]:
        plan = plan_of(state)
        cands = state.get("candidates") or []
        kept, dropped = prune_frontier(cands, plan, source, keep, run.ctx.seed)
        run.emit(
            {
                "node": "prune",
                "round": state.get("round", 0),
                "strategy": plan.strategy,
                "kept": [c["id"] for c in kept],
                "finished": len(finished(cands, source)),
                "generations": run.usage["generations"],
                "budget": budget_label(run.ctx.budget, plan),
            }
        )
        return {"candidates": [{**c, "active": False} for c in dropped]}

    return make_node("prune", logic)
