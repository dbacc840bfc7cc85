"""Failures of an OpenAI-compatible endpoint: which are retried, and how they read."""

from __future__ import annotations

import openai
from tenacity import RetryCallState
from tenacity.wait import wait_exponential_jitter

from langgraph_ttc.models.errors import BackendError

__all__ = ["describe", "gave_up", "is_retryable", "malformed", "retry_wait"]

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
