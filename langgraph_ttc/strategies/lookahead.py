"""Lookahead search: beam search scored at the end of greedy rollouts."""

from __future__ import annotations

from langgraph.graph import StateGraph

from langgraph_ttc import answers
from langgraph_ttc.nodes.candidates import AnswerFn, PromptFn, question_prompt
from langgraph_ttc.state import TTCContext, TTCState
from langgraph_ttc.strategies.graph import TTCStrategyInput, TTCStrategyOutput, check_config
from langgraph_ttc.strategies.tree import build_tree_graph
from langgraph_ttc.types import Generator, StrategyConfig, Verifier

__all__ = ["create_lookahead_graph"]

STRATEGIES = frozenset({"lookahead"})


def create_lookahead_graph(
    generator: Generator,
    *,
    verifier: Verifier,
    config: StrategyConfig | None = None,
    extract_answer: AnswerFn = answers.extract_answer,
    prompt: PromptFn = question_prompt,
    name: str = "lookahead",
) -> StateGraph[TTCState, TTCContext, TTCStrategyInput, TTCStrategyOutput]:
    """Build lookahead search.

    Beam search in which each new unfinished step is scored by the PRM at the
    end of a greedy (temperature 0) rollout of up to k = ``config.lookahead``
    more steps; the rollout is thrown away after scoring. Costs N x (k + 1)
    generations; k = 0 is beam search.

    Args:
        generator: The policy (also runs the rollouts).
        verifier: The PRM.
        config: The default plan. Defaults to N=16, M=4, k=1.
        extract_answer: Reads a solution's final answer.
        prompt: Builds the prompt from the question.
        name: Names the model calls in traces.

    Raises:
        TypeError, ValueError: For a config of another strategy or no verifier.
    """
    plan = check_config(
        config,
        StrategyConfig(strategy="lookahead", lookahead=1),
        STRATEGIES,
        verifier,
        "create_lookahead_graph",
    )
    return build_tree_graph(
        generator,
        verifier,
        plan,
        strategies=STRATEGIES,
        source="lookahead",
        extract_answer=extract_answer,
        prompt=prompt,
        name=name,
    )
