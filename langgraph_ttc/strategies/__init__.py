"""Strategy graph builders: each returns an uncompiled ``StateGraph``.

Bring your own checkpointer, store and cache at ``compile()``. Run settings
(seed, budget, plan override, token caps) go in the ``TTCContext``::

    graph = create_beam_search_graph(policy, verifier=prm).compile()
    out = graph.invoke({"question": "34*7-95"}, context=TTCContext(seed=0))

``create_batch_graph`` (and the plain ``solve_batch``) answer a list of
questions with one total budget, spent where it pays (``batch_budget.py``).
"""

from langgraph_ttc.strategies.adaptive import create_adaptive_graph
from langgraph_ttc.strategies.batch_budget import asolve_batch, create_batch_graph, solve_batch
from langgraph_ttc.strategies.beam_search import create_beam_search_graph
from langgraph_ttc.strategies.best_of_n import create_best_of_n_graph
from langgraph_ttc.strategies.dvts import create_dvts_graph
from langgraph_ttc.strategies.factory import create_strategy_graph, select_answer
from langgraph_ttc.strategies.graph import TTCStrategyInput, TTCStrategyOutput
from langgraph_ttc.strategies.lookahead import create_lookahead_graph
from langgraph_ttc.strategies.particle_filter import create_particle_filter_graph
from langgraph_ttc.strategies.revision import create_revision_graph

__all__ = [
    "TTCStrategyInput",
    "TTCStrategyOutput",
    "asolve_batch",
    "create_adaptive_graph",
    "create_batch_graph",
    "create_beam_search_graph",
    "create_best_of_n_graph",
    "create_dvts_graph",
    "create_lookahead_graph",
    "create_particle_filter_graph",
    "create_revision_graph",
    "create_strategy_graph",
    "select_answer",
    "solve_batch",
]
