"""Beam search against a process reward model (Snell et al. 2024, section 5)."""

from __future__ import annotations

from langgraph.graph import StateGraph

from langgraph_ttc import answers
from langgraph_ttc.nodes.candidates import AnswerFn, PromptFn, question_prompt
from langgraph_ttc.state import TTCContext, TTCState
from langgraph_ttc.strategies.graph import TTCStrategyInput, TTCStrategyOutput, check_config
from langgraph_ttc.strategies.tree import build_tree_graph
from langgraph_ttc.types import Generator, StrategyConfig, Verifier

__all__ = ["create_beam_search_graph"]

STRATEGIES = frozenset({"beam"})


def create_beam_search_graph(
    generator: Generator,
    *,
    verifier: Verifier,
    config: StrategyConfig | None = None,
    extract_answer: AnswerFn = answers.extract_answer,
    prompt: PromptFn = question_prompt,
    name: str = "beam_search",
) -> StateGraph[TTCState, TTCContext, TTCStrategyInput, TTCStrategyOutput]:
    """Build beam search over steps (lines), ranked by a PRM.

    N first steps are sampled and scored; the top N/M partial solutions are
    kept and each is extended by M sampled next steps, so the frontier holds N
    paths again; repeat until N solutions have finished, none is left
    unfinished, or ``max_rounds`` (the last round runs each path to its end).
    Finished solutions are set aside; the final pick is ``selection``
    (weighted best-of-N by default) over them. Costs N generations.

    Args:
        generator: The policy.
        verifier: The PRM (step scores, folded with ``config.fold``).
        config: The default plan: N = ``n``, M = ``beam_width``. Defaults to
            N=16, M=4, 40 rounds.
        extract_answer: Reads a solution's final answer (a path whose new step
            holds one is finished).
        prompt: Builds the prompt from the question.
        name: Names the model calls in traces.

    Raises:
        TypeError, ValueError: For a config of another strategy or no verifier.
    """
    plan = check_config(
        config, StrategyConfig(strategy="beam"), STRATEGIES, verifier, "create_beam_search_graph"
    )
    return build_tree_graph(
        generator,
        verifier,
        plan,
        strategies=STRATEGIES,
        source="beam",
        extract_answer=extract_answer,
        prompt=prompt,
        name=name,
    )
