"""Sequential revisions in parallel chains ("adaptive response updating")."""

from __future__ import annotations

from typing import Literal

from langgraph.graph import END, START, StateGraph

from langgraph_ttc import answers
from langgraph_ttc.nodes.candidates import (
    AnswerFn,
    PromptFn,
    RevisionPromptFn,
    question_prompt,
)
from langgraph_ttc.nodes.candidates import revision_prompt as default_revision_prompt
from langgraph_ttc.nodes.generate import make_generate_node
from langgraph_ttc.nodes.prepare import make_prepare_node
from langgraph_ttc.nodes.revise import make_revise_node
from langgraph_ttc.nodes.select import make_select_node
from langgraph_ttc.nodes.settings import plan_of
from langgraph_ttc.nodes.verify import make_verify_node
from langgraph_ttc.state import TTCContext, TTCState
from langgraph_ttc.strategies.graph import (
    TTCStrategyInput,
    TTCStrategyOutput,
    check_config,
    new_graph,
    running,
    unscored,
)
from langgraph_ttc.types import Generator, StrategyConfig, Verifier

__all__ = ["create_revision_graph"]

STRATEGIES = frozenset({"revise"})


def create_revision_graph(
    generator: Generator,
    *,
    verifier: Verifier | None = None,
    reviser: Generator | None = None,
    config: StrategyConfig | None = None,
    extract_answer: AnswerFn = answers.extract_answer,
    prompt: PromptFn = question_prompt,
    revision_prompt: RevisionPromptFn = default_revision_prompt,
    name: str = "revision",
) -> StateGraph[TTCState, TTCContext, TTCStrategyInput, TTCStrategyOutput]:
    """Build revisions: ``n // sequential`` parallel chains of ``sequential`` attempts.

    ``generate`` draws each chain's first attempt (finished probes are reused
    as first attempts); ``revise`` then runs ``sequential - 1`` times, each
    time writing one new attempt per chain conditioned on the chain's 4 most
    recent attempts as a multi-turn chat; ``verify`` scores every attempt; and
    ``select`` applies the paper's hierarchical selection (weighted best-of-N
    within each chain, then across the chain winners) or, without a verifier
    or with ``selection="majority"``, one flat vote over every attempt.

    Args:
        generator: The policy, for the first attempts.
        verifier: Scores attempts (optional).
        reviser: The revision model; defaults to ``generator``.
        config: The default plan. Defaults to n=16, sequential=4 (4 chains).
        extract_answer: Reads a solution's final answer.
        prompt: Builds the first-attempt prompt from the question.
        revision_prompt: Builds a revision prompt from the question and the
            earlier attempts (default: ``[user: question, assistant: attempt,
            user: REVISE_PROMPT, ...]``).
        name: Names the model calls in traces.

    Raises:
        TypeError, ValueError: For a config of another strategy, or n < sequential.
    """
    plan = check_config(
        config, StrategyConfig(strategy="revise"), STRATEGIES, verifier, "create_revision_graph"
    )
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
        "revise",
        make_revise_node(
            reviser or generator, graph=name, extract_answer=extract_answer, prompt=revision_prompt
        ),
        metadata=meta,
    )
    builder.add_node(
        "select", make_select_node(graph=name, verified=verifier is not None), metadata=meta
    )
    scorer: Literal["verify", "select"] = "verify" if verifier is not None else "select"
    if verifier is not None:
        builder.add_node("verify", make_verify_node(verifier, graph=name), metadata=meta)
        builder.add_edge("verify", "select")

    def after_attempts(state: TTCState) -> Literal["revise", "verify", "select"]:
        if running(state) and state.get("round", 0) < plan_of(state).sequential - 1:
            return "revise"
        if scorer == "verify" and plan_of(state).selection != "majority" and unscored(state):
            return "verify"
        return "select"

    builder.add_edge(START, "prepare")
    builder.add_edge("prepare", "generate")
    targets = ["revise", scorer] if scorer == "select" else ["revise", "verify", "select"]
    builder.add_conditional_edges("generate", after_attempts, targets)
    builder.add_conditional_edges("revise", after_attempts, targets)
    builder.add_edge("select", END)
    return builder
