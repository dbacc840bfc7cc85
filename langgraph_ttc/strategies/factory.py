"""One entry point for every strategy: its builder and its selection rule."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import replace

from langgraph_ttc.formats import STEP_DELIMITER
from langgraph_ttc.nodes import Selected
from langgraph_ttc.strategies.adaptive import create_adaptive_graph, select_adaptive
from langgraph_ttc.strategies.beam_search import create_beam_search_graph
from langgraph_ttc.strategies.best_of_n import create_best_of_n_graph, select_best_of_n
from langgraph_ttc.strategies.dvts import create_dvts_graph
from langgraph_ttc.strategies.graph import StrategyGraph
from langgraph_ttc.strategies.lookahead import create_lookahead_graph
from langgraph_ttc.strategies.particle_filter import create_particle_filter_graph
from langgraph_ttc.strategies.revision import create_revision_graph, select_revisions
from langgraph_ttc.strategies.tree import select_search
from langgraph_ttc.types import STRATEGIES, Candidate, Generator, StrategyConfig, Verifier

__all__ = ["create_strategy_graph", "select_answer"]

_TREE_BUILDERS = {
    "beam": create_beam_search_graph,
    "lookahead": create_lookahead_graph,
    "dvts": create_dvts_graph,
    "particle_filter": create_particle_filter_graph,
}


def create_strategy_graph(
    config: StrategyConfig,
    generator: Generator,
    *,
    verifier: Verifier | None = None,
    reviser: Generator | None = None,
    step_delimiter: str = STEP_DELIMITER,
) -> StrategyGraph:
    """Build the graph that runs ``config.strategy``.

    ``greedy``, ``majority`` and ``best_of_n`` share the best-of-N graph;
    ``beam``, ``lookahead``, ``dvts``, ``particle_filter``, ``revise`` and
    ``adaptive`` have their own. ``step_delimiter`` is the graph's (where
    steps end; the verifier's must agree).

    Raises:
        TypeError: If ``config`` is not a ``StrategyConfig``.
        ValueError: For an unknown strategy, or one that needs a missing verifier.
    """
    if not isinstance(config, StrategyConfig):
        raise TypeError(f"config must be a StrategyConfig, got {type(config).__name__}")
    strategy = config.strategy
    if strategy in ("greedy", "majority", "best_of_n"):
        return create_best_of_n_graph(
            generator, verifier=verifier, config=config, step_delimiter=step_delimiter
        )
    if strategy == "revise":
        return create_revision_graph(
            generator,
            verifier=verifier,
            reviser=reviser,
            config=config,
            step_delimiter=step_delimiter,
        )
    if strategy == "adaptive":
        return create_adaptive_graph(
            generator, verifier=verifier, config=config, step_delimiter=step_delimiter
        )
    if strategy not in _TREE_BUILDERS:
        raise ValueError(f"strategy must be one of {', '.join(STRATEGIES)}; got {strategy!r}")
    if verifier is None:
        raise ValueError(config.requirement_error(has_verifier=False))
    return _TREE_BUILDERS[strategy](
        generator, verifier=verifier, config=config, step_delimiter=step_delimiter
    )


def select_answer(
    plan: StrategyConfig, candidates: Sequence[Candidate], *, verified: bool
) -> Selected:
    """The final answer the plan's graph would select: ``(answer, confidence, totals, rule)``.

    For replaying a selection outside a graph (the benchmark does).
    """
    if plan.strategy == "revise":
        return select_revisions(plan, candidates, verified=verified)
    if plan.strategy == "adaptive":
        return select_adaptive(plan, candidates, verified=verified)
    if plan.strategy in _TREE_BUILDERS:
        return select_search(
            replace(plan, selection=plan.selection if verified else "majority"), candidates
        )
    return select_best_of_n(plan, candidates, verified=verified)
