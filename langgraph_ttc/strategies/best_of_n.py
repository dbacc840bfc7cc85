"""Best-of-N, majority voting and greedy decoding: sample full solutions, then select."""

from __future__ import annotations

from typing import Literal

from langgraph.graph import END, START, StateGraph

from langgraph_ttc import answers
from langgraph_ttc.nodes.candidates import AnswerFn, PromptFn, question_prompt
from langgraph_ttc.nodes.generate import make_generate_node
from langgraph_ttc.nodes.prepare import make_prepare_node
from langgraph_ttc.nodes.select import make_select_node
from langgraph_ttc.nodes.verify import make_verify_node
from langgraph_ttc.state import TTCContext, TTCState
from langgraph_ttc.strategies.graph import (
    TTCStrategyInput,
    TTCStrategyOutput,
    check_config,
    new_graph,
    plan_strategy,
    unscored,
)
from langgraph_ttc.types import Generator, StrategyConfig, Verifier

__all__ = ["create_best_of_n_graph"]

STRATEGIES = frozenset({"greedy", "majority", "best_of_n"})


def create_best_of_n_graph(
    generator: Generator,
    *,
    verifier: Verifier | None = None,
    config: StrategyConfig | None = None,
    extract_answer: AnswerFn = answers.extract_answer,
    prompt: PromptFn = question_prompt,
    name: str = "best_of_n",
) -> StateGraph[TTCState, TTCContext, TTCStrategyInput, TTCStrategyOutput]:
    """Build best-of-N: ``prepare -> generate -> verify -> select``.

    Runs the plan's strategy: ``greedy`` (one sample at temperature 0) or
    ``majority`` (N samples, one vote each), neither calling the verifier, or
    ``best_of_n`` (N samples scored by the verifier, then ``selection``:
    weighted, majority or max). Finished probes already in the state count as
    samples: with N=16 and 4 probes, 12 more are drawn.

    Args:
        generator: The policy.
        verifier: Scores full solutions; needed for ``best_of_n`` with
            weighted or max selection.
        config: The default plan (a router's ``plan`` or ``context.plan``
            override it). Defaults to best-of-16, weighted.
        extract_answer: Reads a solution's final answer.
        prompt: Builds the prompt from the question.
        name: Names the model calls in traces (``{name}/generate``).

    Returns:
        The uncompiled graph; compile it with your checkpointer.

    Raises:
        TypeError, ValueError: For a config of another strategy, or one that
            needs a verifier when none is given.
    """
    default = (
        StrategyConfig(strategy="best_of_n") if verifier else StrategyConfig(strategy="majority")
    )
    plan = check_config(config, default, STRATEGIES, verifier, "create_best_of_n_graph")
    meta = {"ttc_graph": name, "ttc_strategy": plan.strategy}
    builder = new_graph()
    builder.add_node(
        "prepare",
        make_prepare_node(
            graph=name, default=plan, strategies=STRATEGIES, generator=generator, verifier=verifier
        ),
        metadata=meta,
    )
    builder.add_node(
        "generate",
        make_generate_node(
            generator,
            graph=name,
            mode="full",
            source="sample",
            extract_answer=extract_answer,
            prompt=prompt,
        ),
        metadata=meta,
    )
    builder.add_node(
        "select", make_select_node(graph=name, verified=verifier is not None), metadata=meta
    )
    builder.add_edge(START, "prepare")
    builder.add_edge("prepare", "generate")
    builder.add_edge("select", END)
    if verifier is None:
        builder.add_edge("generate", "select")
        return builder
    builder.add_node("verify", make_verify_node(verifier, graph=name), metadata=meta)

    def after_generate(state: TTCState) -> Literal["verify", "select"]:
        # Greedy decoding and majority voting never pay for the verifier.
        return "verify" if plan_strategy(state) == "best_of_n" and unscored(state) else "select"

    builder.add_conditional_edges("generate", after_generate, ["verify", "select"])
    builder.add_edge("verify", "select")
    return builder
