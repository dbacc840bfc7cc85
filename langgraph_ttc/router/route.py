"""``route``: estimate difficulty, choose the compute-optimal plan, send the run to it.

The router's three steps, in one node:

1. **Probe.** The estimator samples a few full solutions (one batched call)
   and scores them (one batched call); the mean score is the predicted
   pass@1. The probes stay in the state as candidates, and their cost stays
   in ``usage``: the strategy reuses them and counts them against the budget.
2. **Plan.** The score gives a difficulty bin (``ComputePolicy.bin``); the
   policy's table gives a ``StrategyConfig`` for (bin, total budget); the plan
   is swapped for the nearest runnable one if the graph lacks its strategy
   or its verifier, and shrunk so that probes + plan fit the budget.
3. **Route.** ``Command(goto=<strategy>)`` with ``difficulty``, ``plan``,
   ``strategy``, the probes and their usage.

The policy in force is checked once, when the node is built
(``router/fitted.py``): a policy whose ``fitted_for`` names other models than
the graph's is replaced by the generic policy. The node reports which ran,
and why, as ``policy`` in its update and its progress event
(``PolicyCheck.metadata``: ``policy`` ``given`` or ``generic``, ``fitted``
``yes``/``no``/``unknown``, the run's ``models``, the policy's
``fitted_for``, the ``reason``), and as ``ttc_policy`` metadata on the probes.

A policy's ``unprobed`` entry for the budget skips the probes: its plan runs
(fitted to the budget) with no difficulty. A ``context.plan`` forces the
plan: no probes, no difficulty, the plan fitted to the budget (a strategy
the graph cannot run is a ``ValueError``). A budget too small for probes
(under 4 generations with the default estimator) routes with the policy's
``default_bin``. A backend failure while probing ends the run
(``status="backend_error"``) with no answer made up; when only some probes
failed (``status="partial"``), it ends with the best answer of the probes
that came back.
"""

from __future__ import annotations

import time
from collections.abc import Collection, Mapping
from typing import Any

from langgraph.graph import END
from langgraph.types import Command

from langgraph_ttc.answers import aggregate
from langgraph_ttc.budget import cap_call, prompt_token_bound
from langgraph_ttc.engine.candidates import AnswerFn, PromptFn, question_prompt
from langgraph_ttc.engine.driver import NodeLogic, NodeRun, RunnableCallable, make_node
from langgraph_ttc.engine.settings import (
    check_question,
    check_step_delimiter,
    check_verifier_delimiter,
    derive_seed,
    resolve_step_delimiter,
)
from langgraph_ttc.formats import STEP_DELIMITER
from langgraph_ttc.router.difficulty import DifficultyEstimate, DifficultyEstimator, ProbeSettings
from langgraph_ttc.router.fitted import check_policy
from langgraph_ttc.router.planning import available_plan, fit_after_probes
from langgraph_ttc.router.policy import ComputePolicy
from langgraph_ttc.state import TTCContext, TTCState
from langgraph_ttc.types import NEEDS_VERIFIER, Generator, StrategyConfig, Verifier

__all__ = ["DEFAULT_BUDGET", "make_route_node", "total_budget"]

DEFAULT_BUDGET = 16
"""Generations a routed run may spend when ``context.budget`` sets no generation cap."""


def total_budget(ctx: TTCContext, default: int = DEFAULT_BUDGET) -> int:
    """The run's total budget in generations: ``context.budget.generations``, else ``default``.

    ``default`` is ``DEFAULT_BUDGET`` for a routed run and the plan's own cost
    for a forced one.
    """
    if ctx.budget is not None and ctx.budget.generations is not None:
        return max(1, int(ctx.budget.generations + 1e-9))
    return default


def make_route_node(
    generator: Generator,
    *,
    verifier: Verifier | None,
    policy: ComputePolicy,
    estimator: DifficultyEstimator,
    strategies: Collection[str],
    extract_answer: AnswerFn,
    prompt: PromptFn = question_prompt,
    graph: str = "ttc",
    step_delimiter: str = STEP_DELIMITER,
) -> RunnableCallable:
    """The ``route`` node, with a sync and an async body.

    Args:
        generator: The policy model (samples the probes).
        verifier: Scores the probes; ``None`` for agreement-based difficulty.
        policy: Bins and the (bin, budget) table; the generic policy runs
            instead when its ``fitted_for`` names other models.
        estimator: Decides how many probes, and what they say.
        strategies: Node names the node may route to (one per strategy).
        extract_answer: Reads a probe's final answer.
        prompt: Builds the probe prompt from the question (the strategies' own).
        graph: Names the traced calls (``route/probe``).
        step_delimiter: Where steps end (``context.step_delimiter`` overrides
            it): the probes are cut there, like the strategies' samples.

    Raises (when the node runs):
        TypeError, ValueError: For a bad question, context or ``context.plan``.
    """
    available = frozenset(strategies)
    if not available:
        raise ValueError("strategies must name at least one strategy node")
    # Checked once, at build time: reading a model folder's config never blocks a run.
    checked = check_policy(policy, generator, verifier)
    policy = checked.policy
    report = checked.metadata

    check_step_delimiter(step_delimiter)

    def logic(state: TTCState, run: NodeRun) -> NodeLogic:
        question = check_question(state.get("question"))
        ctx = run.ctx
        # The probes are cut and scored where the strategies' samples are.
        delimiter, source = resolve_step_delimiter(ctx, step_delimiter)
        check_verifier_delimiter(verifier, delimiter, f"the run's step delimiter ({source})")
        usage = run.usage
        estimate: DifficultyEstimate | None = None
        difficulty: int | None = None
        unprobed: StrategyConfig | None = None
        if ctx.plan is not None:
            wanted = _as_config(ctx.plan)
            # A forced plan runs as given (only shrunk to the budget), never swapped.
            if wanted.strategy not in available or (
                wanted.strategy in NEEDS_VERIFIER and verifier is None
            ):
                raise ValueError(
                    f"context.plan.strategy {wanted.strategy!r} cannot run in this graph "
                    f"(it routes to {', '.join(sorted(available))})"
                )
            total = total_budget(ctx, default=wanted.generations)
            left = total - usage["generations"]
        else:
            total = total_budget(ctx)
            left = total - usage["generations"]
            unprobed = policy.unprobed_plan(total)
            # The policy may say no probe pays at this budget: its plan runs without them.
            samples = None if unprobed is not None else estimator.probes_for(left)
            max_tokens = ctx.max_tokens
            if samples:
                # Token and FLOP caps bind the probes like any other call.
                cap = cap_call(
                    ctx.budget,
                    usage,
                    samples=samples,
                    max_tokens=max_tokens,
                    prompt_tokens=prompt_token_bound(prompt(question)),
                    params=generator.params,
                )
                samples, max_tokens = (cap.samples or None), cap.max_tokens
            if samples is not None:
                settings = ProbeSettings(
                    question=question,
                    generator=generator,
                    verifier=verifier,
                    prompt=prompt,
                    extract_answer=extract_answer,
                    samples=samples,
                    max_tokens=max_tokens,
                    seed=derive_seed(ctx.seed, "route", 0, 0),
                    delimiter=delimiter,
                    tags=("ttc", f"ttc:{graph}", "ttc:route", *ctx.tags),
                    metadata={
                        "ttc_graph": graph,
                        "ttc_node": "route",
                        "ttc_budget": total,
                        "ttc_estimator": estimator.name,
                        "ttc_samples": [0, samples],
                        "ttc_policy": report["policy"],
                        "ttc_policy_fitted": report["fitted"],
                    },
                )
                estimate = yield from estimator.estimate(settings)
            if estimate is not None:
                difficulty = (
                    estimate.bin if estimate.bin is not None else policy.bin(estimate.score)
                )
            wanted = unprobed or policy.lookup(difficulty, total)
        probes = len(estimate.candidates) if estimate else 0
        runnable = available_plan(wanted, available, has_verifier=verifier is not None)
        plan = fit_after_probes(runnable, left, probes)
        update: dict[str, Any] = {
            "difficulty": difficulty,
            "plan": plan.to_dict(),
            "strategy": plan.strategy,
            "status": "running",
            "error": None,
            "policy": report,
        }
        if estimate is not None:
            update["candidates"] = estimate.candidates
        if not state.get("started_at"):
            update["started_at"] = time.time()
        run.emit(
            {
                "node": "route",
                "round": 0,
                "difficulty": difficulty,
                "score": estimate.score if estimate else None,
                "method": estimate.method
                if estimate
                else ("forced" if ctx.plan else "unprobed" if unprobed else "default_bin"),
                "probes": probes,
                "strategy": plan.strategy,
                "plan": plan.to_dict(),
                "generations": usage["generations"]
                + (estimate.usage["generations"] if estimate else 0.0),
                "budget": total,
                "policy": report,
            }
        )
        return update

    return make_node("route", logic, finish=_route)


def _route(update: dict[str, Any]) -> Command[str]:
    """Send the run to the plan's strategy, or end it when the probes failed."""
    if update.get("status") == "backend_error":
        # No plan, no answer made up: the run ends here and says why.
        failed = {**update, "difficulty": None, "answer": None, "confidence": None}
        return Command(goto=END, update=failed)
    if update.get("status") == "partial":
        # Some probes failed for good: the run ends with the best answer of those that came back.
        probes = [c for c in update.get("candidates") or [] if c.get("done")]
        scored = any(c.get("score") is not None for c in probes)
        answer, confidence, _ = aggregate(probes, selection="weighted" if scored else "majority")
        ended = {**update, "answer": answer, "confidence": confidence if answer else None}
        return Command(goto=END, update=ended)
    return Command(goto=str(update["strategy"]), update=update)


def _as_config(plan: object) -> StrategyConfig:
    if isinstance(plan, StrategyConfig):
        return plan
    if isinstance(plan, Mapping):
        return StrategyConfig.from_dict(dict(plan))
    raise TypeError(f"context.plan must be a StrategyConfig, got {type(plan).__name__}")
