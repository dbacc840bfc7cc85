"""What every strategy graph shares: schemas, the empty builder, and the routes."""

from __future__ import annotations

from typing import Annotated, Any

from langgraph.graph import StateGraph

from langgraph_ttc.nodes.prepare import requirement_error
from langgraph_ttc.nodes.search import slots
from langgraph_ttc.state import TTCContext, TTCInput, TTCOutput, TTCState, merge_candidates
from langgraph_ttc.types import Candidate, StrategyConfig, Usage, Verifier, add_usage

__all__ = ["TTCStrategyInput", "TTCStrategyOutput", "check_config", "new_graph"]


class TTCStrategyInput(TTCInput, total=False):
    """A strategy graph's input: the question, and what a router already has.

    A caller passes only ``question``. A router running the graph as a
    subgraph also hands over its ``plan``, ``difficulty``, probe
    ``candidates`` and their ``usage``: the graph keeps them, counts the usage
    against the budget, and reuses the probes as samples where it can.
    """

    plan: dict[str, Any]
    difficulty: int | None
    candidates: Annotated[list[Candidate], merge_candidates]
    usage: Annotated[Usage, add_usage]
    started_at: float


class TTCStrategyOutput(TTCOutput, total=False):
    """A strategy graph's output: ``TTCOutput`` plus the ``error`` that stopped
    the run (``None`` unless ``status == "backend_error"``)."""

    error: str | None


def new_graph() -> StateGraph[TTCState, TTCContext, TTCStrategyInput, TTCStrategyOutput]:
    """An empty strategy graph with the shared schemas."""
    return StateGraph(
        state_schema=TTCState,
        context_schema=TTCContext,
        input_schema=TTCStrategyInput,
        output_schema=TTCStrategyOutput,
    )


def check_config(
    config: StrategyConfig | None,
    default: StrategyConfig,
    strategies: frozenset[str],
    verifier: Verifier | None,
    builder: str,
) -> StrategyConfig:
    """The builder's config, checked early.

    Raises:
        TypeError: If ``config`` is not a ``StrategyConfig``.
        ValueError: If its strategy does not belong to this builder, or it
            needs a verifier that was not given.
    """
    if config is None:
        config = default
    if not isinstance(config, StrategyConfig):
        raise TypeError(f"config must be a StrategyConfig, got {type(config).__name__}")
    if config.strategy not in strategies:
        raise ValueError(
            f"config.strategy {config.strategy!r} is not built by {builder} "
            f"(it builds {', '.join(sorted(strategies))})"
        )
    if (why := requirement_error(config, verifier)) is not None:
        raise ValueError(why)
    return config


def running(state: TTCState) -> bool:
    """Whether no node has stopped the run."""
    return state.get("status", "running") == "running"


def unscored(state: TTCState) -> bool:
    """Whether some candidate with text still waits for a score."""
    return any(c.get("score") is None and c["text"] for c in state.get("candidates") or [])


def has_frontier(state: TTCState, source: str) -> bool:
    """Whether a tree search still has paths to extend."""
    return any(c.get("active") for c in slots(state.get("candidates") or [], source))


def plan_strategy(state: TTCState) -> str:
    """The strategy of the plan in force."""
    return str((state.get("plan") or {}).get("strategy", ""))
