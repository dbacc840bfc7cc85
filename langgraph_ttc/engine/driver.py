"""The one driver: runs node logic sync or async, traced, within the run's limits.

Node logic is a Python generator: ``logic(state, run)`` yields a
:class:`~langgraph_ttc.engine.calls.GenerateCall` or
:class:`~langgraph_ttc.engine.calls.ScoreCall` wherever it needs a model,
receives the checked reply, and returns the state update. It states its
requests and applies the replies; everything else is here:

- **tracing**: every model call runs as LangSmith model runs (type ``llm``,
  one per request, named after the model, with token usage in the standard
  fields; the algorithm step ``beam_search/branch`` is their ``ttc_step``
  metadata; see :mod:`langgraph_ttc.engine.tracing`);
- **accounting**: what each call cost (generations, tokens, FLOPs, verifier
  compute) and the node's wall time go into ``usage``; logic never adds
  usage itself, so compute that came back is never lost, even when the node
  stops early; a generator reply holds exactly ``n`` completions per request;
- **limits**: before each call the deadline is checked (``status="deadline"``);
  :meth:`NodeRun.cap` shrinks a call to the budget or stops the node
  (``status="budget_exhausted"``);
- **failures**: a ``BackendError`` ends the node with ``status="backend_error"``
  and the error, naming the backend; no answer is made up. When only some
  samples of a generator call failed (``PartialBatchError``), the logic gets
  what came back (a shorter list, or an empty one, for a request that lost
  samples), that compute is counted (generations in proportion to the
  samples that came back), and the node ends with ``status="partial"`` and
  the error: the run selects the best answer among what it has.

``make_node`` wraps logic as a LangGraph node with a sync and an async body
(``ainvoke`` equals ``invoke``); ``finish`` turns the update into what the
node returns, e.g. a ``Command`` for the router.
"""

from __future__ import annotations

import time
from collections.abc import Awaitable, Callable
from collections.abc import Generator as PyGenerator
from dataclasses import dataclass, field, replace
from typing import Any

from langchain_core.runnables import RunnableConfig
from langgraph.runtime import Runtime

from langgraph_ttc.budget import CallCap, cap_call, generation_usage, verifier_usage
from langgraph_ttc.engine.calls import (
    Call,
    GenerateCall,
    check_scores,
    completions_of,
    sample_warnings,
)
from langgraph_ttc.engine.settings import context_of, out_of_time, usage_of
from langgraph_ttc.engine.tracing import ainvoke_traced, invoke_traced
from langgraph_ttc.models.errors import BackendError, PartialBatchError
from langgraph_ttc.state import TTCContext, TTCState
from langgraph_ttc.types import Usage, add_usage, empty_usage

try:  # The class LangGraph's own prebuilt nodes use: a sync and an async body in one node.
    from langgraph._internal._runnable import RunnableCallable
except ImportError:  # pragma: no cover - older layout
    from langgraph.utils.runnable import RunnableCallable  # type: ignore[no-redef]

__all__ = [
    "Logic",
    "NodeLogic",
    "NodeRun",
    "RunnableCallable",
    "Stop",
    "arun_logic",
    "make_node",
    "run_logic",
    "settle",
]

NodeLogic = PyGenerator[Call, Any, dict[str, Any]]
Logic = Callable[[TTCState, "NodeRun"], NodeLogic | dict[str, Any]]


class Stop(Exception):
    """Raised inside node logic to end the node with ``update`` (usage is still counted)."""

    def __init__(self, **update: Any) -> None:
        super().__init__(update.get("status"))
        self.update = update


@dataclass
class NodeRun:
    """What node logic sees of its run: settings, usage so far, progress, the budget.

    Attributes:
        state: The graph state the node was called with.
        ctx: The checked ``TTCContext``.
        runtime: LangGraph's ``Runtime`` (stream writer), if any.
        spent: What this node's calls have cost so far (the driver adds to it).
        warnings: What looked wrong in replies the node still used (the
            driver adds them; they reach the state's ``warnings``).
    """

    state: TTCState
    ctx: TTCContext
    runtime: Runtime[TTCContext] | None = None
    spent: Usage = field(default_factory=empty_usage)
    warnings: list[str] = field(default_factory=list)

    @property
    def usage(self) -> Usage:
        """The run's usage so far: the state's plus this node's calls."""
        return add_usage(usage_of(self.state), self.spent)

    def cap(
        self,
        *,
        samples: int,
        max_tokens: int,
        prompt_tokens: int,
        params: int | None,
        generations_per_sample: float = 1.0,
        whole: bool = False,
    ) -> CallCap:
        """Shrink a call to what the budget allows (see ``budget.cap_call``).

        Raises:
            Stop: With ``status="budget_exhausted"`` when nothing fits, or,
                with ``whole=True``, when not every sample fits.
        """
        cap = cap_call(
            self.ctx.budget,
            self.usage,
            samples=samples,
            max_tokens=max_tokens,
            prompt_tokens=prompt_tokens,
            params=params,
            generations_per_sample=generations_per_sample,
        )
        if cap.samples == 0 or (whole and cap.samples < samples):
            raise Stop(status="budget_exhausted")
        return cap

    def emit(self, event: dict[str, Any]) -> None:
        """Send a progress event on the custom stream (a no-op when nobody listens)."""
        writer = getattr(self.runtime, "stream_writer", None)
        if writer is not None:
            writer(event)

    def tags(self, graph: str, node: str) -> list[str]:
        """Tags on a model call: the library, the graph, the node, and the user's."""
        return ["ttc", f"ttc:{graph}", f"ttc:{node}", *self.ctx.tags]


def settle(call: Call, raw: Any, *, partial: bool = False) -> tuple[Any, Usage]:
    """Check a call's raw reply; return what the logic receives and what the call cost.

    A ``GenerateCall`` replies with its completions, exactly ``n`` per request
    (at most ``n`` when ``partial``: the samples that came back, which cost
    their share of the call's generations); a ``ScoreCall`` with its
    ``ScoreResult``, the step scores checked (one finite, non-empty list per
    solution).

    Raises:
        TypeError, ValueError: For a reply of the wrong shape, naming the backend.
    """
    if isinstance(call, GenerateCall):
        completions = completions_of(raw)
        if len(completions) != len(call.requests):
            raise ValueError(
                f"generator {call.generator.name!r} returned {len(completions)} completion "
                f"lists for {len(call.requests)} requests"
            )
        for k, (req, per) in enumerate(zip(call.requests, completions, strict=True)):
            if len(per) > req.n or (len(per) < req.n and not partial):
                raise ValueError(
                    f"generator {call.generator.name!r} returned {len(per)} completions for "
                    f"request {k}, which asked for n={req.n}"
                )
        asked = sum(req.n for req in call.requests)
        received = sum(len(per) for per in completions)
        generations = call.generations * received / asked if asked else 0.0
        return completions, generation_usage(
            completions, params=call.generator.params, generations=generations
        )
    steps = check_scores(call.verifier, raw, len(call.solutions))
    return replace(raw, steps=steps), verifier_usage(raw)


def _partial(update: dict[str, Any], failure: str | None) -> dict[str, Any]:
    """``update``, ending the node with ``status="partial"`` when samples were lost."""
    if failure is None or update.get("status") == "backend_error":
        return update
    return {**update, "status": "partial", "error": failure}


def _guarded(
    logic: NodeLogic | dict[str, Any], run: NodeRun
) -> PyGenerator[Call, Any, dict[str, Any]]:
    """Logic wrapped in the run's limits and accounting (see the module docstring)."""
    if isinstance(logic, dict):
        return logic
    reply: Any = None
    failure: str | None = None
    try:
        while True:
            try:
                call = logic.send(reply)
            except StopIteration as stop:
                return _partial(dict(stop.value or {}), failure)
            if out_of_time(run.state, run.ctx):
                return _partial({"status": "deadline"}, failure)
            partial = False
            try:
                raw = yield call
            except PartialBatchError as exc:
                if (
                    not isinstance(call, GenerateCall)
                    or exc.received == 0
                    or len(exc.completions) != len(call.requests)
                ):
                    return {"status": "backend_error", "error": f"{call.who}: {exc}"}
                raw, partial, failure = exc.completions, True, f"{call.who}: {exc}"
            except BackendError as exc:
                return {"status": "backend_error", "error": f"{call.who}: {exc}"}
            reply, cost = settle(call, raw, partial=partial)
            run.spent = add_usage(run.spent, cost)
            if isinstance(call, GenerateCall):
                run.warnings.extend(sample_warnings(call, reply))
    except Stop as stop:
        return _partial(stop.update, failure)
    finally:
        logic.close()


def run_logic(logic: PyGenerator[Call, Any, Any], invoke: Callable[[Call], Any]) -> Any:
    """Run logic to its end, calling ``invoke`` for each call (a ``BackendError`` is thrown in)."""
    reply: Any = None
    error: BackendError | None = None
    while True:
        try:
            call = logic.throw(error) if error is not None else logic.send(reply)
        except StopIteration as stop:
            return stop.value
        error, reply = None, None
        try:
            reply = invoke(call)
        except BackendError as exc:
            error = exc


async def arun_logic(
    logic: PyGenerator[Call, Any, Any], ainvoke: Callable[[Call], Awaitable[Any]]
) -> Any:
    """Async twin of :func:`run_logic`."""
    reply: Any = None
    error: BackendError | None = None
    while True:
        try:
            call = logic.throw(error) if error is not None else logic.send(reply)
        except StopIteration as stop:
            return stop.value
        error, reply = None, None
        try:
            reply = await ainvoke(call)
        except BackendError as exc:
            error = exc


def make_node(
    name: str,
    logic: Logic,
    *,
    finish: Callable[[dict[str, Any]], Any] | None = None,
) -> RunnableCallable:
    """Wrap node logic as a LangGraph node with a sync and an async body.

    Both bodies get the state, the ``Runtime[TTCContext]`` and the
    ``RunnableConfig`` injected by LangGraph, run the logic through the one
    driver, and return ``finish(update)`` (the update itself by default) with
    the node's usage (calls and wall time) added.
    """

    def start(state: TTCState, runtime: Runtime[TTCContext]) -> tuple[NodeRun, Any, float]:
        run = NodeRun(state=state, ctx=context_of(runtime), runtime=runtime)
        return run, _guarded(logic(state, run), run), time.perf_counter()

    def done(run: NodeRun, update: dict[str, Any], started: float) -> Any:
        wall = empty_usage()
        wall["wall_time_s"] = time.perf_counter() - started
        out = {**update, "usage": add_usage(run.spent, wall)}
        if run.warnings:
            out["warnings"] = list(dict.fromkeys(run.warnings))
        return finish(out) if finish is not None else out

    def node(state: TTCState, runtime: Runtime[TTCContext], config: RunnableConfig) -> Any:
        run, guarded, started = start(state, runtime)

        def invoke(call: Call) -> Any:
            return invoke_traced(call, config)

        return done(run, run_logic(guarded, invoke), started)

    async def anode(state: TTCState, runtime: Runtime[TTCContext], config: RunnableConfig) -> Any:
        run, guarded, started = start(state, runtime)

        async def ainvoke(call: Call) -> Any:
            return await ainvoke_traced(call, config)

        return done(run, await arun_logic(guarded, ainvoke), started)

    node.__name__ = anode.__name__ = name
    return RunnableCallable(node, anode, name=name, trace=False)
