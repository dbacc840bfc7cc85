"""The graph state and the run context shared by every strategy."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Annotated, Any

from typing_extensions import TypedDict

from langgraph_ttc.types import Budget, Candidate, StrategyConfig, Usage, add_usage


def merge_warnings(left: list[str] | None, right: list[str] | None) -> list[str]:
    """Reducer for ``TTCState.warnings``: append the new ones, each warning once."""
    return list(dict.fromkeys([*(left or []), *(right or [])]))


def merge_candidates(
    left: list[Candidate] | None, right: list[Candidate] | None
) -> list[Candidate]:
    """Reducer: upsert candidates by ``id``, keeping first-seen order.

    A node returns only the candidates it created or changed; this merges
    them into the pool, so a checkpoint holds every candidate exactly once.
    """
    merged: dict[str, Candidate] = {c["id"]: c for c in left or []}
    for cand in right or []:
        merged[cand["id"]] = cand
    return list(merged.values())


class TTCInput(TypedDict):
    """What a caller passes: the question."""

    question: str


class TTCOutput(TypedDict, total=False):
    """What a run returns."""

    answer: str | None
    confidence: float | None
    status: str
    error: str | None
    """Why the run stopped early (a backend failure), else ``None``."""
    strategy: str
    difficulty: int | None
    usage: Usage
    candidates: list[Candidate]
    warnings: list[str]
    """What looked wrong in replies the run still used (none: absent or empty)."""
    policy: dict[str, Any] | None
    """Which policy the router ran and whether it was fitted for these models."""


class TTCState(TypedDict, total=False):
    """The state of one run. Plain data only: it checkpoints and crosses the wire.

    Attributes:
        question: The question, as given.
        candidates: Every full or partial solution so far (upserted by id).
        round: Step round of a tree search, or revision index.
        difficulty: The router's difficulty bin (1 = easiest), if routed.
        plan: The ``StrategyConfig`` in force, as a dict.
        strategy: The plan's strategy name.
        answer: The selected final answer (canonical form).
        confidence: The selected answer's share of the aggregated score.
        status: ``running``, ``done``, or why the run stopped early.
        error: The backend error that stopped the run, if any.
        usage: Compute spent so far (summed by the reducer).
        started_at: Wall-clock start, for the deadline.
        step_delimiter: Where steps are cut in this run (``prepare`` writes
            the one in force: ``context.step_delimiter``, else the graph's).
        policy: Which compute policy the router ran (``PolicyCheck.metadata``:
            given or generic, whether it was fitted for the run's models, why).
        warnings: What looked wrong in replies that were still used (for
            example identical samples at temperature > 0: a repeated seed),
            each once, in the order first seen.
    """

    question: str
    candidates: Annotated[list[Candidate], merge_candidates]
    round: int
    difficulty: int | None
    plan: dict[str, Any]
    strategy: str
    answer: str | None
    confidence: float | None
    status: str
    error: str | None
    usage: Annotated[Usage, add_usage]
    started_at: float
    step_delimiter: str
    warnings: Annotated[list[str], merge_warnings]
    policy: dict[str, Any] | None


@dataclass(frozen=True)
class TTCContext:
    """Run settings, read by the nodes through ``Runtime.context``.

    Attributes:
        seed: Base seed; every sampling call derives its own from it.
        budget: Hard cap on compute; ``None`` means the plan's own cost.
        plan: Overrides the strategy config the graph was built with.
        max_tokens: Cap on tokens per full solution.
        step_max_tokens: Cap on tokens per step in step-level search.
        deadline_s: Wall-clock limit for the run.
        tags: Extra tags on model calls, for tracing.
        step_delimiter: Overrides the graph's step delimiter for this run
            (``None``: the graph's ``step_delimiter`` option). Step-level
            search stops, cuts and joins steps at it; a verifier with a
            ``step_delimiter`` of its own must agree.
    """

    seed: int = 0
    budget: Budget | None = None
    plan: StrategyConfig | None = None
    max_tokens: int = 256
    step_max_tokens: int = 64
    deadline_s: float | None = None
    tags: tuple[str, ...] = ()
    step_delimiter: str | None = None
