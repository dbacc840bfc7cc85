"""Particle filtering over steps, the PRM as the likelihood (Puri et al. 2025).

"A Probabilistic Inference Approach to Inference-Time Scaling of LLMs using
Particle-Based Monte Carlo Methods". The whole rule: N particles (partial
solutions) each sample a first step; every round, each live particle is
weighted by ``softmax(score / pf_temperature)`` over the live particles
(:func:`particle_weights`; ``score`` is the particle's PRM score folded with
the plan's ``fold``, by default ``last``: the newest step's score), as many
particles as are live are drawn from them in proportion to those weights
(multinomial, :func:`resample`, seeded with
``derive_seed(context.seed, "resample", round, 0)``), and each draw is
extended by one step. A particle drawn k times fills k slots
(:func:`particle_expand`); one drawn never leaves the frontier
(:func:`keep_particles`). Finished particles are set aside and keep their
slots; the search ends when all have finished or at ``max_rounds`` (the last
round runs each particle to its end). The final pick is the plan's
``selection`` over the finished solutions. Costs N generations: each slot is
paid once, when it opens; extending a particle costs tokens only.

Low ``pf_temperature`` makes the best particle dominate (beam-like); high
makes the draw uniform (independent sampling). The loop itself is
:mod:`langgraph_ttc.strategies.tree`.
"""

from __future__ import annotations

import math
import random
from collections.abc import Sequence

from typing_extensions import Unpack

from langgraph_ttc.engine.settings import derive_seed
from langgraph_ttc.strategies.graph import StrategyGraph
from langgraph_ttc.strategies.tree import SearchOptions, TreeSearch
from langgraph_ttc.types import Candidate, Generator, StrategyConfig

__all__ = [
    "PARTICLES",
    "create_particle_filter_graph",
    "draw_particles",
    "keep_particles",
    "particle_expand",
    "particle_weights",
    "resample",
]


def particle_weights(scores: Sequence[float], temperature: float) -> list[float]:
    """Normalised weights ``softmax(score / temperature)`` (numerically stable)."""
    if not scores:
        return []
    if not temperature > 0:
        raise ValueError(f"temperature must be > 0, got {temperature!r}")
    top = max(scores)
    raw = [math.exp((s - top) / temperature) for s in scores]
    total = sum(raw)
    return [w / total for w in raw]


def resample(weights: Sequence[float], count: int, seed: int) -> list[int]:
    """Multinomial resampling: how many of ``count`` draws each weight gets.

    A pure function of its arguments (``random.Random(seed)``).
    """
    if not weights or count < 1:
        return [0] * len(weights)
    picks = random.Random(seed).choices(range(len(weights)), weights=weights, k=count)
    counts = [0] * len(weights)
    for i in picks:
        counts[i] += 1
    return counts


def _live(frontier: Sequence[Candidate]) -> tuple[list[Candidate], int]:
    """The unfinished particles of the newest round, and that round.

    ``prune`` marks undrawn particles inactive before ``branch`` reads the
    frontier, so liveness is read from ``done`` and ``round``, not ``active``;
    a slot a cut-short round left unfilled (an older round) is not live.
    """
    open_ = [c for c in frontier if not c.get("done")]
    if not open_:
        return [], 0
    current = max(c.get("round", 0) for c in open_)
    return [c for c in open_ if c.get("round", 0) == current], current


def draw_particles(
    frontier: Sequence[Candidate], plan: StrategyConfig, seed: int
) -> list[tuple[Candidate, int]]:
    """The live particles drawn this round, in slot order, each with its draw count.

    As many draws as live particles; deterministic given the run's ``seed``
    and the frontier (``keep`` and ``expand`` both call it and agree).
    """
    live, round_ = _live(frontier)
    weights = particle_weights([c.get("score") or 0.0 for c in live], plan.pf_temperature)
    counts = resample(weights, len(live), derive_seed(seed, "resample", round_, 0))
    return [(c, k) for c, k in zip(live, counts, strict=True) if k > 0]


def keep_particles(
    frontier: Sequence[Candidate], done: Sequence[Candidate], plan: StrategyConfig, seed: int = 0
) -> list[Candidate]:
    """The keep rule: each drawn particle, repeated as often as it was drawn."""
    return [c for c, k in draw_particles(frontier, plan, seed) for _ in range(k)]


def particle_expand(
    frontier: Sequence[Candidate], plan: StrategyConfig, seed: int = 0
) -> list[tuple[Candidate, list[int]]]:
    """Each drawn particle with the live slots its k children refill, in slot order."""
    live, _ = _live(frontier)
    free = sorted(slot for c in live if (slot := c.get("slot")) is not None)
    out, start = [], 0
    for parent, k in draw_particles(frontier, plan, seed):
        out.append((parent, free[start : start + k]))
        start += k
    return out


PARTICLES = TreeSearch(
    "particle",
    StrategyConfig("particle_filter"),
    "create_particle_filter_graph",
    keep_particles,
    particle_expand,
)


def create_particle_filter_graph(
    generator: Generator, **options: Unpack[SearchOptions]
) -> StrategyGraph:
    """Build particle filtering over steps (lines by default), the PRM score as the likelihood.

    The answer is the plan's ``selection`` (weighted best-of-N unless set)
    over the particles that finished; N generations in all.

    Args:
        generator: The policy model.
        verifier: The process reward model whose folded step score weighs
            each particle (``config.fold``). Required.
        config: The default plan: ``n`` particles weighted at
            ``pf_temperature`` (default N=16, temperature 1, 40 rounds).
        extract_answer, prompt, name, step_delimiter: As for every tree search
            (:class:`~langgraph_ttc.strategies.tree.SearchOptions`).

    Raises:
        TypeError, ValueError: For a config of another strategy or no verifier.
    """
    return PARTICLES.create(generator, options)
