"""ChatModelGenerator over LangChain chat models: langchain_core's fakes and a recording one."""

from __future__ import annotations

import asyncio
import threading
from typing import Any

import pytest
from langchain_core.callbacks import CallbackManagerForLLMRun
from langchain_core.language_models import BaseChatModel
from langchain_core.language_models.fake_chat_models import (
    FakeListChatModel,
    GenericFakeChatModel,
)
from langchain_core.messages import AIMessage, BaseMessage
from langchain_core.outputs import ChatGeneration, ChatResult
from pydantic import Field

from langgraph_ttc.models import BackendError, ChatModelGenerator, PartialBatchError
from langgraph_ttc.types import GenerationRequest, Generator


class RecordingChatModel(BaseChatModel):
    """Answers with what it was asked, and records every call's kwargs."""

    temperature: float = 0.7
    max_tokens: int | None = None
    top_p: float | None = None
    reply: str = "1+2=3\n3*4=12\n#### 12"
    fail: bool = False
    calls: list[dict[str, Any]] = Field(default_factory=list)
    lock: Any = None

    @property
    def _llm_type(self) -> str:
        return "recording"

    def _generate(
        self,
        messages: list[BaseMessage],
        stop: list[str] | None = None,
        run_manager: CallbackManagerForLLMRun | None = None,
        **kwargs: Any,
    ) -> ChatResult:
        if self.fail:
            raise ConnectionError("provider is down")
        with self.lock:
            self.calls.append({"stop": stop, "messages": messages, **kwargs})
        cap = kwargs.get("max_tokens")
        text = self.reply if cap is None else self.reply[:cap]
        finish = "length" if cap is not None and len(self.reply) > cap else "stop"
        msg = AIMessage(
            content=text,
            usage_metadata={"input_tokens": 11, "output_tokens": len(text), "total_tokens": 0},
            response_metadata={"finish_reason": finish},
        )
        return ChatResult(generations=[ChatGeneration(message=msg)])


def _recording(**kw: Any) -> RecordingChatModel:
    return RecordingChatModel(calls=[], lock=threading.Lock(), **kw)


def test_exact_n_in_order_with_generic_fake() -> None:
    model = GenericFakeChatModel(messages=iter([f"answer {i}" for i in range(6)]))
    gen = ChatModelGenerator(model, params=1000, max_concurrency=1)
    assert isinstance(gen, Generator) and gen.params == 1000
    out = gen.generate(
        [GenerationRequest("a", n=2), GenerationRequest("b", n=1), GenerationRequest("c", n=3)]
    )
    assert [len(p) for p in out] == [2, 1, 3]
    # One at a time, so the fake's answers come back in request order.
    assert [c.text for p in out for c in p] == [f"answer {i}" for i in range(6)]
    assert all(c.finish_reason == "stop" for p in out for c in p)


async def test_async_with_fake_list_model() -> None:
    model = FakeListChatModel(responses=["x\ny", "z"])
    gen = ChatModelGenerator(model)
    out = await gen.agenerate([GenerationRequest("q", n=4, stop=("\n",))])
    assert len(out[0]) == 4
    assert {c.text for c in out[0]} <= {"x", "z"}
    # Without usage metadata the counts are estimates: prompt and output are non-zero.
    assert all(c.prompt_tokens > 0 and c.completion_tokens > 0 for c in out[0])


def test_binds_sampling_settings_and_reads_usage() -> None:
    model = _recording()
    gen = ChatModelGenerator(model)
    out = gen.generate(
        [GenerationRequest("q", n=3, max_tokens=9, temperature=0.3, top_p=0.5, stop=("####",))]
    )
    assert len(model.calls) == 3
    for call in model.calls:
        assert call["stop"] == ["####"]
        assert call["temperature"] == 0.3 and call["top_p"] == 0.5 and call["max_tokens"] == 9
    for c in out[0]:
        assert c.text == "1+2=3\n3*4"
        assert c.finish_reason == "length"
        assert c.prompt_tokens == 11 and c.completion_tokens == 9


def test_stop_string_cut_and_finish() -> None:
    model = _recording()
    (out,) = ChatModelGenerator(model).generate([GenerationRequest("q", stop=("\n",))])
    assert out[0].text == "1+2=3" and out[0].finish_reason == "stop"


def test_bind_sampling_off_passes_only_stop() -> None:
    model = _recording()
    ChatModelGenerator(model, bind_sampling=False).generate([GenerationRequest("q", stop=("\n",))])
    assert set(model.calls[0]) == {"stop", "messages"}


def test_only_declared_fields_are_bound() -> None:
    model = GenericFakeChatModel(messages=iter(["a"]))
    gen = ChatModelGenerator(model)
    assert gen._kwargs(GenerationRequest("q", temperature=0.1, max_tokens=5)) == {}


def test_messages_and_prefix() -> None:
    model = _recording()
    msgs = [{"role": "system", "content": "Solve."}, {"role": "user", "content": "1+2"}]
    ChatModelGenerator(model).generate([GenerationRequest(msgs, prefix="1+2=")])
    sent = model.calls[0]["messages"]
    assert [m.type for m in sent] == ["system", "human", "ai"]
    assert sent[-1].content == "1+2="


def test_mixed_settings_are_grouped_and_returned_in_order() -> None:
    model = _recording()
    gen = ChatModelGenerator(model)
    out = gen.generate(
        [
            GenerationRequest("a", n=2, max_tokens=3),
            GenerationRequest("b", n=1, max_tokens=50),
            GenerationRequest("c", n=2, max_tokens=3),
        ]
    )
    assert [[c.text for c in p] for p in out] == [["1+2"] * 2, [model.reply], ["1+2"] * 2]


def test_model_errors_escape_as_backend_error() -> None:
    model = _recording(fail=True)
    gen = ChatModelGenerator(model)
    with pytest.raises(BackendError, match="provider is down"):
        gen.generate([GenerationRequest("q")])
    with pytest.raises(BackendError, match="provider is down"):
        asyncio.run(gen.agenerate([GenerationRequest("q", n=2)]))


class _FailsOnB(RecordingChatModel):
    """Fails every call whose last message mentions 'b'."""

    def _generate(self, messages: list[BaseMessage], *args: Any, **kwargs: Any) -> ChatResult:
        if "b" in str(messages[-1].content):
            raise ConnectionError("provider dropped it")
        return super()._generate(messages, *args, **kwargs)


def test_some_failed_calls_keep_the_others() -> None:
    gen = ChatModelGenerator(_FailsOnB(calls=[], lock=threading.Lock()), name="flaky")
    reqs = [GenerationRequest("a", n=2), GenerationRequest("b", n=2)]
    for run in (lambda: gen.generate(reqs), lambda: asyncio.run(gen.agenerate(reqs))):
        with pytest.raises(PartialBatchError, match="2 of 4 samples failed") as info:
            run()
        assert [len(per) for per in info.value.completions] == [2, 0]
        assert info.value.failed == 2 and info.value.backend == "flaky"


def test_bad_arguments() -> None:
    with pytest.raises(TypeError, match="chat_model"):
        ChatModelGenerator("gpt")  # type: ignore[arg-type]
    model = _recording()
    with pytest.raises(ValueError, match="max_concurrency"):
        ChatModelGenerator(model, max_concurrency=0)
    with pytest.raises(ValueError, match="params"):
        ChatModelGenerator(model, params=-1)
    with pytest.raises(ValueError, match="top_p"):
        ChatModelGenerator(model).generate([GenerationRequest("q", top_p=0)])
    assert ChatModelGenerator(model).generate([]) == []
