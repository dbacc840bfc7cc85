"""LangGraph Server entry point: the compute-optimal TTC graph on the bundled models.

``langgraph.json`` (next to this file) names ``./ttc.py:make_graph``, a
graph factory: the server reads the module's variables (not attributes
computed on access), and calls a zero-argument factory when it needs the
graph. Importing this module loads nothing; the first call builds the graph
(cached), and the model weights load on the first run. Run it locally with
``langgraph dev --config graphs/langgraph.json`` (needs ``pip install
"langgraph-cli[inmem]"``), then call it with a question and, optionally, a
context::

    client.runs.wait(None, "ttc", input={"question": "34*7-95+84*4"},
                     context={"seed": 0, "budget": {"generations": 32}})

The server passes ``context`` as JSON; the nodes accept it as a dict. No
checkpointer is compiled in: the server brings its own.
"""

from __future__ import annotations

import functools
from typing import Any

from langgraph.graph.state import CompiledStateGraph

from langgraph_ttc.defaults import load_bundled
from langgraph_ttc.strategies.compute_optimal import create_ttc_graph

__all__ = ["make_graph"]


@functools.cache
def make_graph() -> CompiledStateGraph[Any, Any, Any, Any]:
    """The routed TTC graph on the bundled policy, PRM and reviser (built once).

    Raises:
        FileNotFoundError: If the bundled models are not installed.
    """
    generator, verifier, reviser = load_bundled()
    return create_ttc_graph(generator, verifier=verifier, reviser=reviser).compile(name="ttc")
