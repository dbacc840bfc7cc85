"""The embedded default: the bundled models as a generator, a verifier and a reviser.

``load_bundled`` is what ``ttc solve`` with no model options, ``ChatTTC()``
and ``graphs/ttc.py`` run on: the suite's ``policy-small`` samples,
``policy-large`` checks each step by the likelihood it gives the step's
tokens (:func:`bundled_verifier`), ``reviser`` writes revisions. A verifier
larger than the policy is the usual real setup; its compute is counted
apart, as verifier compute. The step-tag ``prm`` stays in the suite as the
fixture of the Math-Shepherd format (``TransformersPRM``). Everything loads lazily (the
adapters load weights on first use) and is cached per device, so repeated
calls share one copy of each model; concurrent graph runs on them (a
server, ``graph.abatch``) share forward passes (``models.coalesce``).

On CPU the bundled models run on one torch thread
(:func:`~langgraph_ttc.models.threads.choose_threads`: they are far below
100M parameters, and torch's default of a thread per core collapses when
another process is busy); ``TTC_TORCH_THREADS`` or ``OMP_NUM_THREADS`` set
another count.
"""

from __future__ import annotations

import functools
from typing import NamedTuple, cast

from langgraph_ttc.models.errors import require_local
from langgraph_ttc.suite.modeling import bundled_model_path
from langgraph_ttc.types import Generator, Verifier

__all__ = ["BundledModels", "bundled_available", "bundled_verifier", "load_bundled"]


class BundledModels(NamedTuple):
    """The three bundled roles."""

    generator: Generator
    verifier: Verifier
    reviser: Generator


def bundled_available() -> bool:
    """Whether the bundled policy, verifier model and reviser are all installed."""
    try:
        for name in ("policy-small", "policy-large", "reviser"):
            bundled_model_path(name)
    except FileNotFoundError:
        return False
    return True


def bundled_verifier(device: str | None = None) -> Verifier:
    """The bundled default verifier: ``policy-large``'s likelihood of each step, minimum over steps.

    It ranks ``policy-small``'s solutions to a question far better than the
    step-tag ``prm`` does (see ``suite/models/metrics.json``, ``verifiers``),
    with no training of its own. Loaded in float32: bf16 matmuls are slow on CPUs.

    Args:
        device: Torch device; CUDA when available, else CPU.
    """
    from langgraph_ttc.verifiers import TransformersLikelihoodVerifier

    return TransformersLikelihoodVerifier(
        bundled_model_path("policy-large"),
        step_fold="min",
        dtype="float32",
        device=device,
        name="policy-large-likelihood",
    )


@functools.lru_cache(maxsize=4)
def load_bundled(device: str | None = None) -> BundledModels:
    """The bundled models, ready to hand to ``create_ttc_graph``.

    Args:
        device: Torch device for all three; CUDA when available, else CPU.

    Returns:
        ``(generator, verifier, reviser)``: ``policy-small``, the likelihood of
        ``policy-large`` (:func:`bundled_verifier`) and ``reviser``.

    Raises:
        FileNotFoundError: If a bundled model is missing from the installation;
            the message says which, and how to run without it.
        ImportError: Without torch and transformers, naming
            ``pip install 'langgraph-ttc[local]'``.
    """
    require_local("the bundled models")
    # Imported here: the adapters pull in torch and transformers.
    from langgraph_ttc.models import TransformersGenerator

    try:
        policy = bundled_model_path("policy-small")
        bundled_model_path("policy-large")
        reviser = bundled_model_path("reviser")
    except FileNotFoundError as exc:
        raise FileNotFoundError(
            f"{exc}; the bundled models ship with the package (langgraph_ttc/suite/models). "
            "Train them with `python -m langgraph_ttc.training`, or pass your own models."
        ) from exc
    # cast: Generator declares params as an attribute, the adapter as a (lazy) property.
    return BundledModels(
        generator=cast(
            Generator, TransformersGenerator(policy, device=device, name="policy-small")
        ),
        verifier=bundled_verifier(device),
        reviser=cast(Generator, TransformersGenerator(reviser, device=device, name="reviser")),
    )
