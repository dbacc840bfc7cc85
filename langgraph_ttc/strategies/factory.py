"""One entry point for every strategy: pick the builder from a ``StrategyConfig``."""

from __future__ import annotations

from langgraph.graph import StateGraph

from langgraph_ttc.state import TTCContext, TTCState
from langgraph_ttc.strategies.beam_search import create_beam_search_graph
from langgraph_ttc.strategies.best_of_n import create_best_of_n_graph
from langgraph_ttc.strategies.dvts import create_dvts_graph
from langgraph_ttc.strategies.graph import TTCStrategyInput, TTCStrategyOutput
from langgraph_ttc.strategies.lookahead import create_lookahead_graph
from langgraph_ttc.strategies.revision import create_revision_graph
from langgraph_ttc.types import STRATEGIES, Generator, StrategyConfig, Verifier

__all__ = ["create_strategy_graph"]


def create_strategy_graph(
    config: StrategyConfig,
    generator: Generator,
    *,
    verifier: Verifier | None = None,
    reviser: Generator | None = None,
) -> StateGraph[TTCState, TTCContext, TTCStrategyInput, TTCStrategyOutput]:
    """Build the graph that runs ``config.strategy``.

    ``greedy``, ``majority`` and ``best_of_n`` share the best-of-N graph;
    ``beam``, ``lookahead``, ``dvts`` and ``revise`` have their own.

    Raises:
        TypeError: If ``config`` is not a ``StrategyConfig``.
        ValueError: For an unknown strategy, or one that needs a missing verifier.
    """
    if not isinstance(config, StrategyConfig):
        raise TypeError(f"config must be a StrategyConfig, got {type(config).__name__}")
    strategy = config.strategy
    if strategy in ("greedy", "majority", "best_of_n"):
        return create_best_of_n_graph(generator, verifier=verifier, config=config)
    if strategy == "revise":
        return create_revision_graph(generator, verifier=verifier, reviser=reviser, config=config)
    if verifier is None:
        raise ValueError(f"strategy {strategy!r} needs a verifier (a PRM)")
    if strategy == "beam":
        return create_beam_search_graph(generator, verifier=verifier, config=config)
    if strategy == "lookahead":
        return create_lookahead_graph(generator, verifier=verifier, config=config)
    if strategy == "dvts":
        return create_dvts_graph(generator, verifier=verifier, config=config)
    raise ValueError(f"strategy must be one of {', '.join(STRATEGIES)}; got {strategy!r}")
