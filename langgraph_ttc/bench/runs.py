"""One graph run on one question: its seed, its result and its cost (sync and async)."""

from __future__ import annotations

import time
from typing import Any

from langgraph_ttc.bench.data import BenchItem, Checker, is_correct
from langgraph_ttc.bench.stats import stable_hash
from langgraph_ttc.state import TTCContext
from langgraph_ttc.types import Budget

__all__ = ["arun_graph", "question_seed", "run_graph"]

_RUN_KEYS = (
    "answer",
    "confidence",
    "status",
    "error",
    "strategy",
    "plan",
    "difficulty",
    "usage",
    "candidates",
)


def question_seed(qid: str, seed: int) -> int:
    """A run's ``TTCContext.seed`` for a question: distinct per question and seed.

    It depends on the question and the seed only, never on the order of the
    runs or on which runs share the event loop, so a concurrent sweep draws
    exactly the samples a sequential one does.
    """
    return stable_hash("question", qid, seed) & 0x7FFFFFFF


def _context(item: BenchItem, budget: int, seed: int) -> TTCContext:
    return TTCContext(seed=question_seed(item.qid, seed), budget=Budget(generations=budget))


def _empty_output(exc: ValueError) -> dict[str, Any]:
    # The nodes refuse a call whose samples all came back empty (a broken or
    # untrained model): that run failed, the sweep goes on and the report counts it.
    if "returned empty text" not in str(exc):
        raise exc
    return {"status": "empty_output", "error": str(exc), "answer": None}


def run_graph(
    graph: Any, item: BenchItem, budget: int, seed: int, checker: Checker
) -> dict[str, Any]:
    """Run a compiled TTC graph on one question; the result and its cost.

    The cost is the graph's own ``usage`` (generations, tokens and FLOPs of
    the generator; the verifier's apart), probes included.
    """
    started = time.perf_counter()
    try:
        out = graph.invoke(
            {"question": item.question},
            context=_context(item, budget, seed),
            # More than the output schema: the plan the router chose, and any error.
            output_keys=list(_RUN_KEYS),
        )
    except ValueError as exc:
        out = _empty_output(exc)
    return _payload(out, item, checker, time.perf_counter() - started)


async def arun_graph(
    graph: Any, item: BenchItem, budget: int, seed: int, checker: Checker
) -> dict[str, Any]:
    """Async twin of :func:`run_graph` (``ainvoke``): many of these share one event loop.

    ``wall_s`` is the run's own elapsed time, which includes the time it waited
    for runs sharing the loop (the runner records how many shared it).
    """
    started = time.perf_counter()
    try:
        out = await graph.ainvoke(
            {"question": item.question},
            context=_context(item, budget, seed),
            output_keys=list(_RUN_KEYS),
        )
    except ValueError as exc:
        out = _empty_output(exc)
    return _payload(out, item, checker, time.perf_counter() - started)


def _payload(out: dict[str, Any], item: BenchItem, checker: Checker, wall: float) -> dict[str, Any]:
    usage = out.get("usage") or {}
    cands = out.get("candidates") or []
    answer = out.get("answer")
    return {
        "correct": is_correct(checker, answer, item.reference),
        "answer": answer,
        "confidence": out.get("confidence"),
        "status": out.get("status"),
        "error": out.get("error"),
        "strategy": out.get("strategy"),
        "plan": out.get("plan"),
        "difficulty": out.get("difficulty"),
        "probes": sum(1 for c in cands if c.get("source") == "probe"),
        "generations": float(usage.get("generations", 0.0)),
        "prompt_tokens": int(usage.get("prompt_tokens", 0)),
        "generated_tokens": int(usage.get("generated_tokens", 0)),
        "flops": float(usage.get("flops", 0.0)),
        "verifier_calls": int(usage.get("verifier_calls", 0)),
        "verifier_tokens": int(usage.get("verifier_tokens", 0)),
        "verifier_flops": float(usage.get("verifier_flops", 0.0)),
        "wall_s": wall,
        "source": "graph",
    }
