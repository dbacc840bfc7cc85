"""The step-level tree search shared by beam search, lookahead search and DVTS.

``prepare -> generate -> [rollout] -> verify -> prune -> branch -> [rollout] -> verify -> ...
-> select``: ``generate`` samples the first step of every path, ``verify``
scores the new paths with the PRM (``rollout`` first scores unfinished paths
at the end of a greedy lookahead), ``prune`` keeps the best, ``branch``
extends them by one step, until the paths finish or ``max_rounds``.
"""

from __future__ import annotations

from typing import Literal

from langgraph.graph import END, START, StateGraph

from langgraph_ttc.nodes.branch import make_branch_node
from langgraph_ttc.nodes.candidates import AnswerFn, PromptFn
from langgraph_ttc.nodes.generate import make_generate_node
from langgraph_ttc.nodes.prepare import make_prepare_node
from langgraph_ttc.nodes.prune import make_prune_node
from langgraph_ttc.nodes.rollout import make_rollout_node
from langgraph_ttc.nodes.select import make_select_node
from langgraph_ttc.nodes.verify import make_verify_node
from langgraph_ttc.state import TTCContext, TTCState
from langgraph_ttc.strategies.graph import (
    TTCStrategyInput,
    TTCStrategyOutput,
    has_frontier,
    new_graph,
    running,
    unscored,
)
from langgraph_ttc.types import Generator, StrategyConfig, Verifier

__all__ = ["build_tree_graph"]


def build_tree_graph(
    generator: Generator,
    verifier: Verifier,
    plan: StrategyConfig,
    *,
    strategies: frozenset[str],
    source: str,
    extract_answer: AnswerFn,
    prompt: PromptFn,
    name: str,
) -> StateGraph[TTCState, TTCContext, TTCStrategyInput, TTCStrategyOutput]:
    """Assemble a tree-search graph; ``rollout`` is included for lookahead."""
    lookahead = "lookahead" in strategies
    scorer = "rollout" if lookahead else "verify"
    meta = {"ttc_graph": name, "ttc_strategy": plan.strategy}
    builder = new_graph()
    builder.add_node(
        "prepare",
        make_prepare_node(
            graph=name, default=plan, strategies=strategies, generator=generator, verifier=verifier
        ),
        metadata=meta,
    )
    builder.add_node(
        "generate",
        make_generate_node(
            generator,
            graph=name,
            mode="step",
            source=source,
            extract_answer=extract_answer,
            prompt=prompt,
        ),
        metadata=meta,
    )
    if lookahead:
        builder.add_node(
            "rollout",
            make_rollout_node(
                generator,
                verifier,
                graph=name,
                source=source,
                extract_answer=extract_answer,
                prompt=prompt,
            ),
            metadata=meta,
        )
        builder.add_edge("rollout", "verify")
    builder.add_node("verify", make_verify_node(verifier, graph=name), metadata=meta)
    builder.add_node("prune", make_prune_node(graph=name, source=source), metadata=meta)
    builder.add_node(
        "branch",
        make_branch_node(
            generator, graph=name, source=source, extract_answer=extract_answer, prompt=prompt
        ),
        metadata=meta,
    )
    builder.add_node("select", make_select_node(graph=name, verified=True), metadata=meta)

    def after_sampling(state: TTCState) -> str:
        # New paths are scored even when the budget ran out on them: best answer so far.
        return scorer if unscored(state) else "select"

    def after_verify(state: TTCState) -> Literal["prune", "select"]:
        return "prune" if running(state) else "select"

    def after_prune(state: TTCState) -> Literal["branch", "select"]:
        return "branch" if has_frontier(state, source) else "select"

    builder.add_edge(START, "prepare")
    builder.add_edge("prepare", "generate")
    builder.add_conditional_edges("generate", after_sampling, [scorer, "select"])
    builder.add_conditional_edges("verify", after_verify, ["prune", "select"])
    builder.add_conditional_edges("prune", after_prune, ["branch", "select"])
    builder.add_conditional_edges("branch", after_sampling, [scorer, "select"])
    builder.add_edge("select", END)
    return builder
