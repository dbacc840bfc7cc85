"""Turning a policy's choice into a plan the graph can run.

Two adjustments sit between ``ComputePolicy.lookup`` and the strategy:

* ``fit_plan`` shrinks a config so that it costs no more than the budget
  left after the probes (compute already spent is counted, never ignored);
* ``available_plan`` swaps a strategy the graph cannot run (no verifier, no
  reviser, or left out of ``strategies``) for the nearest one it can.
"""

from __future__ import annotations

import math
from collections.abc import Collection
from dataclasses import replace

from langgraph_ttc.types import NEEDS_VERIFIER, StrategyConfig

# Nearest substitutes, best first. Every chain ends in majority, which needs
# only a generator, and greedy for a single generation.
_FALLBACKS: dict[str, tuple[str, ...]] = {
    "lookahead": ("beam", "dvts", "best_of_n", "majority", "greedy"),
    "beam": ("dvts", "best_of_n", "majority", "greedy"),
    "dvts": ("beam", "best_of_n", "majority", "greedy"),
    "revise": ("best_of_n", "majority", "greedy"),
    "best_of_n": ("majority", "greedy"),
    "majority": ("best_of_n", "greedy"),
    "greedy": ("majority", "best_of_n"),
    "adaptive": ("majority", "best_of_n", "greedy"),
    "particle_filter": ("beam", "dvts", "best_of_n", "majority", "greedy"),
}


def _width_for(n: int, beam_width: int) -> int:
    """The largest expansion width up to ``beam_width`` that divides ``n``."""
    return max(d for d in range(1, min(n, beam_width) + 1) if n % d == 0)


def fit_plan(config: StrategyConfig, generations: int) -> StrategyConfig | None:
    """Shrink ``config`` so that its cost is at most ``generations``.

    Only shrinks: a plan that already fits is returned unchanged. Tree
    searches keep ``n`` a multiple of ``beam_width`` (narrowing the expansions
    when fewer than ``beam_width`` generations are left); lookahead that cannot
    afford one full beam drops to plain beam search; revisions keep
    ``sequential <= n``.

    Args:
        config: The policy's choice.
        generations: Generations left for the strategy.

    Returns:
        The fitted config, or ``None`` when ``generations < 1``.
    """
    if generations < 1:
        return None
    if config.generations <= generations:
        return config
    strategy = config.strategy
    if strategy == "lookahead":
        per_path = config.lookahead + 1
        n = (generations // per_path) // config.beam_width * config.beam_width
        if n >= config.beam_width:
            return replace(config, n=n)
        return fit_plan(replace(config, strategy="beam", lookahead=0), generations)
    if strategy in ("beam", "dvts"):
        n = generations // config.beam_width * config.beam_width
        if n >= config.beam_width:
            return replace(config, n=n)
        if generations >= 2:
            # One kept prefix, expanded `generations` ways.
            return replace(config, n=generations, beam_width=generations)
        return replace(config, strategy="best_of_n", n=1)
    if strategy == "revise":
        return replace(config, n=generations, sequential=min(config.sequential, generations))
    return replace(config, n=generations)


def total_cost(plan: StrategyConfig, probes: int) -> int:
    """Generations a run spends on ``probes`` probes plus ``plan``.

    The strategies reuse the probes their plan adopts (``StrategyConfig.probe_use``;
    ``strategies/best_of_n.py``, ``strategies/revision.py``): best-of-N and
    majority count finished probes as samples, revisions use them as first
    attempts of their chains; greedy, the tree searches and any plan that
    adopts none draw their own, so the probes come on top.
    """
    use = plan.probe_use
    if use == "samples" and plan.strategy in ("best_of_n", "majority", "adaptive"):
        return max(plan.n, probes)
    if use == "chains":
        chains = plan.n // plan.sequential
        return plan.n + max(0, probes - chains)
    return plan.generations + probes


def fit_after_probes(config: StrategyConfig, generations: float, probes: int) -> StrategyConfig:
    """Shrink ``config`` so that probes + plan cost at most ``generations``.

    Args:
        config: The plan wanted.
        generations: Generations left before the probes were drawn.
        probes: Probes drawn (already spent).

    Returns:
        The largest shrink of ``config`` (by ``fit_plan``) that fits; a
        one-generation plan when nothing fits (the strategy then stops on the
        budget and selects among the probes).
    """
    limit = math.floor(generations + 1e-9)
    target = limit
    while target >= 1:
        plan = fit_plan(config, target)
        if plan is None:
            break
        if total_cost(plan, probes) <= limit:
            return plan
        target = min(target, plan.generations) - 1
    return fit_plan(config, 1) or config


def available_plan(
    config: StrategyConfig,
    available: Collection[str],
    *,
    has_verifier: bool,
) -> StrategyConfig:
    """``config``, or the nearest strategy in ``available`` the graph can run.

    Without a verifier, a substitute selects by majority vote.

    Args:
        config: The desired plan.
        available: Strategy names the graph has nodes for.
        has_verifier: Whether a verifier is configured.

    Raises:
        ValueError: If no strategy in the fallback chain is available.
    """
    for name in (config.strategy, *_FALLBACKS[config.strategy]):
        if name not in available or (name in NEEDS_VERIFIER and not has_verifier):
            continue
        if name == config.strategy:
            return config
        selection = config.selection if has_verifier else "majority"
        # Tree searches only stand in for each other; particle filtering's n need
        # not be a multiple of beam_width, so a search standing in narrows M.
        width = config.beam_width
        if name in ("beam", "dvts", "lookahead"):
            width = _width_for(config.n, width)
        return replace(
            config,
            strategy=name,
            beam_width=width,
            selection="majority" if name == "majority" else selection,
            n=1 if name == "greedy" else config.n,
            lookahead=config.lookahead if name == "lookahead" else 0,
            probes="auto" if config.probes == "chains" else config.probes,
        )
    raise ValueError(
        f"no strategy can stand in for {config.strategy!r}: available are {sorted(available)}"
        + ("" if has_verifier else " and there is no verifier")
    )


def default_plan(strategy: str, budget: int, *, temperature: float = 0.8) -> StrategyConfig:
    """A sensible config of ``strategy`` that spends at most ``budget`` generations.

    Used when the caller forces a strategy (``ttc solve --strategy beam``)
    and when no policy applies. Tree searches expand ``M = 4`` per kept
    prefix (fewer when the budget is smaller); lookahead rolls out ``k = 1``
    step; revisions run chains of up to 4; particle filtering runs ``budget``
    particles.

    Raises:
        ValueError: For an unknown strategy or a budget < 1.
    """
    if isinstance(budget, bool) or not isinstance(budget, int) or budget < 1:
        raise ValueError(f"budget must be a positive int (generations), got {budget!r}")
    width = 4
    wide = {
        "greedy": StrategyConfig("greedy", n=1, temperature=0.0),
        "majority": StrategyConfig("majority", n=budget, selection="majority"),
        "best_of_n": StrategyConfig("best_of_n", n=budget),
        "beam": StrategyConfig("beam", n=width * budget, beam_width=width),
        "dvts": StrategyConfig("dvts", n=width * budget, beam_width=width),
        "lookahead": StrategyConfig("lookahead", n=width * budget, beam_width=width, lookahead=1),
        "revise": StrategyConfig("revise", n=budget, sequential=min(4, budget)),
        "adaptive": StrategyConfig("adaptive", n=budget, round_size=min(4, budget)),
        "particle_filter": StrategyConfig("particle_filter", n=budget),
    }
    if strategy not in wide:
        raise ValueError(f"strategy must be one of {', '.join(wide)}; got {strategy!r}")
    plan = fit_plan(wide[strategy], budget)
    assert plan is not None  # budget >= 1
    if strategy != "greedy":
        plan = replace(plan, temperature=temperature)
    return plan
