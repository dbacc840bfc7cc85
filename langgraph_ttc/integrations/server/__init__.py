"""``ttc serve``: an OpenAI-compatible server that answers with test-time compute.

Start it with ``ttc serve`` (``cli.py``), or build the ASGI app yourself::

    from langgraph_ttc.integrations.server import ServerSettings, create_app

    app = create_app(generator, verifier=prm, settings=ServerSettings(api_key="..."))
    # uvicorn.run(app, host="127.0.0.1", port=8000)

Call it with any OpenAI client: model ``ttc`` (routed by difficulty),
``ttc-<strategy>`` or ``ttc-<strategy>-<budget>``, or
``extra_body={"ttc": {"strategy": "beam", "budget": 16, "seed": 0}}``.
The modules: ``settings`` (the caps), ``protocol`` (the OpenAI wire
format), ``runner`` (the graph, the concurrency gate, the time cap),
``app`` (the routes, the key, the logs), ``logs`` (redaction). Only
``app`` and ``cli``'s handler import FastAPI and uvicorn.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

from langgraph_ttc.integrations.server.settings import ServerSettings, is_loopback

if TYPE_CHECKING:
    from langgraph_ttc.integrations.server.app import create_app

__all__ = ["ServerSettings", "create_app", "is_loopback"]


def __getattr__(name: str) -> Any:
    if name == "create_app":
        return importlib.import_module("langgraph_ttc.integrations.server.app").create_app
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
