"""Adaptive sampling: draw full solutions in rounds, stop once the vote has settled.

The whole algorithm: each round draws ``round_size`` full solutions in one
call (finished router probes count as votes when the plan adopts them, as
they do by default), scores them with the verifier when the vote is
weighted, and asks :func:`settled`: the leading answer holds at least
``stop_share`` of the vote (the sum of verifier scores per answer with a
verifier and ``selection="weighted"``, else one vote per sample). If it
does, or ``n`` samples are in, or the budget is spent, ``select`` applies
the plan's vote; otherwise the next round starts. ``n`` is the cap, not the
spend: easy questions stop after the first round (the benchmark's "stop when
the votes agree", best-of-64's accuracy at about half its cost).

The default stopping rule is the share rule, one readable number: a round
of 4 that all agree stops at once (share 1.0), 3 of 4 stops at the default
0.75. Two settings make it statistical, as in adaptive-consistency
(Aggarwal et al. 2023): ``stop_confidence`` stops once the posterior
probability that the leader is likelier than the runner-up reaches it
(:func:`leader_confidence`), and ``give_up_after``/``give_up_share`` stop a
question whose vote has not settled after that many samples: on the bundled
policy such questions are mostly wrong at 64 samples too, and they are where
a plain vote spends its budget.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from functools import partial
from typing import Any, Literal

from langgraph_ttc import answers
from langgraph_ttc.engine.candidates import AnswerFn, PromptFn, full_candidate, question_prompt
from langgraph_ttc.engine.settings import plan_of
from langgraph_ttc.engine.tree import finished
from langgraph_ttc.formats import STEP_DELIMITER
from langgraph_ttc.nodes import Sampling, Selected, ballot, make_verify_node, probe_quota, vote
from langgraph_ttc.state import TTCState
from langgraph_ttc.strategies.graph import StrategyGraph, check_config, running, start_graph
from langgraph_ttc.types import Candidate, Completion, Generator, StrategyConfig, Verifier

__all__ = [
    "STRATEGIES",
    "create_adaptive_graph",
    "leader_confidence",
    "round_wanted",
    "select_adaptive",
    "settled",
]

STRATEGIES = frozenset({"adaptive"})


def _votes(plan: StrategyConfig, candidates: Sequence[Candidate]) -> list[Candidate]:
    """The finished samples that vote: the plan's own, and the probes it adopts."""
    return finished(ballot(candidates, probe_quota(plan)))


def round_wanted(plan: StrategyConfig, candidates: Sequence[Candidate]) -> tuple[int, int]:
    """This round's new samples (at most ``round_size``, at most ``n`` in all), and those in."""
    have = len(_votes(plan, candidates))
    return max(0, min(plan.round_size, plan.n - have)), have


def select_adaptive(
    plan: StrategyConfig, candidates: Sequence[Candidate], *, verified: bool
) -> Selected:
    """The plan's vote over every sample in: the plan's ``selection`` with a verifier (or
    ``confidence``, which needs none), else majority."""
    scored = verified or plan.selection == "confidence"
    rule = plan.selection if scored else "majority"
    return vote(ballot(candidates, probe_quota(plan)), rule)


def leader_confidence(totals: Mapping[str, float]) -> float:
    """The posterior probability that the leading answer is likelier than the runner-up.

    With Beta(a + 1, b + 1) on the leader's share of the two (``a`` and ``b``
    their vote totals, counts or summed verifier scores), the probability that
    the share exceeds 1/2, by the normal approximation of the Beta (good from
    a few votes on, and defined for weighted totals).
    """
    a, b = [*sorted(totals.values(), reverse=True), 0.0, 0.0][:2]
    mean = (a + 1) / (a + b + 2)
    var = mean * (1 - mean) / (a + b + 3)
    return 0.5 * (1 + math.erf((mean - 0.5) / math.sqrt(2 * var)))


def settled(plan: StrategyConfig, candidates: Sequence[Candidate], *, verified: bool) -> bool:
    """Whether sampling stops: ``n`` samples in, or the vote has settled, or given up.

    Settled: the leader holds ``stop_share`` of the vote (the winner's total
    over all totals: verifier scores with a weighted vote, counts otherwise),
    or, with ``stop_confidence`` set, :func:`leader_confidence` reaches it. A
    single vote (one sample agrees with itself) never settles. Given up: at
    least ``give_up_after`` votes in and the leader under ``give_up_share``
    (or no answer at all).
    """
    votes = len(_votes(plan, candidates))
    if votes >= plan.n:
        return True
    if votes < 2:
        return False
    answer, share, totals, _ = select_adaptive(plan, candidates, verified=verified)
    if answer is not None:
        if plan.stop_confidence > 0:
            if leader_confidence(totals) >= plan.stop_confidence:
                return True
        elif share >= plan.stop_share - 1e-12:
            return True
    return 0 < plan.give_up_after <= votes and (answer is None or share < plan.give_up_share)


def create_adaptive_graph(
    generator: Generator,
    *,
    verifier: Verifier | None = None,
    config: StrategyConfig | None = None,
    extract_answer: AnswerFn = answers.extract_answer,
    prompt: PromptFn = question_prompt,
    name: str = "adaptive",
    step_delimiter: str = STEP_DELIMITER,
) -> StrategyGraph:
    """Build adaptive sampling: ``prepare -> (generate -> [verify] -> next round)* -> select``.

    Args:
        generator: The policy.
        verifier: Scores samples for a weighted vote; without one (or with
            ``selection="majority"``) every sample is one vote.
        config: The default plan: ``n`` (the cap), ``round_size``,
            ``stop_share``, ``selection``. Defaults to at most 16 samples in
            rounds of 4, stopping at a 0.75 share (weighted with a verifier).
        extract_answer: Reads a solution's final answer.
        prompt: Builds the prompt from the question.
        name: Names the graph and its model calls in traces.
        step_delimiter: Where a solution is cut into steps (and joined); the
            verifier's ``step_delimiter`` must agree. ``"\\n"`` by default,
            ``"\\n\\n"`` for chat models; ``context.step_delimiter`` overrides it.

    Returns:
        The uncompiled graph; compile it with your checkpointer.

    Raises:
        TypeError, ValueError: For a config of another strategy.
    """
    default = StrategyConfig(
        "adaptive", selection="weighted" if verifier is not None else "majority"
    )
    plan = check_config(config, default, STRATEGIES, verifier, "create_adaptive_graph")

    def build(
        plan: StrategyConfig, index: int, width: int, comp: Completion, delimiter: str
    ) -> Candidate:
        return full_candidate(
            f"sample-{index}", comp, extract_answer, source="sample", delimiter=delimiter
        )

    def scored(state: TTCState) -> bool:
        return verifier is not None and plan_of(state).selection not in ("majority", "confidence")

    builder = start_graph(
        generator,
        verifier=verifier,
        plan=plan,
        strategies=STRATEGIES,
        sampling=Sampling(wanted=round_wanted, build=build),
        select=partial(select_adaptive, verified=verifier is not None),
        prompt=prompt,
        name=name,
        step_delimiter=step_delimiter,
    )
    meta = {"ttc_graph": name, "ttc_strategy": plan.strategy}

    def next_round(state: TTCState) -> dict[str, Any]:
        return {"round": state.get("round", 0) + 1}

    builder.add_node("next_round", next_round, metadata=meta)
    builder.add_edge("next_round", "generate")

    def after_votes(state: TTCState) -> Literal["next_round", "select"]:
        cands = state.get("candidates") or []
        done = settled(plan_of(state), cands, verified=scored(state))
        return "select" if done or not running(state) else "next_round"

    if verifier is None:
        builder.add_conditional_edges("generate", after_votes, ["next_round", "select"])
        return builder
    builder.add_node("verify", make_verify_node(verifier, graph=name), metadata=meta)

    def after_generate(state: TTCState) -> Literal["verify", "next_round", "select"]:
        fresh = any(c.get("score") is None and c["text"] for c in state.get("candidates") or [])
        return "verify" if scored(state) and fresh else after_votes(state)

    builder.add_conditional_edges("generate", after_generate, ["verify", "next_round", "select"])
    builder.add_conditional_edges("verify", after_votes, ["next_round", "select"])
    return builder
