"""The model-call protocol: what node logic asks for, and the checks on what comes back.

Node logic never calls a model itself. It yields a :class:`GenerateCall` or a
:class:`ScoreCall`; the driver (:mod:`langgraph_ttc.engine.driver`) runs it,
sync or async and traced, counts what it cost, and sends back the checked
reply. So the sync and async bodies of every node are the same code.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from langgraph_ttc.models.openai_compat import identical_samples
from langgraph_ttc.types import Completion, GenerationRequest, Generator, ScoreResult, Verifier

__all__ = [
    "Call",
    "GenerateCall",
    "ScoreCall",
    "check_not_all_empty",
    "check_scores",
    "completions_of",
    "sample_warnings",
]


@dataclass(frozen=True)
class GenerateCall:
    """Ask ``generator`` for all ``requests`` in one batch (reply: ``list[list[Completion]]``).

    Attributes:
        generator: The backend.
        requests: Every request of the node, batched.
        run_name: The traced run's name (``beam_search/branch``).
        tags: Tags on the traced run.
        metadata: Metadata on the traced run.
        generations: What the call costs in the paper's unit; the driver adds
            it, with the tokens and FLOPs that come back, to the run's usage.
        role: Who the generator is, in an error message (``reviser``, ...).
    """

    generator: Generator
    requests: Sequence[GenerationRequest]
    run_name: str
    tags: Sequence[str] = ()
    metadata: Mapping[str, Any] = field(default_factory=dict)
    generations: float = 0.0
    role: str = "generator"

    @property
    def who(self) -> str:
        """The backend, as an error message names it."""
        return f"{self.role} {self.generator.name!r}"


@dataclass(frozen=True)
class ScoreCall:
    """Ask ``verifier`` to score all ``solutions`` in one batch (reply: ``ScoreResult``).

    The driver checks the result (one finite, non-empty list per solution) and
    counts it as verifier compute before the logic sees it.
    """

    verifier: Verifier
    question: str
    solutions: Sequence[str]
    run_name: str
    tags: Sequence[str] = ()
    metadata: Mapping[str, Any] = field(default_factory=dict)
    role: str = "verifier"

    @property
    def who(self) -> str:
        """The backend, as an error message names it."""
        return f"{self.role} {self.verifier.name!r}"


Call = GenerateCall | ScoreCall


def completions_of(reply: Any) -> list[list[Completion]]:
    """A generator reply, checked for shape.

    Raises:
        TypeError: Unless it is a ``list[list[Completion]]``.
    """
    if not isinstance(reply, list) or not all(isinstance(per, list) for per in reply):
        raise TypeError(f"generator returned {type(reply).__name__}, not list[list[Completion]]")
    return reply


def check_not_all_empty(completions: Sequence[Completion], generator: Generator) -> None:
    """Raise if every completion of a call came back empty: the backend is broken.

    Raises:
        ValueError: Naming the generator.
    """
    if completions and not any(c.text.strip() for c in completions):
        raise ValueError(
            f"generator {generator.name!r} returned empty text for all {len(completions)} "
            "samples of a call"
        )


def sample_warnings(call: GenerateCall, completions: Sequence[Sequence[Completion]]) -> list[str]:
    """Warnings about a generator reply that is well-formed but suspicious.

    Today one: all samples of a request at ``temperature > 0`` are the same long
    text, which is what a backend (or a proxy) repeating one seed returns.
    Meant for the run's state, beside ``error``.
    """
    return [
        f"{call.who} returned {len(got)} identical samples for request {k} at temperature "
        f"{req.temperature}: a repeated seed?"
        for k, (req, got) in enumerate(zip(call.requests, completions, strict=False))
        if identical_samples(req, got)
    ]


def check_scores(verifier: Verifier, result: object, count: int) -> list[list[float]]:
    """A verifier's step scores, checked: one non-empty finite list per solution.

    Raises:
        TypeError: If the result is not a ``ScoreResult``.
        ValueError: On a wrong count, an empty list or a NaN/infinite score,
            naming the verifier.
    """
    if not isinstance(result, ScoreResult):
        raise TypeError(
            f"verifier {verifier.name!r} returned {type(result).__name__}, not ScoreResult"
        )
    if len(result.steps) != count:
        raise ValueError(
            f"verifier {verifier.name!r} returned {len(result.steps)} score lists "
            f"for {count} solutions"
        )
    for i, steps in enumerate(result.steps):
        if not steps:
            raise ValueError(f"verifier {verifier.name!r} returned no score for solution {i}")
        if any(not isinstance(s, int | float) or not math.isfinite(s) for s in steps):
            raise ValueError(
                f"verifier {verifier.name!r} returned a non-finite score for solution {i}: {steps}"
            )
    return [[float(s) for s in steps] for steps in result.steps]
