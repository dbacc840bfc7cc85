"""The step-level tree-search loop: beam search, lookahead, DVTS and particle filtering plug in.

``prepare -> generate -> [rollout] -> verify -> prune -> branch -> [rollout] -> verify -> ...
-> select``: ``generate`` samples the first step of every path, ``verify``
scores the new paths with the PRM (lookahead's ``rollout`` node first scores
unfinished paths at the end of a rollout), ``prune`` keeps what the
strategy's ``keep`` rule keeps, ``branch`` extends the kept paths as its
``expand`` rule says, until the paths finish or ``max_rounds``. Which paths
to keep and how to expand them live in the strategy's own file.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any, Literal, Required

from typing_extensions import TypedDict

from langgraph_ttc import answers
from langgraph_ttc.engine.candidates import AnswerFn, PromptFn, extend_path, question_prompt
from langgraph_ttc.engine.tree import slot_id
from langgraph_ttc.formats import STEP_DELIMITER
from langgraph_ttc.nodes import (
    ExpandRule,
    KeepRule,
    Sampling,
    Selected,
    ballot,
    make_branch_node,
    make_prune_node,
    make_verify_node,
    probe_quota,
    vote,
)
from langgraph_ttc.state import TTCState
from langgraph_ttc.strategies.graph import (
    StrategyGraph,
    check_config,
    has_frontier,
    running,
    start_graph,
    unscored,
)
from langgraph_ttc.types import Candidate, Completion, Generator, StrategyConfig, Verifier

__all__ = ["SearchOptions", "TreeSearch", "build_tree_graph", "select_search"]


class SearchOptions(TypedDict, total=False):
    """The keyword options every tree-search builder takes.

    Attributes:
        verifier: The PRM that ranks partial solutions (required).
        config: The default plan (a router's ``plan`` or ``context.plan``
            override it); the search's own default when unset.
        extract_answer: Reads a solution's final answer (a path whose new step
            holds one is finished); ``answers.extract_answer`` by default.
        prompt: Builds the prompt from the question; one user turn by default.
        name: Names the graph's model calls in traces (``beam_search/branch``).
        step_delimiter: Where a step ends: the search stops each step there,
            cuts and joins paths with it, and the verifier must cut there too.
            ``"\\n"`` (one step a line, the bundled models) by default;
            ``"\\n\\n"`` for chat models. ``context.step_delimiter`` overrides it.
    """

    verifier: Required[Verifier]
    config: StrategyConfig | None
    extract_answer: AnswerFn
    prompt: PromptFn
    name: str
    step_delimiter: str


RolloutFactory = Callable[..., Any]
"""``(generator, verifier, *, graph, source, extract_answer, prompt) -> node``."""


@dataclass(frozen=True)
class TreeSearch:
    """A tree search: its rules, and how its graph is named and checked.

    Attributes:
        source: Names the search's candidates (``beam``, ``dvts``, ...).
        default: The plan the builder uses when given none.
        builder: The public builder's name, for error messages.
        keep: Which frontier paths to expand next.
        expand: Which slots each kept path's children fill.
        cost: Generations one path costs when it opens (1 by default).
        groups: First-step sample indices per request (one request by default).
        group_of: ``(plan, slot, width) -> group`` tagging a first step (DVTS subtrees).
        rollout: Builds a node that scores new paths before ``verify`` (lookahead).
    """

    source: str
    default: StrategyConfig
    builder: str
    keep: KeepRule
    expand: ExpandRule
    cost: Callable[[StrategyConfig], float] | None = None
    groups: Callable[[StrategyConfig, int], list[list[int]]] | None = None
    group_of: Callable[[StrategyConfig, int, int], int | None] | None = None
    rollout: RolloutFactory | None = None

    def create(self, generator: Generator, options: SearchOptions) -> StrategyGraph:
        """Check the options and build the search's graph (what ``create_*_graph`` returns).

        Raises:
            TypeError: For an option the builder does not take.
            ValueError: For no verifier, or a config of another strategy.
        """
        unknown = sorted(set(options) - set(SearchOptions.__annotations__))
        if unknown:
            raise TypeError(f"{self.builder}() got unexpected keyword arguments {unknown}")
        verifier = options.get("verifier")
        plan = check_config(
            options.get("config"),
            self.default,
            frozenset({self.default.strategy}),
            verifier,
            self.builder,
        )
        assert verifier is not None  # check_config: tree searches need one
        return build_tree_graph(
            generator,
            verifier,
            plan,
            self,
            extract_answer=options.get("extract_answer", answers.extract_answer),
            prompt=options.get("prompt", question_prompt),
            name=options.get("name", self.builder.removeprefix("create_").removesuffix("_graph")),
            step_delimiter=options.get("step_delimiter", STEP_DELIMITER),
        )

    def sampling(self, extract_answer: AnswerFn) -> Sampling:
        """How ``generate`` opens the N paths: one first step each."""

        def wanted(plan: StrategyConfig, cands: object) -> tuple[int, int]:
            return plan.n, 0

        def build(
            plan: StrategyConfig, index: int, width: int, comp: Completion, delimiter: str
        ) -> Candidate:
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
                delimiter=delimiter,
            )

        extra: dict[str, Any] = {}
        if self.cost is not None:
            extra["cost"] = self.cost
        if self.groups is not None:
            extra["groups"] = self.groups
        return Sampling(wanted=wanted, build=build, steps=True, **extra)


def select_search(plan: StrategyConfig, candidates: Sequence[Candidate]) -> Selected:
    """A tree search's final pick: the plan's ``selection`` over its finished solutions.

    Router probes take part only when the plan adopts them (``probes="samples"``).
    """
    return vote(ballot(candidates, probe_quota(plan)), plan.selection)


def build_tree_graph(
    generator: Generator,
    verifier: Verifier,
    plan: StrategyConfig,
    search: TreeSearch,
    *,
    extract_answer: AnswerFn,
    prompt: PromptFn,
    name: str,
    step_delimiter: str = STEP_DELIMITER,
) -> StrategyGraph:
    """Assemble a tree-search graph from a strategy's rules.

    The search's ``rollout`` node runs before ``verify`` when it has one. The
    final pick is :func:`select_search`. ``step_delimiter`` is the graph's
    (see :class:`SearchOptions`).
    """
    meta = {"ttc_graph": name, "ttc_strategy": plan.strategy}
    builder = start_graph(
        generator,
        verifier=verifier,
        plan=plan,
        strategies=frozenset({search.default.strategy}),
        sampling=search.sampling(extract_answer),
        select=select_search,
        prompt=prompt,
        name=name,
        step_delimiter=step_delimiter,
    )
    scorer = "verify"
    if search.rollout is not None:
        scorer = "rollout"
        rollout = search.rollout(
            generator,
            verifier,
            graph=name,
            source=search.source,
            extract_answer=extract_answer,
            prompt=prompt,
        )
        builder.add_node("rollout", rollout, metadata=meta)
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
