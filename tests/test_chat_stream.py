"""ChatTTC streams: the search's progress as reasoning chunks, then the reply."""

from __future__ import annotations

from typing import Any

import pytest
from langchain_core.messages import AIMessage, AIMessageChunk, HumanMessage
from langgraph.graph import START, MessagesState, StateGraph

from langgraph_ttc.chat import ChatTTC, describe_progress
from langgraph_ttc.suite.task import evaluate
from tests.fakes import ScriptedGenerator, ScriptedVerifier

Q = "17*3+25-4*6"


def _model(gen: ScriptedGenerator | None = None, **kw: Any) -> ChatTTC:
    return ChatTTC(
        generator=gen or ScriptedGenerator(error_rate=0.2), verifier=ScriptedVerifier(), **kw
    )


def _sum(chunks: list[AIMessageChunk]) -> AIMessageChunk:
    full = chunks[0]
    for chunk in chunks[1:]:
        full = full + chunk
    return full


def _nodes(reasoning: str) -> list[str]:
    return [line.split(":")[0].split(" ")[0] for line in reasoning.splitlines()]


def test_stream_reports_progress_then_the_reply() -> None:
    chunks = list(_model(seed=1).stream(Q))
    assert all(isinstance(c, AIMessageChunk) for c in chunks)
    *progress, last = chunks
    assert len(progress) >= 3
    for chunk in progress:
        assert chunk.content == "" and chunk.usage_metadata is None
        line = chunk.additional_kwargs["reasoning_content"]
        assert line.endswith("\n") and line.count("\n") == 1
    nodes = _nodes("".join(c.additional_kwargs["reasoning_content"] for c in progress))
    assert nodes[0] == "route" and nodes[-1] == "select"
    assert last.chunk_position == "last"
    assert last.response_metadata["answer"] == str(evaluate(Q))
    assert last.response_metadata["model_name"] == "scripted-generator"
    usage = last.usage_metadata
    assert usage is not None and usage["output_tokens"] > 0
    assert usage["output_tokens"] == last.response_metadata["usage"]["generated_tokens"]


def test_invoke_is_what_the_stream_adds_up_to() -> None:
    full = _sum(list(_model(seed=2).stream(Q)))
    msg = _model(seed=2).invoke(Q)
    assert isinstance(msg, AIMessage)
    assert msg.content == full.content and msg.text.endswith(f"#### {evaluate(Q)}")
    assert msg.additional_kwargs == full.additional_kwargs
    assert msg.usage_metadata == full.usage_metadata
    strip = {"wall_time_s"}
    meta = {k: v for k, v in msg.response_metadata["usage"].items() if k not in strip}
    assert meta == {k: v for k, v in full.response_metadata["usage"].items() if k not in strip}
    # The standard view: the log is a reasoning block, the reply one text block.
    types = [b["type"] for b in full.content_blocks]
    assert types == ["reasoning", "text"]
    assert full.content_blocks[0]["reasoning"].startswith("route: ")


async def test_astream_matches_stream() -> None:
    sync = list(_model(seed=3).stream(Q))
    chunks = [c async for c in _model(seed=3).astream(Q)]
    assert [c.content for c in chunks] == [c.content for c in sync]
    assert [c.additional_kwargs for c in chunks] == [c.additional_kwargs for c in sync]
    assert chunks[-1].usage_metadata == sync[-1].usage_metadata


def test_progress_arrives_while_the_search_runs() -> None:
    gen = ScriptedGenerator(error_rate=0.2)
    calls_at_first_chunk = None
    for _chunk in _model(gen, strategy="beam", budget=16).stream(Q):
        if calls_at_first_chunk is None:
            calls_at_first_chunk = len(gen.calls)
    assert calls_at_first_chunk is not None and calls_at_first_chunk < len(gen.calls)


def test_stream_events_v3() -> None:
    pytest.importorskip("langchain_tests")
    from langchain_tests.utils.stream_lifecycle import assert_valid_event_stream

    stream = _model().stream_events(Q, version="v3")
    events = list(stream)
    assert_valid_event_stream(events)
    assert events[0]["event"] == "message-start" and events[-1]["event"] == "message-finish"
    message = stream.output
    blocks = message.content_blocks
    assert [b["type"] for b in blocks] == ["reasoning", "text"]
    assert message.text.endswith(f"#### {evaluate(Q)}")
    assert message.usage_metadata is not None and message.usage_metadata["output_tokens"] > 0


@pytest.mark.filterwarnings("ignore::langchain_core._api.beta_decorator.LangChainBetaWarning")
async def test_astream_events_v3() -> None:
    stream = await _model().astream_events(Q, version="v3")
    events = [e async for e in stream]
    assert events[-1]["event"] == "message-finish"
    message = await stream.output
    assert message.text.endswith(f"#### {evaluate(Q)}")


def test_output_version_v1_blocks() -> None:
    chunks = list(_model(output_version="v1").stream(Q))
    full = _sum(chunks)
    assert [b["type"] for b in full.content] == ["reasoning", "text"]  # type: ignore[index]


def test_stop_cuts_the_streamed_reply() -> None:
    *_, last = _model(stop=["\n"]).stream(Q)
    assert last.content and "\n" not in last.content
    *_, last = _model(stop=["\n"]).stream(Q, stop=["####"])  # a call's stop replaces it
    assert "\n" in last.content and "####" not in last.content


def test_inside_a_streamed_langgraph_graph() -> None:
    """In a node of a graph streamed with ``messages``, ChatTTC streams into it."""
    model = _model()

    def answer(state: MessagesState) -> dict[str, Any]:
        return {"messages": [model.invoke(state["messages"])]}

    graph = StateGraph(MessagesState).add_node("answer", answer).add_edge(START, "answer")
    parts = list(graph.compile().stream({"messages": [HumanMessage(Q)]}, stream_mode="messages"))
    chunks = [chunk for chunk, _meta in parts if isinstance(chunk, AIMessageChunk)]
    assert chunks[0].additional_kwargs["reasoning_content"].startswith("route: ")
    assert chunks[-1].text.endswith(f"#### {evaluate(Q)}")
    final = graph.compile().invoke({"messages": [HumanMessage(Q)]})["messages"][-1]
    assert final.response_metadata["answer"] == str(evaluate(Q))


@pytest.mark.parametrize(
    ("event", "line"),
    [
        (
            {
                "node": "route",
                "round": 0,
                "difficulty": 2,
                "probes": 4,
                "strategy": "beam",
                "generations": 4.0,
                "budget": 16,
            },
            "route: difficulty 2 of 5, 4 probes, strategy beam [4/16 generations]",
        ),
        (
            {"node": "generate", "samples": 8, "generations": 12.0, "budget": 16.0},
            "generate: 8 samples [12/16 generations]",
        ),
        (
            {"node": "prune", "round": 2, "kept": ["a", "b"], "finished": 1, "generations": 9},
            "prune: round 2, 2 kept, 1 finished [9 generations]",
        ),
        (
            {
                "node": "select",
                "answer": "33",
                "confidence": 0.75,
                "status": "done",
                "generations": 16,
                "budget": 16,
            },
            "select: answer 33 (confidence 0.75), status done [16/16 generations]",
        ),
        ({"node": "mystery", "generations": 3}, "mystery [3 generations]"),
        ({}, "progress"),
    ],
)
def test_describe_progress(event: dict[str, Any], line: str) -> None:
    assert describe_progress(event) == line
