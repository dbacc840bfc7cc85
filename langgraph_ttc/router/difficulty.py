"""Difficulty estimators: how hard is this question for this model?

The paper bins questions by the base model's pass@1. Two ways to estimate it:

- :class:`VerifierDifficulty`, the paper's *model-predicted difficulty*:
  sample ``k`` full solutions ("probes") and score them with the verifier;
  the mean folded score estimates pass@1 without ground truth. Without a
  verifier it falls back to the probes' agreement (self-consistency, see
  :func:`agreement`).
- :class:`OracleDifficulty`, for benchmarks: known pass rates, or the share
  of probes a checker accepts.

An estimator does not call models itself. ``estimate`` is node logic (see
``langgraph_ttc.engine.driver``): it yields one batched ``GenerateCall`` and
at most one batched ``ScoreCall`` and returns a :class:`DifficultyEstimate`,
so the ``route`` node runs it through the same driver as every node, sync or
async, traced, with the same checks on what comes back. Probes are
real samples: they come back as candidates (``source="probe"``, verifier
scores attached) with their usage, and the strategy that follows keeps them.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping, Sequence
from collections.abc import Generator as PyGenerator
from dataclasses import dataclass, field
from itertools import pairwise
from typing import Any, Protocol, runtime_checkable

from langgraph_ttc.answers import aggregate
from langgraph_ttc.budget import generation_usage, verifier_usage
from langgraph_ttc.engine.calls import Call, GenerateCall, ScoreCall, check_not_all_empty
from langgraph_ttc.engine.candidates import AnswerFn, PromptFn, full_candidate
from langgraph_ttc.engine.driver import NodeLogic, arun_logic, run_logic, settle
from langgraph_ttc.formats import STEP_DELIMITER
from langgraph_ttc.types import (
    Candidate,
    Fold,
    GenerationRequest,
    Generator,
    Usage,
    Verifier,
    add_usage,
    empty_usage,
    fold_scores,
)

__all__ = [
    "DifficultyEstimate",
    "DifficultyEstimator",
    "EstimateLogic",
    "OracleDifficulty",
    "ProbeSettings",
    "VerifierDifficulty",
    "agreement",
    "arun_estimate",
    "run_estimate",
]


@dataclass(frozen=True)
class DifficultyEstimate:
    """What an estimator found.

    Attributes:
        score: Estimated pass@1 in [0, 1] (higher is easier).
        bin: The bin, when the estimator bins itself (``OracleDifficulty``
            with its own thresholds); ``None`` lets the policy bin ``score``.
        method: ``verifier``, ``agreement``, ``oracle`` or ``checker``.
        candidates: The probes, as candidates (``source="probe"``).
        usage: What the probes cost (generator and verifier).
    """

    score: float
    bin: int | None = None
    method: str = "verifier"
    candidates: list[Candidate] = field(default_factory=list)
    usage: Usage = field(default_factory=empty_usage)


@dataclass(frozen=True)
class ProbeSettings:
    """Everything an estimator needs from the graph and the run.

    Attributes:
        question: The question.
        generator: The policy model.
        verifier: The verifier, if the graph has one.
        prompt: Builds the prompt from the question (the strategies' own).
        extract_answer: Reads a solution's final answer.
        samples: Probes to draw (already fitted to the budget by the router).
        max_tokens: Token cap per probe.
        temperature: Sampling temperature of the probes.
        seed: The probes' request seed.
        fold: How step scores fold into a solution score.
        tags: Tags for the traced model calls (the router adds ``ttc:route``).
        metadata: Metadata for the traced model calls (the router adds
            ``ttc_budget``, ``ttc_samples``, ...).
        delimiter: Where the probes' steps end (the run's step delimiter), so
            that they are cut, scored and adopted like the strategies' samples.
    """

    question: str
    generator: Generator
    verifier: Verifier | None
    prompt: PromptFn
    extract_answer: AnswerFn
    samples: int
    max_tokens: int = 256
    temperature: float = 0.8
    seed: int = 0
    fold: Fold = "last"
    tags: tuple[str, ...] = ()
    metadata: Mapping[str, Any] = field(default_factory=dict)
    delimiter: str = STEP_DELIMITER


EstimateLogic = PyGenerator[Call, Any, DifficultyEstimate]
"""An estimator's logic: yields model calls, returns the estimate."""


@runtime_checkable
class DifficultyEstimator(Protocol):
    """Estimates difficulty; see the module docstring."""

    @property
    def name(self) -> str:
        """Shown in traces and progress events."""
        ...

    def probes_for(self, generations_left: float) -> int | None:
        """Probes to draw when ``generations_left`` remain.

        ``0`` estimates without probes (known pass rates); ``None`` skips the
        estimate (the budget cannot pay for probes).
        """
        ...

    def estimate(self, settings: ProbeSettings) -> EstimateLogic:
        """Node logic that yields model calls and returns a ``DifficultyEstimate``."""
        ...


def _check_fraction(value: float, name: str) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float) or not 0 < value <= 1:
        raise ValueError(f"{name} must be in (0, 1], got {value!r}")
    return float(value)


def _check_count(value: int, name: str) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        raise ValueError(f"{name} must be a positive int, got {value!r}")
    return value


def _share(k: int, fraction: float, generations_left: float) -> int | None:
    samples = min(k, math.floor(fraction * generations_left + 1e-9))
    return samples if samples > 0 else None


def _sample_probes(settings: ProbeSettings) -> NodeLogic:
    """Yield the one batched probe call; return the probe candidates and their usage."""
    request = GenerationRequest(
        prompt=settings.prompt(settings.question),
        n=settings.samples,
        max_tokens=settings.max_tokens,
        temperature=settings.temperature,
        seed=settings.seed,
    )
    call = GenerateCall(
        generator=settings.generator,
        requests=[request],
        run_name="route/probe",
        tags=(*settings.tags, "ttc:probe"),
        metadata=dict(settings.metadata),
        generations=float(settings.samples),
        role="router probes from",
    )
    completions = yield call
    check_not_all_empty(completions[0], settings.generator)
    cands = [
        full_candidate(
            f"probe-{i}", c, settings.extract_answer, source="probe", delimiter=settings.delimiter
        )
        for i, c in enumerate(completions[0])
    ]
    # One generation a probe that came back (fewer when some failed: status "partial").
    usage = generation_usage(
        completions, params=settings.generator.params, generations=float(len(cands))
    )
    return {"candidates": cands, "usage": usage}


def _score_probes(settings: ProbeSettings, cands: list[Candidate]) -> NodeLogic:
    """Yield one batched verifier call over the probes that need it; attach the scores."""
    assert settings.verifier is not None
    todo = [i for i, c in enumerate(cands) if c["score"] is None]
    if not todo:
        return {"candidates": cands, "usage": empty_usage()}
    result = yield ScoreCall(
        verifier=settings.verifier,
        question=settings.question,
        solutions=[cands[i]["text"] for i in todo],
        run_name="route/score_probes",
        tags=(*settings.tags, "ttc:verify"),
        metadata={**settings.metadata, "ttc_candidates": [cands[i]["id"] for i in todo]},
    )
    scored = list(cands)
    for i, steps in zip(todo, result.steps, strict=True):
        scored[i] = {
            **cands[i],
            "step_scores": list(steps),
            "score": fold_scores(steps, settings.fold),
        }
    return {"candidates": scored, "usage": verifier_usage(result)}


def agreement(cands: Sequence[Candidate]) -> float:
    """How much the probes agree, in [0, 1]: ``(m - 1) / (k - 1)``.

    ``m`` is how many of the ``k`` probes give the most common answer (a probe
    with no answer agrees with nobody). All distinct is 0, all equal is 1, so
    the scale spans the policy's bins like a pass rate does. A single probe
    carries no evidence either way: 0.5 if it has an answer, else 0.
    """
    if not cands:
        return 0.0
    _, _, totals = aggregate(cands, selection="majority")
    mode = max(totals.values(), default=0.0)
    if len(cands) == 1:
        return 0.5 if mode else 0.0
    return max(0.0, mode - 1) / (len(cands) - 1)


@dataclass(frozen=True)
class VerifierDifficulty:
    """Model-predicted difficulty: the mean verifier score of ``k`` probes.

    Each probe's step scores fold (``fold``, the paper's ``last`` by default)
    into one score; their mean estimates pass@1. Without a verifier, the
    score is the probes' agreement (see :func:`agreement`).

    Args:
        k: Probes to sample.
        max_fraction: At most this share of the budget goes to probes: with
            16 generations and the defaults, 4 probes and 12 for the strategy;
            under 4 generations, no probes (the policy's ``default_bin``).
        fold: Step-score fold.

    Raises:
        ValueError: For ``k < 1`` or ``max_fraction`` outside (0, 1].
    """

    k: int = 4
    max_fraction: float = 0.25
    fold: Fold = "last"
    name: str = "verifier_difficulty"

    def __post_init__(self) -> None:
        _check_count(self.k, "k")
        _check_fraction(self.max_fraction, "max_fraction")
        if self.fold not in ("last", "min", "prod", "mean"):
            raise ValueError(f"fold must be last, min, prod or mean; got {self.fold!r}")

    def probes_for(self, generations_left: float) -> int | None:
        """``min(k, floor(max_fraction * generations_left))``, or ``None`` when that is 0."""
        return _share(self.k, self.max_fraction, generations_left)

    def estimate(self, settings: ProbeSettings) -> EstimateLogic:
        """Sample the probes in one call, score them in one call, average."""
        sampled = yield from _sample_probes(settings)
        cands: list[Candidate] = sampled["candidates"]
        usage: Usage = sampled["usage"]
        if settings.verifier is None:
            return DifficultyEstimate(
                score=agreement(cands), method="agreement", candidates=cands, usage=usage
            )
        scored = yield from _score_probes(settings, cands)
        cands = scored["candidates"]
        mean = sum(float(c["score"] or 0.0) for c in cands) / len(cands)
        return DifficultyEstimate(
            score=mean,
            method="verifier",
            candidates=cands,
            usage=add_usage(usage, scored["usage"]),
        )


@dataclass(frozen=True)
class OracleDifficulty:
    """Oracle difficulty, for benchmarks: the true pass rate.

    Either ``pass_rates`` (question → pass@1, for example measured from many
    samples offline; no model call) or ``checker`` (``checker(solution,
    question) -> bool``, such as ``langgraph_ttc.suite.task.check``) applied
    to ``samples`` probes, which are kept as candidates and counted like any
    other generation.

    Args:
        pass_rates: Known pass rates in [0, 1].
        checker: Correctness check of one solution.
        samples: Probes for the checker (capped by ``max_fraction`` of the budget).
        max_fraction: Largest share of the budget the checker's probes may take.
        thresholds: Four strictly decreasing cut points to bin the pass rate
            with (e.g. ``ComputePolicy.thresholds`` of an oracle-fitted
            policy); ``None`` leaves binning to the router's policy.

    Raises:
        ValueError: Unless exactly one of ``pass_rates`` and ``checker`` is
            given, or for a pass rate outside [0, 1].
    """

    pass_rates: Mapping[str, float] | None = None
    checker: Callable[[str, str], bool] | None = None
    samples: int = 16
    max_fraction: float = 0.25
    thresholds: tuple[float, ...] | None = None
    name: str = "oracle_difficulty"

    def __post_init__(self) -> None:
        if (self.pass_rates is None) == (self.checker is None):
            raise ValueError("OracleDifficulty needs exactly one of pass_rates and checker")
        if self.pass_rates is not None:
            if not isinstance(self.pass_rates, Mapping):
                raise TypeError(
                    f"pass_rates must be a mapping, got {type(self.pass_rates).__name__}"
                )
            for q, rate in self.pass_rates.items():
                if (
                    isinstance(rate, bool)
                    or not isinstance(rate, int | float)
                    or not 0 <= rate <= 1
                ):
                    raise ValueError(f"pass_rates[{q!r}] must be in [0, 1], got {rate!r}")
        if self.checker is not None and not callable(self.checker):
            raise TypeError("checker must be callable: checker(solution, question) -> bool")
        _check_count(self.samples, "samples")
        _check_fraction(self.max_fraction, "max_fraction")
        if self.thresholds is not None:
            th = tuple(self.thresholds)
            if len(th) != 4 or any(a <= b for a, b in pairwise(th)):
                raise ValueError(f"thresholds must be 4 strictly decreasing numbers, got {th}")

    def probes_for(self, generations_left: float) -> int | None:
        """0 with ``pass_rates``; else ``min(samples, floor(max_fraction * left))`` or ``None``."""
        if self.pass_rates is not None:
            return 0
        return _share(self.samples, self.max_fraction, generations_left)

    def _bin(self, score: float) -> int | None:
        if self.thresholds is None:
            return None
        return 1 + sum(score < t for t in self.thresholds)

    def rate(self, question: str) -> float:
        """The known pass rate of ``question``.

        Raises:
            ValueError: If there are no pass rates, or none for this question.
        """
        if self.pass_rates is None:
            raise ValueError("this OracleDifficulty has a checker, not pass rates")
        if question not in self.pass_rates:
            raise ValueError(f"OracleDifficulty has no pass rate for question {question!r}")
        return float(self.pass_rates[question])

    def estimate(self, settings: ProbeSettings) -> EstimateLogic:
        """Look the pass rate up, or check the probes."""
        if self.pass_rates is not None:
            score = self.rate(settings.question)
            return DifficultyEstimate(score=score, bin=self._bin(score), method="oracle")
            yield  # pragma: no cover - makes this a generator
        assert self.checker is not None
        sampled = yield from _sample_probes(settings)
        cands: list[Candidate] = sampled["candidates"]
        correct = sum(bool(self.checker(c["text"], settings.question)) for c in cands)
        score = correct / len(cands)
        return DifficultyEstimate(
            score=score,
            bin=self._bin(score),
            method="checker",
            candidates=cands,
            usage=sampled["usage"],
        )


def run_estimate(estimator: DifficultyEstimator, settings: ProbeSettings) -> DifficultyEstimate:
    """Run an estimator outside a graph (untraced), e.g. to fit a policy's thresholds.

    Replies get the same checks as in a graph.

    Raises:
        BackendError: If a model call fails.
    """

    def invoke(call: Call) -> Any:
        if isinstance(call, GenerateCall):
            return settle(call, call.generator.generate(call.requests))[0]
        return settle(call, call.verifier.score(call.question, call.solutions))[0]

    return run_logic(estimator.estimate(settings), invoke)


async def arun_estimate(
    estimator: DifficultyEstimator, settings: ProbeSettings
) -> DifficultyEstimate:
    """Async twin of :func:`run_estimate`."""

    async def ainvoke(call: Call) -> Any:
        if isinstance(call, GenerateCall):
            return settle(call, await call.generator.agenerate(call.requests))[0]
        return settle(call, await call.verifier.ascore(call.question, call.solutions))[0]

    return await arun_logic(estimator.estimate(settings), ainvoke)
