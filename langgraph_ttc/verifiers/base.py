"""What every verifier shares: input checks and the result check.

A verifier subclasses :class:`BaseVerifier` and implements ``_score`` (and
``_ascore`` when it has a native async path). The public ``score``/``ascore``
validate the input, skip the backend for an empty batch, and check the
result: one non-empty list per solution, every score finite and in [0, 1].
A NaN from a backend is a ``ValueError`` naming the verifier and the
solution, never a silent wrong answer downstream.
"""

from __future__ import annotations

import asyncio
import math
from abc import ABC, abstractmethod
from collections.abc import Sequence

from langgraph_ttc.formats import STEP_DELIMITER
from langgraph_ttc.types import ScoreResult

__all__ = [
    "EMPTY_SOLUTION_SCORE",
    "BaseVerifier",
    "check_score_result",
    "check_solutions",
    "split_steps",
]

EMPTY_SOLUTION_SCORE = 0.0
"""A solution with no step scores ``[0.0]``, without a backend call: nothing to
verify is no evidence of a correct solution."""


def split_steps(solution: str, delimiter: str = STEP_DELIMITER) -> list[str]:
    """Cut a solution into steps at ``delimiter``, dropping blank ones.

    Steps keep their text exactly (no stripping), so the PRM reads what the
    policy wrote; this is the cut the bundled PRM is trained on.

    Args:
        solution: Solution text.
        delimiter: The step separator (a line break by default).

    Raises:
        TypeError: If ``solution`` or ``delimiter`` is not a string.
        ValueError: If ``delimiter`` is empty.
    """
    if not isinstance(solution, str):
        raise TypeError(f"solution must be a str, got {type(solution).__name__}")
    if not isinstance(delimiter, str):
        raise TypeError(f"delimiter must be a str, got {type(delimiter).__name__}")
    if not delimiter:
        raise ValueError("delimiter must be a non-empty string")
    return [step for step in solution.split(delimiter) if step.strip()]


def check_solutions(question: object, solutions: object) -> list[str]:
    """Validate a verifier's input and return the solutions as a list.

    Raises:
        TypeError: If ``question`` is not a string, or ``solutions`` is not a
            sequence of strings (a bare string is rejected, not iterated).
    """
    if not isinstance(question, str):
        raise TypeError(f"question must be a str, got {type(question).__name__}")
    if isinstance(solutions, str | bytes) or not isinstance(solutions, Sequence):
        raise TypeError(f"solutions must be a sequence of str, got {type(solutions).__name__}")
    out = list(solutions)
    for i, sol in enumerate(out):
        if not isinstance(sol, str):
            raise TypeError(f"solutions[{i}] must be a str, got {type(sol).__name__}")
    return out


def check_score_result(name: str, result: ScoreResult, n_solutions: int) -> ScoreResult:
    """Check a backend's result; return it with every score a plain ``float``.

    Raises:
        ValueError: If the result does not hold one non-empty score list per
            solution, or a score is NaN, infinite or outside [0, 1] (the
            message names the verifier and the solution index).
    """
    if not isinstance(result, ScoreResult):
        raise TypeError(f"verifier {name!r} returned {type(result).__name__}, not ScoreResult")
    if len(result.steps) != n_solutions:
        raise ValueError(
            f"verifier {name!r} returned {len(result.steps)} score lists "
            f"for {n_solutions} solutions"
        )
    steps: list[list[float]] = []
    for i, scores in enumerate(result.steps):
        if not scores:
            raise ValueError(f"verifier {name!r} returned no score for solution {i}")
        row: list[float] = []
        for s in scores:
            value = float(s)
            if math.isnan(value):
                raise ValueError(f"verifier {name!r} returned NaN for solution {i}")
            if not (math.isfinite(value) and 0.0 <= value <= 1.0):
                raise ValueError(
                    f"verifier {name!r} returned {value!r} for solution {i}; "
                    "scores must be in [0, 1]"
                )
            row.append(value)
        steps.append(row)
    if result.tokens < 0 or not math.isfinite(result.flops) or result.flops < 0:
        raise ValueError(
            f"verifier {name!r} reported negative or non-finite cost "
            f"(tokens={result.tokens!r}, flops={result.flops!r})"
        )
    return ScoreResult(steps=steps, tokens=int(result.tokens), flops=float(result.flops))


class BaseVerifier(ABC):
    """Base class of the bundled verifiers; implements the ``Verifier`` protocol.

    Subclasses implement :meth:`_score` and, where the backend is natively
    async, :meth:`_ascore` (by default the sync path runs in a worker thread).
    Both receive validated, non-empty solution lists.

    Attributes:
        name: The verifier's name, used in errors, traces and usage records.
    """

    name: str

    def score(self, question: str, solutions: Sequence[str]) -> ScoreResult:
        """Score ``solutions`` of ``question``.

        Args:
            question: The question.
            solutions: Solution texts; steps are separated by line breaks.

        Returns:
            One score list per solution, each score in [0, 1], plus the cost.

        Raises:
            TypeError: On a non-string question or solution.
            ValueError: If the backend produces an invalid score (NaN, out of range).
        """
        sols = check_solutions(question, solutions)
        if not sols:
            return ScoreResult(steps=[])
        return check_score_result(self.name, self._score(question, sols), len(sols))

    async def ascore(self, question: str, solutions: Sequence[str]) -> ScoreResult:
        """Async twin of :meth:`score`, with the same result and errors."""
        sols = check_solutions(question, solutions)
        if not sols:
            return ScoreResult(steps=[])
        return check_score_result(self.name, await self._ascore(question, sols), len(sols))

    @abstractmethod
    def _score(self, question: str, solutions: list[str]) -> ScoreResult:
        """Score a non-empty, validated batch."""

    async def _ascore(self, question: str, solutions: list[str]) -> ScoreResult:
        return await asyncio.to_thread(self._score, question, solutions)

    def __repr__(self) -> str:
        return f"{type(self).__name__}(name={self.name!r})"
