"""One graph run on one question: its seed, its result and its cost."""

from __future__ import annotations

import time
from typing import Any

from langgraph_ttc.bench.data import BenchItem, Checker, is_correct
from langgraph_ttc.bench.stats import stable_hash
from langgraph_ttc.state import TTCContext
from langgraph_ttc.types import Budget

__all__ = ["question_seed", "run_graph"]

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
    """A run's ``TTCContext.seed`` for a question: distinct per question and seed."""
    return stable_hash("question", qid, seed) & 0x7FFFFFFF


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
            context=TTCContext(
                seed=question_seed(item.qid, seed), budget=Budget(generations=budget)
            ),
            # More than the output schema: the plan the router chose, and any error.
            output_keys=list(_RUN_KEYS),
        )
    except ValueError as exc:
        # The nodes refuse a call whose samples all came back empty (a broken or
        # untrained model): that run failed, the sweep goes on and the report counts it.
        if "returned empty text" not in str(exc):
            raise
        out = {"status": "empty_output", "error": str(exc), "answer": None}
    wall = time.perf_counter() - started
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
