"""Best-of-N, majority voting and greedy decoding: sample full solutions, then vote.

The whole algorithm: draw N full solutions in one call (finished router
probes count as samples when the plan adopts them, ``probes="samples"``, the
default for majority and best-of-N), score them with the verifier (best-of-N only), and
pick the answer: weighted best-of-N (sum of scores per distinct answer),
the single best score, or one vote per sample. Greedy is one sample at
temperature 0, and only its own sample decides unless the plan adopts the
probes.
"""

from __future__ import annotations

from collections.abc import Sequence
from functools import partial
from typing import Literal

from langgraph_ttc import answers
from langgraph_ttc.engine.candidates import AnswerFn, PromptFn, full_candidate, question_prompt
from langgraph_ttc.formats import STEP_DELIMITER
from langgraph_ttc.nodes import (
    Sampling,
    Selected,
    ballot,
    make_verify_node,
    probe_quota,
    vote,
)
from langgraph_ttc.state import TTCState
from langgraph_ttc.strategies.graph import StrategyGraph, check_config, start_graph, unscored
from langgraph_ttc.types import Candidate, Completion, Generator, StrategyConfig, Verifier

__all__ = ["STRATEGIES", "create_best_of_n_graph", "samples_wanted", "select_best_of_n"]

STRATEGIES = frozenset({"greedy", "majority", "best_of_n"})
_REUSABLE = ("probe", "sample")


def samples_wanted(plan: StrategyConfig, candidates: Sequence[Candidate]) -> tuple[int, int]:
    """How many full solutions to draw, and how many finished ones already count.

    Best-of-N and majority reuse finished samples already drawn, and finished
    probes when the plan adopts them as samples; greedy draws its own.
    """
    if plan.strategy == "greedy":
        return 1, 0
    sources = _REUSABLE if plan.probe_use == "samples" else ("sample",)
    reusable = [c for c in candidates if c.get("done") and c.get("source") in sources]
    return max(0, plan.n - len(reusable)), min(len(reusable), plan.n)


def select_best_of_n(
    plan: StrategyConfig, candidates: Sequence[Candidate], *, verified: bool
) -> Selected:
    """The plan's selection over every finished sample it adopted.

    Greedy and majority never pay for the verifier, so they vote; so does a
    graph without one. ``selection="confidence"`` weights each vote by the
    model's own confidence instead. Probes vote only when the plan adopts them.
    """
    scored = verified and plan.strategy == "best_of_n"
    rule = plan.selection if scored or plan.selection == "confidence" else "majority"
    return vote(ballot(candidates, probe_quota(plan)), rule)


def _temperature(plan: StrategyConfig) -> float:
    return 0.0 if plan.strategy == "greedy" else plan.temperature


def create_best_of_n_graph(
    generator: Generator,
    *,
    verifier: Verifier | None = None,
    config: StrategyConfig | None = None,
    extract_answer: AnswerFn = answers.extract_answer,
    prompt: PromptFn = question_prompt,
    name: str = "best_of_n",
    step_delimiter: str = STEP_DELIMITER,
) -> StrategyGraph:
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
        name: Names the graph, and its model calls' steps in traces
            (``ttc_step``: ``{name}/generate``).
        step_delimiter: Where a solution is cut into steps (and joined); the
            verifier's ``step_delimiter`` must agree. ``"\\n"`` by default,
            ``"\\n\\n"`` for chat models; ``context.step_delimiter`` overrides it.

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
    verified = verifier is not None

    def build(
        plan: StrategyConfig, index: int, width: int, comp: Completion, delimiter: str
    ) -> Candidate:
        return full_candidate(
            f"sample-{index}", comp, extract_answer, source="sample", delimiter=delimiter
        )

    builder = start_graph(
        generator,
        verifier=verifier,
        plan=plan,
        strategies=STRATEGIES,
        sampling=Sampling(wanted=samples_wanted, build=build, temperature=_temperature),
        select=partial(select_best_of_n, verified=verified),
        prompt=prompt,
        name=name,
        step_delimiter=step_delimiter,
    )
    if verifier is None:
        builder.add_edge("generate", "select")
        return builder
    meta = {"ttc_graph": name, "ttc_strategy": plan.strategy}
    builder.add_node("verify", make_verify_node(verifier, graph=name), metadata=meta)

    def after_generate(state: TTCState) -> Literal["verify", "select"]:
        # Greedy decoding and majority voting never pay for the verifier.
        wants_scores = (state.get("plan") or {}).get("strategy") == "best_of_n"
        return "verify" if wants_scores and unscored(state) else "select"

    builder.add_conditional_edges("generate", after_generate, ["verify", "select"])
    builder.add_edge("verify", "select")
    return builder
