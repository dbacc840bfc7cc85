"""LangSmith experiments: a TTC graph, or several strategies, over a dataset.

Each example's inputs hold the question (``inputs["question"]``); its
outputs may hold a reference answer (``outputs["answer"]``). Every run gets
two kinds of feedback, so strategies compare side by side in LangSmith's
experiment view:

- **correct** (0 or 1, or the checker's number): the run's answer judged by
  a checker, ``checker(answer, question, reference) -> bool | float``. The
  default, :func:`task_checker`, is the bundled task's ``suite.task.check``
  (it needs no reference); :func:`reference_checker` compares with the
  example's reference answer, in canonical form.
- **compute**: ``generations`` (the paper's unit, probes included),
  ``prompt_tokens``, ``generated_tokens``, ``verifier_tokens``,
  ``verifier_calls`` and ``wall_time_s`` (the run, timed around the graph).

Usage::

    from langsmith import Client
    from langgraph_ttc.integrations.langsmith_experiments import compare_strategies

    results = compare_strategies(
        generator, "arithmetic-dev", verifier=prm,
        strategies=("majority", "best_of_n", "beam"), budget=16, client=Client(),
    )   # one experiment per strategy: "ttc-majority-b16", ...

:func:`run_experiment` runs one compiled graph (any TTC graph: state
``TTCState``, context ``TTCContext``); :func:`arun_experiment` is its async
twin. The evaluators are plain functions of ``(inputs, outputs,
reference_outputs)``, usable with ``langsmith.evaluate`` directly.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable, Mapping, Sequence
from typing import Any

from langgraph_ttc.answers import answers_equal
from langgraph_ttc.router import ComputePolicy, default_plan
from langgraph_ttc.state import TTCContext
from langgraph_ttc.strategies.compute_optimal import create_ttc_graph
from langgraph_ttc.suite.task import check
from langgraph_ttc.types import STRATEGIES, Budget, Generator, Verifier

__all__ = [
    "COMPUTE_KEYS",
    "Checker",
    "arun_experiment",
    "compare_strategies",
    "compute_evaluator",
    "correctness_evaluator",
    "reference_checker",
    "run_experiment",
    "task_checker",
    "ttc_target",
]

Checker = Callable[[str, str, Any], bool | float]
"""``checker(answer, question, reference) -> correct``; ``reference`` may be ``None``."""

COMPUTE_KEYS: tuple[str, ...] = (
    "generations",
    "prompt_tokens",
    "generated_tokens",
    "verifier_tokens",
    "verifier_calls",
    "wall_time_s",
)
"""The compute feedback keys, one score each per run."""


def task_checker(answer: str, question: str, reference: Any = None) -> bool:
    """The bundled task's checker (``suite.task.check``); the reference is not needed."""
    return check(answer, question)


def reference_checker(answer: str, question: str, reference: Any) -> bool:
    """Whether ``answer`` equals the example's reference answer (canonical form)."""
    if reference is None:
        raise ValueError(
            "reference_checker needs a reference answer in each example's outputs "
            "(set reference_key to its field)"
        )
    return answers_equal(answer, str(reference))


def _check_key(value: object, name: str) -> str:
    if not isinstance(value, str) or not value:
        raise TypeError(f"{name} must be a non-empty string, got {value!r}")
    return value


def ttc_target(
    graph: Any,
    *,
    context: TTCContext | None = None,
    question_key: str = "question",
) -> Callable[[dict[str, Any]], dict[str, Any]]:
    """The experiment's target: one example's inputs in, the run's result out.

    The outputs are ``answer``, ``confidence``, ``strategy``, ``difficulty``,
    ``status``, ``usage`` and ``wall_time_s``.

    Args:
        graph: A compiled TTC graph.
        context: The run settings (seed, budget, forced plan); ``TTCContext()`` when unset.
        question_key: Where the question is in an example's inputs.

    Raises:
        TypeError: For a graph with no ``invoke`` or a bad key.
    """
    if not callable(getattr(graph, "invoke", None)):
        raise TypeError(f"graph must be a compiled graph, got {type(graph).__name__}")
    _check_key(question_key, "question_key")
    ctx = context or TTCContext()

    def ttc(inputs: dict[str, Any]) -> dict[str, Any]:
        started = time.perf_counter()
        state = graph.invoke({"question": _question(inputs, question_key)}, context=ctx)
        return _outputs(state, time.perf_counter() - started)

    return ttc


def _atarget(graph: Any, context: TTCContext | None, question_key: str) -> Callable[..., Any]:
    if not callable(getattr(graph, "ainvoke", None)):
        raise TypeError(f"graph must be a compiled graph, got {type(graph).__name__}")
    ctx = context or TTCContext()

    async def ttc(inputs: dict[str, Any]) -> dict[str, Any]:
        started = time.perf_counter()
        state = await graph.ainvoke({"question": _question(inputs, question_key)}, context=ctx)
        return _outputs(state, time.perf_counter() - started)

    return ttc


def _question(inputs: Mapping[str, Any], key: str) -> str:
    question = inputs.get(key)
    if not isinstance(question, str) or not question.strip():
        raise ValueError(
            f"the example's inputs hold no question under {key!r} (keys: {sorted(inputs)})"
        )
    return question


def _outputs(state: Mapping[str, Any], wall: float) -> dict[str, Any]:
    return {
        "answer": state.get("answer"),
        "confidence": state.get("confidence"),
        "strategy": state.get("strategy"),
        "difficulty": state.get("difficulty"),
        "status": state.get("status"),
        "usage": dict(state.get("usage") or {}),
        "wall_time_s": round(wall, 4),
    }


def correctness_evaluator(
    checker: Checker = task_checker,
    *,
    question_key: str = "question",
    reference_key: str = "answer",
) -> Callable[..., dict[str, Any]]:
    """An evaluator giving feedback ``correct``: the checker's verdict on the run's answer.

    A run with no answer scores 0. A checker's bool counts as 1 or 0.

    Args:
        checker: ``checker(answer, question, reference)``.
        question_key: Where the question is in an example's inputs.
        reference_key: Where the reference answer is in its outputs (may be absent).
    """
    if not callable(checker):
        raise TypeError(f"checker must be callable, got {type(checker).__name__}")
    _check_key(question_key, "question_key")
    _check_key(reference_key, "reference_key")

    def correct(
        inputs: dict[str, Any], outputs: dict[str, Any], reference_outputs: dict[str, Any]
    ) -> dict[str, Any]:
        answer = (outputs or {}).get("answer")
        if answer is None:
            return {"key": "correct", "score": 0, "comment": "no answer"}
        reference = (reference_outputs or {}).get(reference_key)
        verdict = checker(str(answer), _question(inputs, question_key), reference)
        if isinstance(verdict, bool) or not isinstance(verdict, int | float):
            verdict = int(bool(verdict))
        return {"key": "correct", "score": verdict}

    return correct


def compute_evaluator() -> Callable[..., dict[str, Any]]:
    """An evaluator giving one feedback per compute key (``COMPUTE_KEYS``) from the run's usage."""

    def compute(outputs: dict[str, Any]) -> dict[str, Any]:
        usage = (outputs or {}).get("usage") or {}
        results = [{"key": k, "score": usage.get(k, 0)} for k in COMPUTE_KEYS[:-1]]
        results.append({"key": "wall_time_s", "score": (outputs or {}).get("wall_time_s", 0.0)})
        return {"results": results}

    return compute


def _evaluators(
    checker: Checker, question_key: str, reference_key: str, extra: Sequence[Any]
) -> list[Any]:
    return [
        correctness_evaluator(checker, question_key=question_key, reference_key=reference_key),
        compute_evaluator(),
        *extra,
    ]


def run_experiment(
    graph: Any,
    data: Any,
    *,
    context: TTCContext | None = None,
    client: Any = None,
    checker: Checker = task_checker,
    evaluators: Sequence[Any] = (),
    experiment_prefix: str = "ttc",
    metadata: Mapping[str, Any] | None = None,
    question_key: str = "question",
    reference_key: str = "answer",
    max_concurrency: int | None = 0,
    **kwargs: Any,
) -> Any:
    """Run ``graph`` over a LangSmith dataset with correctness and compute feedback.

    Args:
        graph: A compiled TTC graph.
        data: A dataset name or id, or examples (what ``langsmith.evaluate`` takes).
        context: The run settings for every example.
        client: A ``langsmith.Client`` (default: one from the environment).
        checker: Judges answers (see the module docstring).
        evaluators: More evaluators, after the two built-in ones.
        experiment_prefix: The experiment's name prefix.
        metadata: Experiment metadata; the context's budget, seed and plan are added.
        question_key: Where the question is in an example's inputs.
        reference_key: Where the reference answer is in its outputs.
        max_concurrency: Examples run at once (``0``: one after another).
        **kwargs: Passed on to ``langsmith.evaluate`` (``num_repetitions``, ...).

    Returns:
        ``langsmith``'s ``ExperimentResults``.
    """
    from langsmith import evaluate

    return evaluate(
        ttc_target(graph, context=context, question_key=question_key),
        data=data,
        evaluators=_evaluators(checker, question_key, reference_key, evaluators),
        experiment_prefix=experiment_prefix,
        metadata=_metadata(metadata, context),
        client=client,
        max_concurrency=max_concurrency,
        **kwargs,
    )


async def arun_experiment(
    graph: Any,
    data: Any,
    *,
    context: TTCContext | None = None,
    client: Any = None,
    checker: Checker = task_checker,
    evaluators: Sequence[Any] = (),
    experiment_prefix: str = "ttc",
    metadata: Mapping[str, Any] | None = None,
    question_key: str = "question",
    reference_key: str = "answer",
    max_concurrency: int | None = 0,
    **kwargs: Any,
) -> Any:
    """Async twin of :func:`run_experiment` (``langsmith.aevaluate``, ``graph.ainvoke``).

    ``aevaluate`` uploads feedback from a thread pool of its own: the last
    feedback may reach LangSmith shortly after this returns.
    """
    from langsmith import aevaluate

    _check_key(question_key, "question_key")
    return await aevaluate(
        _atarget(graph, context, question_key),
        data=data,
        evaluators=_evaluators(checker, question_key, reference_key, evaluators),
        experiment_prefix=experiment_prefix,
        metadata=_metadata(metadata, context),
        client=client,
        max_concurrency=max_concurrency,
        **kwargs,
    )


def _metadata(extra: Mapping[str, Any] | None, context: TTCContext | None) -> dict[str, Any]:
    ctx = context or TTCContext()
    out: dict[str, Any] = {
        "ttc_seed": ctx.seed,
        "ttc_budget": ctx.budget.generations if ctx.budget is not None else None,
        "ttc_strategy": ctx.plan.strategy if ctx.plan is not None else "auto",
        "ttc_plan": ctx.plan.to_dict() if ctx.plan is not None else None,
    }
    return {**out, **(extra or {})}


def compare_strategies(
    generator: Generator,
    data: Any,
    *,
    strategies: Iterable[str] = ("auto", "majority", "best_of_n", "beam"),
    budget: int = 16,
    verifier: Verifier | None = None,
    reviser: Generator | None = None,
    policy: ComputePolicy | None = None,
    seed: int = 0,
    max_tokens: int = 256,
    client: Any = None,
    checker: Checker = task_checker,
    experiment_prefix: str = "ttc",
    **kwargs: Any,
) -> dict[str, Any]:
    """One experiment per strategy on one graph, at one budget, for side-by-side comparison.

    ``auto`` routes by difficulty (the router's probes count against the
    budget); any other strategy is forced, as ``ttc solve --strategy`` does.
    Experiments are named ``<prefix>-<strategy>-b<budget>`` and carry the
    strategy, budget and seed in their metadata.

    Args:
        generator: The policy model.
        data: A dataset name or id, or examples.
        strategies: ``auto`` and strategy names (``-`` or ``_``).
        budget: Generations per question.
        verifier: A verifier (needed by best-of-N weighted and the searches).
        reviser: A revision model.
        policy: The router's ``ComputePolicy``.
        seed: The runs' base seed.
        max_tokens: Tokens per solution.
        client: A ``langsmith.Client``.
        checker: Judges answers.
        experiment_prefix: The experiments' name prefix.
        **kwargs: Passed on to :func:`run_experiment`.

    Returns:
        ``{strategy: ExperimentResults}``, in the order given.

    Raises:
        ValueError: For an unknown strategy, a bad budget, or a strategy that
            needs a missing verifier, before anything runs.
    """
    if isinstance(strategies, str):
        raise TypeError("strategies must be a collection of names, not one string")
    names = [s.replace("-", "_") for s in strategies]
    unknown = [s for s in names if s != "auto" and s not in STRATEGIES]
    if unknown or not names:
        choices = ", ".join(STRATEGIES)
        raise ValueError(f"strategies must be auto or one of {choices}; got {unknown}")
    plans = {s: None if s == "auto" else default_plan(s, budget) for s in names}
    for name, plan in plans.items():
        problem = plan.requirement_error(has_verifier=verifier is not None) if plan else None
        if problem:
            raise ValueError(f"strategy {name!r}: {problem}")
    graph = create_ttc_graph(generator, verifier=verifier, reviser=reviser, policy=policy).compile()
    results: dict[str, Any] = {}
    for name, plan in plans.items():
        context = TTCContext(
            seed=seed, budget=Budget(generations=budget), plan=plan, max_tokens=max_tokens
        )
        results[name] = run_experiment(
            graph,
            data,
            context=context,
            client=client,
            checker=checker,
            experiment_prefix=f"{experiment_prefix}-{name.replace('_', '-')}-b{budget}",
            **kwargs,
        )
    return results
