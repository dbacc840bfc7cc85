"""``prepare``: check the input, fix the plan in force, start the clock."""

from __future__ import annotations

import time
from collections.abc import Collection
from typing import Any

from langgraph.runtime import Runtime

from langgraph_ttc.budget import check_plan_fits
from langgraph_ttc.nodes.calls import make_node
from langgraph_ttc.nodes.settings import budget_label, context_of, emit, resolve_plan, usage_of
from langgraph_ttc.state import TTCContext, TTCState
from langgraph_ttc.types import Generator, StrategyConfig, Verifier

__all__ = ["check_question", "make_prepare_node", "requirement_error"]

TREE_STRATEGIES = frozenset({"beam", "lookahead", "dvts"})


def check_question(question: object) -> str:
    """Raise unless ``question`` is a non-empty string.

    Raises:
        TypeError: If it is not a string.
        ValueError: If it is blank.
    """
    if not isinstance(question, str):
        raise TypeError(f"question must be a str, got {type(question).__name__}")
    if not question.strip():
        raise ValueError("question must be a non-empty string")
    return question


def requirement_error(plan: StrategyConfig, verifier: Verifier | None) -> str | None:
    """Why ``plan`` cannot run with this verifier, or ``None`` if it can."""
    if verifier is None:
        if plan.strategy in TREE_STRATEGIES:
            return f"strategy {plan.strategy!r} needs a verifier (a PRM) to rank partial solutions"
        if plan.strategy == "best_of_n" and plan.selection != "majority":
            return (
                f"best_of_n with selection={plan.selection!r} needs a verifier; "
                "pass one, or use strategy='majority'"
            )
    if plan.strategy == "revise" and plan.n < plan.sequential:
        return f"revise needs n >= sequential, got n={plan.n}, sequential={plan.sequential}"
    return None


def make_prepare_node(
    *,
    graph: str,
    default: StrategyConfig,
    strategies: Collection[str],
    generator: Generator,
    verifier: Verifier | None = None,
) -> Any:
    """The ``prepare`` node.

    Checks the question, resolves the plan (``state["plan"]`` > ``context.plan``
    > ``default``) and checks that this graph can run it within the budget.
    Candidates and usage already in the state (the router's probes) are kept.

    Raises (when the node runs):
        TypeError, ValueError: For a bad question, context or plan, a strategy
            this graph does not run, or a plan that cannot fit the budget.
    """

    def logic(state: TTCState, runtime: Runtime[TTCContext]) -> dict[str, Any]:
        check_question(state.get("question"))
        ctx = context_of(runtime)
        plan = resolve_plan(state, ctx, default)
        if plan.strategy not in strategies:
            raise ValueError(
                f"plan.strategy {plan.strategy!r} cannot run in the {graph} graph "
                f"(it runs {', '.join(sorted(strategies))})"
            )
        if (why := requirement_error(plan, verifier)) is not None:
            raise ValueError(why)
        check_plan_fits(plan, ctx.budget)
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
        }
        if "difficulty" not in state:
            update["difficulty"] = None
        if not state.get("started_at"):
            update["started_at"] = time.time()
        emit(
            runtime,
            {
                "node": "prepare",
                "round": 0,
                "strategy": plan.strategy,
                "generations": usage_of(state)["generations"],
                "budget": budget_label(ctx.budget, plan),
            },
        )
        return update

    return make_node("prepare", logic)
