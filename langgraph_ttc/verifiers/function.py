"""A verifier from a plain function: a checker, a rule, a unit test, an oracle."""

from __future__ import annotations

import asyncio
import concurrent.futures
import inspect
from collections.abc import Awaitable, Callable
from typing import Any

from langgraph_ttc.types import ScoreResult
from langgraph_ttc.verifiers.base import BaseVerifier

__all__ = ["FunctionVerifier"]

ScoreFn = Callable[[str, str], bool | float | Awaitable[bool | float]]


def _is_async(fn: Callable[..., Any]) -> bool:
    return inspect.iscoroutinefunction(fn) or inspect.iscoroutinefunction(
        getattr(fn, "__call__", None)  # noqa: B004 - async callable objects
    )


def _await_all(values: list[Any]) -> list[Any]:
    """Resolve any awaitables among ``values`` from sync code, running loop or not."""
    pending = [i for i, v in enumerate(values) if inspect.isawaitable(v)]
    if not pending:
        return values

    async def gather() -> list[Any]:
        return list(await asyncio.gather(*(values[i] for i in pending)))

    try:
        asyncio.get_running_loop()
    except RuntimeError:
        done = asyncio.run(gather())
    else:
        # This thread already runs a loop: finish the awaitables on a fresh one elsewhere.
        with concurrent.futures.ThreadPoolExecutor(max_workers=1) as pool:
            done = pool.submit(asyncio.run, gather()).result()
    out = list(values)
    for i, v in zip(pending, done, strict=True):
        out[i] = v
    return out


class FunctionVerifier(BaseVerifier):
    """Wraps ``fn(question, solution) -> bool | float`` as an outcome verifier.

    ``True``/``False`` score 1.0/0.0; a number is used as is and must be in
    [0, 1]; NaN is a ``ValueError`` naming the verifier and the solution.
    Each solution gets one score; the cost is zero tokens and zero FLOPs.

    ``fn`` may be async (or return an awaitable): ``ascore`` awaits the
    solutions concurrently, and ``score`` runs them on an event loop of its
    own. A sync ``fn`` runs in a worker thread under ``ascore``. Exceptions
    from ``fn`` propagate.

    Args:
        fn: The scoring function, called as ``fn(question, solution)``.
        name: The verifier's name; by default the function's ``__name__``.

    Raises:
        TypeError: If ``fn`` is not callable or ``name`` is not a string.
    """

    def __init__(self, fn: ScoreFn, *, name: str | None = None) -> None:
        if not callable(fn):
            raise TypeError(f"fn must be callable, got {type(fn).__name__}")
        if name is not None and not isinstance(name, str):
            raise TypeError(f"name must be a str or None, got {type(name).__name__}")
        self.fn = fn
        self.name = name or getattr(fn, "__name__", None) or type(fn).__name__

    @classmethod
    def from_checker(
        cls,
        check: Callable[[str, str], bool | float | Awaitable[bool | float]],
        *,
        name: str | None = None,
    ) -> FunctionVerifier:
        """Wrap a ``check(solution, question)`` function, such as ``suite.task.check``.

        Args:
            check: Called as ``check(solution, question)``.
            name: The verifier's name; by default the checker's ``__name__``.
        """
        if not callable(check):
            raise TypeError(f"check must be callable, got {type(check).__name__}")
        fn: ScoreFn
        if _is_async(check):

            async def swapped_async(question: str, solution: str) -> bool | float:
                return await check(solution, question)  # type: ignore[misc]

            fn = swapped_async
        else:

            def swapped(question: str, solution: str) -> bool | float | Awaitable[bool | float]:
                return check(solution, question)

            fn = swapped
        return cls(fn, name=name or getattr(check, "__name__", None) or type(check).__name__)

    def _to_score(self, value: object, index: int) -> float:
        if isinstance(value, str | bytes) or not hasattr(value, "__float__"):
            raise TypeError(
                f"verifier {self.name!r}: function returned {type(value).__name__} for "
                f"solution {index}; expected bool or float"
            )
        return float(value)  # type: ignore[arg-type]

    def _result(self, values: list[Any]) -> ScoreResult:
        return ScoreResult(steps=[[self._to_score(v, i)] for i, v in enumerate(values)])

    def _score(self, question: str, solutions: list[str]) -> ScoreResult:
        return self._result(_await_all([self.fn(question, s) for s in solutions]))

    async def _ascore(self, question: str, solutions: list[str]) -> ScoreResult:
        if not _is_async(self.fn):
            return await asyncio.to_thread(self._score, question, solutions)
        values = [self.fn(question, s) for s in solutions]
        return self._result(list(await asyncio.gather(*values)))  # type: ignore[arg-type]
