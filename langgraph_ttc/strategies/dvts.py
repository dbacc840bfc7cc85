"""Diverse verifier tree search (DVTS, from Hugging Face's search-and-learn)."""

from __future__ import annotations

from langgraph.graph import StateGraph

from langgraph_ttc import answers
from langgraph_ttc.nodes.candidates import AnswerFn, PromptFn, question_prompt
from langgraph_ttc.state import TTCContext, TTCState
from langgraph_ttc.strategies.graph import TTCStrategyInput, TTCStrategyOutput, check_config
from langgraph_ttc.strategies.tree import build_tree_graph
from langgraph_ttc.types import Generator, StrategyConfig, Verifier

__all__ = ["create_dvts_graph"]

STRATEGIES = frozenset({"dvts"})


def create_dvts_graph(
    generator: Generator,
    *,
    verifier: Verifier,
    config: StrategyConfig | None = None,
    extract_answer: AnswerFn = answers.extract_answer,
    prompt: PromptFn = question_prompt,
    name: str = "dvts",
) -> StateGraph[TTCState, TTCContext, TTCStrategyInput, TTCStrategyOutput]:
    """Build DVTS: N/M independent subtrees, each a greedy search over M expansions.

    Each subtree (``Candidate.group``) samples M next steps of its one path and
    keeps only the best by PRM score; a subtree ends when its best child is a
    finished solution. Subtrees never share paths, which keeps diversity at
    large N. The final pick is ``selection`` over all finished solutions.
    Costs N generations.

    Args:
        generator: The policy.
        verifier: The PRM.
        config: The default plan: N = ``n``, M = ``beam_width``. Defaults to N=16, M=4.
        extract_answer: Reads a solution's final answer.
        prompt: Builds the prompt from the question.
        name: Names the model calls in traces.

    Raises:
        TypeError, ValueError: For a config of another strategy or no verifier.
    """
    plan = check_config(
        config, StrategyConfig(strategy="dvts"), STRATEGIES, verifier, "create_dvts_graph"
    )
    return build_tree_graph(
        generator,
        verifier,
        plan,
        strategies=STRATEGIES,
        source="dvts",
        extract_answer=extract_answer,
        prompt=prompt,
        name=name,
    )
