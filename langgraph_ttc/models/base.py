"""Helpers shared by the generator adapters: request checks, stop cutting, token splits."""

from __future__ import annotations

import asyncio
import concurrent.futures
import math
from collections.abc import Awaitable, Callable, Sequence
from typing import Any, TypeVar

from langgraph_ttc.types import ChatMessage, GenerationRequest, Prompt

T = TypeVar("T")

CHARS_PER_TOKEN = 4.0
"""Rough characters per token of common BPE vocabularies, for estimates without a tokenizer."""


def validate_requests(requests: Sequence[GenerationRequest]) -> list[GenerationRequest]:
    """Check a batch of requests beyond what ``GenerationRequest`` itself checks.

    Args:
        requests: The batch.

    Returns:
        The requests as a list.

    Raises:
        TypeError: If ``requests`` is not a sequence of ``GenerationRequest``, or a
            field has the wrong type.
        ValueError: If a field has a bad value (named in the message).
    """
    if isinstance(requests, GenerationRequest):
        raise TypeError("requests must be a sequence of GenerationRequest, got a single request")
    if isinstance(requests, str | bytes) or not isinstance(requests, Sequence):
        raise TypeError(
            f"requests must be a sequence of GenerationRequest, got {type(requests).__name__}"
        )
    out = list(requests)
    for k, req in enumerate(out):
        if not isinstance(req, GenerationRequest):
            raise TypeError(f"requests[{k}] must be a GenerationRequest, got {type(req).__name__}")
        if isinstance(req.prompt, list):
            for m, msg in enumerate(req.prompt):
                if not isinstance(msg, dict) or not isinstance(msg.get("role"), str):
                    raise TypeError(
                        f"requests[{k}].prompt[{m}] must be a dict with a str 'role', got {msg!r}"
                    )
                if not isinstance(msg.get("content"), str):
                    raise TypeError(f"requests[{k}].prompt[{m}]['content'] must be a str")
        if not isinstance(req.prefix, str):
            raise TypeError(f"requests[{k}].prefix must be a str, got {type(req.prefix).__name__}")
        if isinstance(req.n, bool):
            raise TypeError(f"requests[{k}].n must be an int, got bool")
        if isinstance(req.max_tokens, bool):
            raise TypeError(f"requests[{k}].max_tokens must be an int, got bool")
        if not (isinstance(req.top_p, int | float) and 0.0 < req.top_p <= 1.0):
            raise ValueError(f"requests[{k}].top_p must be in (0, 1], got {req.top_p!r}")
        if not isinstance(req.stop, tuple) or not all(isinstance(s, str) and s for s in req.stop):
            raise ValueError(
                f"requests[{k}].stop must be a tuple of non-empty strings, got {req.stop!r}"
            )
        if req.seed is not None and (isinstance(req.seed, bool) or not isinstance(req.seed, int)):
            raise TypeError(f"requests[{k}].seed must be an int or None, got {req.seed!r}")
    return out


def as_messages(prompt: Prompt) -> list[ChatMessage]:
    """A prompt as chat messages: a str becomes one user message."""
    if isinstance(prompt, str):
        return [{"role": "user", "content": prompt}]
    return [dict(m) for m in prompt]


def cut_at_stop(text: str, stop: Sequence[str]) -> tuple[str, bool]:
    """Cut ``text`` before the earliest occurrence of any stop string.

    Returns:
        The text before the stop string, and whether one was found.
    """
    best = -1
    for s in stop:
        i = text.find(s)
        if i != -1 and (best == -1 or i < best):
            best = i
    if best == -1:
        return text, False
    return text[:best], True


def estimate_tokens(text: str) -> int:
    """A rough token count for ``text`` when no tokenizer is at hand (4 chars a token)."""
    return math.ceil(len(text) / CHARS_PER_TOKEN) if text else 0


def split_total(total: int, weights: Sequence[float]) -> list[int]:
    """Split an integer total into parts proportional to ``weights``; the parts sum to ``total``.

    Uses largest remainders, so counts reported per sample add up to what the
    backend billed. Equal weights (or all zero) split evenly, earlier parts first.
    """
    if not weights:
        return []
    w = [max(float(x), 0.0) for x in weights]
    s = sum(w)
    if s <= 0:
        w = [1.0] * len(w)
        s = float(len(w))
    raw = [total * x / s for x in w]
    parts = [math.floor(r) for r in raw]
    order = sorted(range(len(w)), key=lambda i: (-(raw[i] - parts[i]), i))
    for i in order[: total - sum(parts)]:
        parts[i] += 1
    return parts


def run_sync(factory: Callable[[], Awaitable[T]]) -> T:
    """Run a coroutine to completion from sync code.

    In a fresh event loop when none is running here; in a worker thread with its
    own loop when one is (so a sync call inside async code does not deadlock).
    """
    try:
        asyncio.get_running_loop()
    except RuntimeError:
        return asyncio.run(_await(factory))
    with concurrent.futures.ThreadPoolExecutor(max_workers=1) as pool:
        return pool.submit(lambda: asyncio.run(_await(factory))).result()


async def _await(factory: Callable[[], Awaitable[T]]) -> T:
    return await factory()


def check_result_shape(
    requests: Sequence[GenerationRequest], results: Sequence[Sequence[Any]], backend: str
) -> None:
    """Raise if a result does not hold exactly ``n`` completions per request, in order."""
    if len(results) != len(requests):
        raise RuntimeError(f"{backend}: {len(results)} results for {len(requests)} requests")
    for k, (req, res) in enumerate(zip(requests, results, strict=True)):
        if len(res) != req.n:
            raise RuntimeError(f"{backend}: request {k} asked for n={req.n}, got {len(res)}")
