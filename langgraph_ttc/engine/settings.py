"""Run settings as node logic sees them: context, plan, usage, seeds, the deadline."""

from __future__ import annotations

import hashlib
import time
from collections.abc import Mapping
from dataclasses import replace
from typing import Any

from langgraph.runtime import Runtime

from langgraph_ttc.formats import STEP_DELIMITER
from langgraph_ttc.state import TTCContext, TTCState
from langgraph_ttc.types import Budget, StrategyConfig, Usage, Verifier, add_usage, empty_usage

__all__ = [
    "budget_label",
    "call_metadata",
    "check_question",
    "check_step_delimiter",
    "check_verifier_delimiter",
    "context_of",
    "deadline_of",
    "derive_seed",
    "out_of_time",
    "plan_of",
    "resolve_plan",
    "resolve_step_delimiter",
    "step_delimiter_of",
    "usage_of",
]


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


def check_step_delimiter(value: object, field: str = "step_delimiter") -> str:
    """Raise unless ``value`` is a non-empty string (``"\\n"`` counts: it is all whitespace).

    Raises:
        TypeError: If it is not a string.
        ValueError: If it is empty.
    """
    if not isinstance(value, str):
        raise TypeError(f"{field} must be a str, got {type(value).__name__}")
    if not value:
        raise ValueError(f"{field} must be a non-empty string (a step delimiter such as '\\n')")
    return value


def check_verifier_delimiter(verifier: Verifier | None, delimiter: str, source: str) -> None:
    """Raise unless a verifier that cuts steps itself cuts them where the run does.

    A verifier's ``step_delimiter`` is fixed when it is built (it shapes its
    template and where its scores are read), so the graph checks it rather
    than passing its own: a mismatch would score steps the search never made.
    A verifier without the attribute (a function verifier) is not checked.

    Args:
        verifier: The graph's verifier, if any.
        delimiter: The run's step delimiter.
        source: Where ``delimiter`` came from, for the message.

    Raises:
        ValueError: Naming both delimiters.
    """
    theirs = getattr(verifier, "step_delimiter", None)
    if verifier is None or not isinstance(theirs, str) or theirs == delimiter:
        return
    name = getattr(verifier, "name", type(verifier).__name__)
    raise ValueError(
        f"step delimiter mismatch: {source} is {delimiter!r} but verifier {name!r} has "
        f"step_delimiter={theirs!r}; build the verifier with step_delimiter={delimiter!r} "
        f"or the graph with step_delimiter={theirs!r}"
    )


def resolve_step_delimiter(ctx: TTCContext, default: str) -> tuple[str, str]:
    """The run's step delimiter (``context.step_delimiter`` > the graph's), and its source."""
    if ctx.step_delimiter is not None:
        return ctx.step_delimiter, "context.step_delimiter"
    return default, "the graph's step_delimiter"


def step_delimiter_of(state: TTCState) -> str:
    """The step delimiter ``prepare`` wrote into the state (the default before it ran)."""
    return state.get("step_delimiter") or STEP_DELIMITER


def context_of(runtime: Runtime[TTCContext] | None) -> TTCContext:
    """The run's ``TTCContext`` (defaults when none was given), checked.

    Raises:
        TypeError, ValueError: For a context field of the wrong type or value
            (named ``context.<field>``).
    """
    ctx = getattr(runtime, "context", None)
    if ctx is None:
        ctx = TTCContext()
    elif isinstance(ctx, Mapping):
        ctx = TTCContext(**ctx)
    elif not isinstance(ctx, TTCContext):
        raise TypeError(f"context must be a TTCContext, got {type(ctx).__name__}")
    if isinstance(ctx.seed, bool) or not isinstance(ctx.seed, int):
        raise TypeError(f"context.seed must be an int, got {ctx.seed!r}")
    for name in ("max_tokens", "step_max_tokens"):
        value = getattr(ctx, name)
        if isinstance(value, bool) or not isinstance(value, int) or value < 1:
            raise ValueError(f"context.{name} must be a positive int, got {value!r}")
    if ctx.budget is not None and not isinstance(ctx.budget, Budget):
        if not isinstance(ctx.budget, Mapping):
            raise TypeError(f"context.budget must be a Budget, got {type(ctx.budget).__name__}")
        ctx = replace(ctx, budget=Budget.from_dict(dict(ctx.budget)))
    if ctx.step_delimiter is not None:
        check_step_delimiter(ctx.step_delimiter, "context.step_delimiter")
    if ctx.deadline_s is not None and not (
        isinstance(ctx.deadline_s, int | float) and ctx.deadline_s > 0
    ):
        raise ValueError(f"context.deadline_s must be > 0, got {ctx.deadline_s!r}")
    return ctx


def resolve_plan(state: TTCState, ctx: TTCContext, default: StrategyConfig) -> StrategyConfig:
    """The plan in force: ``state["plan"]`` (the router's) > ``context.plan`` > the builder's.

    Raises:
        TypeError, ValueError: For a plan that is not a valid ``StrategyConfig``.
    """
    plan: Any = state.get("plan") or ctx.plan or default
    if isinstance(plan, Mapping):
        return StrategyConfig.from_dict(dict(plan))
    if not isinstance(plan, StrategyConfig):
        raise TypeError(f"plan must be a StrategyConfig or a dict, got {type(plan).__name__}")
    return plan


def plan_of(state: TTCState) -> StrategyConfig:
    """The plan that ``prepare`` wrote into the state."""
    return StrategyConfig.from_dict(dict(state["plan"]))


def usage_of(state: TTCState) -> Usage:
    """The usage so far (zeros when none)."""
    return add_usage(state.get("usage"), None) if state.get("usage") else empty_usage()


def derive_seed(seed: int, node: str, round_: int, index: int) -> int:
    """A 31-bit seed for one sampling request, a pure function of where it is made.

    Never a global counter: a resumed run draws the same seeds as an
    uninterrupted one, and ``ainvoke`` the same as ``invoke``.
    """
    digest = hashlib.blake2b(f"{seed}:{node}:{round_}:{index}".encode(), digest_size=8).digest()
    return int.from_bytes(digest, "big") & 0x7FFFFFFF


def budget_label(budget: Budget | None, plan: StrategyConfig) -> float:
    """The generation cap shown in progress events."""
    if budget is not None and budget.generations is not None:
        return budget.generations
    return float(plan.generations)


def call_metadata(
    plan: StrategyConfig, budget: Budget | None, round_: int, **extra: Any
) -> dict[str, Any]:
    """Metadata on a model call: strategy, budget, round, and what the call covers."""
    return {
        "ttc_strategy": plan.strategy,
        "ttc_budget": budget_label(budget, plan),
        "ttc_round": round_,
        **{f"ttc_{k}": v for k, v in extra.items()},
    }


def deadline_of(ctx: TTCContext) -> float | None:
    """The tighter of ``context.deadline_s`` and ``budget.deadline_s``."""
    caps = [x for x in (ctx.deadline_s, ctx.budget.deadline_s if ctx.budget else None) if x]
    return min(caps) if caps else None


def out_of_time(state: TTCState, ctx: TTCContext) -> bool:
    """Whether the run's deadline has passed."""
    limit = deadline_of(ctx)
    started = state.get("started_at")
    return limit is not None and started is not None and time.time() - started >= limit
