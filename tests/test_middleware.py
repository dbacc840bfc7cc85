"""``TTCMiddleware`` in a real ``create_agent`` agent, on scripted chat models, sync and async."""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Sequence
from typing import Any

import pytest
from langchain.agents import create_agent
from langchain_core.callbacks import AsyncCallbackManagerForLLMRun, CallbackManagerForLLMRun
from langchain_core.language_models import BaseChatModel
from langchain_core.language_models.fake_chat_models import GenericFakeChatModel
from langchain_core.messages import AIMessage, BaseMessage, ToolMessage
from langchain_core.outputs import ChatGeneration, ChatResult
from langchain_core.tools import tool
from pydantic import Field, PrivateAttr

from langgraph_ttc.agents import TTCMiddleware
from langgraph_ttc.agents.candidates import candidate_key, logprob_confidence
from langgraph_ttc.verifiers import FunctionVerifier


def call(name: str, **args: Any) -> AIMessage:
    """A sample that calls one tool."""
    return AIMessage(content="", tool_calls=[{"name": name, "args": args, "id": f"id-{name}"}])


def say(text: str, logprobs: list[float] | None = None) -> AIMessage:
    if logprobs is None:
        return AIMessage(content=text)
    meta = {"logprobs": {"content": [{"token": "x", "logprob": lp} for lp in logprobs]}}
    return AIMessage(content=text, response_metadata=meta)


class ScriptedChat(BaseChatModel):
    """Answers from a script per phase: ``ask`` after a human turn, ``answer`` after a tool.

    Samples are handed out in order, under a lock; each carries usage of 10
    input and 5 output tokens. Records the tools it was bound with.
    """

    ask: list[AIMessage]
    answer: list[AIMessage]
    fail_on: tuple[int, ...] = ()
    _lock: threading.Lock = PrivateAttr(default_factory=threading.Lock)
    _used: dict[str, int] = PrivateAttr(default_factory=lambda: {"ask": 0, "answer": 0})
    _calls: list[int] = PrivateAttr(default_factory=lambda: [0])
    bound: list[list[str]] = Field(default_factory=list)

    @property
    def _llm_type(self) -> str:
        return "scripted"

    def bind_tools(self, tools: Sequence[Any], **kwargs: Any) -> Any:
        self.bound.append(sorted(getattr(t, "name", None) or t["name"] for t in tools))
        return self.bind(tools=[getattr(t, "name", None) for t in tools], **kwargs)

    def _next(self, messages: list[BaseMessage]) -> ChatResult:
        phase = "answer" if isinstance(messages[-1], ToolMessage) else "ask"
        with self._lock:
            self._calls[0] += 1
            number = self._calls[0]
            index = self._used[phase]
            self._used[phase] += 1
        if number in self.fail_on:
            raise RuntimeError(f"scripted failure on call {number}")
        script = getattr(self, phase)
        message = script[index % len(script)].model_copy(
            update={"usage_metadata": {"input_tokens": 10, "output_tokens": 5, "total_tokens": 15}}
        )
        return ChatResult(generations=[ChatGeneration(message=message)])

    def _generate(
        self,
        messages: list[BaseMessage],
        stop: list[str] | None = None,
        run_manager: CallbackManagerForLLMRun | None = None,
        **kwargs: Any,
    ) -> ChatResult:
        return self._next(messages)

    async def _agenerate(
        self,
        messages: list[BaseMessage],
        stop: list[str] | None = None,
        run_manager: AsyncCallbackManagerForLLMRun | None = None,
        **kwargs: Any,
    ) -> ChatResult:
        await asyncio.sleep(0)
        return self._next(messages)


@pytest.fixture
def tools() -> tuple[list[Any], list[tuple[str, dict[str, Any]]]]:
    ran: list[tuple[str, dict[str, Any]]] = []

    @tool
    def get_weather(city: str, unit: str = "C") -> str:
        """The weather in a city."""
        ran.append(("get_weather", {"city": city, "unit": unit}))
        return f"21 {unit} and sunny in {city}"

    @tool
    def get_time(city: str) -> str:
        """The local time in a city."""
        ran.append(("get_time", {"city": city}))
        return f"14:00 in {city}"

    return [get_weather, get_time], ran


# The first two samples disagree, so all five are drawn; the majority calls the
# weather tool for Paris (one sample spells its arguments in another order, with blanks).
DISAGREE = [
    call("get_weather", city="Paris", unit="C"),
    call("get_time", city="Paris"),
    call("get_weather", unit="C", city=" Paris"),
    call("get_weather", city="Paris", unit="C"),
    call("get_weather", city="London", unit="C"),
]
AGREE = [say("It is 21 C and sunny in Paris."), say("it is 21 C and sunny in Paris")]
QUESTION = {"messages": [{"role": "user", "content": "What's the weather in Paris?"}]}


def _check_majority_run(out: dict[str, Any], ran: list[Any], model: ScriptedChat) -> None:
    assert ran == [("get_weather", {"city": "Paris", "unit": "C"})]  # the majority, once
    assert model.bound and all(b == ["get_time", "get_weather"] for b in model.bound)
    first, final = out["messages"][1], out["messages"][-1]
    assert first.tool_calls[0]["name"] == "get_weather"
    assert first.response_metadata["ttc"]["samples"] == 5
    assert not first.response_metadata["ttc"]["stopped_early"]
    counts = {g["key"]: g["count"] for g in first.response_metadata["ttc"]["groups"]}
    assert sorted(counts.values()) == [1, 1, 3]
    assert first.usage_metadata == {"input_tokens": 50, "output_tokens": 25, "total_tokens": 75}
    assert final.text == "It is 21 C and sunny in Paris."
    assert final.response_metadata["ttc"]["stopped_early"]  # the first two agreed
    assert final.usage_metadata["total_tokens"] == 30
    assert out["ttc_usage"] == {
        "model_calls": 2,
        "samples": 7,
        "extra_samples": 5,
        "input_tokens": 70,
        "output_tokens": 35,
        "total_tokens": 105,
        "verifier_tokens": 0,
        "early_stops": 1,
        "failed_samples": 0,
    }


def test_agent_calls_the_majority_tool_call_and_records_the_extra_samples(tools: Any) -> None:
    tool_list, ran = tools
    model = ScriptedChat(ask=DISAGREE, answer=AGREE)
    agent = create_agent(model, tools=tool_list, middleware=[TTCMiddleware(samples=5, agree=2)])
    _check_majority_run(agent.invoke(QUESTION), ran, model)


async def test_async_agent_calls_the_majority_tool_call(tools: Any) -> None:
    tool_list, ran = tools
    model = ScriptedChat(ask=DISAGREE, answer=AGREE)
    agent = create_agent(model, tools=tool_list, middleware=[TTCMiddleware(samples=5, agree=2)])
    _check_majority_run(await agent.ainvoke(QUESTION), ran, model)


@pytest.mark.parametrize("mode", ["sync", "async"])
def test_run_budget_caps_the_extra_samples_of_a_run(tools: Any, mode: str) -> None:
    tool_list, ran = tools
    model = ScriptedChat(ask=DISAGREE, answer=[say("a"), say("b")])
    agent = create_agent(
        model, tools=tool_list, middleware=[TTCMiddleware(samples=5, agree=2, run_budget=3)]
    )
    out = agent.invoke(QUESTION) if mode == "sync" else asyncio.run(agent.ainvoke(QUESTION))
    # Call 1: 4 samples (1 + 3 extra): weather(Paris) twice wins; call 2: budget spent, 1 sample.
    assert ran == [("get_weather", {"city": "Paris", "unit": "C"})]
    assert out["ttc_usage"]["samples"] == 5 and out["ttc_usage"]["extra_samples"] == 3
    assert out["messages"][-1].response_metadata["ttc"]["samples"] == 1
    # A second run on the same agent starts with a fresh run budget.
    again = agent.invoke(QUESTION)
    assert again["ttc_usage"]["extra_samples"] == 3


def test_verifier_selection_outweighs_the_vote(tools: Any) -> None:
    tool_list, ran = tools
    seen: list[tuple[str, str]] = []

    def prefers_london(question: str, solution: str) -> float:
        seen.append((question, solution))
        return 1.0 if "London" in solution else 0.1

    model = ScriptedChat(ask=DISAGREE, answer=AGREE)
    ttc = TTCMiddleware(samples=5, selection="verifier", verifier=FunctionVerifier(prefers_london))
    create_agent(model, tools=tool_list, middleware=[ttc]).invoke(QUESTION)
    assert ran[0] == ("get_weather", {"city": "London", "unit": "C"})  # 1.0 > 3 x 0.1
    assert seen[0][0] == "What's the weather in Paris?"
    assert 'call get_weather({"city":"Paris","unit":"C"})' in {s for _, s in seen}


async def test_async_judge_function_selects(tools: Any) -> None:
    tool_list, ran = tools

    async def judge(messages: Sequence[BaseMessage], candidate: AIMessage) -> float:
        return 1.0 if candidate.tool_calls[0]["name"] == "get_time" else 0.0

    model = ScriptedChat(ask=DISAGREE, answer=AGREE)
    ttc = TTCMiddleware(samples=5, selection="verifier", verifier=judge)
    await create_agent(model, tools=tool_list, middleware=[ttc]).ainvoke(QUESTION)
    assert ran[0][0] == "get_time"


def test_confidence_selection_reads_logprobs() -> None:
    answers = [say("A", [-3.0, -3.0]), say("A", [-3.0]), say("B", [-0.01])]
    model = ScriptedChat(ask=answers, answer=answers)
    ttc = TTCMiddleware(samples=3, agree=None, selection="confidence")
    out = create_agent(model, middleware=[ttc]).invoke(QUESTION)
    assert out["messages"][-1].text == "B"  # 0.99 > 2 x 0.05
    assert logprob_confidence(say("x")) is None


def test_failed_samples_are_dropped_and_counted(tools: Any) -> None:
    tool_list, ran = tools
    model = ScriptedChat(ask=DISAGREE, answer=AGREE, fail_on=(2,))
    agent = create_agent(model, tools=tool_list, middleware=[TTCMiddleware(samples=5)])
    out = agent.invoke(QUESTION)
    assert out["ttc_usage"]["failed_samples"] == 1
    assert ran[0][0] == "get_weather"


def test_every_sample_failing_raises_the_model_error() -> None:
    model = ScriptedChat(ask=[say("x")], answer=[say("x")], fail_on=(1, 2, 3))
    agent = create_agent(model, middleware=[TTCMiddleware(samples=3, agree=None)])
    with pytest.raises(RuntimeError, match="scripted failure"):
        agent.invoke(QUESTION)


def test_any_chat_model_without_tools() -> None:
    replies = iter([AIMessage(content="The answer is 42."), AIMessage(content="#### 42")] * 3)
    agent = create_agent(GenericFakeChatModel(messages=replies), middleware=[TTCMiddleware()])
    out = agent.invoke(QUESTION)
    assert out["messages"][-1].text == "The answer is 42."
    assert out["ttc_usage"]["samples"] == 2 and out["ttc_usage"]["early_stops"] == 1


def test_group_keys() -> None:
    assert candidate_key(call("f", a=1.0, b={"y": 1, "x": " s "})) == candidate_key(
        call("f", b={"x": "s", "y": 1}, a=1)
    )
    two = AIMessage(content="", tool_calls=[*call("f").tool_calls, *call("g").tool_calls])
    swapped = AIMessage(content="", tool_calls=[*call("g").tool_calls, *call("f").tool_calls])
    assert candidate_key(two) == candidate_key(swapped)
    assert candidate_key(say("the answer is 7.0")) == candidate_key(say("#### 7"))
    assert candidate_key(say("Hello  World!")) == candidate_key(say("hello world"))
    assert candidate_key(say("7")) != candidate_key(call("f"))


@pytest.mark.parametrize(
    ("kwargs", "error", "match"),
    [
        ({"samples": 0}, ValueError, "samples must be a positive int"),
        ({"agree": 0}, ValueError, "agree must be"),
        ({"selection": "best"}, ValueError, "selection must be"),
        ({"selection": "verifier"}, ValueError, "needs verifier="),
        ({"verifier": 3}, TypeError, "verifier must be"),
        ({"fold": "max"}, ValueError, "fold must be"),
        ({"run_budget": -1}, ValueError, "run_budget must be"),
        ({"temperature": -1}, ValueError, "temperature must be"),
    ],
)
def test_bad_settings_name_the_problem(kwargs: dict[str, Any], error: type, match: str) -> None:
    with pytest.raises(error, match=match):
        TTCMiddleware(**kwargs)


def test_temperature_is_passed_as_a_model_setting(tools: Any) -> None:
    tool_list, _ = tools
    seen: list[dict[str, Any]] = []

    class Recording(ScriptedChat):
        def _generate(self, messages: list[BaseMessage], stop: Any = None, **kw: Any) -> Any:
            seen.append(kw)
            return self._next(messages)

    model = Recording(ask=[call("get_time", city="Oslo")], answer=[say("ok")])
    agent = create_agent(model, tools=tool_list, middleware=[TTCMiddleware(temperature=0.9)])
    agent.invoke(QUESTION)
    assert seen and all(kw.get("temperature") == 0.9 for kw in seen)
