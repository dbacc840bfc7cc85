"""An interrupted beam search resumes from a checkpoint and ends as an uninterrupted run."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from fakes import ScriptedGenerator, ScriptedVerifier
from langchain_core.runnables import RunnableConfig
from langgraph.checkpoint.memory import InMemorySaver
from langgraph.checkpoint.sqlite import SqliteSaver
from langgraph.checkpoint.sqlite.aio import AsyncSqliteSaver

from langgraph_ttc.state import TTCContext
from langgraph_ttc.strategies import create_beam_search_graph, create_revision_graph
from langgraph_ttc.types import StrategyConfig

Q = "34*7-95+84*4+3*9"
PLAN = StrategyConfig(strategy="beam", n=8, beam_width=2)
CTX = TTCContext(seed=21)


def _result(out: dict[str, Any]) -> dict[str, Any]:
    usage = {k: v for k, v in out["usage"].items() if k != "wall_time_s"}
    return {**out, "usage": usage}


def _reference() -> dict[str, Any]:
    graph = create_beam_search_graph(ScriptedGenerator(), verifier=ScriptedVerifier(), config=PLAN)
    return _result(graph.compile().invoke({"question": Q}, context=CTX))


def test_resume_after_interrupts_from_sqlite(tmp_path: Path) -> None:
    reference = _reference()
    path = str(tmp_path / "ckpt.sqlite")
    config: RunnableConfig = {"configurable": {"thread_id": "t1"}}
    with SqliteSaver.from_conn_string(path) as saver:
        builder = create_beam_search_graph(
            ScriptedGenerator(), verifier=ScriptedVerifier(), config=PLAN
        )
        graph = builder.compile(checkpointer=saver, interrupt_after=["verify"])
        graph.invoke({"question": Q}, config, context=CTX)
        graph.invoke(None, config, context=CTX)  # one more round
        assert graph.get_state(config).next == ("prune",)
    pauses = 0
    while True:
        # A new process: new connection, new adapters, same file.
        with SqliteSaver.from_conn_string(path) as saver:
            builder = create_beam_search_graph(
                ScriptedGenerator(), verifier=ScriptedVerifier(), config=PLAN
            )
            graph = builder.compile(checkpointer=saver, interrupt_after=["verify"])
            out = graph.invoke(None, config, context=CTX)
            if not graph.get_state(config).next:
                break
        pauses += 1
    assert pauses >= 1
    assert _result(out) == reference


def test_resume_after_a_crash_in_memory() -> None:
    reference = _reference()
    saver = InMemorySaver()
    config: RunnableConfig = {"configurable": {"thread_id": "crash"}}
    gen = ScriptedGenerator(fail_after=3, fail_times=1, error=RuntimeError("worker died"))
    graph = create_beam_search_graph(gen, verifier=ScriptedVerifier(), config=PLAN).compile(
        checkpointer=saver
    )
    with pytest.raises(RuntimeError, match="worker died"):
        graph.invoke({"question": Q}, config, context=CTX)
    assert graph.get_state(config).next == ("branch",)
    out = graph.invoke(None, config, context=CTX)
    assert _result(out) == reference
    assert gen.failures == 1


async def test_async_resume_from_sqlite(tmp_path: Path) -> None:
    plan = StrategyConfig(strategy="revise", n=6, sequential=3)
    fresh = create_revision_graph(ScriptedGenerator(), verifier=ScriptedVerifier(), config=plan)
    reference = _result(fresh.compile().invoke({"question": Q}, context=CTX))
    config: RunnableConfig = {"configurable": {"thread_id": "a"}}
    async with AsyncSqliteSaver.from_conn_string(str(tmp_path / "a.sqlite")) as saver:
        builder = create_revision_graph(
            ScriptedGenerator(), verifier=ScriptedVerifier(), config=plan
        )
        graph = builder.compile(checkpointer=saver, interrupt_after=["revise"])
        out = await graph.ainvoke({"question": Q}, config, context=CTX)
        while (await graph.aget_state(config)).next:
            out = await graph.ainvoke(None, config, context=CTX)
    assert _result(out) == reference
