"""What goes over the wire to an OpenAI-compatible endpoint, and what comes back.

Request bodies are built from prepared ``GenerationRequest``s; choices are read
out of response bodies, checked, and put in order.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any, Literal

from langgraph_ttc.models.openai_faults import malformed
from langgraph_ttc.types import GenerationRequest

__all__ = ["Choice", "PreparedRequest", "chat_logprobs", "read_choices", "request_kwargs"]

Choice = tuple[int, str, str | None, Any]
"""One choice of a response: its index, text, finish reason and raw logprobs."""


@dataclass
class PreparedRequest:
    """One request turned into what the endpoint takes.

    Attributes:
        req: The request.
        messages: Chat messages (chat mode), else ``None``.
        prompt: The rendered prompt text (completions mode), else ``None``.
        extra_body: Extra JSON fields for this request.
    """

    req: GenerationRequest
    messages: list[dict[str, str]] | None
    prompt: str | None
    extra_body: dict[str, Any]


def request_kwargs(
    p: PreparedRequest, n: int, seed: int | None, *, model: str, logprobs: bool
) -> dict[str, Any]:
    """The keyword arguments of the SDK's ``create`` call for one prepared request.

    Args:
        p: The prepared request.
        n: Choices to ask for (sent only when more than one).
        seed: The sampling seed, if any.
        model: The model name the endpoint serves.
        logprobs: Ask for token log-probabilities.
    """
    req = p.req
    kw: dict[str, Any] = {
        "model": model,
        "max_tokens": req.max_tokens,
        "temperature": float(req.temperature),
        "top_p": float(req.top_p),
    }
    if n > 1:
        kw["n"] = n
    if req.stop:
        kw["stop"] = list(req.stop)
    if seed is not None:
        kw["seed"] = seed
    if logprobs:
        kw["logprobs"] = True
    if p.extra_body:
        kw["extra_body"] = p.extra_body
    if p.messages is not None:
        kw["messages"] = p.messages
    else:
        kw["prompt"] = p.prompt
    return kw


def read_choices(
    body: dict[str, Any], *, mode: Literal["chat", "completions"], n: int, backend: str
) -> list[Choice]:
    """The first ``n`` choices of a response body, in index order.

    Args:
        body: The parsed JSON body.
        mode: ``chat`` reads ``message.content``, ``completions`` reads ``text``.
        n: How many choices to keep.
        backend: The generator's name, for errors.

    Raises:
        BackendError: (retryable) If there are no choices, or one has no text.
    """
    choices = body.get("choices")
    if not isinstance(choices, list) or not choices:
        raise malformed(backend, f"no choices in the response: {json.dumps(body)[:200]}")
    rows: list[Choice] = []
    for k, ch in enumerate(choices):
        if not isinstance(ch, dict):
            raise malformed(backend, f"choice {k} is not an object: {ch!r}")
        if mode == "chat":
            msg = ch.get("message")
            text = msg.get("content") if isinstance(msg, dict) else None
        else:
            text = ch.get("text")
        if not isinstance(text, str):
            raise malformed(backend, f"choice {k} has no text: {json.dumps(ch)[:200]}")
        index = ch.get("index")
        rows.append(
            (
                index if isinstance(index, int) else k,
                text,
                ch.get("finish_reason"),
                ch.get("logprobs"),
            )
        )
    rows.sort(key=lambda r: r[0])
    return rows[:n]


def chat_logprobs(lp: Any, text: str, found: bool) -> tuple[float, ...] | None:
    """Token logprobs of a chat choice, trimmed to the returned text (plus the stop token)."""
    content = lp.get("content") if isinstance(lp, dict) else None
    if not isinstance(content, list):
        return None
    out: list[float] = []
    covered = 0
    for entry in content:
        if not isinstance(entry, dict) or not isinstance(entry.get("logprob"), int | float):
            return None
        if covered > len(text) or (covered == len(text) and not found):
            break
        out.append(float(entry["logprob"]))
        covered += len(str(entry.get("token", "")))
        if covered > len(text):
            break  # this token holds the start of the stop string
    return tuple(out)
