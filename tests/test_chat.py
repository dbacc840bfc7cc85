"""ChatTTC: a TTC graph as a LangChain chat model."""

from __future__ import annotations

import importlib.util
from typing import Any

import pytest
from langchain_core.messages import AIMessage, HumanMessage, SystemMessage
from langchain_core.output_parsers import StrOutputParser
from langchain_core.prompts import ChatPromptTemplate
from langchain_core.tracers.base import BaseTracer
from langchain_core.tracers.schemas import Run

from langgraph_ttc.chat import ChatTTC, best_solution
from langgraph_ttc.strategies import create_best_of_n_graph
from langgraph_ttc.suite.task import check, evaluate
from langgraph_ttc.types import STRATEGIES
from tests.fakes import ScriptedGenerator, ScriptedVerifier, shipped_policy_unfitted

Q = "34*7-95+84*4"


def _model(**kw: Any) -> ChatTTC:
    kw.setdefault("policy", shipped_policy_unfitted())
    return ChatTTC(generator=ScriptedGenerator(error_rate=0.2), verifier=ScriptedVerifier(), **kw)


def test_invoke_returns_the_best_solution_with_metadata() -> None:
    msg = _model().invoke([SystemMessage("be careful"), HumanMessage(Q)])
    assert isinstance(msg, AIMessage)
    assert check(msg.text, Q)  # the full solution, ending in "#### 479"
    meta = msg.response_metadata
    assert meta["answer"] == str(evaluate(Q))
    assert meta["strategy"] in STRATEGIES
    assert meta["difficulty"] in range(1, 6)
    assert meta["status"] == "done"
    assert meta["usage"]["generations"] == 16
    usage = msg.usage_metadata
    assert usage is not None
    assert usage["output_tokens"] == meta["usage"]["generated_tokens"] > 0
    assert usage["total_tokens"] == usage["input_tokens"] + usage["output_tokens"]


async def test_ainvoke_matches_invoke() -> None:
    sync = _model(seed=4).invoke(Q)
    msg = await _model(seed=4).ainvoke(Q)
    assert msg.text == sync.text
    assert (
        msg.response_metadata["usage"]["generations"]
        == sync.response_metadata["usage"]["generations"]
    )


def test_answer_output_budget_and_strategy_overrides() -> None:
    gen = ScriptedGenerator(error_rate=0.0)
    model = ChatTTC(generator=gen, verifier=ScriptedVerifier(), output="answer")
    msg = model.bind(budget=4, strategy="best-of-n").invoke(Q)
    assert msg.text == str(evaluate(Q))
    assert msg.response_metadata["strategy"] == "best_of_n"
    assert msg.response_metadata["difficulty"] is None
    assert gen.sample_counts == [4]


def test_stop_cuts_the_reply() -> None:
    msg = _model().invoke(Q, stop=["\n"])
    assert "\n" not in msg.text and msg.text


def test_from_a_compiled_graph() -> None:
    graph = create_best_of_n_graph(ScriptedGenerator(error_rate=0.0)).compile()
    model = ChatTTC(graph=graph)
    msg = model.invoke(Q)
    assert check(msg.text, Q)
    assert msg.response_metadata["strategy"] == "majority"
    assert model.model_name


def test_lcel_chain() -> None:
    prompt = ChatPromptTemplate.from_messages([("system", "Solve it."), ("human", "{expr}")])
    chain = prompt | _model(output="answer") | StrOutputParser()
    assert chain.invoke({"expr": Q}) == str(evaluate(Q))


def test_plan_and_error_reach_the_metadata() -> None:
    msg = _model().invoke(Q)
    assert msg.response_metadata["plan"]["strategy"] == msg.response_metadata["strategy"]
    failing = ChatTTC(generator=ScriptedGenerator(fail_after=0), verifier=ScriptedVerifier())
    msg = failing.invoke(Q)
    assert msg.text.startswith("No answer (backend_error: ")
    assert msg.response_metadata["status"] == "backend_error"
    assert "scripted backend failure" in msg.response_metadata["error"]


def test_in_a_langchain_agent() -> None:
    agents = pytest.importorskip("langchain.agents")
    agent = agents.create_agent(_model(), tools=[])
    out = agent.invoke({"messages": [{"role": "user", "content": Q}]})
    assert check(out["messages"][-1].text, Q)


def test_bad_input() -> None:
    with pytest.raises(ValueError, match="human message"):
        _model().invoke([SystemMessage("no question")])
    with pytest.raises(ValueError, match="no text"):
        _model().invoke([HumanMessage("  ")])
    with pytest.raises(ValueError, match="budget must be a positive int"):
        _model(budget=0)
    with pytest.raises(ValueError, match="max_tokens must be a positive int"):
        _model(max_tokens=0)
    with pytest.raises(ValueError, match="strategy"):
        _model(strategy="nope")
    with pytest.raises(ValueError, match="timeout"):
        _model(timeout=0)
    with pytest.raises(TypeError, match="unexpected call options"):
        _model().invoke(Q, temperature=0.1)
    with pytest.raises(ValueError, match="budget"):
        _model().bind(budget=-1).invoke(Q)


def test_best_solution_prefers_the_highest_score() -> None:
    base = {"steps": [], "done": True, "step_scores": None}
    cands: list[Any] = [
        {**base, "id": "a", "text": "x", "answer": "7", "score": 0.2},
        {**base, "id": "b", "text": "y", "answer": "07", "score": 0.9},
        {**base, "id": "c", "text": "z", "answer": "8", "score": 1.0},
        {**base, "id": "d", "text": "w", "answer": "7", "score": None},
    ]
    assert best_solution(cands, "7")["id"] == "b"  # type: ignore[index]
    assert best_solution(cands, None) is None
    assert best_solution(cands, "9") is None


class _Collector(BaseTracer):
    def __init__(self) -> None:
        super().__init__()
        self.runs: list[Run] = []

    def _persist_run(self, run: Run) -> None:
        pass

    def _end_trace(self, run: Run) -> None:
        if run.parent_run_id is None:
            self.runs.append(run)
        super()._end_trace(run)


def test_graph_runs_nest_under_the_chat_model_run() -> None:
    tracer = _Collector()
    _model().invoke(Q, config={"callbacks": [tracer]})
    (root,) = tracer.runs
    assert root.run_type == "llm" and root.name == "ChatTTC"
    (graph_run,) = root.child_runs
    assert graph_run.name == "ttc"
    assert graph_run.child_runs[0].name == "route"


def test_exported_from_the_package() -> None:
    import langgraph_ttc

    assert langgraph_ttc.ChatTTC is ChatTTC and "ChatTTC" in langgraph_ttc.__all__


def test_concurrent_first_calls_build_one_graph_on_one_model_set(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    import time

    from langgraph_ttc import defaults

    loads: list[int] = []

    def slow_bundled(device: str | None = None) -> tuple[Any, Any, Any]:
        loads.append(1)
        time.sleep(0.05)  # long enough for the other threads to arrive
        return ScriptedGenerator(error_rate=0.0), ScriptedVerifier(), None

    monkeypatch.setattr(defaults, "load_bundled", slow_bundled)
    replies = ChatTTC(budget=4).batch(["12+7*3", "8*3-7", "3*4+5", "9+8*2"])
    assert [r.response_metadata["answer"] for r in replies] == ["33", "17", "17", "25"]
    assert loads == [1]


def test_default_stop_and_its_trace_param() -> None:
    model = _model(stop=["\n"])
    assert "\n" not in model.invoke(Q).text
    assert model._get_ls_params()["ls_stop"] == ["\n"]
    assert model._get_ls_params(stop=["x"])["ls_stop"] == ["x"]


# langchain-tests is optional: without it, only these standard tests are left out.
# The integration suite is in tests/integration/test_chat_standard.py.
if importlib.util.find_spec("langchain_tests") is not None:
    from langchain_tests.unit_tests import ChatModelUnitTests

    class TestChatTTCStandard(ChatModelUnitTests):
        """LangChain's standard unit tests for chat models.

        Two skip, for what ChatTTC does not have: ``test_init_from_env``
        (``init_from_env_params`` is empty: ChatTTC reads no setting or key
        from the environment) and ``test_serdes`` (``is_lc_serializable()``
        is false: a ChatTTC holds model objects, which LangChain's
        ``dumpd``/``load`` cannot rebuild). Tool calling, structured output
        and multimodal inputs are declared unsupported below.
        """

        @property
        def chat_model_class(self) -> type[ChatTTC]:
            return ChatTTC

        @property
        def chat_model_params(self) -> dict[str, Any]:
            return {"generator": ScriptedGenerator(), "verifier": ScriptedVerifier()}

        @property
        def has_tool_calling(self) -> bool:
            return False

        @property
        def has_tool_choice(self) -> bool:
            return False

        @property
        def has_structured_output(self) -> bool:
            return False

        @property
        def supports_json_mode(self) -> bool:
            return False

        @property
        def supports_image_inputs(self) -> bool:
            return False

        @property
        def supports_audio_inputs(self) -> bool:
            return False

        @property
        def supports_pdf_inputs(self) -> bool:
            return False

        @property
        def supports_video_inputs(self) -> bool:
            return False

        @property
        def supports_model_override(self) -> bool:
            return False
