"""Executing the sweep's graph runs: one after another, or many at once on one event loop.

A :class:`GraphUnit` is one graph run of the sweep (a question, a budget, a
seed, a compiled graph) and the cache keys its result goes to.
:func:`execute_units` runs a list of them and hands each finished result to
``store`` at once, so a kill loses only the units in flight.

With ``concurrency=1`` the units run one after another through the graphs'
sync path (``invoke``). With ``k > 1``, ``k`` workers on one event loop each
pull the next unit and ``ainvoke`` it, so ``k`` runs are in flight and the
models see their calls together: a batching local adapter can share forward
passes across runs, and ``OpenAIGenerator`` keeps at most its own
``max_concurrency`` requests in flight across all of them (its limit is per
event loop). Results do not depend on ``k``: a run's seed comes from its
question and seed (``runs.question_seed``), never from its place in a batch.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any

from langgraph_ttc.bench.cache import ResultKey
from langgraph_ttc.bench.data import BenchItem, Checker
from langgraph_ttc.bench.runs import arun_graph, run_graph

__all__ = ["GraphUnit", "execute_units"]


@dataclass
class GraphUnit:
    """One graph run of the sweep.

    Attributes:
        stage: The runner's stage (``graphs``, ``router``, ``reference``).
        graph: The compiled graph (shared by every unit of its config).
        item: The question.
        budget: The budget in generations.
        seed: The run's seed index (its ``TTCContext.seed`` is derived from it).
        keys: Where the result goes (arms that share a config share a run).
        extra: Fields added to the result's payload.
    """

    stage: str
    graph: Any
    item: BenchItem
    budget: int
    seed: int
    keys: list[ResultKey]
    extra: dict[str, Any] = field(default_factory=dict)


def execute_units(
    units: Sequence[GraphUnit],
    store: Callable[[GraphUnit, dict[str, Any]], None],
    *,
    checker: Checker,
    concurrency: int = 1,
    models: Iterable[Any] = (),
) -> None:
    """Run every unit and ``store`` each result as soon as it is done.

    Args:
        units: The runs, in the order they are started.
        store: Called with each finished unit and its payload (``runs.run_graph``'s).
        checker: Decides correctness.
        concurrency: Runs in flight at once (1: sequential, sync path).
        models: The adapters the graphs use; after a concurrent stage, those
            with an ``aclose`` (HTTP clients bound to the loop) are closed.

    Raises:
        ValueError: If ``concurrency`` is not a positive int.
        RuntimeError: With ``concurrency > 1`` inside a running event loop
            (the runner runs its own).
        Exception: Whatever a run raised; units finished before it are stored.
    """
    if isinstance(concurrency, bool) or not isinstance(concurrency, int) or concurrency < 1:
        raise ValueError(f"concurrency must be a positive int, got {concurrency!r}")
    if not units:
        return
    if concurrency == 1:
        for u in units:
            store(u, run_graph(u.graph, u.item, u.budget, u.seed, checker))
        return
    try:
        asyncio.get_running_loop()
    except RuntimeError:
        pass
    else:
        raise RuntimeError(
            "a concurrent sweep runs its own event loop; start it from synchronous code "
            "(or a worker thread), not from inside a running loop"
        )
    asyncio.run(_aexecute(units, store, checker, concurrency, list(models)))


async def _aexecute(
    units: Sequence[GraphUnit],
    store: Callable[[GraphUnit, dict[str, Any]], None],
    checker: Checker,
    concurrency: int,
    models: Sequence[Any],
) -> None:
    todo = iter(units)

    async def worker() -> None:
        # Each worker pulls the next unit when it finishes one: `concurrency` runs in flight.
        for u in todo:
            store(u, await arun_graph(u.graph, u.item, u.budget, u.seed, checker))

    tasks = [asyncio.create_task(worker()) for _ in range(min(concurrency, len(units)))]
    try:
        await asyncio.gather(*tasks)
    except BaseException:
        for t in tasks:
            t.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        raise
    finally:
        await _close_clients(models)


async def _close_clients(models: Sequence[Any]) -> None:
    """Close HTTP clients that adapters opened on this loop (``OpenAIGenerator.aclose``)."""
    seen: set[int] = set()
    for model in models:
        close = getattr(model, "aclose", None)
        if model is None or close is None or id(model) in seen:
            continue
        seen.add(id(model))
        await close()
