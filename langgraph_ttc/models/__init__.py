"""Generator adapters: local transformers models, OpenAI-compatible endpoints, chat models.

Every adapter follows ``langgraph_ttc.types.Generator``: ``generate(requests)``
and ``agenerate(requests)`` return exactly ``n`` completions per request, in
request order, and a backend that fails for good raises ``BackendError``.

The adapters are imported lazily, so ``import langgraph_ttc.models`` does not
pull in torch or the openai SDK until one is used.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from langgraph_ttc.models.errors import BackendError

if TYPE_CHECKING:
    from langgraph_ttc.models.chat_model import ChatModelGenerator
    from langgraph_ttc.models.openai import OpenAIGenerator
    from langgraph_ttc.models.transformers import TransformersGenerator

__all__ = ["BackendError", "ChatModelGenerator", "OpenAIGenerator", "TransformersGenerator"]

_LAZY = {
    "ChatModelGenerator": "langgraph_ttc.models.chat_model",
    "OpenAIGenerator": "langgraph_ttc.models.openai",
    "TransformersGenerator": "langgraph_ttc.models.transformers",
}


def __getattr__(name: str) -> Any:
    if name in _LAZY:
        import importlib

        value = getattr(importlib.import_module(_LAZY[name]), name)
        globals()[name] = value
        return value
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
