"""``prepare``: check the input, fix the plan in force, start the clock."""

from __future__ import annotations

import time
from collections.abc import Collection
from typing import Any

from langgraph_ttc.budget import check_plan_fits
from langgraph_ttc.engine.driver import NodeRun, make_node
from langgraph_ttc.engine.settings import (
    budget_label,
    check_question,
    check_step_delimiter,
    check_verifier_delimiter,
    resolve_plan,
    resolve_step_delimiter,
)
from langgraph_ttc.formats import STEP_DELIMITER
from langgraph_ttc.state import TTCState
from langgraph_ttc.types import Generator, StrategyConfig, Verifier

__all__ = ["make_prepare_node"]


def make_prepare_node(
    *,
    graph: str,
    default: StrategyConfig,
    strategies: Collection[str],
    generator: Generator,
    verifier: Verifier | None = None,
    step_delimiter: str = STEP_DELIMITER,
) -> Any:
    """The ``prepare`` node.

    Checks the question, resolves the plan (``state["plan"]`` > ``context.plan``
    > ``default``) and checks that this graph can run it within the budget.
    Resolves the step delimiter (``context.step_delimiter`` > ``step_delimiter``,
    the graph's), checks that the verifier cuts steps there too, and writes it
    into the state for the other nodes. Candidates and usage already in the
    state (the router's probes) are kept.

    Raises (when the node runs):
        TypeError, ValueError: For a bad question, context or plan, a strategy
            this graph does not run, a plan that cannot fit the budget, or a
            verifier whose ``step_delimiter`` differs from the run's.
    """
    check_step_delimiter(step_delimiter)

    def logic(state: TTCState, run: NodeRun) -> dict[str, Any]:
        check_question(state.get("question"))
        ctx = run.ctx
        plan = resolve_plan(state, ctx, default)
        if plan.strategy not in strategies:
            raise ValueError(
                f"plan.strategy {plan.strategy!r} cannot run in the {graph} graph "
                f"(it runs {', '.join(sorted(strategies))})"
            )
        if (why := plan.requirement_error(has_verifier=verifier is not None)) is not None:
            raise ValueError(why)
        check_plan_fits(plan, ctx.budget)
        delimiter, source = resolve_step_delimiter(ctx, step_delimiter)
        check_verifier_delimiter(verifier, delimiter, f"the run's step delimiter ({source})")
        if ctx.budget is not None and ctx.budget.flops is not None and not generator.params:
            raise ValueError(
                f"budget.flops needs the generator's parameter count, but "
                f"generator {generator.name!r} has params=None"
            )
        update: dict[str, Any] = {
            "plan": plan.to_dict(),
            "strategy": plan.strategy,
            "status": "running",
            "round": 0,
            "error": None,
            "step_delimiter": delimiter,
        }
        if "difficulty" not in state:
            update["difficulty"] = None
        if not state.get("started_at"):
            update["started_at"] = time.time()
        run.emit(
            {
                "node": "prepare",
                "round": 0,
                "strategy": plan.strategy,
                "generations": run.usage["generations"],
                "budget": budget_label(ctx.budget, plan),
            }
        )
        return update

    return make_node("prepare", logic)
