"""The server's settings and caps, checked when they are made."""

from __future__ import annotations

import ipaddress
import math
from dataclasses import dataclass, fields

__all__ = ["ServerSettings", "is_loopback"]


@dataclass(frozen=True)
class ServerSettings:
    """What the OpenAI-compatible server allows, per request and at once.

    Attributes:
        api_key: The key every request must send (``Authorization: Bearer KEY``);
            ``None`` leaves the server open, which ``ttc serve`` allows on a
            loopback address only.
        default_budget: Generations per request when the request names none.
        max_budget: The most generations one request may ask for (400 past it).
        max_tokens: The most tokens per solution a request may ask for (400 past it).
        default_max_tokens: Tokens per solution when the request names none.
        max_question_chars: The longest question (the last user message) taken (413 past it).
        max_body_bytes: The largest request body read (413 past it).
        max_run_s: The longest a run may take: the default and the cap of a
            request's ``timeout``. The run stops at it and answers with what it
            has; one still busy well past it (half as long again, at least 2 s
            more) is abandoned with a 504.
        max_concurrent: Runs at once; a request past it gets a 429.
        model_prefix: The model name the server answers to (``ttc``, ``ttc-beam-16``).
    """

    api_key: str | None = None
    default_budget: int = 16
    max_budget: int = 64
    max_tokens: int = 512
    default_max_tokens: int = 256
    max_question_chars: int = 4000
    max_body_bytes: int = 1_000_000
    max_run_s: float = 60.0
    max_concurrent: int = 8
    model_prefix: str = "ttc"

    def __post_init__(self) -> None:
        if self.api_key is not None and (not isinstance(self.api_key, str) or not self.api_key):
            raise ValueError("api_key must be a non-empty string or None")
        for f in fields(self):
            value = getattr(self, f.name)
            if f.name in ("api_key", "model_prefix"):
                continue
            if isinstance(value, bool) or not isinstance(value, int | float):
                raise TypeError(f"{f.name} must be a number, got {type(value).__name__}")
            if not (math.isfinite(value) and value > 0):
                raise ValueError(f"{f.name} must be > 0, got {value!r}")
            if f.name != "max_run_s" and not isinstance(value, int):
                raise TypeError(f"{f.name} must be an int, got {value!r}")
        if self.default_budget > self.max_budget:
            raise ValueError(
                f"default_budget ({self.default_budget}) is over max_budget ({self.max_budget})"
            )
        if self.default_max_tokens > self.max_tokens:
            raise ValueError(
                f"default_max_tokens ({self.default_max_tokens}) is over "
                f"max_tokens ({self.max_tokens})"
            )
        prefix = self.model_prefix
        if not isinstance(prefix, str) or not prefix.isidentifier() or prefix != prefix.lower():
            raise ValueError(f"model_prefix must be a lower-case identifier, got {prefix!r}")


def is_loopback(host: str) -> bool:
    """Whether ``host`` names only this machine (``localhost``, ``127.x.x.x``, ``::1``)."""
    if host.strip().lower() == "localhost":
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False
