"""Keeping secrets, paths and tracebacks out of what the server says and logs.

Everything the server writes about a failure goes through :func:`redact`:
the server's and the upstream endpoint's keys (and anything shaped like an
API key) become ``***``, file-system paths become ``<path>``, and the text is
cut to one line. :class:`RedactFilter` does the same to every log record of
the loggers it is attached to, and drops tracebacks (``exc_info``), so even
a library's own log line cannot leak them.
"""

from __future__ import annotations

import logging
import re
import threading
from collections.abc import Iterable
from typing import Any

__all__ = ["LOGGER", "RedactFilter", "add_secrets", "log_config", "redact"]

LOGGER = logging.getLogger("langgraph_ttc.server")
"""The server's own logger: one line per request, one per failure."""

_SECRETS: set[str] = set()
_LOCK = threading.Lock()

# sk-..., Bearer ..., key=...: shapes of keys an upstream error message may echo.
_KEY_SHAPES = re.compile(
    r"(?:\bsk-[A-Za-z0-9_\-*]{6,}|\bBearer\s+[^\s'\"]+|"
    r"(?i:\b(?:api[_-]?key|token|secret|password)\b\s*[=:]\s*)[^\s'\",;]+)"
)
# An absolute POSIX path of two or more parts, a Windows path, or a file URL;
# URL paths of this server (/v1/...) are not file-system paths and stay.
_PATHS = re.compile(
    r"(?:file://)?(?<![\w/.:])(?!/v1\b)/(?:[\w.\-~@+]+/)+[\w.\-~@+]*|\b[A-Za-z]:\\(?:[^\\\s'\"]+\\)*[^\\\s'\"]*"
)
_MAX_CHARS = 500


def add_secrets(secrets: Iterable[str | None]) -> None:
    """Remember strings never to be shown (keys); blanks and very short strings are ignored."""
    with _LOCK:
        _SECRETS.update(s for s in secrets if isinstance(s, str) and len(s.strip()) >= 4)


def redact(text: object, *, limit: int = _MAX_CHARS) -> str:
    """``text`` as one line with no known secret, key-shaped string or file path."""
    out = " ".join(str(text).split())
    with _LOCK:
        secrets = sorted(_SECRETS, key=len, reverse=True)
    for secret in secrets:
        out = out.replace(secret, "***")
    out = _KEY_SHAPES.sub("***", out)
    out = _PATHS.sub("<path>", out)
    return out if len(out) <= limit else out[: limit - 3] + "..."


class RedactFilter(logging.Filter):
    """A logging filter that redacts every record and drops its traceback."""

    def filter(self, record: logging.LogRecord) -> bool:
        try:
            message = record.getMessage()
        except Exception:  # a malformed record: say so, leak nothing
            message = f"unformattable log record from {record.name}"
        record.msg, record.args = redact(message, limit=2000), None
        record.exc_info = record.exc_text = record.stack_info = None
        return True


def log_config(level: str = "info") -> dict[str, Any]:
    """A ``logging.config.dictConfig`` for uvicorn and the server: one redacted line per record."""
    handler = {
        "class": "logging.StreamHandler",
        "formatter": "plain",
        "filters": ["redact"],
        "stream": "ext://sys.stderr",
    }
    # py.warnings: warnings.warn output (it names files) once logging.captureWarnings is on.
    loggers = ("uvicorn", "uvicorn.error", "uvicorn.access", "py.warnings", LOGGER.name)
    return {
        "version": 1,
        "disable_existing_loggers": False,
        "filters": {"redact": {"()": RedactFilter}},
        "formatters": {"plain": {"format": "%(asctime)s %(levelname)s %(name)s: %(message)s"}},
        "handlers": {"default": handler},
        "loggers": {
            name: {"handlers": ["default"], "level": level.upper(), "propagate": False}
            for name in loggers
        },
    }
