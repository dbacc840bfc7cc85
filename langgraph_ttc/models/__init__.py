"""Generator adapters: local transformers models, OpenAI-compatible endpoints, chat models.

Every adapter follows ``langgraph_ttc.types.Generator``: ``generate(requests)``
and ``agenerate(requests)`` return exactly ``n`` completions per request, in
request order, and a backend that fails for good raises ``BackendError``
(``PartialBatchError`` when some samples came back and others did not).

Concurrent calls to one ``TransformersGenerator`` (graph runs in other
threads or tasks) share forward batches through a ``coalesce.Coalescer``;
each request's samples depend on its own seed only. ``threads`` holds the
CPU thread rule of the local models.

The adapters are imported lazily, so ``import langgraph_ttc.models`` does not
pull in torch or the openai SDK until one is used. ``TransformersGenerator``
needs the ``[local]`` extra (torch, transformers); without it, asking for it
raises an ``ImportError`` that names ``pip install 'langgraph-ttc[local]'``.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from langgraph_ttc.models.errors import (
    LOCAL_EXTRA,
    BackendError,
    PartialBatchError,
    local_extra_error,
    require_local,
)

if TYPE_CHECKING:
    from langgraph_ttc.models.chat_model import ChatModelGenerator
    from langgraph_ttc.models.openai import OpenAIGenerator
    from langgraph_ttc.models.transformers import TransformersGenerator

__all__ = [
    "LOCAL_EXTRA",
    "BackendError",
    "ChatModelGenerator",
    "OpenAIGenerator",
    "PartialBatchError",
    "TransformersGenerator",
]

_LAZY = {
    "ChatModelGenerator": "langgraph_ttc.models.chat_model",
    "OpenAIGenerator": "langgraph_ttc.models.openai",
    "TransformersGenerator": "langgraph_ttc.models.transformers",
}
_LOCAL = {"TransformersGenerator"}
_LOCAL_MODULES = ("torch", "transformers", "safetensors", "tokenizers")


def __getattr__(name: str) -> Any:
    if name in _LAZY:
        import importlib

        if name in _LOCAL:
            require_local(name)
        try:
            module = importlib.import_module(_LAZY[name])
        except ModuleNotFoundError as exc:
            if name in _LOCAL and exc.name in _LOCAL_MODULES:
                raise local_extra_error(name, exc.name) from exc
            raise
        value = getattr(module, name)
        globals()[name] = value
        return value
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
