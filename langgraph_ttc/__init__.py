"""langgraph-ttc: test-time compute for LangGraph.

The plain data types import eagerly; the graph factories, adapters and
verifiers import on first use, so ``import langgraph_ttc`` stays light.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

from langgraph_ttc.state import TTCContext, TTCInput, TTCOutput, TTCState
from langgraph_ttc.types import (
    Budget,
    Candidate,
    Completion,
    GenerationRequest,
    Generator,
    ScoreResult,
    StrategyConfig,
    Usage,
    Verifier,
)

if TYPE_CHECKING:
    # ChatTTC (lazy too) is on this package's floor: no import of it here, typed or not.
    from langgraph_ttc.router import ComputePolicy
    from langgraph_ttc.strategies import (
        asolve_batch,
        create_batch_graph,
        create_beam_search_graph,
        create_best_of_n_graph,
        create_dvts_graph,
        create_lookahead_graph,
        create_particle_filter_graph,
        create_revision_graph,
        create_strategy_graph,
        solve_batch,
    )
    from langgraph_ttc.strategies.compute_optimal import create_ttc_graph

_LAZY = {
    "ChatTTC": "langgraph_ttc.chat",
    "asolve_batch": "langgraph_ttc.strategies",
    "create_batch_graph": "langgraph_ttc.strategies",
    "create_beam_search_graph": "langgraph_ttc.strategies",
    "create_best_of_n_graph": "langgraph_ttc.strategies",
    "create_dvts_graph": "langgraph_ttc.strategies",
    "create_lookahead_graph": "langgraph_ttc.strategies",
    "create_particle_filter_graph": "langgraph_ttc.strategies",
    "create_revision_graph": "langgraph_ttc.strategies",
    "create_strategy_graph": "langgraph_ttc.strategies",
    "solve_batch": "langgraph_ttc.strategies",
    "create_ttc_graph": "langgraph_ttc.strategies.compute_optimal",
    "ComputePolicy": "langgraph_ttc.router",
}

__all__ = [
    "Budget",
    "Candidate",
    "ChatTTC",
    "Completion",
    "ComputePolicy",
    "GenerationRequest",
    "Generator",
    "ScoreResult",
    "StrategyConfig",
    "TTCContext",
    "TTCInput",
    "TTCOutput",
    "TTCState",
    "Usage",
    "Verifier",
    "asolve_batch",
    "create_batch_graph",
    "create_beam_search_graph",
    "create_best_of_n_graph",
    "create_dvts_graph",
    "create_lookahead_graph",
    "create_particle_filter_graph",
    "create_revision_graph",
    "create_strategy_graph",
    "create_ttc_graph",
    "solve_batch",
]


def __getattr__(name: str) -> Any:
    if name in _LAZY:
        return getattr(importlib.import_module(_LAZY[name]), name)
    raise AttributeError(f"module 'langgraph_ttc' has no attribute {name!r}")
