"""FunctionVerifier: the suite checker, floats, async callables, and faults."""

from __future__ import annotations

import asyncio
import math
import threading
from typing import Any, cast

import pytest

from langgraph_ttc.suite import task
from langgraph_ttc.types import ScoreResult, Verifier
from langgraph_ttc.verifiers import FunctionVerifier

QUESTION = "34*7-95+84*4"
RIGHT = task.reference_solution(QUESTION)
WRONG = RIGHT.rsplit("\n", 1)[0] + "\n#### 480"


def test_from_suite_checker() -> None:
    verifier = FunctionVerifier.from_checker(task.check)
    assert isinstance(verifier, Verifier)
    assert verifier.name == "check"
    result = verifier.score(QUESTION, [RIGHT, WRONG, "", "garbage"])
    assert result == ScoreResult(steps=[[1.0], [0.0], [0.0], [0.0]], tokens=0, flops=0.0)


def test_question_first_callable_and_floats() -> None:
    def partial_credit(question: str, solution: str) -> float:
        return 0.25 if question in solution else 0.75

    verifier = FunctionVerifier(partial_credit, name="credit")
    assert verifier.name == "credit"
    assert verifier.score("x", ["has x", "no"]).steps == [[0.25], [0.75]]


def test_nan_names_the_verifier_and_solution() -> None:
    def flaky(question: str, solution: str) -> float:
        return math.nan if solution == "bad" else 1.0

    with pytest.raises(ValueError, match=r"'flaky'.*NaN.*solution 2"):
        FunctionVerifier(flaky).score(QUESTION, ["ok", "ok", "bad"])


def test_out_of_range_and_wrong_type() -> None:
    with pytest.raises(ValueError, match=r"'big'.*1.5.*solution 0"):
        FunctionVerifier(lambda q, s: 1.5, name="big").score(QUESTION, ["a"])
    with pytest.raises(ValueError, match="solution 0"):
        FunctionVerifier(lambda q, s: -math.inf, name="neg").score(QUESTION, ["a"])
    with pytest.raises(TypeError, match=r"'words'.*str for solution 0"):
        FunctionVerifier(cast(Any, lambda q, s: "yes"), name="words").score(QUESTION, ["a"])
    with pytest.raises(TypeError, match="NoneType"):
        FunctionVerifier(cast(Any, lambda q, s: None)).score(QUESTION, ["a"])


def test_exceptions_propagate() -> None:
    def boom(question: str, solution: str) -> bool:
        raise RuntimeError("checker failed")

    with pytest.raises(RuntimeError, match="checker failed"):
        FunctionVerifier(boom).score(QUESTION, ["a"])


def test_bad_construction_and_input() -> None:
    with pytest.raises(TypeError, match="fn"):
        FunctionVerifier(42)  # type: ignore[arg-type]
    with pytest.raises(TypeError, match="check"):
        FunctionVerifier.from_checker("check")  # type: ignore[arg-type]
    verifier = FunctionVerifier.from_checker(task.check)
    with pytest.raises(TypeError, match="solutions"):
        verifier.score(QUESTION, RIGHT)
    assert verifier.score(QUESTION, []) == ScoreResult(steps=[])


async def test_ascore_runs_sync_functions_in_a_thread() -> None:
    threads: list[int] = []

    def check(solution: str, question: str) -> bool:
        threads.append(threading.get_ident())
        return task.check(solution, question)

    result = await FunctionVerifier.from_checker(check).ascore(QUESTION, [RIGHT, WRONG])
    assert result.steps == [[1.0], [0.0]]
    assert threads and threading.get_ident() not in threads


async def test_async_functions_are_awaited_concurrently() -> None:
    running = 0
    peak = 0

    async def slow_check(question: str, solution: str) -> bool:
        nonlocal running, peak
        running += 1
        peak = max(peak, running)
        await asyncio.sleep(0.01)
        running -= 1
        return task.check(solution, question)

    verifier = FunctionVerifier(slow_check)
    result = await verifier.ascore(QUESTION, [RIGHT, WRONG, RIGHT])
    assert result.steps == [[1.0], [0.0], [1.0]]
    assert peak == 3


async def test_async_checker_via_from_checker() -> None:
    async def acheck(solution: str, question: str) -> bool:
        return task.check(solution, question)

    verifier = FunctionVerifier.from_checker(acheck)
    assert (await verifier.ascore(QUESTION, [WRONG, RIGHT])).steps == [[0.0], [1.0]]
    # The sync path works for an async function too, even inside a running loop.
    assert verifier.score(QUESTION, [WRONG, RIGHT]).steps == [[0.0], [1.0]]


def test_sync_score_of_async_function_without_loop() -> None:
    async def half(question: str, solution: str) -> float:
        return 0.5

    assert FunctionVerifier(half).score(QUESTION, ["a", "b"]).steps == [[0.5], [0.5]]


async def test_async_nan_is_caught_too() -> None:
    async def bad(question: str, solution: str) -> float:
        return math.nan

    with pytest.raises(ValueError, match=r"'bad'.*solution 0"):
        await FunctionVerifier(bad).ascore(QUESTION, ["a"])
