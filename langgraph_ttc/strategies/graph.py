"""What every strategy graph shares: schemas, the common nodes, the config check, the routes."""

from __future__ import annotations

from typing import Annotated, Any

from langgraph.graph import END, START, StateGraph

from langgraph_ttc.engine.candidates import PromptFn
from langgraph_ttc.engine.graph import NamedStateGraph
from langgraph_ttc.engine.settings import check_step_delimiter, check_verifier_delimiter
from langgraph_ttc.engine.tree import slots
from langgraph_ttc.formats import STEP_DELIMITER
from langgraph_ttc.nodes import (
    Sampling,
    SelectRule,
    make_generate_node,
    make_prepare_node,
    make_select_node,
)
from langgraph_ttc.state import TTCContext, TTCInput, TTCOutput, TTCState, merge_candidates
from langgraph_ttc.types import Candidate, Generator, StrategyConfig, Usage, Verifier, add_usage

__all__ = [
    "StrategyGraph",
    "TTCStrategyInput",
    "TTCStrategyOutput",
    "check_config",
    "has_frontier",
    "running",
    "start_graph",
    "unscored",
]


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


TTCStrategyOutput = TTCOutput
"""A strategy graph's output: the same as the routed graph's, ``TTCOutput``."""


StrategyGraph = StateGraph[TTCState, TTCContext, TTCStrategyInput, TTCStrategyOutput]


def start_graph(
    generator: Generator,
    *,
    verifier: Verifier | None,
    plan: StrategyConfig,
    strategies: frozenset[str],
    sampling: Sampling,
    select: SelectRule,
    prompt: PromptFn,
    name: str,
    step_delimiter: str = STEP_DELIMITER,
) -> StrategyGraph:
    """A strategy graph with its common nodes: ``START -> prepare -> generate``, ``select -> END``.

    The strategy adds what happens between ``generate`` and ``select``.
    ``step_delimiter`` is the graph's (``context.step_delimiter`` overrides it
    for a run); a verifier that cuts steps elsewhere is refused here, early.

    Raises:
        TypeError, ValueError: For a step delimiter that is not a non-empty
            string, or one that differs from the verifier's ``step_delimiter``.
    """
    check_step_delimiter(step_delimiter)
    check_verifier_delimiter(verifier, step_delimiter, "the graph's step_delimiter")
    meta = {"ttc_graph": name, "ttc_strategy": plan.strategy}
    builder: StrategyGraph = NamedStateGraph(
        name=name,
        state_schema=TTCState,
        context_schema=TTCContext,
        input_schema=TTCStrategyInput,
        output_schema=TTCStrategyOutput,
    )
    builder.add_node(
        "prepare",
        make_prepare_node(
            graph=name,
            default=plan,
            strategies=strategies,
            generator=generator,
            verifier=verifier,
            step_delimiter=step_delimiter,
        ),
        metadata=meta,
    )
    builder.add_node(
        "generate",
        make_generate_node(generator, graph=name, sampling=sampling, prompt=prompt),
        metadata=meta,
    )
    builder.add_node("select", make_select_node(graph=name, select=select), metadata=meta)
    builder.add_edge(START, "prepare")
    builder.add_edge("prepare", "generate")
    builder.add_edge("select", END)
    return builder


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
    if (why := config.requirement_error(has_verifier=verifier is not None)) is not None:
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
