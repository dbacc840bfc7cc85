"""LangSmith traces read like the algorithm: checked offline, on what the SDK would upload.

A ``langsmith.Client`` with a mocked HTTP session captures every run the SDK
would send (toolchain-notes.md, "LangSmith tracing, offline"); the tests
rebuild the run tree from those POST/PATCH bodies.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from typing import Any
from unittest import mock

import langsmith
import pytest
import requests
from langsmith import tracing_context

from langgraph_ttc.chat import ChatTTC
from langgraph_ttc.router import ComputePolicy
from langgraph_ttc.state import TTCContext
from langgraph_ttc.strategies.compute_optimal import create_ttc_graph
from langgraph_ttc.types import Budget, StrategyConfig
from tests.fakes import ScriptedGenerator, ScriptedVerifier

Q = "34*7-95+84*4"


class Trace:
    """The runs a mocked LangSmith client received, by id."""

    def __init__(self, session: mock.MagicMock) -> None:
        self.runs: dict[str, dict[str, Any]] = {}
        for call in session.request.call_args_list:
            method, url = call.args[:2]
            if "/runs" not in url or method not in ("POST", "PATCH"):
                continue
            body = json.loads(call.kwargs["data"])
            run_id = body.get("id") or url.rsplit("/", 1)[-1]
            self.runs.setdefault(run_id, {}).update(body)

    def named(self, name: str) -> list[dict[str, Any]]:
        return [r for r in self.runs.values() if r.get("name") == name]

    def one(self, name: str) -> dict[str, Any]:
        (run,) = self.named(name)
        return run

    def ancestors(self, run: dict[str, Any]) -> list[str]:
        names = []
        while run.get("parent_run_id"):
            run = self.runs[run["parent_run_id"]]
            names.append(run["name"])
        return names


def metadata(run: dict[str, Any]) -> dict[str, Any]:
    return run.get("extra", {}).get("metadata") or {}


@pytest.fixture
def traced() -> Iterator[Callable[[], Trace]]:
    """Trace inside the block; call the fixture's value afterwards for the runs."""
    session = mock.MagicMock(spec=requests.Session)
    response = mock.MagicMock(status_code=200)
    response.json.return_value = {}
    session.request.return_value = response
    client = langsmith.Client(
        api_key="test",
        api_url="http://localhost:1984",
        session=session,
        auto_batch_tracing=False,
        info={},
    )
    with tracing_context(enabled=True, client=client, project_name="ttc-tests"):
        yield lambda: Trace(session)


def test_routed_run_reads_like_the_algorithm(traced: Callable[[], Trace]) -> None:
    # A policy that sends every bin to best-of-N: the trace, not the policy, is under test.
    policy = ComputePolicy(
        thresholds=(0.6, 0.4, 0.2, 0.1),
        table={b: {16: StrategyConfig("best_of_n", n=16)} for b in range(1, 6)},
    )
    graph = create_ttc_graph(
        ScriptedGenerator(error_rate=1.0), verifier=ScriptedVerifier(bad=0.05), policy=policy
    ).compile(name="ttc")
    ctx = TTCContext(seed=0, budget=Budget(generations=16), tags=("exp-7",))
    out = graph.invoke({"question": Q}, context=ctx, output_keys=["strategy", "difficulty"])
    trace = traced()
    assert (out["strategy"], out["difficulty"]) == ("best_of_n", 5)

    root = trace.one("ttc")
    assert root.get("parent_run_id") is None

    # The router: its node run, then one batched probe call and one batched score call.
    route = trace.one("route")
    assert metadata(route)["langgraph_node"] == "route"
    assert metadata(route)["ttc_estimator"] == "verifier_difficulty"
    probe = trace.one("route/probe")
    assert probe["parent_run_id"] == route["id"]
    assert {"ttc", "ttc:route", "ttc:probe", "exp-7"} <= set(probe["tags"])
    assert metadata(probe)["ttc_budget"] == 16
    assert metadata(probe)["ttc_samples"] == [0, 4]
    score = trace.one("route/score_probes")
    assert score["parent_run_id"] == route["id"]
    assert metadata(score)["ttc_candidates"] == [f"probe-{i}" for i in range(4)]

    # The chosen strategy: a node named after it; every run below it knows the bin.
    node = trace.named("best_of_n")[0]
    assert node["parent_run_id"] == root["id"]
    assert metadata(node)["ttc_strategy"] == "best_of_n"
    generate = trace.one("best_of_n/generate")
    meta = metadata(generate)
    assert meta["ttc_difficulty"] == 5
    assert meta["ttc_strategy"] == "best_of_n"
    assert meta["ttc_budget"] == 16
    assert meta["ttc_samples"] == [4, 16]  # the 4 probes count as samples 0..3
    assert {"ttc:generate", "exp-7"} <= set(generate["tags"])
    assert "best_of_n" in trace.ancestors(generate)
    verify = trace.one("best_of_n/verify")
    assert metadata(verify)["ttc_difficulty"] == 5
    assert len(metadata(verify)["ttc_candidates"]) == 12
    select = trace.one("select")
    assert metadata(select)["langgraph_node"] == "select"
    assert metadata(select)["ttc_difficulty"] == 5
    assert trace.ancestors(select)[-1] == "ttc"


def test_forced_plan_trace_has_no_probes(traced: Callable[[], Trace]) -> None:
    graph = create_ttc_graph(ScriptedGenerator(), verifier=ScriptedVerifier()).compile(name="ttc")
    graph.invoke(
        {"question": Q},
        context=TTCContext(seed=0, plan=StrategyConfig("beam", n=8), budget=Budget(generations=8)),
    )
    trace = traced()
    assert trace.named("route/probe") == []
    branch = [r for r in trace.runs.values() if r["name"].endswith("/branch")]
    assert branch, sorted({r["name"] for r in trace.runs.values()})
    assert all(metadata(r)["ttc_difficulty"] is None for r in branch)
    assert all(metadata(r)["ttc_strategy"] == "beam" for r in branch)
    assert {metadata(r)["ttc_round"] for r in branch} >= {1}


def test_chat_model_run_holds_the_graph(traced: Callable[[], Trace]) -> None:
    ChatTTC(generator=ScriptedGenerator(), verifier=ScriptedVerifier(), budget=8).invoke(Q)
    trace = traced()
    chat = trace.one("ChatTTC")
    assert chat["run_type"] == "llm" and chat.get("parent_run_id") is None
    graph = trace.one("ttc")
    assert graph["parent_run_id"] == chat["id"]
    assert trace.one("route")["parent_run_id"] == graph["id"]
