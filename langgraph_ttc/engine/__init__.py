"""The floor under the nodes and the router: model calls, the driver, candidates, the tree.

- ``calls``: ``GenerateCall`` / ``ScoreCall`` and the checks on their replies.
- ``driver``: ``make_node`` runs node logic sync or async, traced, counting
  usage and enforcing the deadline, the budget and backend failures.
- ``candidates``: prompts, and completions turned into candidates.
- ``tree``: a search's tree as data on the candidates (slot, parent, round).
- ``settings``: the run's context, plan, usage and seeds as logic reads them.
- ``tracing``: model calls as LangSmith model runs (``llm``, named after the
  model, with ``usage_metadata``; a checker function is a ``tool`` run).
- ``graph``: ``NamedStateGraph``, a ``StateGraph`` that compiles under its own name.
"""

from langgraph_ttc.engine.calls import GenerateCall, ScoreCall
from langgraph_ttc.engine.candidates import question_prompt, revision_prompt
from langgraph_ttc.engine.driver import NodeRun, Stop, make_node
from langgraph_ttc.engine.graph import NamedStateGraph
from langgraph_ttc.engine.settings import derive_seed

__all__ = [
    "GenerateCall",
    "NamedStateGraph",
    "NodeRun",
    "ScoreCall",
    "Stop",
    "derive_seed",
    "make_node",
    "question_prompt",
    "revision_prompt",
]
