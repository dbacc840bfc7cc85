"""Plain, serialisable data shared by every part of langgraph-ttc.

Everything here crosses checkpoints and the wire: candidates and usage are
``TypedDict``s of plain values, strategy configs are frozen dataclasses with
``to_dict``/``from_dict``. Model handles never live here.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import asdict, dataclass, fields
from typing import Any, Literal, NotRequired, Protocol, cast, get_args, runtime_checkable

from typing_extensions import TypedDict

ChatMessage = dict[str, str]
Prompt = str | list[ChatMessage]
Status = Literal[
    "running", "done", "budget_exhausted", "deadline", "partial", "backend_error", "no_candidates"
]
Fold = Literal["last", "min", "prod", "mean"]


# --------------------------------------------------------------------------- generation


@dataclass(frozen=True)
class GenerationRequest:
    """One prompt to sample from.

    Attributes:
        prompt: Raw text, or chat messages rendered by the backend's template.
        prefix: A partial assistant answer to continue (step-level search).
        n: Number of samples.
        max_tokens: Cap on generated tokens per sample.
        temperature: 0 means greedy.
        stop: Strings that end a sample; the text ends before the stop string.
        seed: Seed for this request; adapters derive per-sample seeds from it.
        logprobs: Ask for each generated token's log-probability (adapters
            that can give them fill ``Completion.logprobs``; others leave it
            ``None``).
        top_logprobs: Also ask for the ``top_logprobs`` most likely tokens at
            each generated position with their log-probabilities (0: none);
            adapters that can give them fill ``Completion.top_logprobs``.
    """

    prompt: Prompt
    prefix: str = ""
    n: int = 1
    max_tokens: int = 256
    temperature: float = 0.8
    top_p: float = 1.0
    stop: tuple[str, ...] = ()
    seed: int | None = None
    logprobs: bool = False
    top_logprobs: int = 0

    def __post_init__(self) -> None:
        if isinstance(self.prompt, str):
            if not self.prompt.strip():
                raise ValueError("prompt must be a non-empty string or message list")
        elif not isinstance(self.prompt, list) or not self.prompt:
            raise TypeError(
                "prompt must be a str or a non-empty list of messages, "
                f"got {type(self.prompt).__name__}"
            )
        if not isinstance(self.n, int) or self.n < 1:
            raise ValueError(f"n must be a positive int, got {self.n!r}")
        if not isinstance(self.max_tokens, int) or self.max_tokens < 1:
            raise ValueError(f"max_tokens must be a positive int, got {self.max_tokens!r}")
        if not (self.temperature >= 0 and math.isfinite(self.temperature)):
            raise ValueError(f"temperature must be >= 0, got {self.temperature!r}")
        if isinstance(self.top_logprobs, bool) or not isinstance(self.top_logprobs, int):
            raise TypeError(f"top_logprobs must be an int, got {self.top_logprobs!r}")
        if not 0 <= self.top_logprobs <= 20:
            raise ValueError(f"top_logprobs must be in [0, 20], got {self.top_logprobs!r}")


@dataclass(frozen=True)
class Completion:
    """One sample from a generator.

    Attributes:
        text: The generated text only (not the prompt, not the prefix).
        finish_reason: ``"stop"`` (a stop string or EOS) or ``"length"``.
        prompt_tokens: Tokens the backend read for this sample (prompt + prefix).
        completion_tokens: Tokens it generated.
        logprobs: Per-token log-probabilities, where the backend gives them.
        top_logprobs: Per generated position, the most likely tokens (as text)
            and their log-probabilities, when the request asked for
            ``top_logprobs`` and the backend gives them.
    """

    text: str
    finish_reason: str
    prompt_tokens: int
    completion_tokens: int
    logprobs: tuple[float, ...] | None = None
    top_logprobs: tuple[dict[str, float], ...] | None = None


@runtime_checkable
class Generator(Protocol):
    """A backend that samples completions. See ``langgraph_ttc.models``.

    ``params`` is the parameter count when known (for FLOPs), else ``None``.
    """

    name: str
    params: int | None

    def generate(self, requests: Sequence[GenerationRequest]) -> list[list[Completion]]: ...

    async def agenerate(self, requests: Sequence[GenerationRequest]) -> list[list[Completion]]: ...


# --------------------------------------------------------------------------- verification


@dataclass(frozen=True)
class ScoreResult:
    """What a verifier returns for a batch of solutions.

    Attributes:
        steps: One list per solution: a score per step (process verifiers) or a
            single score (outcome verifiers), each in [0, 1].
        tokens: Tokens the verifier read, for the separate verifier account.
        flops: Estimated verifier FLOPs (0 when unknown).
    """

    steps: list[list[float]]
    tokens: int = 0
    flops: float = 0.0


@runtime_checkable
class Verifier(Protocol):
    """Scores solutions of a question. See ``langgraph_ttc.verifiers``."""

    name: str

    def score(self, question: str, solutions: Sequence[str]) -> ScoreResult: ...

    async def ascore(self, question: str, solutions: Sequence[str]) -> ScoreResult: ...


def fold_scores(step_scores: Sequence[float], fold: Fold = "last") -> float:
    """Fold per-step scores into one solution score.

    Args:
        step_scores: Scores in [0, 1], one per step.
        fold: ``last`` (the paper's best with soft labels), ``min``, ``prod`` or ``mean``.

    Raises:
        ValueError: On an empty list, a NaN score or an unknown fold.
    """
    if not step_scores:
        raise ValueError("step_scores is empty: the verifier returned no score")
    if any(not math.isfinite(s) for s in step_scores):
        raise ValueError(f"verifier returned a non-finite score: {list(step_scores)}")
    if fold == "last":
        return float(step_scores[-1])
    if fold == "min":
        return float(min(step_scores))
    if fold == "prod":
        return float(math.prod(step_scores))
    if fold == "mean":
        return float(sum(step_scores) / len(step_scores))
    raise ValueError(f"fold must be one of last, min, prod, mean; got {fold!r}")


# --------------------------------------------------------------------------- state data


class Candidate(TypedDict):
    """A full or partial solution in the state.

    ``id`` is unique in a run and stable across checkpoints. ``steps`` holds
    the solution cut at ``STEP_DELIMITER``; ``text`` is the same joined.
    ``score`` is ``None`` until the verifier has seen the current steps.
    """

    id: str
    text: str
    steps: list[str]
    done: bool
    answer: str | None
    score: float | None
    step_scores: list[float] | None
    parent: NotRequired[str | None]
    """The id of the candidate this one extends or revises."""
    slot: NotRequired[int | None]
    """Tree search: the frontier slot the path holds (``None`` once archived)."""
    round: NotRequired[int]
    """Tree search: the step round that made the path."""
    group: NotRequired[int]
    """Chain (revisions) or subtree (DVTS) index."""
    source: NotRequired[str]
    """probe, sample, beam, lookahead, dvts, particle, revision."""
    active: NotRequired[bool]
    """Still on the search frontier."""
    logprob: NotRequired[float | None]
    """Mean token log-probability of the text, where the backend gave them."""


class Usage(TypedDict):
    """Compute spent. Verifier compute is kept apart from generator compute."""

    generations: float
    prompt_tokens: int
    generated_tokens: int
    flops: float
    verifier_calls: int
    verifier_tokens: int
    verifier_flops: float
    wall_time_s: float


def empty_usage() -> Usage:
    """A zero ``Usage``."""
    return Usage(
        generations=0.0,
        prompt_tokens=0,
        generated_tokens=0,
        flops=0.0,
        verifier_calls=0,
        verifier_tokens=0,
        verifier_flops=0.0,
        wall_time_s=0.0,
    )


def add_usage(left: Usage | None, right: Usage | None) -> Usage:
    """Reducer: field-wise sum of two ``Usage`` records."""
    out: dict[str, Any] = dict(empty_usage())
    for part in (left, right):
        for key, value in (part or {}).items():
            out[key] = out.get(key, 0) + value
    return cast(Usage, out)


# --------------------------------------------------------------------------- budgets


@dataclass(frozen=True)
class Budget:
    """A hard cap on a run's compute. ``None`` fields are unlimited.

    Generations follow the paper's unit: one full solution, or one path of a
    tree search (beam search over N beams costs N, lookahead N x (k+1)).
    Tokens and FLOPs count generator compute exactly; verifier compute is
    reported but capped only by ``verifier_tokens``.
    """

    generations: float | None = None
    tokens: int | None = None
    flops: float | None = None
    verifier_tokens: int | None = None
    deadline_s: float | None = None

    def __post_init__(self) -> None:
        for f in fields(self):
            value = getattr(self, f.name)
            if value is None:
                continue
            if isinstance(value, bool) or not isinstance(value, int | float):
                raise TypeError(f"budget.{f.name} must be a number, got {type(value).__name__}")
            if not value > 0:
                raise ValueError(f"budget.{f.name} must be > 0, got {value!r}")

    def exhausted(self, usage: Usage) -> str | None:
        """Name the first cap that ``usage`` has reached, or ``None``."""
        if self.generations is not None and usage["generations"] >= self.generations - 1e-9:
            return "generations"
        if self.tokens is not None and usage["generated_tokens"] >= self.tokens:
            return "tokens"
        if self.flops is not None and usage["flops"] >= self.flops:
            return "flops"
        if self.verifier_tokens is not None and usage["verifier_tokens"] >= self.verifier_tokens:
            return "verifier_tokens"
        return None

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Budget:
        return cls(**data)


# --------------------------------------------------------------------------- strategies

StrategyName = Literal[
    "greedy",
    "majority",
    "best_of_n",
    "beam",
    "lookahead",
    "dvts",
    "revise",
    "adaptive",
    "particle_filter",
]
STRATEGIES: tuple[str, ...] = get_args(StrategyName)
"""Every strategy name, in ``StrategyName``'s order."""
Selection = Literal["weighted", "majority", "max", "confidence"]
SELECTIONS: tuple[str, ...] = ("weighted", "majority", "max", "confidence")
"""``confidence`` weights each sample by its own mean token probability (no verifier)."""
ProbeUse = Literal["auto", "samples", "chains", "none"]
PROBE_USES: tuple[str, ...] = ("auto", "samples", "chains", "none")
"""How a plan adopts the router's probes (``StrategyConfig.probes``)."""

# What each strategy needs, declared once: the router, the graph builders and
# the ``prepare`` node all read these.
NEEDS_VERIFIER: frozenset[str] = frozenset(
    {"best_of_n", "beam", "lookahead", "dvts", "particle_filter"}
)
"""Strategies that rank candidates with a verifier (best-of-N unless it votes by majority)."""
STEP_LEVEL: frozenset[str] = frozenset({"beam", "lookahead", "dvts", "particle_filter"})
"""Strategies that search over steps: they need a verifier for partial solutions."""
_BEAM_WIDTH_SEARCHES = frozenset({"beam", "lookahead", "dvts"})
"""Step-level searches whose ``n`` must be a multiple of ``beam_width``."""
DEFAULT_PROBE_USE: dict[str, str] = {
    "majority": "samples",
    "best_of_n": "samples",
    "revise": "chains",
    "adaptive": "samples",
}
"""What ``probes="auto"`` means per strategy; a strategy not named here adopts no probe."""


@dataclass(frozen=True)
class StrategyConfig:
    """A strategy and its settings: what the router's ``plan`` holds.

    Attributes:
        strategy: One of ``STRATEGIES``.
        n: Generations (best-of-N samples, beams, or revision budget).
        beam_width: M, the expansions per kept beam (beam, lookahead, DVTS).
        lookahead: k, greedy steps rolled out before scoring (lookahead).
        max_rounds: Cap on step rounds in tree search.
        sequential: Revision chain length; ``n // sequential`` chains run in parallel.
        selection: How ``select`` aggregates: ``weighted``, ``majority``,
            ``max``, or ``confidence`` (each sample weighted by the model's own
            mean token probability, ``exp(mean logprob)``; no verifier).
        fold: How step scores fold into a solution score.
        temperature: Sampling temperature.
        probes: Which router probes the plan adopts: ``samples`` (each finished
            probe counts as a sample of the final vote), ``chains`` (revisions:
            the first ``n // sequential`` probes start the chains, the rest
            are left out), ``none`` (no probe takes part), or ``auto`` (the
            strategy's own default, ``DEFAULT_PROBE_USE``: samples for
            majority and best-of-N, chains for revisions, none otherwise).
        round_size: Adaptive sampling: samples drawn per round.
        stop_share: Adaptive sampling: stop once the leading answer holds at
            least this share of the vote (weighted with a verifier, else plain).
        stop_confidence: Adaptive sampling: when > 0, stop instead once the
            posterior probability that the leading answer is more likely than
            the runner-up reaches it (adaptive-consistency's Beta rule;
            ``stop_share`` is then unused).
        give_up_after: Adaptive sampling: after this many votes, also stop when
            the leader still holds less than ``give_up_share`` of the vote (a
            question whose votes will not settle; 0 never gives up).
        give_up_share: Adaptive sampling: see ``give_up_after``.
        pf_temperature: Particle filtering: temperature of the particle weights
            ``softmax(score / pf_temperature)`` (> 0; low lets the best
            particle dominate, high resamples nearly uniformly).
    """

    strategy: str = "best_of_n"
    n: int = 16
    beam_width: int = 4
    lookahead: int = 0
    max_rounds: int = 40
    sequential: int = 4
    selection: str = "weighted"
    fold: str = "last"
    temperature: float = 0.8
    probes: str = "auto"
    round_size: int = 4
    stop_share: float = 0.75
    pf_temperature: float = 1.0
    stop_confidence: float = 0.0
    give_up_after: int = 0
    give_up_share: float = 0.4

    def __post_init__(self) -> None:
        if self.strategy not in STRATEGIES:
            raise ValueError(
                f"strategy must be one of {', '.join(STRATEGIES)}; got {self.strategy!r}"
            )
        for name in ("n", "beam_width", "max_rounds", "sequential", "round_size"):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, int) or value < 1:
                raise ValueError(f"{name} must be a positive int, got {value!r}")
        if (
            isinstance(self.lookahead, bool)
            or not isinstance(self.lookahead, int)
            or self.lookahead < 0
        ):
            raise ValueError(f"lookahead must be an int >= 0, got {self.lookahead!r}")
        if self.selection not in SELECTIONS:
            raise ValueError(
                f"selection must be one of {', '.join(SELECTIONS)}; got {self.selection!r}"
            )
        if self.fold not in ("last", "min", "prod", "mean"):
            raise ValueError(f"fold must be last, min, prod or mean; got {self.fold!r}")
        share = self.stop_share
        if isinstance(share, bool) or not isinstance(share, int | float) or not 0 < share <= 1:
            raise ValueError(f"stop_share must be a number in (0, 1], got {share!r}")
        for name in ("stop_confidence", "give_up_share"):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, int | float) or not 0 <= value < 1:
                raise ValueError(f"{name} must be a number in [0, 1), got {value!r}")
        after = self.give_up_after
        if isinstance(after, bool) or not isinstance(after, int) or after < 0:
            raise ValueError(f"give_up_after must be an int >= 0, got {after!r}")
        temp = self.pf_temperature
        if (
            isinstance(temp, bool)
            or not isinstance(temp, int | float)
            or not (temp > 0 and math.isfinite(temp))
        ):
            raise ValueError(f"pf_temperature must be a finite number > 0, got {temp!r}")
        if self.probes not in PROBE_USES:
            raise ValueError(f"probes must be one of {', '.join(PROBE_USES)}; got {self.probes!r}")
        if self.probes == "chains" and self.strategy != "revise":
            raise ValueError(f"probes='chains' needs strategy 'revise', not {self.strategy!r}")
        if self.strategy in _BEAM_WIDTH_SEARCHES and self.n % self.beam_width:
            raise ValueError(
                f"n ({self.n}) must be a multiple of beam_width ({self.beam_width}) "
                f"for {self.strategy}"
            )

    @property
    def probe_use(self) -> str:
        """How the plan adopts probes, ``auto`` resolved: ``samples``, ``chains`` or ``none``."""
        if self.probes != "auto":
            return self.probes
        return DEFAULT_PROBE_USE.get(self.strategy, "none")

    @property
    def generations(self) -> int:
        """The plan's cost in the paper's unit."""
        if self.strategy == "greedy":
            return 1
        if self.strategy == "lookahead":
            return self.n * (self.lookahead + 1)
        return self.n

    def requirement_error(self, *, has_verifier: bool) -> str | None:
        """Why this plan cannot run with (or without) a verifier, or ``None`` if it can."""
        if not has_verifier:
            if self.strategy in STEP_LEVEL:
                return (
                    f"strategy {self.strategy!r} needs a verifier (a PRM) to rank partial solutions"
                )
            if self.strategy in NEEDS_VERIFIER and self.selection not in ("majority", "confidence"):
                return (
                    f"{self.strategy} with selection={self.selection!r} needs a verifier; "
                    "pass one, or use strategy='majority'"
                )
        if self.strategy == "revise" and self.n < self.sequential:
            return f"revise needs n >= sequential, got n={self.n}, sequential={self.sequential}"
        return None

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> StrategyConfig:
        known = {f.name for f in fields(cls)}
        unknown = set(data) - known
        if unknown:
            raise ValueError(f"unknown strategy config fields: {sorted(unknown)}")
        return cls(**data)
