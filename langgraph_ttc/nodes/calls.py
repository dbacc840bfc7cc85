"""One body per node, run sync or async: node logic yields its model calls.

A node's logic is a Python generator. It yields a :class:`GenerateCall` or a
:class:`ScoreCall` wherever it needs a model, receives the result (or has the
``BackendError`` raised at the ``yield``), and returns the state update. Two
small drivers run it: the sync one with ``generate``/``score``, the async one
with ``agenerate``/``ascore``. So the sync and async bodies of every node are
the same code, and ``ainvoke`` equals ``invoke``.

Every model call runs as a child run named after the algorithm step (for
example ``beam_search/branch``) with tags and metadata (strategy, round,
budget, sample indices), so a LangSmith trace reads like the algorithm.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping, Sequence
from collections.abc import Generator as PyGenerator
from dataclasses import dataclass, field
from typing import Any

from langchain_core.runnables import RunnableConfig, RunnableLambda
from langchain_core.runnables.config import merge_configs
from langgraph.runtime import Runtime

from langgraph_ttc.models.errors import BackendError
from langgraph_ttc.state import TTCContext, TTCState
from langgraph_ttc.types import (
    Completion,
    GenerationRequest,
    Generator,
    ScoreResult,
    Verifier,
    add_usage,
    empty_usage,
)

try:  # The class LangGraph's own prebuilt nodes use: a sync and an async body in one node.
    from langgraph._internal._runnable import RunnableCallable
except ImportError:  # pragma: no cover - older layout
    from langgraph.utils.runnable import RunnableCallable  # type: ignore[no-redef]

__all__ = ["GenerateCall", "NodeLogic", "ScoreCall", "make_node"]


@dataclass(frozen=True)
class GenerateCall:
    """Ask ``generator`` for all ``requests`` in one batch (reply: ``list[list[Completion]]``)."""

    generator: Generator
    requests: Sequence[GenerationRequest]
    run_name: str
    tags: Sequence[str] = ()
    metadata: Mapping[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class ScoreCall:
    """Ask ``verifier`` to score all ``solutions`` in one batch; the reply is a ``ScoreResult``."""

    verifier: Verifier
    question: str
    solutions: Sequence[str]
    run_name: str
    tags: Sequence[str] = ()
    metadata: Mapping[str, Any] = field(default_factory=dict)


Call = GenerateCall | ScoreCall
NodeLogic = PyGenerator[Call, Any, dict[str, Any]]
LogicFn = Callable[[TTCState, Runtime[TTCContext]], NodeLogic | dict[str, Any]]


def _runnable(call: Call) -> tuple[RunnableLambda[Any, Any], Any]:
    if isinstance(call, GenerateCall):
        gen = call.generator
        return RunnableLambda(gen.generate, afunc=gen.agenerate, name=call.run_name), list(
            call.requests
        )
    ver = call.verifier

    def score(x: dict[str, Any]) -> ScoreResult:
        return ver.score(x["question"], x["solutions"])

    async def ascore(x: dict[str, Any]) -> ScoreResult:
        return await ver.ascore(x["question"], x["solutions"])

    payload = {"question": call.question, "solutions": list(call.solutions)}
    return RunnableLambda(score, afunc=ascore, name=call.run_name), payload


def _child_config(config: RunnableConfig | None, call: Call) -> RunnableConfig:
    child = merge_configs(config, {"tags": list(call.tags), "metadata": dict(call.metadata)})
    child["run_name"] = call.run_name
    child.pop("run_id", None)
    return child


def _finish(update: dict[str, Any], started: float) -> dict[str, Any]:
    wall = empty_usage()
    wall["wall_time_s"] = time.perf_counter() - started
    return {**update, "usage": add_usage(update.get("usage"), wall)}


def _drive_sync(
    logic: NodeLogic | dict[str, Any], config: RunnableConfig, started: float
) -> dict[str, Any]:
    if isinstance(logic, dict):
        return _finish(logic, started)
    reply: Any = None
    error: BackendError | None = None
    while True:
        try:
            call = logic.throw(error) if error is not None else logic.send(reply)
        except StopIteration as stop:
            return _finish(stop.value, started)
        error, reply = None, None
        runnable, payload = _runnable(call)
        try:
            reply = runnable.invoke(payload, _child_config(config, call))
        except BackendError as exc:
            error = exc


async def _drive_async(
    logic: NodeLogic | dict[str, Any], config: RunnableConfig, started: float
) -> dict[str, Any]:
    if isinstance(logic, dict):
        return _finish(logic, started)
    reply: Any = None
    error: BackendError | None = None
    while True:
        try:
            call = logic.throw(error) if error is not None else logic.send(reply)
        except StopIteration as stop:
            return _finish(stop.value, started)
        error, reply = None, None
        runnable, payload = _runnable(call)
        try:
            reply = await runnable.ainvoke(payload, _child_config(config, call))
        except BackendError as exc:
            error = exc


def make_node(name: str, logic: LogicFn) -> RunnableCallable:
    """Wrap node logic as a LangGraph node with a sync and an async body.

    Both bodies get the state, the ``Runtime[TTCContext]`` (context, stream
    writer) and the ``RunnableConfig`` injected by LangGraph; both add the
    node's wall time to ``usage``.
    """

    def node(
        state: TTCState, runtime: Runtime[TTCContext], config: RunnableConfig
    ) -> dict[str, Any]:
        started = time.perf_counter()
        return _drive_sync(logic(state, runtime), config, started)

    async def anode(
        state: TTCState, runtime: Runtime[TTCContext], config: RunnableConfig
    ) -> dict[str, Any]:
        started = time.perf_counter()
        return await _drive_async(logic(state, runtime), config, started)

    node.__name__ = anode.__name__ = name
    return RunnableCallable(node, anode, name=name, trace=False)


def completions_of(reply: Any) -> list[list[Completion]]:
    """A generator reply, checked for shape."""
    if not isinstance(reply, list) or not all(isinstance(per, list) for per in reply):
        raise TypeError(f"generator returned {type(reply).__name__}, not list[list[Completion]]")
    return reply
