"""The batch graph's data: its input, output and state, one question's result, the checks.

Plain data only (it checkpoints and crosses the wire); per-question entries
are upserted by their ``index`` and kept in question order.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Annotated, Any

from langgraph.graph import StateGraph
from typing_extensions import TypedDict

from langgraph_ttc import answers
from langgraph_ttc.engine.settings import check_question
from langgraph_ttc.state import TTCContext
from langgraph_ttc.types import Candidate, Usage, add_usage, empty_usage

__all__ = [
    "BatchGraph",
    "BatchInput",
    "BatchOutput",
    "BatchState",
    "Estimate",
    "QuestionResult",
    "batch_total",
    "check_questions",
    "probe_failure",
]


def _by_index(left: list[Any] | None, right: list[Any] | None) -> list[Any]:
    """Reducer: upsert per-question entries by ``index``, kept in question order."""
    merged = {e["index"]: e for e in left or []}
    merged.update({e["index"]: e for e in right or []})
    return [merged[i] for i in sorted(merged)]


class QuestionResult(TypedDict, total=False):
    """One question's outcome in a batch.

    Attributes:
        index: The question's position in the batch.
        question: The question.
        answer: The selected answer, or ``None``.
        confidence: The answer's share of the vote.
        status: ``done``, or why the question's run stopped early.
        error: The backend error, if any.
        strategy: The strategy it ran.
        plan: The plan it ran, as a dict.
        difficulty: Its predicted bin (``None`` without probes).
        score: Its predicted pass rate (the probes' mean verifier score).
        budget: The generations allotted to it, its probes included.
        usage: What it spent, its probes included.
    """

    index: int
    question: str
    answer: str | None
    confidence: float | None
    status: str
    error: str | None
    strategy: str | None
    plan: dict[str, Any] | None
    difficulty: int | None
    score: float | None
    budget: int
    usage: Usage


class Estimate(TypedDict, total=False):
    """One question's probes: predicted pass rate and bin, the probes, their cost, status."""

    index: int
    score: float | None
    difficulty: int | None
    probes: list[Candidate]
    usage: Usage
    status: str
    error: str | None


class BatchInput(TypedDict):
    """What a caller passes: the questions (the total budget goes in the context)."""

    questions: list[str]


class BatchOutput(TypedDict, total=False):
    """What a batch run returns: one result per question, in order, and the total usage."""

    results: list[QuestionResult]
    budgets: list[int]
    usage: Usage
    status: str
    policy: dict[str, Any]


class BatchState(TypedDict, total=False):
    """The state of a batch run (plain data; per-question entries upserted by index)."""

    questions: list[str]
    total: int
    probes: int
    started_at: float
    estimates: Annotated[list[Estimate], _by_index]
    budgets: list[int]
    results: Annotated[list[QuestionResult], _by_index]
    usage: Annotated[Usage, add_usage]
    status: str
    policy: dict[str, Any]


BatchGraph = StateGraph[BatchState, TTCContext, BatchInput, BatchOutput]


def check_questions(questions: object) -> list[str]:
    """The batch's questions, checked: a non-empty list of non-empty strings.

    Raises:
        TypeError: If ``questions`` is a single string or not a list of strings.
        ValueError: If it is empty or a question is blank (named by its index).
    """
    if isinstance(questions, str) or not isinstance(questions, Sequence):
        raise TypeError(f"questions must be a list of strings, got {type(questions).__name__}")
    if not questions:
        raise ValueError("questions must hold at least one question")
    out = []
    for i, q in enumerate(questions):
        try:
            out.append(check_question(q))
        except (TypeError, ValueError) as exc:
            raise type(exc)(f"questions[{i}]: {exc}") from None
    return out


def batch_total(ctx: TTCContext, count: int) -> int:
    """The batch's total budget in generations, checked against the number of questions.

    Raises:
        ValueError: Without ``context.budget.generations``, with another cap
            (tokens, FLOPs, verifier tokens: not split), or below one
            generation a question; or with a ``context.plan`` (a batch
            chooses each question's plan).
    """
    if ctx.plan is not None:
        raise ValueError(
            "context.plan forces one plan, but a batch chooses each question's plan: leave it unset"
        )
    budget = ctx.budget
    if budget is None or budget.generations is None:
        raise ValueError("a batch needs context.budget.generations: the total for all questions")
    other = [f for f in ("tokens", "flops", "verifier_tokens") if getattr(budget, f) is not None]
    if other:
        raise ValueError(
            f"a batch budget splits generations only; budget.{other[0]} is not supported"
        )
    total = int(budget.generations + 1e-9)
    if total < count:
        raise ValueError(
            f"a budget of {budget.generations:g} generations is smaller than the number of "
            f"questions ({count}): each question needs at least one generation"
        )
    return total


def probe_failure(index: int, question: str, est: Estimate, spent: int) -> QuestionResult:
    """A question whose probes failed: no answer on a backend error, the probes' on partial."""
    answer, confidence = None, None
    if est.get("status") == "partial":
        done = [c for c in est.get("probes") or [] if c.get("done")]
        scored = any(c.get("score") is not None for c in done)
        answer, confidence, _ = answers.aggregate(
            done, selection="weighted" if scored else "majority"
        )
    return {
        "index": index,
        "question": question,
        "answer": answer,
        "confidence": confidence if answer else None,
        "status": est.get("status", "done"),
        "error": est.get("error"),
        "strategy": None,
        "plan": None,
        "difficulty": None,
        "score": None,
        "budget": spent,
        "usage": est.get("usage") or empty_usage(),
    }
