"""Failures of an OpenAI-compatible endpoint: which are retried, and how they read."""

from __future__ import annotations

import asyncio
import json
import logging
from collections.abc import Awaitable, Callable
from typing import Any, TypeVar

import openai
from tenacity import AsyncRetrying, RetryCallState, retry_if_exception, stop_after_attempt
from tenacity.wait import wait_exponential_jitter

from langgraph_ttc.models.errors import BackendError

__all__ = [
    "CHAT_PREFIX_HINT",
    "check_transport",
    "describe",
    "gave_up",
    "is_retryable",
    "malformed",
    "retry_wait",
    "send_with_retries",
]

logger = logging.getLogger("langgraph_ttc.models.openai")

T = TypeVar("T")

CHAT_PREFIX_HINT = (
    " (a prefix in chat mode needs continue_final_message, which this server "
    "may not take: try mode='completions')"
)
"""Added to a 400/422 rejection of a chat request that continues a prefix."""

MAX_RETRY_AFTER_S = 30.0
"""The longest ``Retry-After`` that is honoured, in seconds."""


def malformed(backend: str, what: str) -> BackendError:
    """A retryable ``BackendError`` for a response body that is not what the API promises.

    Args:
        backend: The generator's name.
        what: What was wrong with the body.
    """
    return BackendError(
        f"malformed response: {what}",
        backend=backend,
        status=200,
        retryable=True,
    )


def is_retryable(exc: BaseException) -> bool:
    """Whether a failure is worth another attempt: timeouts, connection errors, 429, 5xx."""
    if isinstance(exc, BackendError):
        return exc.retryable
    if isinstance(exc, openai.APIConnectionError):  # includes APITimeoutError
        return True
    if isinstance(exc, openai.APIStatusError):
        return exc.status_code == 429 or exc.status_code >= 500
    return False


def describe(exc: BaseException | None) -> str:
    """A short, readable account of a failure, for log lines and ``BackendError`` messages."""
    if exc is None:
        return "unknown error"
    if isinstance(exc, openai.APITimeoutError):
        return "request timed out"
    if isinstance(exc, openai.APIStatusError):
        detail = exc.body
        if isinstance(detail, dict):
            detail = detail.get("message") or detail.get("detail") or detail
        text = str(detail) if detail not in (None, "") else exc.message
        return f"HTTP {exc.status_code}: {text[:300]}"
    if isinstance(exc, openai.APIConnectionError):
        cause = exc.__cause__
        return (
            f"connection error ({type(cause).__name__}: {cause})" if cause else "connection error"
        )
    if isinstance(exc, BackendError):
        return exc.message
    return f"{type(exc).__name__}: {exc}"


def retry_wait(state: RetryCallState, backoff: float, max_backoff: float) -> float:
    """Seconds before the next attempt: exponential backoff with jitter, or ``Retry-After``.

    Args:
        state: Tenacity's account of the attempts so far.
        backoff: The first backoff (it doubles, plus up to this much jitter).
        max_backoff: Cap on one backoff.
    """
    base = wait_exponential_jitter(multiplier=backoff, max=max_backoff, jitter=backoff)(state)
    exc = state.outcome.exception() if state.outcome else None
    response = getattr(exc, "response", None)
    header = response.headers.get("retry-after") if response is not None else None
    if header:
        try:
            return max(base, min(float(header), MAX_RETRY_AFTER_S))
        except ValueError:
            pass
    return base


def gave_up(exc: BaseException, attempts: int, *, endpoint: str, backend: str) -> BackendError:
    """The retryable ``BackendError`` raised once a transient fault outlasted every retry."""
    status = getattr(exc, "status_code", None) or getattr(exc, "status", None)
    return BackendError(
        f"{endpoint} failed after {attempts} attempt(s); last error: {describe(exc)}",
        backend=backend,
        status=status if isinstance(status, int) else None,
        retryable=True,
    )


async def send_with_retries(
    create: Callable[..., Awaitable[Any]],
    kwargs: dict[str, Any],
    parse: Callable[[dict[str, Any]], T],
    *,
    semaphore: asyncio.Semaphore,
    max_retries: int,
    backoff: float,
    max_backoff: float,
    endpoint: str,
    backend: str,
    reject_hint: str = "",
) -> T:
    """POST one request with the SDK, retrying transient faults; return the parsed body.

    Args:
        create: The SDK's ``with_raw_response.create`` for the endpoint.
        kwargs: Its keyword arguments.
        parse: Reads the JSON body; a retryable ``BackendError`` it raises (a
            malformed body) is retried like a transient fault.
        semaphore: Bounds the requests in flight.
        max_retries: Retries after the first attempt.
        backoff: First backoff in seconds.
        max_backoff: Cap on one backoff.
        endpoint: The URL, for messages.
        backend: The generator's name, for errors.
        reject_hint: Added to the message of a 400/422 rejection.

    Raises:
        BackendError: When the endpoint rejects the request (not retryable) or
            a transient fault outlasts every retry (retryable).
    """

    def log_retry(state: RetryCallState) -> None:
        exc = state.outcome.exception() if state.outcome else None
        logger.warning(
            "%s: attempt %d failed (%s); retrying", endpoint, state.attempt_number, describe(exc)
        )

    retrying = AsyncRetrying(
        stop=stop_after_attempt(max_retries + 1),
        wait=lambda state: retry_wait(state, backoff, max_backoff),
        retry=retry_if_exception(is_retryable),
        before_sleep=log_retry,
        reraise=True,
    )
    attempts = 0
    try:
        async for attempt in retrying:
            with attempt:
                attempts += 1
                async with semaphore:
                    raw = await create(**kwargs)
                return parse(_json_body(raw.text, backend))
    except BackendError as exc:
        if exc.retryable:
            raise gave_up(exc, attempts, endpoint=endpoint, backend=backend) from exc
        raise
    except openai.APIStatusError as exc:
        if is_retryable(exc):
            raise gave_up(exc, attempts, endpoint=endpoint, backend=backend) from exc
        hint = reject_hint if exc.status_code in (400, 422) else ""
        raise BackendError(
            f"{endpoint} rejected the request: {describe(exc)}{hint}",
            backend=backend,
            status=exc.status_code,
        ) from exc
    except openai.APIConnectionError as exc:
        raise gave_up(exc, attempts, endpoint=endpoint, backend=backend) from exc
    except openai.OpenAIError as exc:
        raise BackendError(f"{endpoint} failed: {describe(exc)}", backend=backend) from exc
    raise AssertionError("unreachable: tenacity either returns or raises")  # pragma: no cover


def _json_body(text: str, backend: str) -> dict[str, Any]:
    try:
        body = json.loads(text)
    except ValueError:
        raise malformed(backend, f"the body is not JSON: {text[:200]!r}") from None
    if not isinstance(body, dict):
        raise malformed(backend, f"the body is not a JSON object: {text[:200]!r}")
    return body


def check_transport(
    *,
    max_concurrency: int,
    max_retries: int,
    timeout: float,
    retry_backoff: float,
    max_backoff: float,
    params: int | None,
    extra_body: object,
) -> None:
    """Check the adapter's request settings.

    Raises:
        TypeError: For a non-int count or a non-dict ``extra_body``.
        ValueError: For a count or duration out of range.
    """
    for field, value in (("max_concurrency", max_concurrency), ("max_retries", max_retries)):
        if isinstance(value, bool) or not isinstance(value, int):
            raise TypeError(f"{field} must be an int, got {value!r}")
    if max_concurrency < 1:
        raise ValueError(f"max_concurrency must be >= 1, got {max_concurrency}")
    if max_retries < 0:
        raise ValueError(f"max_retries must be >= 0, got {max_retries}")
    for field, num in (
        ("timeout", timeout),
        ("retry_backoff", retry_backoff),
        ("max_backoff", max_backoff),
    ):
        if isinstance(num, bool) or not isinstance(num, int | float) or num < 0:
            raise ValueError(f"{field} must be a number >= 0, got {num!r}")
    if timeout <= 0:
        raise ValueError(f"timeout must be > 0, got {timeout!r}")
    if params is not None and (
        isinstance(params, bool) or not isinstance(params, int) or params < 1
    ):
        raise ValueError(f"params must be a positive int or None, got {params!r}")
    if extra_body is not None and not isinstance(extra_body, dict):
        raise TypeError(f"extra_body must be a dict, got {type(extra_body).__name__}")
