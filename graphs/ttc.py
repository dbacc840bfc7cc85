"""LangGraph Server entry point: the compute-optimal TTC graph on the bundled models.

``langgraph.json`` (next to this file) names ``./ttc.py:make_graph``, a
graph factory: the server reads the module's variables (not attributes
computed on access), and calls a zero-argument factory when it needs the
graph. Importing this module loads nothing; the first call builds the graph
(cached), and the model weights load on the first run. Run it locally with
``langgraph dev --config graphs/langgraph.json`` (needs ``pip install
"langgraph-cli[inmem]"``), then call it with a question and, optionally, a
context::

    client.runs.wait(None, "ttc", input={"question": "17*3+25-4*6"},
                     context={"seed": 0, "budget": {"generations": 32}})

The bundled models answer one task only (``+ - *`` expressions, 1 to 6
operations, operands 1 to 30; spaces ignored): the graph's first node,
``check_question``, refuses any other question with a ``ValueError`` (the
run fails with a one-line message that says what the bundled models answer)
and writes the question as the models read it, without spaces. To serve
other questions, point ``langgraph.json`` at a factory of your own that
builds ``create_ttc_graph`` on your model.

The server passes ``context`` as JSON; the nodes accept it as a dict. No
checkpointer is compiled in: the server brings its own.
"""

from __future__ import annotations

import functools
from typing import Any

from langgraph.graph import START, StateGraph
from langgraph.graph.state import CompiledStateGraph

from langgraph_ttc.defaults import load_bundled
from langgraph_ttc.state import TTCState
from langgraph_ttc.strategies.compute_optimal import create_ttc_graph
from langgraph_ttc.suite.task import check_question_in_task

__all__ = ["check_question", "make_graph"]

_OWN_MODEL_HINT = (
    "to ask anything else, bring your own model: serve create_ttc_graph(your_generator, ...) "
    "from a graph factory of your own in langgraph.json"
)


def check_question(state: TTCState) -> dict[str, Any]:
    """Refuse a question outside the bundled task; pass on its canonical form.

    Raises:
        ValueError: If the bundled models cannot answer the question (one line).
    """
    return {"question": check_question_in_task(state.get("question"), hint=_OWN_MODEL_HINT)}


def _start_with_check(builder: StateGraph[Any, Any, Any, Any]) -> None:
    """Put ``check_question`` between ``START`` and ``route``."""
    if (START, "route") not in builder.edges:
        raise RuntimeError("create_ttc_graph no longer starts at 'route': update graphs/ttc.py")
    builder.edges.remove((START, "route"))
    builder.add_node("check_question", check_question)
    builder.add_edge(START, "check_question")
    builder.add_edge("check_question", "route")


@functools.cache
def make_graph() -> CompiledStateGraph[Any, Any, Any, Any]:
    """The routed TTC graph on the bundled policy, PRM and reviser (built once).

    Its first node refuses questions outside the bundled task (``check_question``).

    Raises:
        FileNotFoundError: If the bundled models are not installed.
    """
    generator, verifier, reviser = load_bundled()
    builder = create_ttc_graph(generator, verifier=verifier, reviser=reviser)
    _start_with_check(builder)
    return builder.compile(name="ttc")
