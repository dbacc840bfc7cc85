"""LangGraph Server entry point: the compute-optimal TTC graph on the bundled models.

``langgraph.json`` (next to this file) names ``./ttc.py:graph``. The graph is
built on first access, not at import: the server (or ``from graphs.ttc import
graph``) triggers it, and the model weights themselves load on the first run.
Run it locally with ``langgraph dev --config graphs/langgraph.json`` (needs
``pip install "langgraph-cli[inmem]"``), then call it with a question and,
optionally, a context::

    client.runs.wait(None, "ttc", input={"question": "34*7-95+84*4"},
                     context={"seed": 0, "budget": {"generations": 32}})

The server passes ``context`` as a dict; the nodes read ``budget`` given as a
dict too. No checkpointer is compiled in: the server brings its own.
"""

from __future__ import annotations

import functools
from typing import Any

from langgraph.graph.state import CompiledStateGraph

from langgraph_ttc.defaults import load_bundled
from langgraph_ttc.strategies.compute_optimal import create_ttc_graph

__all__ = ["graph", "make_graph"]  # noqa: F822 - `graph` comes from __getattr__


@functools.cache
def make_graph() -> CompiledStateGraph[Any, Any, Any, Any]:
    """Build (once) the routed TTC graph on the bundled policy, PRM and reviser.

    Raises:
        FileNotFoundError: If the bundled models are not installed.
    """
    generator, verifier, reviser = load_bundled()
    return create_ttc_graph(generator, verifier=verifier, reviser=reviser).compile(name="ttc")


def __getattr__(name: str) -> Any:
    # PEP 562: `graph` is built when first read, so importing this module is cheap.
    if name == "graph":
        return make_graph()
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
