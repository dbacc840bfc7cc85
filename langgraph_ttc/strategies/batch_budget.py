"""Batch budgets: one total budget for a list of questions, spent where it pays.

``create_batch_graph`` fans each question out to per-question work with
``Send`` and never spends more than ``context.budget.generations`` in all,
probes included::

    START -> start -> probe (one per question) -> allocate -> solve (one per question)
          -> collect -> END

1. ``probe``: each question draws the router's probes (4 at a mean of 16
   generations a question, see ``probes_per_question``), scored by the
   verifier (agreement without one): its predicted difficulty bin under the
   policy in force (the shipped policy on the bundled models, the generic
   one for models it was not fitted on; ``router/fitted.py``).
2. ``allocate``: what the probes left is shared by predicted bin
   (``allocate_budgets``): a question predicted easy answers from its probes
   (a vote over them: it stops early), and the compute it saved goes to the
   questions predicted hard.
3. ``solve``: each question runs the policy's plan for its bin, scaled to
   its own budget and reusing its probes (the router's strategy subgraphs),
   with that budget as a hard cap.
4. ``collect``: the results in question order, and the batch's usage.

Each result has its own ``status`` (``done``, ``budget_exhausted``,
``backend_error`` when its probes failed, ...). Bad input (no questions, a
blank one, a budget below one generation a question) is a ``ValueError``
before any model runs. The sum of the questions' budgets never exceeds the
total; every model call is traced and streamed like any other run's.
"""

from __future__ import annotations

import math
import time
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import replace
from typing import Any, Literal, cast

from langchain_core.runnables import RunnableConfig
from langgraph.graph import END, START
from langgraph.runtime import Runtime
from langgraph.types import Send

from langgraph_ttc import answers
from langgraph_ttc.engine.candidates import question_prompt
from langgraph_ttc.engine.driver import NodeLogic, NodeRun, RunnableCallable, make_node
from langgraph_ttc.engine.graph import NamedStateGraph
from langgraph_ttc.engine.settings import context_of, derive_seed
from langgraph_ttc.router.difficulty import DifficultyEstimator, ProbeSettings, VerifierDifficulty
from langgraph_ttc.router.fitted import check_policy
from langgraph_ttc.router.policy import ComputePolicy
from langgraph_ttc.state import TTCContext
from langgraph_ttc.strategies.batch_allocation import (
    DEFAULT_WEIGHTS,
    allocate_budgets,
    check_options,
    probes_per_question,
    question_plan,
)
from langgraph_ttc.strategies.batch_state import (
    BatchGraph,
    BatchInput,
    BatchOutput,
    BatchState,
    Estimate,
    QuestionResult,
    batch_total,
    check_questions,
    probe_failure,
)
from langgraph_ttc.strategies.factory import create_strategy_graph
from langgraph_ttc.types import (
    NEEDS_VERIFIER,
    STRATEGIES,
    Budget,
    Generator,
    StrategyConfig,
    Usage,
    Verifier,
    add_usage,
    empty_usage,
)

__all__ = [
    "BatchInput",
    "BatchOutput",
    "BatchState",
    "QuestionResult",
    "asolve_batch",
    "check_questions",
    "create_batch_graph",
    "solve_batch",
]

# What a question's strategy run hands back.
_RUN_KEYS = ["answer", "confidence", "status", "error", "strategy", "plan", "usage"]


def _added(after: Mapping[str, Any] | None, before: Usage) -> Usage:
    out = empty_usage()
    for key in out:
        out[key] = (after or {}).get(key, 0) - before.get(key, 0)  # type: ignore[literal-required]
    return out


def create_batch_graph(
    generator: Generator,
    *,
    verifier: Verifier | None = None,
    reviser: Generator | None = None,
    policy: ComputePolicy | None = None,
    estimator: DifficultyEstimator | None = None,
    weights: Mapping[int, float] = DEFAULT_WEIGHTS,
    step: int = 4,
    max_share: float = 4.0,
    strategies: Iterable[str] = STRATEGIES,
    name: str = "batch",
) -> BatchGraph:
    """Build the batch-budget graph (see the module docstring).

    Run it with ``context=TTCContext(budget=Budget(generations=TOTAL))``:
    the total for all questions, probes included.

    Args:
        generator: The policy model.
        verifier: Scores probes (difficulty) and ranks candidates; without
            one, difficulty is the probes' agreement and votes are majority.
        reviser: The revision model for ``revise`` plans (defaults to ``generator``).
        policy: The ``ComputePolicy`` (bins and plans); the shipped one when
            unset, the generic one for models it was not fitted on.
        estimator: The difficulty estimator; ``VerifierDifficulty()`` when unset.
        weights: Weight per predicted bin of the budget left after the probes.
        step: Generations handed out at a time.
        max_share: Cap on one question's budget, in multiples of the mean.
        strategies: Strategies the plans may use (as ``create_ttc_graph``).
        name: The graph's name in traces.

    Returns:
        The uncompiled graph (input ``BatchInput``, output ``BatchOutput``).

    Raises:
        TypeError, ValueError: For a policy, estimator or option of the wrong
            type or value.
    """
    policy = ComputePolicy.default() if policy is None else policy
    if not isinstance(policy, ComputePolicy):
        raise TypeError(f"policy must be a ComputePolicy, got {type(policy).__name__}")
    estimator = VerifierDifficulty() if estimator is None else estimator
    if not callable(getattr(estimator, "estimate", None)):
        raise TypeError(f"estimator must be a DifficultyEstimator, got {type(estimator).__name__}")
    check_options(weights, step, max_share)
    if isinstance(strategies, str):
        raise TypeError("strategies must be a collection of strategy names, not one string")
    names = [
        s for s in dict.fromkeys(strategies) if verifier is not None or s not in NEEDS_VERIFIER
    ]
    unknown = [s for s in names if s not in STRATEGIES]
    if unknown or not names:
        raise ValueError(f"strategies must name some of {', '.join(STRATEGIES)}; got {names}")
    checked = check_policy(policy, generator, verifier)
    # A question with nothing beyond its probes votes over them.
    vote = "best_of_n" if verifier is not None else "majority"
    subgraphs = {
        s: create_strategy_graph(
            _builder_config(s, verifier), generator, verifier=verifier, reviser=reviser
        ).compile(name=s)
        for s in dict.fromkeys([*names, vote])
    }
    available = frozenset(names)
    meta = {"ttc_graph": name}

    def start(state: BatchState, runtime: Runtime[TTCContext]) -> dict[str, Any]:
        questions = check_questions(state.get("questions"))
        total = batch_total(context_of(runtime), len(questions))
        return {
            "total": total,
            "probes": probes_per_question(total, len(questions)),
            "started_at": state.get("started_at") or time.time(),
            "status": "running",
            "policy": checked.metadata,
        }

    def to_probes(state: BatchState) -> list[Send] | Literal["allocate"]:
        if not state["probes"]:
            return "allocate"
        return [
            Send(
                "probe",
                {
                    "index": i,
                    "question": q,
                    "samples": state["probes"],
                    "started_at": state["started_at"],
                },
            )
            for i, q in enumerate(state["questions"])
        ]

    def probe_logic(task: Any, run: NodeRun) -> NodeLogic:
        ctx = run.ctx
        settings = ProbeSettings(
            question=task["question"],
            generator=generator,
            verifier=verifier,
            prompt=question_prompt,
            extract_answer=answers.extract_answer,
            samples=task["samples"],
            max_tokens=ctx.max_tokens,
            # The router's seed: a question's probes are the ones it would draw alone.
            seed=derive_seed(ctx.seed, "route", 0, 0),
            tags=("ttc", f"ttc:{name}", "ttc:probe", *ctx.tags),
            metadata={**meta, "ttc_node": "probe", "ttc_question": task["index"]},
        )
        est = yield from estimator.estimate(settings)
        difficulty = est.bin if est.bin is not None else checked.policy.bin(est.score)
        return {
            "estimate": {
                "score": est.score,
                "difficulty": difficulty,
                "probes": est.candidates,
                "usage": est.usage,
            }
        }

    probe_run = make_node("probe", probe_logic)  # type: ignore[arg-type]

    def probed(task: Any, out: dict[str, Any]) -> dict[str, Any]:
        est = out.get("estimate") or {}
        entry: Estimate = {
            "index": task["index"],
            "score": est.get("score"),
            "difficulty": est.get("difficulty"),
            "probes": est.get("probes") or [],
            "usage": out["usage"],
            "status": out.get("status", "running"),
            "error": out.get("error"),
        }
        return {"estimates": [entry], "usage": out["usage"]}

    def probe(task: Any, config: RunnableConfig) -> dict[str, Any]:
        return probed(task, probe_run.invoke(task, config))

    async def aprobe(task: Any, config: RunnableConfig) -> dict[str, Any]:
        return probed(task, await probe_run.ainvoke(task, config))

    def allocate(state: BatchState, runtime: Runtime[TTCContext]) -> dict[str, Any]:
        n = len(state["questions"])
        ests = {e["index"]: e for e in state.get("estimates") or []}
        spent = [float(ests[i]["usage"]["generations"]) if i in ests else 0.0 for i in range(n)]
        bins = [ests[i]["difficulty"] if i in ests else None for i in range(n)]
        budgets = allocate_budgets(
            state["total"], spent, bins, weights=weights, step=step, max_share=max_share
        )
        failed: list[QuestionResult] = []
        for i, e in ests.items():
            if e.get("status", "running") != "running":
                # Its probes failed: no plan, the run says why (the router's rule).
                budgets[i] = math.ceil(spent[i] - 1e-9)
                failed.append(probe_failure(i, state["questions"][i], e, budgets[i]))
        writer = getattr(runtime, "stream_writer", None)
        if writer is not None:
            writer(
                {
                    "node": "allocate",
                    "budgets": budgets,
                    "budget": state["total"],
                    "difficulties": bins,
                }
            )
        return {"budgets": budgets, "results": failed}

    def to_solve(state: BatchState) -> list[Send] | Literal["collect"]:
        ests = {e["index"]: e for e in state.get("estimates") or []}
        done = {r["index"] for r in state.get("results") or []}
        sends = [
            Send(
                "solve",
                {
                    "index": i,
                    "question": q,
                    "budget": state["budgets"][i],
                    "estimate": ests.get(i),
                    "started_at": state["started_at"],
                },
            )
            for i, q in enumerate(state["questions"])
            if i not in done
        ]
        return sends or "collect"

    def solve_inputs(task: Any, runtime: Runtime[TTCContext]) -> tuple[Any, ...]:
        est = cast(Estimate, task["estimate"] or {})
        probes = est.get("probes") or []
        plan = question_plan(
            checked.policy,
            est.get("difficulty"),
            task["budget"],
            len(probes),
            available=available,
            has_verifier=verifier is not None,
        )
        before = est.get("usage") or empty_usage()
        inputs = {
            "question": task["question"],
            "plan": plan.to_dict(),
            "difficulty": est.get("difficulty"),
            "candidates": probes,
            "usage": before,
            "started_at": task["started_at"],
        }
        ctx = replace(context_of(runtime), plan=None, budget=Budget(generations=task["budget"]))
        target = vote if plan.strategy not in subgraphs else plan.strategy
        return subgraphs[target], inputs, ctx, before, plan

    def solved(task: Any, out: Mapping[str, Any], before: Usage, plan: StrategyConfig) -> Any:
        est = cast(Estimate, task["estimate"] or {})
        result: QuestionResult = {
            "index": task["index"],
            "question": task["question"],
            "answer": out.get("answer"),
            "confidence": out.get("confidence"),
            "status": out.get("status", "done"),
            "error": out.get("error"),
            "strategy": out.get("strategy") or plan.strategy,
            "plan": out.get("plan") or plan.to_dict(),
            "difficulty": est.get("difficulty"),
            "score": est.get("score"),
            "budget": task["budget"],
            "usage": add_usage(out.get("usage"), None),
        }
        return {"results": [result], "usage": _added(out.get("usage"), before)}

    def _config(task: Any, config: RunnableConfig) -> RunnableConfig:
        md = {
            **(config.get("metadata") or {}),
            "ttc_question": task["index"],
            "ttc_batch_budget": task["budget"],
        }
        return {**config, "metadata": md}

    def solve(task: Any, runtime: Runtime[TTCContext], config: RunnableConfig) -> Any:
        graph, inputs, ctx, before, plan = solve_inputs(task, runtime)
        out = graph.invoke(inputs, _config(task, config), context=ctx, output_keys=_RUN_KEYS)
        return solved(task, out, before, plan)

    async def asolve(task: Any, runtime: Runtime[TTCContext], config: RunnableConfig) -> Any:
        graph, inputs, ctx, before, plan = solve_inputs(task, runtime)
        out = await graph.ainvoke(inputs, _config(task, config), context=ctx, output_keys=_RUN_KEYS)
        return solved(task, out, before, plan)

    def collect(state: BatchState) -> dict[str, Any]:
        return {"status": "done"}

    builder: BatchGraph = NamedStateGraph(
        name=name,
        state_schema=BatchState,
        context_schema=TTCContext,
        input_schema=BatchInput,
        output_schema=BatchOutput,
    )
    builder.add_node("start", start, metadata=meta)
    builder.add_node(
        "probe", RunnableCallable(probe, aprobe, name="probe", trace=False), metadata=meta
    )
    builder.add_node("allocate", allocate, metadata=meta)
    builder.add_node(
        "solve", RunnableCallable(solve, asolve, name="solve", trace=False), metadata=meta
    )
    builder.add_node("collect", collect, metadata=meta)
    builder.add_edge(START, "start")
    builder.add_conditional_edges("start", to_probes, ["probe", "allocate"])
    builder.add_edge("probe", "allocate")
    builder.add_conditional_edges("allocate", to_solve, ["solve", "collect"])
    builder.add_edge("solve", "collect")
    builder.add_edge("collect", END)
    return builder


def _builder_config(strategy: str, verifier: Verifier | None) -> StrategyConfig:
    # Only the subgraph's fallback plan: the batch always writes each question's plan.
    if strategy == "majority" or (strategy == "best_of_n" and verifier is None):
        return StrategyConfig(strategy, selection="majority")
    if strategy == "greedy":
        return StrategyConfig("greedy", n=1, temperature=0.0)
    return StrategyConfig(strategy)


def _context(budget: int, seed: int, max_tokens: int, deadline_s: float | None) -> TTCContext:
    if isinstance(budget, bool) or not isinstance(budget, int):
        raise TypeError(f"budget must be an int (generations), got {type(budget).__name__}")
    if budget < 1:
        raise ValueError(f"budget must be a positive int (generations), got {budget!r}")
    return TTCContext(
        seed=seed, budget=Budget(generations=budget), max_tokens=max_tokens, deadline_s=deadline_s
    )


def solve_batch(
    questions: Sequence[str],
    generator: Generator,
    *,
    budget: int,
    verifier: Verifier | None = None,
    reviser: Generator | None = None,
    policy: ComputePolicy | None = None,
    seed: int = 0,
    max_tokens: int = 256,
    deadline_s: float | None = None,
) -> BatchOutput:
    """Answer ``questions`` with ``budget`` generations in all (``create_batch_graph``, run once).

    Args:
        questions: The questions (non-empty strings).
        generator: The policy model.
        budget: Total generations for the whole batch, probes included
            (at least one per question).
        verifier: Optional verifier (see ``create_batch_graph``).
        reviser: Optional revision model.
        policy: Optional ``ComputePolicy``.
        seed: Base seed.
        max_tokens: Token cap per solution.
        deadline_s: Wall-clock limit for the whole batch.

    Returns:
        ``BatchOutput``: ``results`` (one per question, in order), ``budgets``,
        ``usage`` (the total), ``status`` and ``policy``.

    Raises:
        TypeError, ValueError: For bad questions or a budget below one
            generation a question, before any model runs.
    """
    qs = check_questions(list(questions) if not isinstance(questions, str) else questions)
    ctx = _context(budget, seed, max_tokens, deadline_s)
    batch_total(ctx, len(qs))
    graph = create_batch_graph(generator, verifier=verifier, reviser=reviser, policy=policy)
    return cast(BatchOutput, graph.compile().invoke({"questions": qs}, context=ctx))


async def asolve_batch(
    questions: Sequence[str],
    generator: Generator,
    *,
    budget: int,
    verifier: Verifier | None = None,
    reviser: Generator | None = None,
    policy: ComputePolicy | None = None,
    seed: int = 0,
    max_tokens: int = 256,
    deadline_s: float | None = None,
) -> BatchOutput:
    """Async twin of :func:`solve_batch`."""
    qs = check_questions(list(questions) if not isinstance(questions, str) else questions)
    ctx = _context(budget, seed, max_tokens, deadline_s)
    batch_total(ctx, len(qs))
    graph = create_batch_graph(generator, verifier=verifier, reviser=reviser, policy=policy)
    return cast(BatchOutput, await graph.compile().ainvoke({"questions": qs}, context=ctx))
