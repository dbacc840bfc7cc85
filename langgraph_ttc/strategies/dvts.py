"""Diverse verifier tree search (DVTS, from Hugging Face's search-and-learn).

The whole rule: the N paths split into N/M independent subtrees
(``Candidate.group``, :func:`subtree_of`). Each round, each live subtree
keeps only its single best child by PRM score (:func:`keep_subtrees`) and
refills its own M slots from it (:func:`dvts_expand`); a subtree ends when
its best child is a finished solution. Subtrees never share paths, which
keeps diversity at large N. The loop itself is
:mod:`langgraph_ttc.strategies.tree`.
"""

from __future__ import annotations

from collections.abc import Sequence

from typing_extensions import Unpack

from langgraph_ttc.engine.tree import rank
from langgraph_ttc.strategies.graph import StrategyGraph
from langgraph_ttc.strategies.tree import SearchOptions, TreeSearch
from langgraph_ttc.types import Candidate, Generator, StrategyConfig

__all__ = [
    "DVTS",
    "create_dvts_graph",
    "dvts_expand",
    "dvts_keep",
    "keep_subtrees",
    "subtree_of",
]


def subtree_of(index: int, width: int, beam_width: int) -> int:
    """The subtree of slot ``index`` (``width // beam_width`` subtrees, at least 1)."""
    subtrees = max(1, width // beam_width)
    return min(index // beam_width, subtrees - 1)


def dvts_keep(subtree: Sequence[Candidate]) -> Candidate | None:
    """One subtree's pruning: its single best child, or ``None`` if that one finished.

    A subtree whose best child is a finished solution is done (as in
    search-and-learn); its other finished children stay as solutions.
    """
    if not subtree:
        return None
    best = rank(subtree)[0]
    return None if best.get("done") else best


def keep_subtrees(
    frontier: Sequence[Candidate], done: Sequence[Candidate], plan: StrategyConfig, seed: int = 0
) -> list[Candidate]:
    """In each subtree still alive, its best child (a live subtree refilled all its slots)."""
    live = sorted({c.get("group", 0) for c in frontier if c.get("active") and not c.get("done")})
    kept = [dvts_keep([c for c in frontier if c.get("group", 0) == g]) for g in live]
    return [c for c in kept if c is not None]


def dvts_expand(
    frontier: Sequence[Candidate], plan: StrategyConfig, seed: int = 0
) -> list[tuple[Candidate, list[int]]]:
    """Each kept path with the slots of its own subtree: subtrees never mix."""
    out = []
    for parent in [c for c in frontier if c.get("active") and not c.get("done")]:
        g = parent.get("group", 0)
        members = [c.get("slot") for c in frontier if c.get("group", 0) == g]
        out.append((parent, sorted(i for i in members if i is not None)))
    return out


def _subtree_requests(plan: StrategyConfig, samples: int) -> list[list[int]]:
    """One first-step request per subtree."""
    groups: dict[int, list[int]] = {}
    for i in range(samples):
        groups.setdefault(subtree_of(i, samples, plan.beam_width), []).append(i)
    return list(groups.values())


DVTS = TreeSearch(
    source="dvts",
    default=StrategyConfig(strategy="dvts"),
    builder="create_dvts_graph",
    keep=keep_subtrees,
    expand=dvts_expand,
    groups=_subtree_requests,
    group_of=lambda plan, index, width: subtree_of(index, width, plan.beam_width),
)


def create_dvts_graph(generator: Generator, **options: Unpack[SearchOptions]) -> StrategyGraph:
    """Build DVTS: N/M independent subtrees, each a greedy search over M expansions.

    The final pick is ``selection`` over all finished solutions. Costs N
    generations.

    Args:
        generator: The policy.
        verifier: The PRM. Required.
        config: The default plan: N = ``n``, M = ``beam_width``. Defaults to N=16, M=4.
        extract_answer, prompt, name, step_delimiter: See
            :class:`~langgraph_ttc.strategies.tree.SearchOptions`.

    Raises:
        TypeError, ValueError: For a config of another strategy or no verifier.
    """
    return DVTS.create(generator, options)
