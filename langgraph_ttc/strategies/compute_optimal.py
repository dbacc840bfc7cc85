"""Compute-optimal scaling: route each question to the strategy that pays off for it.

``create_ttc_graph`` puts the ``route`` node in front of one compiled
subgraph per strategy::

    START -> route -> greedy | majority | best_of_n | beam | lookahead | dvts | revise -> END

``route`` probes the question, bins its difficulty and picks the plan from
the ``ComputePolicy`` (see ``langgraph_ttc.router.route``); the strategy's
subgraph runs it on the same ``TTCState``, reusing the probes, and selects
the answer.

Budget: ``TTCContext.budget`` is the run's **total** budget, probes
included. When it is unset (or sets no generation cap) a routed run spends
at most ``DEFAULT_BUDGET`` = 16 generations.

Without a verifier, the router scores the probes by agreement (the share
giving the most common answer), and a plan that needs a verifier (best-of-N
weighted, beam, lookahead, DVTS) falls back to majority voting with the same
number of samples. A ``context.plan`` skips the router's estimate and runs
that plan (fitted to the budget).

Each strategy subgraph runs inside a thin node that passes the run's
metadata on (``ttc_difficulty``, ``ttc_plan``), so every model call under it
carries the difficulty bin in LangSmith, and that hands back only what the
subgraph added: the subgraph starts from the router's usage, and a plain
subgraph node would add that usage twice under the ``usage`` reducer.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any, cast

from langchain_core.runnables import RunnableConfig
from langgraph.graph import START, StateGraph
from langgraph.runtime import Runtime

from langgraph_ttc import answers
from langgraph_ttc.engine.candidates import question_prompt
from langgraph_ttc.engine.driver import RunnableCallable
from langgraph_ttc.engine.graph import NamedStateGraph
from langgraph_ttc.engine.settings import check_step_delimiter, check_verifier_delimiter
from langgraph_ttc.formats import STEP_DELIMITER
from langgraph_ttc.router.difficulty import DifficultyEstimator, VerifierDifficulty
from langgraph_ttc.router.policy import ComputePolicy
from langgraph_ttc.router.route import DEFAULT_BUDGET, make_route_node
from langgraph_ttc.state import TTCContext, TTCInput, TTCOutput, TTCState
from langgraph_ttc.strategies.factory import create_strategy_graph
from langgraph_ttc.types import (
    NEEDS_VERIFIER,
    STRATEGIES,
    Candidate,
    Generator,
    StrategyConfig,
    Usage,
    Verifier,
    empty_usage,
)

__all__ = ["DEFAULT_BUDGET", "DEFAULT_STRATEGIES", "create_ttc_graph"]

DEFAULT_STRATEGIES: tuple[str, ...] = STRATEGIES

# What the strategy subgraph hands back: more than its output schema (plan, error, round).
_OUTPUT_KEYS = (
    "candidates",
    "usage",
    "answer",
    "confidence",
    "status",
    "error",
    "strategy",
    "plan",
    "round",
    "warnings",
)


def create_ttc_graph(
    generator: Generator,
    *,
    verifier: Verifier | None = None,
    reviser: Generator | None = None,
    policy: ComputePolicy | None = None,
    estimator: DifficultyEstimator | None = None,
    strategies: Iterable[str] = DEFAULT_STRATEGIES,
    name: str = "ttc",
    step_delimiter: str = STEP_DELIMITER,
) -> StateGraph[TTCState, TTCContext, TTCInput, TTCOutput]:
    """Build the compute-optimal graph: ``route`` then the chosen strategy.

    Args:
        generator: The policy model.
        verifier: A verifier (PRM) for difficulty and search; optional (see
            the module docstring for the fallback).
        reviser: The revision model for ``revise`` (defaults to ``generator``).
        policy: The ``ComputePolicy``; ``ComputePolicy.default()`` when unset.
        estimator: The difficulty estimator; ``VerifierDifficulty(k=4)`` when unset.
        strategies: Strategies to build nodes for. With the default, those
            that need a verifier are left out when there is none; an explicit
            list must be runnable as given.
        name: The graph's name in traces.
        step_delimiter: Where steps end (``"\\n\\n"`` for chat models;
            ``context.step_delimiter`` overrides it for a run): the probes and
            every strategy cut, join and stop steps there.

    Returns:
        The uncompiled graph (state ``TTCState``, context ``TTCContext``).

    Raises:
        TypeError: For a policy or estimator of the wrong type.
        ValueError: For an unknown strategy, an explicitly requested one that
            needs a missing verifier, a bad step delimiter, or a verifier
            whose ``step_delimiter`` differs.
    """
    check_step_delimiter(step_delimiter)
    check_verifier_delimiter(verifier, step_delimiter, "the graph's step_delimiter")
    policy = ComputePolicy.default() if policy is None else policy
    if not isinstance(policy, ComputePolicy):
        raise TypeError(f"policy must be a ComputePolicy, got {type(policy).__name__}")
    if estimator is None:
        estimator = VerifierDifficulty()
    if not (
        callable(getattr(estimator, "estimate", None))
        and callable(getattr(estimator, "probes_for", None))
    ):
        raise TypeError(
            f"estimator must have probes_for() and estimate() (a DifficultyEstimator), "
            f"got {type(estimator).__name__}"
        )
    names = _check_strategies(
        strategies, explicit=strategies is not DEFAULT_STRATEGIES, verifier=verifier
    )

    builder: StateGraph[TTCState, TTCContext, TTCInput, TTCOutput] = NamedStateGraph(
        name=name,
        state_schema=TTCState,
        context_schema=TTCContext,
        input_schema=TTCInput,
        output_schema=TTCOutput,
    )
    builder.add_node(
        "route",
        make_route_node(
            generator,
            verifier=verifier,
            policy=policy,
            estimator=estimator,
            strategies=names,
            extract_answer=answers.extract_answer,
            prompt=question_prompt,
            graph=name,
            step_delimiter=step_delimiter,
        ),
        destinations=tuple(names),
        metadata={"ttc_graph": name, "ttc_node": "route", "ttc_estimator": estimator.name},
    )
    builder.add_edge(START, "route")
    for strategy in names:
        config = _builder_config(strategy, verifier)
        subgraph = create_strategy_graph(
            config, generator, verifier=verifier, reviser=reviser, step_delimiter=step_delimiter
        ).compile(name=strategy)
        builder.add_node(
            strategy,
            _strategy_node(strategy, subgraph),
            metadata={"ttc_graph": name, "ttc_strategy": strategy},
        )
    return builder


def _check_strategies(
    strategies: Iterable[str], *, explicit: bool, verifier: Verifier | None
) -> list[str]:
    if isinstance(strategies, str):
        raise TypeError("strategies must be a collection of strategy names, not one string")
    names = list(dict.fromkeys(strategies))
    unknown = [s for s in names if s not in STRATEGIES]
    if unknown:
        raise ValueError(f"unknown strategies {unknown}; choose from {', '.join(STRATEGIES)}")
    if verifier is None:
        needy = [s for s in names if s in NEEDS_VERIFIER]
        if needy and explicit:
            raise ValueError(
                f"strategies {needy} need a verifier; pass verifier= or leave them out"
            )
        names = [s for s in names if s not in NEEDS_VERIFIER]
    if not names:
        raise ValueError("no strategy left to route to")
    return names


def _builder_config(strategy: str, verifier: Verifier | None) -> StrategyConfig:
    # Only the subgraph's fallback plan: the router always writes state["plan"].
    if strategy == "majority" or (strategy == "best_of_n" and verifier is None):
        return StrategyConfig(strategy, selection="majority")
    if strategy == "greedy":
        return StrategyConfig("greedy", n=1, temperature=0.0)
    return StrategyConfig(strategy)


def _strategy_node(strategy: str, subgraph: Any) -> RunnableCallable:
    """A node that runs ``subgraph`` (compiled) on the state and returns only what it added."""
    keys = list(_OUTPUT_KEYS)

    def _inputs(state: TTCState) -> dict[str, Any]:
        passed = ("question", "plan", "difficulty", "candidates", "usage", "started_at")
        return {k: v for k, v in state.items() if k in passed}

    def _config(state: TTCState, config: RunnableConfig) -> RunnableConfig:
        metadata = {
            **(config.get("metadata") or {}),
            "ttc_difficulty": state.get("difficulty"),
            "ttc_routed_strategy": strategy,
        }
        return {**config, "metadata": metadata}

    def run(
        state: TTCState, runtime: Runtime[TTCContext], config: RunnableConfig
    ) -> dict[str, Any]:
        out = subgraph.invoke(
            _inputs(state), _config(state, config), context=runtime.context, output_keys=keys
        )
        return _added(state, out)

    async def arun(
        state: TTCState, runtime: Runtime[TTCContext], config: RunnableConfig
    ) -> dict[str, Any]:
        out = await subgraph.ainvoke(
            _inputs(state), _config(state, config), context=runtime.context, output_keys=keys
        )
        return _added(state, out)

    return RunnableCallable(run, arun, name=strategy, trace=False)


def _added(before: TTCState, after: Mapping[str, Any]) -> dict[str, Any]:
    """The subgraph's result as an update: new or changed candidates, usage spent inside."""
    update = {k: v for k, v in after.items() if k not in ("candidates", "usage")}
    old: dict[str, Candidate] = {c["id"]: c for c in before.get("candidates") or []}
    update["candidates"] = [c for c in after.get("candidates") or [] if old.get(c["id"]) != c]
    update["usage"] = _usage_minus(after.get("usage"), before.get("usage"))
    return update


def _usage_minus(after: Mapping[str, Any] | None, before: Usage | None) -> Usage:
    a: Mapping[str, Any] = after or {}
    b: Mapping[str, Any] = cast(Mapping[str, Any], before or {})
    out = empty_usage()
    for key in out:
        out[key] = a.get(key, 0) - b.get(key, 0)  # type: ignore[literal-required]
    return out
