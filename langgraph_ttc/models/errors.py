"""Errors raised by generator and verifier backends, and the hint for a missing extra."""

from __future__ import annotations

import importlib.util
from typing import Any

__all__ = ["LOCAL_EXTRA", "BackendError", "PartialBatchError", "local_extra_error", "require_local"]

LOCAL_EXTRA = "pip install 'langgraph-ttc[local]'"
"""The install that brings torch, transformers, safetensors and tokenizers."""

_LOCAL_MODULES = ("torch", "transformers")


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


class PartialBatchError(BackendError):
    """Some samples of a batch failed for good; the others came back.

    A generator raises it instead of returning when at least one sample came
    back and at least one did not. The driver counts what came back, hands it
    to the node, and ends the run with ``status="partial"``.

    Attributes:
        completions: One list per request, in request order, holding the
            completions that came back (shorter than ``n``, or empty, where
            samples failed).
        failed: How many samples failed for good.
    """

    def __init__(
        self,
        message: str,
        *,
        completions: list[list[Any]],
        failed: int,
        backend: str = "",
        status: int | None = None,
        retryable: bool = False,
    ) -> None:
        super().__init__(message, backend=backend, status=status, retryable=retryable)
        self.completions = completions
        self.failed = failed

    @property
    def received(self) -> int:
        """How many samples came back."""
        return sum(len(per) for per in self.completions)


def local_extra_error(what: str, missing: str | None = None) -> ImportError:
    """The ``ImportError`` for a local-model feature used without the ``[local]`` extra.

    Args:
        what: The feature, as the message names it (``"TransformersGenerator"``).
        missing: The module that is missing, when known.
    """
    lacking = f" ({missing} is not installed)" if missing else ""
    return ImportError(
        f"{what} runs models locally and needs torch and transformers{lacking}: {LOCAL_EXTRA}"
    )


def require_local(what: str) -> None:
    """Raise unless torch and transformers can be imported (checked without importing them).

    Raises:
        ImportError: Naming ``pip install 'langgraph-ttc[local]'``.
    """
    for module in _LOCAL_MODULES:
        if importlib.util.find_spec(module) is None:
            raise local_extra_error(what, module)
