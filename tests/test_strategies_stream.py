"""Sync and async runs agree; updates and custom streams; traced model calls."""

from __future__ import annotations

from typing import Any
from uuid import UUID

import pytest
from fakes import ScriptedGenerator, ScriptedVerifier
from langchain_core.callbacks import BaseCallbackHandler

from langgraph_ttc.state import TTCContext
from langgraph_ttc.strategies import create_strategy_graph
from langgraph_ttc.types import StrategyConfig

Q = "34*7-95+84*4"
PLANS = [
    StrategyConfig(strategy="greedy"),
    StrategyConfig(strategy="majority", n=6),
    StrategyConfig(strategy="best_of_n", n=6),
    StrategyConfig(strategy="beam", n=8, beam_width=2),
    StrategyConfig(strategy="lookahead", n=4, beam_width=2, lookahead=2),
    StrategyConfig(strategy="dvts", n=8, beam_width=2),
    StrategyConfig(strategy="revise", n=6, sequential=3),
]


def _strip(out: dict[str, Any]) -> dict[str, Any]:
    usage = {k: v for k, v in out["usage"].items() if k != "wall_time_s"}
    return {**out, "usage": usage}


@pytest.mark.parametrize("plan", PLANS, ids=lambda p: p.strategy)
async def test_ainvoke_equals_invoke(plan: StrategyConfig) -> None:
    def graph():  # type: ignore[no-untyped-def]
        return create_strategy_graph(
            plan, ScriptedGenerator(), verifier=ScriptedVerifier()
        ).compile()

    ctx = TTCContext(seed=11)
    sync = graph().invoke({"question": Q}, context=ctx)
    asyn = await graph().ainvoke({"question": Q}, context=ctx)
    assert _strip(sync) == _strip(asyn)
    other = graph().invoke({"question": Q}, context=TTCContext(seed=12))
    if plan.strategy != "greedy":
        assert other["candidates"] != sync["candidates"]  # the seed matters


def test_updates_stream_walks_the_algorithm() -> None:
    plan = StrategyConfig(strategy="beam", n=4, beam_width=2)
    graph = create_strategy_graph(plan, ScriptedGenerator(), verifier=ScriptedVerifier()).compile()
    nodes = [
        next(iter(u))
        for u in graph.stream({"question": Q}, context=TTCContext(seed=1), stream_mode="updates")
    ]
    assert nodes[:5] == ["prepare", "generate", "verify", "prune", "branch"]
    assert nodes[-1] == "select"
    body = nodes[2:-1]
    assert body == ["verify", "prune", "branch"] * (len(body) // 3) + ["verify", "prune"]


async def test_custom_stream_reports_progress() -> None:
    plan = StrategyConfig(strategy="beam", n=4, beam_width=2)
    graph = create_strategy_graph(plan, ScriptedGenerator(), verifier=ScriptedVerifier()).compile()
    events = [
        e
        async for e in graph.astream(
            {"question": Q}, context=TTCContext(seed=1), stream_mode="custom"
        )
    ]
    assert {e["node"] for e in events} == {
        "prepare",
        "generate",
        "verify",
        "prune",
        "branch",
        "select",
    }
    for e in events:
        assert {"node", "round", "strategy", "generations", "budget"} <= set(e)
        assert e["budget"] == 4
    branches = [e for e in events if e["node"] == "branch"]
    assert [e["round"] for e in branches] == list(range(1, len(branches) + 1))
    assert events[-1]["node"] == "select" and events[-1]["status"] == "done"


class Runs(BaseCallbackHandler):
    """Records every model run (chat-model starts): name, tags, metadata."""

    def __init__(self) -> None:
        self.runs: list[dict[str, Any]] = []

    def on_chat_model_start(
        self,
        serialized: Any,
        messages: Any,
        *,
        run_id: UUID,
        parent_run_id: UUID | None = None,
        **kw: Any,
    ) -> None:
        self.runs.append(
            {
                "name": kw.get("name"),
                "tags": kw.get("tags") or [],
                "metadata": kw.get("metadata") or {},
            }
        )


def test_model_calls_are_named_runs_with_metadata() -> None:
    plan = StrategyConfig(strategy="beam", n=4, beam_width=2)
    graph = create_strategy_graph(plan, ScriptedGenerator(), verifier=ScriptedVerifier()).compile()
    runs = Runs()
    graph.invoke(
        {"question": Q}, {"callbacks": [runs]}, context=TTCContext(seed=1, tags=("exp-1",))
    )
    # Model runs are named after the model; the algorithm step is their ttc_step.
    calls = runs.runs
    assert {r["metadata"]["ttc_step"] for r in calls} == {
        "beam_search/generate",
        "beam_search/branch",
        "beam_search/verify",
    }
    assert {r["name"] for r in calls} == {"scripted-generator", "scripted-verifier"}
    for r in calls:
        assert "ttc" in r["tags"] and "exp-1" in r["tags"]
        assert r["metadata"]["ttc_strategy"] == "beam" and r["metadata"]["ttc_budget"] == 4
        assert r["metadata"]["langgraph_node"] in ("generate", "branch", "verify")
        assert r["metadata"]["ttc_graph"] == "beam_search"
    branch = next(r for r in calls if r["metadata"]["ttc_step"] == "beam_search/branch")
    assert branch["metadata"]["ttc_round"] == 1 and branch["metadata"]["ttc_parents"]
