"""Errors raised by generator and verifier backends."""

from __future__ import annotations


class BackendError(RuntimeError):
    """A backend failed for good: retries are exhausted, or it rejected the request.

    Attributes:
        message: What went wrong, naming the endpoint and the last error.
        backend: The adapter or endpoint that failed.
        status: The HTTP status, where there was one.
        retryable: Whether the fault was transient (it was retried before this was raised).
    """

    def __init__(
        self, message: str, *, backend: str = "", status: int | None = None, retryable: bool = False
    ) -> None:
        super().__init__(message)
        self.message = message
        self.backend = backend
        self.status = status
        self.retryable = retryable
