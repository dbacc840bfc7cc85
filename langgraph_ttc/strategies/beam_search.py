"""Beam search against a process reward model (Snell et al. 2024, section 5).

The whole rule: sample N first steps and score them with the PRM; keep the
top N/M unfinished paths (:func:`keep_beams`) and extend each by M sampled
next steps (:func:`beam_expand`), so the frontier holds N paths again;
repeat until N solutions have finished, none is left unfinished, or
``max_rounds`` (the last round runs each path to its end). The loop itself
is :mod:`langgraph_ttc.strategies.tree`.
"""

from __future__ import annotations

from collections.abc import Sequence

from typing_extensions import Unpack

from langgraph_ttc.engine.tree import rank
from langgraph_ttc.strategies.graph import StrategyGraph
from langgraph_ttc.strategies.tree import SearchOptions, TreeSearch
from langgraph_ttc.types import Candidate, Generator, StrategyConfig

__all__ = [
    "BEAM",
    "allocate",
    "beam_expand",
    "beam_keep",
    "create_beam_search_graph",
    "keep_beams",
]


def beam_keep(active: Sequence[Candidate], width: int, beam_width: int) -> list[Candidate]:
    """Beam search pruning: the top ``width // beam_width`` (at least 1) partial solutions."""
    return rank(active)[: max(1, width // beam_width)]


def keep_beams(
    frontier: Sequence[Candidate], done: Sequence[Candidate], plan: StrategyConfig, seed: int = 0
) -> list[Candidate]:
    """The keep rule: the top N/M unfinished paths, or none once N solutions have finished."""
    if len(done) >= len(frontier):
        return []
    active = [c for c in frontier if c.get("active") and not c.get("done")]
    return beam_keep(active, len(frontier), plan.beam_width)


def allocate(kept: int, width: int) -> list[int]:
    """Expansions per kept beam so that the frontier holds ``width`` paths again.

    Spread evenly, earlier (better) beams first: N/M beams get M each.
    """
    if kept < 1:
        return []
    base, extra = divmod(width, kept)
    return [base + (1 if i < extra else 0) for i in range(kept)]


def beam_expand(
    frontier: Sequence[Candidate], plan: StrategyConfig, seed: int = 0
) -> list[tuple[Candidate, list[int]]]:
    """The kept paths, best first, each with the slots its M children refill.

    Beam search refills the whole frontier from the kept paths, as
    search-and-learn does.
    """
    kept = [c for c in frontier if c.get("active") and not c.get("done")]
    order = sorted(kept, key=lambda c: -(c.get("score") or 0.0))
    out, start = [], 0
    for parent, count in zip(order, allocate(len(order), len(frontier)), strict=True):
        out.append((parent, list(range(start, start + count))))
        start += count
    return out


BEAM = TreeSearch(
    "beam", StrategyConfig("beam"), "create_beam_search_graph", keep_beams, beam_expand
)


def create_beam_search_graph(
    generator: Generator, **options: Unpack[SearchOptions]
) -> StrategyGraph:
    """Build beam search over steps (lines by default), ranked by a PRM.

    Finished solutions are set aside; the final pick is ``selection``
    (weighted best-of-N by default) over them. Costs N generations.

    Args:
        generator: The policy.
        verifier: The PRM (step scores, folded with ``config.fold``). Required.
        config: The default plan: N = ``n``, M = ``beam_width``. Defaults to
            N=16, M=4, 40 rounds.
        extract_answer, prompt, name, step_delimiter: See
            :class:`~langgraph_ttc.strategies.tree.SearchOptions`.

    Raises:
        TypeError, ValueError: For a config of another strategy or no verifier.
    """
    return BEAM.create(generator, options)
