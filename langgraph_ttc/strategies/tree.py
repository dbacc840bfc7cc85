"""The step-level tree-search loop that beam search, lookahead search and DVTS plug rules into.

``prepare -> generate -> [rollout] -> verify -> prune -> branch -> [rollout] -> verify -> ...
-> select``: ``generate`` samples the first step of every path, ``verify``
scores the new paths with the PRM (lookahead's ``rollout`` node first scores
unfinished paths at the end of a rollout), ``prune`` keeps what the
strategy's ``keep`` rule keeps, ``branch`` extends the kept paths as its
``expand`` rule says, until the paths finish or ``max_rounds``. Which paths
to keep and how to expand them live in the strategy's own file.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, Literal

from langgraph_ttc.engine.candidates import AnswerFn, PromptFn, extend_path
from langgraph_ttc.engine.tree import slot_id
from langgraph_ttc.nodes import (
    ExpandRule,
    KeepRule,
    Sampling,
    make_branch_node,
    make_prune_node,
    make_verify_node,
    vote,
)
from langgraph_ttc.state import TTCState
from langgraph_ttc.strategies.graph import (
    StrategyGraph,
    has_frontier,
    running,
    start_graph,
    unscored,
)
from langgraph_ttc.types import Candidate, Completion, Generator, StrategyConfig, Verifier

__all__ = ["TreeSearch", "build_tree_graph"]


class TreeSearch:
    """A tree search's rules: where paths start, which to keep, how to expand them.

    Args:
        source: Names the search's candidates (``beam``, ``dvts``, ...).
        keep: Which frontier paths to expand next.
        expand: Which slots each kept path's children fill.
        cost: Generations one path costs when it opens.
        groups: First-step sample indices per request.
        group_of: ``(plan, slot, width) -> group`` tagging a first step (DVTS subtrees).
    """

    def __init__(
        self,
        *,
        source: str,
        keep: KeepRule,
        expand: ExpandRule,
        cost: Callable[[StrategyConfig], float] | None = None,
        groups: Callable[[StrategyConfig, int], list[list[int]]] | None = None,
        group_of: Callable[[StrategyConfig, int, int], int | None] | None = None,
    ) -> None:
        self.source, self.keep, self.expand = source, keep, expand
        self.cost, self.groups, self.group_of = cost, groups, group_of

    def sampling(self, extract_answer: AnswerFn) -> Sampling:
        """How ``generate`` opens the N paths: one first step each."""

        def wanted(plan: StrategyConfig, cands: object) -> tuple[int, int]:
            return plan.n, 0

        def build(plan: StrategyConfig, index: int, width: int, comp: Completion) -> Candidate:
            group = self.group_of(plan, index, width) if self.group_of else None
            return extend_path(
                slot_id(self.source, index),
                [],
                comp,
                extract_answer,
                source=self.source,
                final=plan.max_rounds <= 1,
                group=group,
                slot=index,
                round_=0,
            )

        extra: dict[str, Any] = {}
        if self.cost is not None:
            extra["cost"] = self.cost
        if self.groups is not None:
            extra["groups"] = self.groups
        return Sampling(wanted=wanted, build=build, steps=True, **extra)


def build_tree_graph(
    generator: Generator,
    verifier: Verifier,
    plan: StrategyConfig,
    search: TreeSearch,
    *,
    strategies: frozenset[str],
    extract_answer: AnswerFn,
    prompt: PromptFn,
    name: str,
    score_node: Any = None,
) -> StrategyGraph:
    """Assemble a tree-search graph from a strategy's rules.

    ``score_node`` (lookahead's ``rollout``) runs before ``verify`` when given.
    The final pick is the plan's ``selection`` over every finished solution.
    """
    meta = {"ttc_graph": name, "ttc_strategy": plan.strategy}
    builder = start_graph(
        generator,
        verifier=verifier,
        plan=plan,
        strategies=strategies,
        sampling=search.sampling(extract_answer),
        select=lambda plan, cands: vote(cands, plan.selection),
        prompt=prompt,
        name=name,
    )
    scorer = "verify"
    if score_node is not None:
        scorer = "rollout"
        builder.add_node("rollout", score_node, metadata=meta)
        builder.add_edge("rollout", "verify")
    builder.add_node("verify", make_verify_node(verifier, graph=name), metadata=meta)
    builder.add_node(
        "prune", make_prune_node(graph=name, source=search.source, keep=search.keep), metadata=meta
    )
    builder.add_node(
        "branch",
        make_branch_node(
            generator,
            graph=name,
            source=search.source,
            expand=search.expand,
            extract_answer=extract_answer,
            prompt=prompt,
        ),
        metadata=meta,
    )

    def after_sampling(state: TTCState) -> str:
        # New paths are scored even when the budget ran out on them: best answer so far.
        return scorer if unscored(state) else "select"

    def after_verify(state: TTCState) -> Literal["prune", "select"]:
        return "prune" if running(state) else "select"

    def after_prune(state: TTCState) -> Literal["branch", "select"]:
        return "branch" if has_frontier(state, search.source) else "select"

    builder.add_conditional_edges("generate", after_sampling, [scorer, "select"])
    builder.add_conditional_edges("verify", after_verify, ["prune", "select"])
    builder.add_conditional_edges("prune", after_prune, ["branch", "select"])
    builder.add_conditional_edges("branch", after_sampling, [scorer, "select"])
    return builder
