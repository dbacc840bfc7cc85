"""Sequential revisions in parallel chains ("adaptive response updating").

The whole algorithm: ``n // sequential`` chains run side by side. Each
chain's first attempt is a router probe where one is left and the plan
adopts probes as chains (the default; compute already spent is reused),
else a fresh sample; probes beyond the chains start none; ``revise`` then writes attempt
``round + 1`` of every chain, conditioned on the chain's most recent
attempts, until each chain holds ``sequential`` attempts. With a verifier,
the paper's hierarchical selection picks the answer: weighted best-of-N
within each chain, then weighted best-of-N across the chain winners.
"""

from __future__ import annotations

from collections.abc import Sequence
from functools import partial
from typing import Literal

from langgraph_ttc import answers
from langgraph_ttc.answers import aggregate, answers_equal
from langgraph_ttc.engine.candidates import (
    AnswerFn,
    PromptFn,
    RevisionPromptFn,
    full_candidate,
    question_prompt,
)
from langgraph_ttc.engine.candidates import revision_prompt as default_revision_prompt
from langgraph_ttc.engine.settings import plan_of
from langgraph_ttc.engine.tree import rank
from langgraph_ttc.formats import STEP_DELIMITER
from langgraph_ttc.nodes import (
    Sampling,
    Selected,
    ballot,
    make_revise_node,
    make_verify_node,
    probe_quota,
    vote,
)
from langgraph_ttc.state import TTCState
from langgraph_ttc.strategies.graph import (
    StrategyGraph,
    check_config,
    running,
    start_graph,
    unscored,
)
from langgraph_ttc.types import Candidate, Completion, Generator, StrategyConfig, Verifier

__all__ = [
    "STRATEGIES",
    "create_revision_graph",
    "first_attempts_wanted",
    "hierarchical_select",
    "live_chains",
    "revision_chains",
    "select_revisions",
]

STRATEGIES = frozenset({"revise"})


def first_attempts_wanted(plan: StrategyConfig, candidates: Sequence[Candidate]) -> tuple[int, int]:
    """First attempts to draw, and probes reused as first attempts (one a chain).

    Probes start chains only when the plan adopts them as chains (the default).
    """
    chains = plan.n // plan.sequential
    if plan.probe_use != "chains":
        return chains, 0
    probes = sum(1 for c in candidates if c.get("done") and c.get("source") == "probe")
    return max(0, chains - probes), min(probes, chains)


def revision_chains(
    candidates: Sequence[Candidate], chains: int, *, probes: str = "chains"
) -> dict[int, list[Candidate]]:
    """The plan's ``chains`` revision chains by index, each in attempt order.

    With ``probes="chains"``, chain ``g`` starts with the ``g``-th router probe
    when there is one, else with the sample of group ``g``; its revisions
    (group ``g``) follow. Probes beyond ``chains`` start no chain (a plan
    starts exactly as many chains as it says). With any other ``probes``, no
    probe starts a chain. Chains with no attempt are left out.
    """
    starters = [c for c in candidates if c.get("source") == "probe" and c.get("done")]
    if probes != "chains":
        starters = []
    out: dict[int, list[Candidate]] = {}
    for g in range(chains):
        members = [starters[g]] if g < len(starters) else []
        members += [
            c
            for c in candidates
            if c.get("source") in ("sample", "revision") and c.get("group") == g
        ]
        if members:
            out[g] = members
    return out


def live_chains(
    plan: StrategyConfig, candidates: Sequence[Candidate], round_: int
) -> dict[int, list[Candidate]]:
    """The chains that get attempt ``round_ + 1``: the plan's chains holding ``round_`` attempts."""
    count = plan.n // plan.sequential
    found = revision_chains(candidates, count, probes=plan.probe_use)
    return {g: c for g, c in found.items() if len(c) == round_}


def hierarchical_select(chains: Sequence[Sequence[Candidate]]) -> tuple[str | None, float, dict]:
    """The paper's selection over revision chains, with a verifier.

    Weighted best-of-N within each chain picks the chain's answer; the chain is
    then represented by its best-scored attempt with that answer, and weighted
    best-of-N across these representatives picks the final answer.
    """
    winners: list[Candidate] = []
    for chain in chains:
        answer, _, _ = aggregate(list(chain), selection="weighted")
        if answer is None:
            continue
        winners.append(
            next(
                c
                for c in rank(list(chain))
                if (got := c.get("answer")) is not None and answers_equal(got, answer)
            )
        )
    return aggregate(winners, selection="weighted")


def select_revisions(
    plan: StrategyConfig, candidates: Sequence[Candidate], *, verified: bool
) -> Selected:
    """Hierarchical selection with a verifier; else one flat vote over every attempt.

    Only the probes the plan adopts take part (:func:`~langgraph_ttc.nodes.ballot`):
    as chain starts (``probes="chains"``), or each as a chain of one attempt
    (``probes="samples"``).
    """
    count = plan.n // plan.sequential
    pool = ballot(candidates, probe_quota(plan, count))
    if not verified or plan.selection != "weighted":
        return vote(pool, plan.selection if verified else "majority")
    done = [c for c in pool if c.get("done")]
    if not any(c.get("score") is not None and c.get("answer") is not None for c in done):
        return vote(pool, "majority")
    chains = list(revision_chains(pool, count, probes=plan.probe_use).values())
    used = {c["id"] for chain in chains for c in chain}
    chains += [[c] for c in done if c.get("source") == "probe" and c["id"] not in used]
    answer, confidence, totals = hierarchical_select(chains)
    return answer, confidence, totals, "hierarchical"


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
    step_delimiter: str = STEP_DELIMITER,
) -> StrategyGraph:
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
        step_delimiter: Where a solution is cut into steps (and joined); the
            verifier's ``step_delimiter`` must agree. ``"\\n"`` by default,
            ``"\\n\\n"`` for chat models; ``context.step_delimiter`` overrides it.

    Raises:
        TypeError, ValueError: For a config of another strategy, or n < sequential.
    """
    plan = check_config(
        config, StrategyConfig(strategy="revise"), STRATEGIES, verifier, "create_revision_graph"
    )
    verified = verifier is not None

    def first_attempt(
        plan: StrategyConfig, chain: int, width: int, comp: Completion, delimiter: str
    ) -> Candidate:
        return full_candidate(
            f"sample-{chain}",
            comp,
            extract_answer,
            source="sample",
            group=chain,
            delimiter=delimiter,
        )

    builder = start_graph(
        generator,
        plan=plan,
        strategies=STRATEGIES,
        name=name,
        prompt=prompt,
        # First attempts open the chains; select is the paper's hierarchical rule.
        sampling=Sampling(wanted=first_attempts_wanted, build=first_attempt),
        select=partial(select_revisions, verified=verified),
        verifier=verifier,
        step_delimiter=step_delimiter,
    )
    meta = {"ttc_graph": name, "ttc_strategy": plan.strategy}
    builder.add_node(
        "revise",
        make_revise_node(
            reviser or generator,
            graph=name,
            chains=live_chains,
            extract_answer=extract_answer,
            prompt=revision_prompt,
        ),
        metadata=meta,
    )
    targets: list[str] = ["revise", "select"]
    if verifier is not None:
        builder.add_node("verify", make_verify_node(verifier, graph=name), metadata=meta)
        builder.add_edge("verify", "select")
        targets.insert(1, "verify")

    def after_attempts(state: TTCState) -> Literal["revise", "verify", "select"]:
        if running(state) and state.get("round", 0) < plan_of(state).sequential - 1:
            return "revise"
        if verified and plan_of(state).selection != "majority" and unscored(state):
            return "verify"
        return "select"

    builder.add_conditional_edges("generate", after_attempts, targets)
    builder.add_conditional_edges("revise", after_attempts, targets)
    return builder
