"""The embedded default: the bundled models as a generator, a verifier and a reviser.

``load_bundled`` is what ``ttc solve`` with no model options, ``ChatTTC()``
and ``graphs/ttc.py`` run on: the suite's ``policy-small`` samples, ``prm``
scores steps, ``reviser`` writes revisions. Everything loads lazily (the
adapters load weights on first use) and is cached per device, so repeated
calls share one copy of each model.
"""

from __future__ import annotations

import functools
from typing import NamedTuple, cast

from langgraph_ttc.suite.modeling import bundled_model_path
from langgraph_ttc.types import Generator, Verifier

__all__ = ["BundledModels", "bundled_available", "load_bundled"]


class BundledModels(NamedTuple):
    """The three bundled roles."""

    generator: Generator
    verifier: Verifier
    reviser: Generator


def bundled_available() -> bool:
    """Whether the bundled policy, PRM and reviser are all installed."""
    try:
        for name in ("policy-small", "prm", "reviser"):
            bundled_model_path(name)
    except FileNotFoundError:
        return False
    return True


@functools.lru_cache(maxsize=4)
def load_bundled(device: str | None = None) -> BundledModels:
    """The bundled models, ready to hand to ``create_ttc_graph``.

    Args:
        device: Torch device for all three; CUDA when available, else CPU.

    Returns:
        ``(generator, verifier, reviser)``: ``policy-small``, ``prm`` and ``reviser``.

    Raises:
        FileNotFoundError: If a bundled model is missing from the installation;
            the message says which, and how to run without it.
    """
    # Imported here: the adapters pull in torch and transformers.
    from langgraph_ttc.models import TransformersGenerator
    from langgraph_ttc.verifiers import TransformersPRM

    try:
        policy = bundled_model_path("policy-small")
        prm = bundled_model_path("prm")
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
        verifier=TransformersPRM(prm, device=device, name="prm"),
        reviser=cast(Generator, TransformersGenerator(reviser, device=device, name="reviser")),
    )
