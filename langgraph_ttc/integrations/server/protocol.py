"""The OpenAI wire format: reading a chat-completion request, writing the replies.

A request names what to run in its model name or its ``ttc`` field
(``extra_body={"ttc": {...}}`` in the OpenAI SDK); the field wins where both
say something:

- ``ttc``: routed by difficulty (``auto``), the server's default budget;
- ``ttc-<strategy>``: a strategy forced (``ttc-beam``, ``ttc-best-of-n``);
- ``ttc-<budget>``, ``ttc-<strategy>-<budget>``: with a budget in generations
  (``ttc-16``, ``ttc-beam-16``);
- ``{"ttc": {"strategy": "beam", "budget": 16, "seed": 0, "timeout": 30,
  "max_tokens": 256}}``: the same, plus the seed, the run's time limit in
  seconds and the tokens per solution (``max_tokens`` and ``seed`` may also
  come as the standard fields).

The last user message is the question. Unknown ``ttc`` keys, tools, ``n > 1``
and a ``response_format`` other than text are refused (400) with a message
naming the field; other OpenAI fields (``temperature``, ``top_p``, ...) are
accepted and ignored: the strategy sets the sampling.
"""

from __future__ import annotations

import math
import time
import uuid
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from langgraph_ttc.integrations.server.settings import ServerSettings
from langgraph_ttc.types import STRATEGIES

__all__ = [
    "APIError",
    "RunRequest",
    "chunk",
    "completion",
    "error_body",
    "model_card",
    "model_ids",
    "parse_model",
    "parse_request",
    "usage_of",
]

_TTC_KEYS = ("strategy", "budget", "seed", "timeout", "max_tokens")
_CHOICES = ", ".join(("auto", *(s.replace("_", "-") for s in STRATEGIES)))


class APIError(Exception):
    """An error answered as OpenAI answers errors: a status and ``{"error": {...}}``.

    Attributes:
        status: The HTTP status.
        message: What went wrong, for the client (never a secret, path or traceback).
        type: OpenAI's error type (``invalid_request_error``, ...).
        param: The request field at fault, if one.
        code: A short machine-readable code, if any.
    """

    def __init__(
        self,
        status: int,
        message: str,
        *,
        type: str = "invalid_request_error",
        param: str | None = None,
        code: str | None = None,
    ) -> None:
        super().__init__(message)
        self.status = status
        self.message = message
        self.type = type
        self.param = param
        self.code = code

    def body(self) -> dict[str, Any]:
        """The JSON body: ``{"error": {"message", "type", "param", "code"}}``."""
        return error_body(self.message, type=self.type, param=self.param, code=self.code)


def error_body(
    message: str, *, type: str, param: str | None = None, code: str | None = None
) -> dict[str, Any]:
    """An OpenAI error object."""
    return {"error": {"message": message, "type": type, "param": param, "code": code}}


@dataclass(frozen=True)
class RunRequest:
    """One chat-completion request, read and checked.

    Attributes:
        model: The model name as asked (echoed in the reply).
        question: The last user message's text.
        strategy: ``auto`` or a strategy name (underscores).
        budget: Generations the run may spend, probes included.
        seed: The run's base seed.
        max_tokens: Tokens per solution.
        timeout_s: The run's time limit.
        stream: Answer as server-sent events.
        include_usage: Streaming: end with a usage chunk (``stream_options``).
        stop: Strings the reply is cut before.
    """

    model: str
    question: str
    strategy: str
    budget: int
    seed: int
    max_tokens: int
    timeout_s: float
    stream: bool = False
    include_usage: bool = False
    stop: tuple[str, ...] = ()


def _bad(message: str, param: str | None = None, code: str | None = None) -> APIError:
    return APIError(400, message, param=param, code=code)


def _strategy(value: object, param: str) -> str:
    name = value.strip().lower().replace("-", "_") if isinstance(value, str) else None
    if name != "auto" and name not in STRATEGIES:
        raise _bad(
            f"unknown strategy {value!r}: choose from {_CHOICES}", param, code="unknown_strategy"
        )
    assert name is not None
    return name


def parse_model(name: object, prefix: str = "ttc") -> tuple[str | None, int | None]:
    """``(strategy, budget)`` named by a model name; ``None`` where it names none.

    Raises:
        APIError: 400 for a name that is not ``<prefix>[-<strategy>][-<budget>]``.
    """
    shape = f"ask for {prefix}, {prefix}-<strategy> or {prefix}-<strategy>-<budget>"
    if not isinstance(name, str) or not name.strip():
        raise _bad(f"model is required: {shape}", "model")
    lowered = name.strip().lower()
    if lowered != prefix and not lowered.startswith(prefix + "-"):
        shown = name if len(name) <= 60 else name[:57] + "..."
        raise _bad(
            f"model {shown!r} is not served here: {shape} (GET /v1/models lists them)",
            "model",
            code="model_not_found",
        )
    parts = [p for p in lowered[len(prefix) :].split("-") if p]
    budget = int(parts.pop()) if parts and parts[-1].isdigit() else None
    strategy = _strategy("-".join(parts), "model") if parts else None
    return strategy, budget


def _int(value: object, param: str) -> int:
    if isinstance(value, bool) or not isinstance(value, int):
        raise _bad(f"{param} must be an integer, got {value!r}", param)
    return value


def _question(messages: object, settings: ServerSettings) -> str:
    if not isinstance(messages, list) or not messages:
        raise _bad("messages must be a non-empty list of chat messages", "messages")
    for message in reversed(messages):
        if not isinstance(message, Mapping):
            raise _bad("each message must be an object with a role and content", "messages")
        if message.get("role") != "user":
            continue
        text = _text(message.get("content"))
        if not text.strip():
            raise _bad("the last user message holds no text: nothing to answer", "messages")
        if len(text) > settings.max_question_chars:
            raise APIError(
                413,
                f"the question is {len(text)} characters long; this server takes at most "
                f"{settings.max_question_chars}",
                param="messages",
                code="question_too_long",
            )
        return text.strip()
    raise _bad("messages hold no user message: the last one is the question", "messages")


def _text(content: object) -> str:
    if isinstance(content, str):
        return content
    if isinstance(content, list):
        parts = []
        for part in content:
            if isinstance(part, Mapping) and part.get("type") == "text":
                parts.append(str(part.get("text") or ""))
            elif isinstance(part, Mapping):
                raise _bad(
                    f"content parts of type {part.get('type')!r} are not supported", "messages"
                )
        return "".join(parts)
    raise _bad("a message's content must be a string or a list of text parts", "messages")


def parse_request(body: object, settings: ServerSettings) -> RunRequest:
    """Read and check a chat-completion request body.

    Raises:
        APIError: 400 for a bad field (naming it), 413 for an oversized question.
    """
    if not isinstance(body, Mapping):
        raise _bad("the request body must be a JSON object")
    strategy, budget = parse_model(body.get("model"), settings.model_prefix)
    ttc = body.get("ttc") or {}
    if not isinstance(ttc, Mapping):
        raise _bad('ttc must be an object such as {"strategy": "beam", "budget": 16}', "ttc")
    unknown = sorted(set(ttc) - set(_TTC_KEYS))
    if unknown:
        raise _bad(f"unknown ttc fields {unknown}: known are {', '.join(_TTC_KEYS)}", "ttc")
    if "strategy" in ttc:
        strategy = _strategy(ttc["strategy"], "ttc.strategy")
    if "budget" in ttc:
        budget = _int(ttc["budget"], "ttc.budget")
    budget = settings.default_budget if budget is None else budget
    param = "ttc.budget" if "budget" in ttc else "model"
    if budget < 1:
        raise _bad(f"budget must be at least 1 generation, got {budget}", param)
    if budget > settings.max_budget:
        raise _bad(
            f"budget {budget} is over this server's cap of {settings.max_budget} generations",
            param,
            code="budget_over_cap",
        )
    if body.get("tools") or body.get("functions"):
        raise _bad(
            "tools are not supported: a TTC run answers a question "
            "(for agents with tools, use langgraph_ttc.agents.TTCMiddleware)",
            "tools",
        )
    if body.get("n") not in (None, 1):
        raise _bad(f"n must be 1 (one answer per run), got {body.get('n')!r}", "n")
    response_format = body.get("response_format")
    if response_format not in (None, {"type": "text"}):
        raise _bad("response_format is not supported: the reply is text", "response_format")
    seed = _int(ttc.get("seed", body.get("seed", 0)) or 0, "seed")
    tokens_param = "ttc.max_tokens" if "max_tokens" in ttc else "max_tokens"
    tokens = ttc.get("max_tokens", body.get("max_completion_tokens", body.get("max_tokens")))
    max_tokens = settings.default_max_tokens if tokens is None else _int(tokens, tokens_param)
    if not 1 <= max_tokens <= settings.max_tokens:
        raise _bad(
            f"max_tokens must be 1 to {settings.max_tokens} (tokens per solution), "
            f"got {max_tokens}",
            tokens_param,
        )
    timeout = ttc.get("timeout", settings.max_run_s)
    if isinstance(timeout, bool) or not isinstance(timeout, int | float):
        raise _bad(f"ttc.timeout must be a number of seconds, got {timeout!r}", "ttc.timeout")
    if not (math.isfinite(timeout) and 0 < timeout <= settings.max_run_s):
        raise _bad(
            f"ttc.timeout must be more than 0 and at most {settings.max_run_s:g} s, "
            f"got {timeout!r}",
            "ttc.timeout",
        )
    return RunRequest(
        model=str(body["model"]),
        question=_question(body.get("messages"), settings),
        strategy=strategy or "auto",
        budget=budget,
        seed=seed,
        max_tokens=max_tokens,
        timeout_s=float(timeout),
        stream=_flag(body.get("stream"), "stream"),
        include_usage=_include_usage(body.get("stream_options")),
        stop=_stop(body.get("stop")),
    )


def _flag(value: object, param: str) -> bool:
    if value is None:
        return False
    if not isinstance(value, bool):
        raise _bad(f"{param} must be true or false, got {value!r}", param)
    return value


def _include_usage(options: object) -> bool:
    if options is None:
        return False
    if not isinstance(options, Mapping):
        raise _bad("stream_options must be an object", "stream_options")
    return _flag(options.get("include_usage"), "stream_options.include_usage")


def _stop(value: object) -> tuple[str, ...]:
    if value is None:
        return ()
    if isinstance(value, str):
        return (value,) if value else ()
    if isinstance(value, list) and all(isinstance(s, str) for s in value) and len(value) <= 4:
        return tuple(s for s in value if s)
    raise _bad("stop must be a string or a list of up to 4 strings", "stop")


# --------------------------------------------------------------------------- replies


def model_ids(strategies: Sequence[str], prefix: str = "ttc") -> list[str]:
    """The model names ``/v1/models`` lists: the routed one, then one per strategy."""
    return [prefix, *(f"{prefix}-{s.replace('_', '-')}" for s in strategies)]


def model_card(model_id: str, created: int, settings: ServerSettings) -> dict[str, Any]:
    """One entry of ``/v1/models``, with what it runs in the extra ``ttc`` field."""
    strategy, budget = parse_model(model_id, settings.model_prefix)
    return {
        "id": model_id,
        "object": "model",
        "created": created,
        "owned_by": "langgraph-ttc",
        "ttc": {
            "strategy": strategy or "auto",
            "budget": budget or settings.default_budget,
            "max_budget": settings.max_budget,
        },
    }


def usage_of(
    usage: Mapping[str, Any], probes: Mapping[str, Any], wall_time_s: float
) -> dict[str, Any]:
    """OpenAI's ``usage``, counting every sample; probes and the verifier apart, as extra keys.

    ``prompt_tokens`` and ``completion_tokens`` are the generator's, over every
    sample of the run (probes included). The extra keys: ``generations`` (the
    paper's unit), ``probe_*`` (the router's probes, a part of the totals),
    ``verifier_*`` (the verifier's compute, not in the totals), ``flops``, and
    ``wall_time_s`` (the run, as the server timed it).
    """
    prompt = int(usage.get("prompt_tokens", 0))
    generated = int(usage.get("generated_tokens", 0))
    return {
        "prompt_tokens": prompt,
        "completion_tokens": generated,
        "total_tokens": prompt + generated,
        "generations": float(usage.get("generations", 0.0)),
        "probe_generations": float(probes.get("generations", 0.0)),
        "probe_prompt_tokens": int(probes.get("prompt_tokens", 0)),
        "probe_completion_tokens": int(probes.get("generated_tokens", 0)),
        "probe_verifier_tokens": int(probes.get("verifier_tokens", 0)),
        "verifier_calls": int(usage.get("verifier_calls", 0)),
        "verifier_tokens": int(usage.get("verifier_tokens", 0)),
        "flops": float(usage.get("flops", 0.0)),
        "verifier_flops": float(usage.get("verifier_flops", 0.0)),
        "wall_time_s": round(wall_time_s, 4),
    }


def new_id() -> str:
    """A fresh chat-completion id."""
    return f"chatcmpl-{uuid.uuid4().hex[:24]}"


def completion(
    req: RunRequest,
    *,
    cid: str,
    created: int,
    text: str,
    usage: dict[str, Any],
    ttc: dict[str, Any],
) -> dict[str, Any]:
    """A ``chat.completion`` object, with the TTC result in the extra ``ttc`` field."""
    return {
        "id": cid,
        "object": "chat.completion",
        "created": created,
        "model": req.model,
        "system_fingerprint": None,
        "choices": [
            {
                "index": 0,
                "message": {"role": "assistant", "content": text, "refusal": None},
                "logprobs": None,
                "finish_reason": "stop",
            }
        ],
        "usage": usage,
        "ttc": ttc,
    }


def chunk(
    req: RunRequest,
    *,
    cid: str,
    created: int,
    delta: dict[str, Any] | None = None,
    finish_reason: str | None = None,
    **extra: Any,
) -> dict[str, Any]:
    """A ``chat.completion.chunk``; ``delta=None`` makes the usage chunk (no choices)."""
    out: dict[str, Any] = {
        "id": cid,
        "object": "chat.completion.chunk",
        "created": created,
        "model": req.model,
        "system_fingerprint": None,
        "choices": []
        if delta is None
        else [{"index": 0, "delta": delta, "logprobs": None, "finish_reason": finish_reason}],
    }
    out.update(extra)
    return out


def now() -> int:
    """Seconds since the epoch, as OpenAI's ``created``."""
    return int(time.time())
