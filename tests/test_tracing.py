"""LangSmith traces read like the algorithm: checked offline, on what the SDK would upload.

A ``langsmith.Client`` with a mocked HTTP session captures every run the SDK
would send (toolchain-notes.md, "LangSmith tracing, offline"); the tests
rebuild the run tree from those POST/PATCH bodies. Model calls are runs of
type ``llm`` named after the model, with the algorithm step in ``ttc_step``
and token usage in LangSmith's standard ``usage_metadata``.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from typing import Any
from unittest import mock

import langsmith
import pytest
import requests
from langchain_core.language_models.fake_chat_models import GenericFakeChatModel
from langchain_core.messages import AIMessage
from langsmith import tracing_context

from langgraph_ttc.chat import ChatTTC
from langgraph_ttc.models import ChatModelGenerator, PartialBatchError
from langgraph_ttc.router import ComputePolicy
from langgraph_ttc.state import TTCContext
from langgraph_ttc.strategies import create_beam_search_graph, create_best_of_n_graph
from langgraph_ttc.strategies.compute_optimal import create_ttc_graph
from langgraph_ttc.suite.task import check
from langgraph_ttc.types import Budget, Completion, StrategyConfig
from langgraph_ttc.verifiers import FunctionVerifier
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

    def step(self, step: str) -> list[dict[str, Any]]:
        """The model runs of one algorithm step (``beam_search/branch``)."""
        return [r for r in self.runs.values() if metadata(r).get("ttc_step") == step]

    def of_type(self, run_type: str) -> list[dict[str, Any]]:
        return [r for r in self.runs.values() if r.get("run_type") == run_type]

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


def usage(run: dict[str, Any]) -> dict[str, int]:
    """LangSmith's standard usage field of a model run."""
    return metadata(run)["usage_metadata"]


def test_routed_run_reads_like_the_algorithm(traced: Callable[[], Trace]) -> None:
    # A policy that sends every bin to best-of-N: the trace, not the policy, is under test.
    policy = ComputePolicy(
        thresholds=(0.6, 0.4, 0.2, 0.1),
        table={b: {16: StrategyConfig("best_of_n", n=16)} for b in range(1, 6)},
    )
    graph = create_ttc_graph(
        ScriptedGenerator(error_rate=1.0), verifier=ScriptedVerifier(bad=0.05), policy=policy
    ).compile()  # no name given: the graph's own
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
    (probe,) = trace.step("route/probe")
    assert probe["name"] == "scripted-generator" and probe["run_type"] == "llm"
    assert probe["parent_run_id"] == route["id"]
    assert {"ttc", "ttc:route", "ttc:probe", "exp-7"} <= set(probe["tags"])
    assert metadata(probe)["ttc_budget"] == 16
    assert metadata(probe)["ttc_samples"] == [0, 4]
    scores = trace.step("route/score_probes")
    assert len(scores) == 4  # one model run per probe scored
    assert all(r["parent_run_id"] == route["id"] for r in scores)
    assert {r["name"] for r in scores} == {"scripted-verifier"}
    assert metadata(scores[0])["ttc_candidates"] == [f"probe-{i}" for i in range(4)]

    # The chosen strategy: a node named after it; every run below it knows the bin.
    node = trace.named("best_of_n")[0]
    assert node["parent_run_id"] == root["id"]
    assert metadata(node)["ttc_strategy"] == "best_of_n"
    (generate,) = trace.step("best_of_n/generate")
    meta = metadata(generate)
    assert meta["ttc_difficulty"] == 5
    assert meta["ttc_strategy"] == "best_of_n"
    assert meta["ttc_budget"] == 16
    assert meta["ttc_samples"] == [4, 16]  # the 4 probes count as samples 0..3
    assert {"ttc:generate", "exp-7"} <= set(generate["tags"])
    assert "best_of_n" in trace.ancestors(generate)
    verify = trace.step("best_of_n/verify")
    assert len(verify) == 12
    assert metadata(verify[0])["ttc_difficulty"] == 5
    assert len(metadata(verify[0])["ttc_candidates"]) == 12
    select = trace.one("select")
    assert metadata(select)["langgraph_node"] == "select"
    assert metadata(select)["ttc_difficulty"] == 5
    assert trace.ancestors(select)[-1] == "ttc"


def test_beam_search_model_runs_are_llm_runs_with_usage(traced: Callable[[], Trace]) -> None:
    generator = ScriptedGenerator(error_rate=0.3, params=1_000)
    graph = create_beam_search_graph(
        generator, verifier=ScriptedVerifier(), config=StrategyConfig("beam", n=8, beam_width=2)
    ).compile()
    out = graph.invoke({"question": Q}, context=TTCContext(seed=1))
    trace = traced()
    assert out["status"] == "done"
    assert trace.one("beam_search").get("parent_run_id") is None  # named after the strategy

    model_runs = trace.of_type("llm")
    gen_runs = [r for r in model_runs if r["name"] == "scripted-generator"]
    ver_runs = [r for r in model_runs if r["name"] == "scripted-verifier"]
    assert gen_runs and ver_runs and len(gen_runs) + len(ver_runs) == len(model_runs)
    # One generator run per request of each call: generate has one, branch one per kept path.
    assert len(trace.step("beam_search/generate")) == 1
    assert len(trace.step("beam_search/branch")) == sum(generator.batch_sizes[1:])
    for run in gen_runs:
        meta = metadata(run)
        assert run["parent_run_id"] in trace.runs
        assert trace.runs[run["parent_run_id"]]["name"] in ("generate", "branch")
        assert meta["ls_provider"] and meta["ls_model_name"] == "scripted-generator"
        assert meta["ls_model_type"] == "chat" and meta["ttc_step"].startswith("beam_search/")
        assert "nostream" in run["tags"]
        assert run["inputs"]["messages"][0][0]["kwargs"]["content"] == Q
        generations = run["outputs"]["generations"][0]
        assert len(generations) == run["extra"]["invocation_params"]["n"]
        u = usage(run)
        assert u["input_tokens"] > 0 and u["output_tokens"] > 0
        assert u["total_tokens"] == u["input_tokens"] + u["output_tokens"]
        per_sample = [g["message"]["kwargs"]["usage_metadata"] for g in generations]
        assert sum(s["output_tokens"] for s in per_sample) == u["output_tokens"]
    # The trace's token totals are the run's own.
    assert sum(usage(r)["input_tokens"] for r in gen_runs) == out["usage"]["prompt_tokens"]
    assert sum(usage(r)["output_tokens"] for r in gen_runs) == out["usage"]["generated_tokens"]
    assert sum(usage(r)["input_tokens"] for r in ver_runs) == out["usage"]["verifier_tokens"]
    for run in ver_runs:
        messages = run["inputs"]["messages"][0]
        assert [m["kwargs"]["type"] for m in messages] == ["human", "ai"]
        (generation,) = run["outputs"]["generations"][0]
        assert generation["message"]["kwargs"]["response_metadata"]["step_scores"]
        assert usage(run)["output_tokens"] == 0


def test_a_checker_function_is_a_tool_run(traced: Callable[[], Trace]) -> None:
    checker = FunctionVerifier(lambda q, s: check(s, q), name="checker")
    graph = create_best_of_n_graph(
        ScriptedGenerator(), verifier=checker, config=StrategyConfig(n=4)
    ).compile()
    graph.invoke({"question": Q}, context=TTCContext(seed=0))
    trace = traced()
    (tool,) = trace.named("checker")
    assert tool["run_type"] == "tool"
    assert metadata(tool)["ttc_step"] == "best_of_n/verify"
    assert len(tool["outputs"]["output"]["steps"]) == 4
    assert [r["name"] for r in trace.of_type("llm")] == ["scripted-generator"]


def test_a_chat_model_backend_is_traced_once(traced: Callable[[], Trace]) -> None:
    replies = iter([AIMessage(f"#### {i}") for i in range(100)])
    gen = ChatModelGenerator(GenericFakeChatModel(messages=replies), name="fake-chat")
    graph = create_best_of_n_graph(gen, config=StrategyConfig("majority", n=3)).compile()
    graph.invoke({"question": Q}, context=TTCContext(seed=0))
    trace = traced()
    model_runs = trace.of_type("llm")
    # The chat model's own runs, and no second run of ours around them.
    assert len(model_runs) == 3
    assert {r["name"] for r in model_runs} == {"GenericFakeChatModel"}
    for run in model_runs:
        assert metadata(run)["ttc_step"] == "best_of_n/generate"
        assert "nostream" in run["tags"]
        assert trace.runs[run["parent_run_id"]]["name"] == "generate"


def test_forced_plan_trace_has_no_probes(traced: Callable[[], Trace]) -> None:
    graph = create_ttc_graph(ScriptedGenerator(), verifier=ScriptedVerifier()).compile(name="ttc")
    graph.invoke(
        {"question": Q},
        context=TTCContext(seed=0, plan=StrategyConfig("beam", n=8), budget=Budget(generations=8)),
    )
    trace = traced()
    assert trace.step("route/probe") == []
    branch = [r for r in trace.runs.values() if metadata(r).get("ttc_step", "").endswith("/branch")]
    assert branch, sorted({r["name"] for r in trace.runs.values()})
    assert all(r["run_type"] == "llm" for r in branch)
    assert all(metadata(r)["ttc_difficulty"] is None for r in branch)
    assert all(metadata(r)["ttc_strategy"] == "beam" for r in branch)
    assert {metadata(r)["ttc_round"] for r in branch} >= {1}


class _Lossy(ScriptedGenerator):
    """Loses the last sample of every request with n > 1: a partial batch."""

    def generate(self, requests: Any) -> list[list[Completion]]:
        full = super().generate(requests)
        kept = [per[:-1] if len(per) > 1 else per for per in full]
        lost = sum(len(a) - len(b) for a, b in zip(full, kept, strict=True))
        raise PartialBatchError(f"{lost} samples failed for good", completions=kept, failed=lost)


def test_a_partial_batch_traces_what_came_back(traced: Callable[[], Trace]) -> None:
    graph = create_best_of_n_graph(
        _Lossy(params=10), verifier=ScriptedVerifier(), config=StrategyConfig(n=4)
    ).compile()
    out = graph.invoke({"question": Q}, context=TTCContext(seed=0))
    trace = traced()
    assert out["status"] == "partial"
    (run,) = trace.step("best_of_n/generate")
    assert run["run_type"] == "llm" and not run.get("error")
    assert len(run["outputs"]["generations"][0]) == 3
    assert run["outputs"]["llm_output"]["failed_samples"] == 1
    assert usage(run)["output_tokens"] == out["usage"]["generated_tokens"]


def test_graphs_are_named_after_their_strategy() -> None:
    gen, ver = ScriptedGenerator(), ScriptedVerifier()
    assert create_beam_search_graph(gen, verifier=ver).compile().name == "beam_search"
    assert create_best_of_n_graph(gen, verifier=ver).compile().name == "best_of_n"
    assert create_ttc_graph(gen, verifier=ver).compile().name == "ttc"
    assert create_ttc_graph(gen, verifier=ver, name="mine").compile().name == "mine"
    assert create_best_of_n_graph(gen).compile(name="given").name == "given"


def test_chat_model_run_holds_the_graph(traced: Callable[[], Trace]) -> None:
    ChatTTC(generator=ScriptedGenerator(), verifier=ScriptedVerifier(), budget=8).invoke(Q)
    trace = traced()
    chat = trace.one("ChatTTC")
    assert chat["run_type"] == "llm" and chat.get("parent_run_id") is None
    graph = trace.one("ttc")
    assert graph["parent_run_id"] == chat["id"]
    assert trace.one("route")["parent_run_id"] == graph["id"]


def test_tracing_reads_no_property_that_could_load_a_model(traced: Callable[[], Trace]) -> None:
    class Heavy(ScriptedGenerator):
        @property
        def model(self) -> Any:
            raise AssertionError("tracing must not load the model")

    graph = create_best_of_n_graph(Heavy(name="heavy"), config=StrategyConfig("majority", n=2))
    graph.compile().invoke({"question": Q})
    (run,) = traced().of_type("llm")
    assert metadata(run)["ls_model_name"] == "heavy"
