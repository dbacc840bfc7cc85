"""Model calls as LangSmith model runs, the way LangChain's own chat models trace.

The driver runs every model call through :func:`invoke_traced` or
:func:`ainvoke_traced`. Each call opens its runs with LangChain's callback
manager (so LangSmith, ``astream_events`` and any other handler see them):

- a **generator** call opens one run per request (LangChain's convention: one
  run per prompt), of LangSmith type ``llm``: the request's messages in, its
  samples out as chat generations, each carrying ``usage_metadata``
  (``input_tokens``, ``output_tokens``, ``total_tokens``), which LangChain's
  tracer sums into the run's ``extra.metadata.usage_metadata``;
- a **verifier** that runs a model (a PRM, a judge, a likelihood verifier)
  opens one ``llm`` run per solution scored: the question and the solution
  in, the step scores out, the verifier's tokens split over its solutions in
  proportion to their length (they add up to what it reported);
- a :class:`~langgraph_ttc.verifiers.FunctionVerifier` (a checker, no model)
  opens one ``tool`` run per call: it reads no tokens and costs nothing.

Runs are named after the model (``generator.name``); the algorithm step
(``beam_search/branch``) is the ``ttc_step`` metadata, beside the node's
tags and metadata and LangSmith's ``ls_provider``, ``ls_model_name``,
``ls_model_type``, ``ls_temperature``, ``ls_max_tokens`` and ``ls_stop``.
Model runs are tagged ``nostream``: the samples of a search never leak into
a surrounding graph's ``messages`` stream (progress goes to the custom stream).

A backend whose calls are LangChain runs already (``langchain_traced``: a
``ChatModelGenerator``, or a judge built on one) opens no second model run:
its own runs nest under the node with the step's tags and metadata, so no
token is counted twice.
"""

from __future__ import annotations

import asyncio
import json
from typing import Any

from langchain_core.messages import AIMessage, BaseMessage, HumanMessage, convert_to_messages
from langchain_core.outputs import ChatGeneration, LLMResult
from langchain_core.runnables import RunnableConfig
from langchain_core.runnables.config import (
    get_async_callback_manager_for_config,
    get_callback_manager_for_config,
    merge_configs,
    set_config_context,
)
from langchain_core.runnables.utils import coro_with_context

from langgraph_ttc.engine.calls import Call, GenerateCall, ScoreCall
from langgraph_ttc.models.base import as_messages, split_total
from langgraph_ttc.models.errors import PartialBatchError
from langgraph_ttc.types import Completion, GenerationRequest, ScoreResult
from langgraph_ttc.verifiers.function import FunctionVerifier

__all__ = ["NOSTREAM", "ainvoke_traced", "call_config", "invoke_traced", "run_type"]

NOSTREAM = "nostream"
"""LangGraph's tag for runs whose messages stay out of the ``messages`` stream."""

Outcome = tuple[str, Any, Any]
"""How one opened run ends: ``("end", LLMResult, None)``, ``("tool", output, None)``
or ``("error", exception, LLMResult | None)``."""


def run_type(call: Call) -> str:
    """The LangSmith run type of a call's runs: ``tool`` for a checker function, else ``llm``."""
    if isinstance(call, ScoreCall) and isinstance(call.verifier, FunctionVerifier):
        return "tool"
    return "llm"


def _backend(call: Call) -> Any:
    return call.generator if isinstance(call, GenerateCall) else call.verifier


def _self_traced(call: Call) -> bool:
    backend = _backend(call)
    inner = getattr(backend, "__dict__", {}).get("generator")  # a judge's generator
    return bool(
        getattr(type(backend), "langchain_traced", False)
        or getattr(type(inner), "langchain_traced", False)
    )


def _ls_params(call: Call) -> dict[str, Any]:
    backend = _backend(call)
    # Only plain attributes are read: a property (``TransformersGenerator.model``) may load.
    model = getattr(backend, "__dict__", {}).get("model")
    params: dict[str, Any] = {
        "ls_provider": getattr(type(backend), "ls_provider", None) or "langgraph_ttc",
        "ls_model_name": model if isinstance(model, str) else backend.name,
        "ls_model_type": "chat",
    }
    if isinstance(call, GenerateCall) and call.requests:
        first = call.requests[0]
        params.update(
            ls_temperature=first.temperature,
            ls_max_tokens=first.max_tokens,
            ls_stop=list(first.stop) or None,
        )
    return params


def call_config(call: Call, config: RunnableConfig | None) -> RunnableConfig:
    """The config a call's runs open under: the node's, plus the call's tags and metadata."""
    metadata = {**dict(call.metadata), "ttc_step": call.run_name}
    if run_type(call) == "llm" and not _self_traced(call):
        metadata.update(_ls_params(call))
    child = merge_configs(config, {"tags": [*call.tags, NOSTREAM], "metadata": metadata})
    child.pop("run_name", None)
    child.pop("run_id", None)
    return child


# ---------------------------------------------------------------------- payloads


def _request_messages(req: GenerationRequest) -> list[BaseMessage]:
    messages = convert_to_messages(as_messages(req.prompt))
    if req.prefix:
        messages.append(AIMessage(content=req.prefix))
    return messages


def _request_params(req: GenerationRequest, index: int) -> dict[str, Any]:
    return {
        "request": index,
        "n": req.n,
        "max_tokens": req.max_tokens,
        "temperature": req.temperature,
        "top_p": req.top_p,
        "stop": list(req.stop),
        "seed": req.seed,
        "prefix": req.prefix,
    }


def _usage(input_tokens: int, output_tokens: int) -> dict[str, int]:
    return {
        "input_tokens": input_tokens,
        "output_tokens": output_tokens,
        "total_tokens": input_tokens + output_tokens,
    }


def _result(messages: list[AIMessage], model: str, **extra: Any) -> LLMResult:
    prompt = sum(m.usage_metadata["input_tokens"] for m in messages if m.usage_metadata)
    generated = sum(m.usage_metadata["output_tokens"] for m in messages if m.usage_metadata)
    return LLMResult(
        generations=[
            [ChatGeneration(message=m, generation_info=dict(m.response_metadata)) for m in messages]
        ],
        llm_output={
            "token_usage": {
                "prompt_tokens": prompt,
                "completion_tokens": generated,
                "total_tokens": prompt + generated,
            },
            "model_name": model,
            **extra,
        },
    )


def _sample_message(c: Completion) -> AIMessage:
    return AIMessage(
        content=c.text,
        usage_metadata=_usage(c.prompt_tokens, c.completion_tokens),  # type: ignore[arg-type]
        response_metadata={"finish_reason": c.finish_reason},
    )


def _generate_outcomes(
    call: GenerateCall, reply: Any, error: BaseException | None
) -> list[Outcome]:
    model = _ls_params(call)["ls_model_name"]
    count = len(call.requests)
    if isinstance(error, PartialBatchError) and len(error.completions) == count:
        reply = error.completions
    elif error is not None:
        return [("error", error, None)] * count
    if (
        not isinstance(reply, list)
        or len(reply) != count
        or not all(isinstance(per, list) for per in reply)
        or not all(isinstance(c, Completion) for per in reply for c in per)
    ):
        bad = TypeError(f"generator {call.generator.name!r} returned a malformed reply")
        return [("error", bad, None)] * count
    out: list[Outcome] = []
    for req, per in zip(call.requests, reply, strict=True):
        result = _result([_sample_message(c) for c in per], model)
        if error is None or len(per) >= req.n:
            out.append(("end", result, None))
        elif per:  # some samples came back: the run holds them (and their usage)
            failed = req.n - len(per)
            result = _result(
                [_sample_message(c) for c in per], model, failed_samples=failed, error=str(error)
            )
            out.append(("end", result, None))
        else:
            out.append(("error", error, None))
    return out


def _score_outcomes(call: ScoreCall, reply: Any, error: BaseException | None) -> list[Outcome]:
    count = len(call.solutions)
    if run_type(call) == "tool":
        if error is not None:
            return [("error", error, None)]
        steps = reply.steps if isinstance(reply, ScoreResult) else reply
        return [("tool", {"steps": steps}, None)]
    if error is not None:
        return [("error", error, None)] * count
    if not isinstance(reply, ScoreResult) or len(reply.steps) != count:
        bad = TypeError(f"verifier {call.verifier.name!r} returned a malformed reply")
        return [("error", bad, None)] * count
    shares = split_total(int(reply.tokens), [len(s) + 1 for s in call.solutions])
    model = _ls_params(call)["ls_model_name"]
    out: list[Outcome] = []
    for steps, tokens in zip(reply.steps, shares, strict=True):
        message = AIMessage(
            content=json.dumps(steps),
            usage_metadata=_usage(tokens, 0),  # type: ignore[arg-type]
            response_metadata={"step_scores": list(steps)},
        )
        out.append(("end", _result([message], model), None))
    return out


def _outcomes(call: Call, reply: Any, error: BaseException | None) -> list[Outcome]:
    if isinstance(call, GenerateCall):
        return _generate_outcomes(call, reply, error)
    return _score_outcomes(call, reply, error)


def _serialized(call: Call) -> dict[str, Any]:
    backend = _backend(call)
    return {"lc": 1, "type": "not_implemented", "id": ["langgraph_ttc", type(backend).__name__]}


def _inputs(call: Call) -> list[tuple[list[BaseMessage], dict[str, Any]]]:
    """What each run reads, and its invocation parameters."""
    if isinstance(call, GenerateCall):
        return [(_request_messages(r), _request_params(r, k)) for k, r in enumerate(call.requests)]
    return [
        ([HumanMessage(content=call.question), AIMessage(content=s)], {"solution": k})
        for k, s in enumerate(call.solutions)
    ]


# ---------------------------------------------------------------------- running


def _invoke_backend(call: Call) -> Any:
    if isinstance(call, GenerateCall):
        return call.generator.generate(call.requests)
    return call.verifier.score(call.question, call.solutions)


async def _ainvoke_backend(call: Call) -> Any:
    if isinstance(call, GenerateCall):
        return await call.generator.agenerate(call.requests)
    return await call.verifier.ascore(call.question, call.solutions)


def _tool_inputs(call: ScoreCall) -> dict[str, Any]:
    return {"question": call.question, "solutions": list(call.solutions)}


def invoke_traced(call: Call, config: RunnableConfig | None) -> Any:
    """Run one model call under the node's ``config``, traced (see the module docstring)."""
    child = call_config(call, config)
    if _self_traced(call):
        with set_config_context(child) as ctx:
            return ctx.run(_invoke_backend, call)
    manager = get_callback_manager_for_config(child)
    if not manager.handlers:
        return _invoke_backend(call)  # nobody listens: no runs to build
    name = _backend(call).name
    runs: list[Any] = []
    if isinstance(call, ScoreCall) and run_type(call) == "tool":
        inputs = _tool_inputs(call)
        runs.append(
            manager.on_tool_start(_serialized(call), json.dumps(inputs), name=name, inputs=inputs)
        )
    else:
        for messages, params in _inputs(call):
            runs += manager.on_chat_model_start(
                _serialized(call), [messages], invocation_params=params, name=name
            )
    try:
        reply = _invoke_backend(call)
    except BaseException as exc:
        for run, outcome in zip(runs, _outcomes(call, None, exc), strict=True):
            _close(run, outcome)
        raise
    for run, outcome in zip(runs, _outcomes(call, reply, None), strict=True):
        _close(run, outcome)
    return reply


async def ainvoke_traced(call: Call, config: RunnableConfig | None) -> Any:
    """Async twin of :func:`invoke_traced`."""
    child = call_config(call, config)
    if _self_traced(call):
        with set_config_context(child) as ctx:
            return await coro_with_context(_ainvoke_backend(call), ctx, create_task=True)
    manager = get_async_callback_manager_for_config(child)
    if not manager.handlers:
        return await _ainvoke_backend(call)  # nobody listens: no runs to build
    name = _backend(call).name
    runs: list[Any] = []
    if isinstance(call, ScoreCall) and run_type(call) == "tool":
        inputs = _tool_inputs(call)
        runs.append(
            await manager.on_tool_start(
                _serialized(call), json.dumps(inputs), name=name, inputs=inputs
            )
        )
    else:
        for messages, params in _inputs(call):
            runs += await manager.on_chat_model_start(
                _serialized(call), [messages], invocation_params=params, name=name
            )
    try:
        reply = await _ainvoke_backend(call)
    except BaseException as exc:
        await asyncio.gather(
            *(_aclose(r, o) for r, o in zip(runs, _outcomes(call, None, exc), strict=True))
        )
        raise
    await asyncio.gather(
        *(_aclose(r, o) for r, o in zip(runs, _outcomes(call, reply, None), strict=True))
    )
    return reply


def _close(run: Any, outcome: Outcome) -> None:
    kind, value, response = outcome
    if kind == "end":
        run.on_llm_end(value)
    elif kind == "tool":
        run.on_tool_end(value)
    elif hasattr(run, "on_tool_error"):
        run.on_tool_error(value)
    else:
        run.on_llm_error(value, response=response)


async def _aclose(run: Any, outcome: Outcome) -> None:
    kind, value, response = outcome
    if kind == "end":
        await run.on_llm_end(value)
    elif kind == "tool":
        await run.on_tool_end(value)
    elif hasattr(run, "on_tool_error"):
        await run.on_tool_error(value)
    else:
        await run.on_llm_error(value, response=response)
