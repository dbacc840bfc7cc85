"""What a policy was fitted for, and the generic policy the router uses for other models.

A fitted ``ComputePolicy`` holds choices measured on one generator with one
verifier: its thresholds are quantiles of *that* verifier's scores, its
table the arms that paid off for *that* generator. Its ``fitted_for`` field
names them by fingerprint (:func:`model_fingerprint`)::

    "fitted_for": {
      "generator": "TransformersGenerator:policy-small@1770a4ce11c0",
      "verifier": "TransformersLikelihoodVerifier:policy-large@45f29758199b"
    }

:func:`check_policy` compares it with the models a graph runs. When they
differ, the router runs the **generic policy** (:func:`generic_policy`)
instead and says so (``PolicyCheck.metadata``): it needs no fit, draws no
probes (bins fitted on another verifier's scores mean nothing here) and
spends the budget on adaptive sampling (``strategy="adaptive"``, ``n`` the
budget, rounds of 4, stop at a 0.75 share of the vote, weighted when there
is a verifier), greedy decoding below 4 generations. Self-consistency is
the one test-time method that helps nearly every model, and stopping when
the votes agree keeps it from wasting a budget nobody fitted.

A policy without ``fitted_for`` (written by hand, or older) runs as given,
with ``fitted: "unknown"``. To route your own models by difficulty, fit a
policy on them (``ttc bench --data ... && ttc fit-policy``), which records
their fingerprints, and pass it (``policy=``, ``ttc solve --policy``).
"""

from __future__ import annotations

import hashlib
import os
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from langgraph_ttc.router.policy import NUM_BINS, ComputePolicy
from langgraph_ttc.types import StrategyConfig

__all__ = [
    "FITTED_ROLES",
    "GENERIC_DESCRIPTION",
    "PolicyCheck",
    "check_policy",
    "generic_policy",
    "model_fingerprint",
    "run_models",
]

FITTED_ROLES = ("generator", "verifier")
"""The roles a policy's ``fitted_for`` may name."""

GENERIC_DESCRIPTION = (
    "Generic policy for models no policy was fitted on: no probes; greedy below 4 "
    "generations, else adaptive sampling with the budget as its cap (rounds of 4, stop "
    "at a 0.75 share of the vote, weighted by the verifier when there is one)."
)
_KEYS = (1, 2, 4, 8, 16, 32, 64, 128, 256)


def model_fingerprint(model: object | None) -> str | None:
    """A short name that tells one model apart from another, or ``None`` for no model.

    ``<adapter class>:<folder name>@<first 12 hex digits of the SHA-256 of
    its config.json>`` for a model loaded from a local folder (the
    ``TransformersGenerator`` and the local verifiers), else ``<adapter
    class>:<name>`` (an endpoint's model name, a test double's name). A
    wrapper that keeps the wrapped adapter as ``inner`` (recorders, timers) is
    seen through. Reads one small file, at graph build time.

    Args:
        model: A generator or verifier, or ``None``.
    """
    if model is None:
        return None
    # Wrappers that record or time calls are the same model underneath.
    for _ in range(8):
        inner = getattr(model, "inner", None)
        if inner is None:
            break
        model = inner
    kind = type(model).__name__
    # The local adapters keep their folder in ``_source`` (see models/transformers.py).
    source = getattr(model, "source", None) or getattr(model, "_source", None)
    if isinstance(source, str | os.PathLike):
        config = Path(source) / "config.json"
        if config.is_file():
            digest = hashlib.sha256(config.read_bytes()).hexdigest()[:12]
            return f"{kind}:{Path(source).resolve().name}@{digest}"
    return f"{kind}:{getattr(model, 'name', '') or kind}"


def run_models(generator: object, verifier: object | None) -> dict[str, str | None]:
    """The fingerprints of a run's models, as ``fitted_for`` names them."""
    return {"generator": model_fingerprint(generator), "verifier": model_fingerprint(verifier)}


def generic_policy() -> ComputePolicy:
    """The policy for models no policy was fitted on (see the module docstring)."""
    row: dict[int, StrategyConfig] = {}
    for key in _KEYS:
        if key < 4:
            row[key] = StrategyConfig("greedy", n=1, temperature=0.0)
        else:
            row[key] = StrategyConfig("adaptive", n=key, round_size=4, stop_share=0.75)
    return ComputePolicy(
        thresholds=(0.8, 0.6, 0.4, 0.2),
        table={b: dict(row) for b in range(1, NUM_BINS + 1)},
        default_bin=3,
        description=GENERIC_DESCRIPTION,
        unprobed=dict(row),
    )


@dataclass(frozen=True)
class PolicyCheck:
    """The policy a graph runs, and why.

    Attributes:
        policy: The policy in force: the one given, or the generic one.
        fitted: ``"yes"`` (the given policy was fitted on these models),
            ``"no"`` (it was fitted on others: the generic policy runs), or
            ``"unknown"`` (it names no models: it runs as given).
        models: The run's model fingerprints (see :func:`run_models`).
        fitted_for: What the given policy names, if anything.
        reason: One line saying which model differs, or ``""``.
    """

    policy: ComputePolicy
    fitted: str
    models: Mapping[str, str | None]
    fitted_for: Mapping[str, str | None] | None = None
    reason: str = ""
    metadata: dict[str, Any] = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        object.__setattr__(
            self,
            "metadata",
            {
                "policy": "generic" if self.fitted == "no" else "given",
                "fitted": self.fitted,
                "models": dict(self.models),
                "fitted_for": None if self.fitted_for is None else dict(self.fitted_for),
                "reason": self.reason,
            },
        )


def check_policy(policy: ComputePolicy, generator: object, verifier: object | None) -> PolicyCheck:
    """Compare ``policy.fitted_for`` with the run's models; choose the policy in force.

    Args:
        policy: The policy given (or the shipped default).
        generator: The run's generator.
        verifier: The run's verifier, or ``None``.

    Returns:
        A :class:`PolicyCheck`; its ``metadata`` is what the router reports.
    """
    models = run_models(generator, verifier)
    if policy.fitted_for is None:
        return PolicyCheck(policy, "unknown", models)
    differ = [
        f"{role} {models[role]!r} (fitted for {wanted!r})"
        for role, wanted in policy.fitted_for.items()
        if models.get(role) != wanted
    ]
    if not differ:
        return PolicyCheck(policy, "yes", models, policy.fitted_for)
    reason = (
        "the policy was not fitted on this run's "
        + "; ".join(differ)
        + ": the generic policy runs (fit one with `ttc bench --data ... && ttc fit-policy`)"
    )
    return PolicyCheck(generic_policy(), "no", models, policy.fitted_for, reason)
