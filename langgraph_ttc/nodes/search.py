"""The search logic, as pure functions over candidate lists.

Tree search keeps its frontier in *slots*: candidates with ids
``"{source}-{i}"`` for ``i`` in ``range(width)``. Each round's children
overwrite the slots (so a checkpoint holds the frontier once, not every
pruned path of every round); a finished solution in a slot that is about to
be refilled is first archived under ``"{source}-{i}-r{round}"``.

Nothing here calls a model or reads the graph state: the nodes do, and call
these to decide.
"""

from __future__ import annotations

import re
from collections.abc import Sequence

from langgraph_ttc.answers import aggregate, answers_equal
from langgraph_ttc.types import Candidate

__all__ = [
    "allocate",
    "archive_id",
    "beam_keep",
    "dvts_keep",
    "finished",
    "hierarchical_select",
    "rank",
    "revision_chains",
    "slot_id",
    "slot_index",
    "slots",
    "subtree_of",
]


def slot_id(source: str, index: int) -> str:
    """The id of frontier slot ``index``."""
    return f"{source}-{index}"


def archive_id(source: str, index: int, round_: int) -> str:
    """The id a finished solution keeps when its slot is refilled in ``round_``."""
    return f"{source}-{index}-r{round_}"


def slot_index(cand: Candidate, source: str) -> int | None:
    """The slot a candidate occupies, or ``None`` if it is not a frontier slot."""
    m = re.fullmatch(re.escape(source) + r"-(\d+)", cand["id"])
    return int(m.group(1)) if m else None


def slots(candidates: Sequence[Candidate], source: str) -> list[Candidate]:
    """The frontier slots of a tree search, in slot order."""
    indexed: list[tuple[int, Candidate]] = []
    for cand in candidates:
        index = slot_index(cand, source) if cand.get("source") == source else None
        if index is not None:
            indexed.append((index, cand))
    return [cand for _, cand in sorted(indexed, key=lambda pair: pair[0])]


def finished(candidates: Sequence[Candidate], source: str | None = None) -> list[Candidate]:
    """Finished solutions (of one ``source``, or all)."""
    return [
        c for c in candidates if c.get("done") and (source is None or c.get("source") == source)
    ]


def rank(candidates: Sequence[Candidate]) -> list[Candidate]:
    """Highest score first; ties keep the given order (deterministic)."""
    order = sorted(
        range(len(candidates)),
        key=lambda i: (-(candidates[i].get("score") or 0.0), i),
    )
    return [candidates[i] for i in order]


def beam_keep(active: Sequence[Candidate], width: int, beam_width: int) -> list[Candidate]:
    """Beam search pruning: the top ``width // beam_width`` (at least 1) partial solutions."""
    keep = max(1, width // beam_width)
    return rank(active)[:keep]


def allocate(kept: int, width: int) -> list[int]:
    """Expansions per kept beam so that the frontier holds ``width`` paths again.

    Spread evenly, earlier (better) beams first: N/M beams get M each.
    """
    if kept < 1:
        return []
    base, extra = divmod(width, kept)
    return [base + (1 if i < extra else 0) for i in range(kept)]


def subtree_of(index: int, width: int, beam_width: int) -> int:
    """DVTS: the subtree of slot ``index`` (``width // beam_width`` subtrees, at least 1)."""
    subtrees = max(1, width // beam_width)
    return min(index // beam_width, subtrees - 1)


def dvts_keep(subtree: Sequence[Candidate]) -> Candidate | None:
    """DVTS pruning within one subtree: its single best child, or ``None`` if that one finished.

    A subtree whose best child is a finished solution is done (as in
    search-and-learn); its other finished children stay as solutions.
    """
    if not subtree:
        return None
    best = rank(subtree)[0]
    return None if best.get("done") else best


def revision_chains(candidates: Sequence[Candidate], chains: int) -> dict[int, list[Candidate]]:
    """The revision chains by index, each in attempt order.

    Chain ``g`` starts with the ``g``-th router probe when there is one (compute
    already spent is reused as a first attempt), else with the sample of group
    ``g``; its revisions (group ``g``) follow. Probes beyond ``chains`` form
    chains of one (indices ``chains``, ``chains + 1``, ...), so they still take
    part in the selection. Chains with no attempt are left out.
    """
    probes = [c for c in candidates if c.get("source") == "probe" and c.get("done")]
    out: dict[int, list[Candidate]] = {}
    for g in range(chains):
        members = [probes[g]] if g < len(probes) else []
        members += [
            c
            for c in candidates
            if c.get("source") in ("sample", "revision") and c.get("group") == g
        ]
        if members:
            out[g] = members
    for k, probe in enumerate(probes[chains:]):
        out[chains + k] = [probe]
    return out


def hierarchical_select(
    chains: Sequence[Sequence[Candidate]],
) -> tuple[str | None, float, dict[str, float]]:
    """The paper's selection over revision chains, with a verifier.

    Weighted best-of-N within each chain picks the chain's answer; the chain is
    then represented by its best-scored attempt with that answer, and weighted
    best-of-N across these representatives picks the final answer.
    """
    winners: list[Candidate] = []
    for chain in chains:
        answer, _, _ = aggregate(list(chain), selection="weighted")
        if answer is None:
            continue
        winners.append(
            next(
                c
                for c in rank(list(chain))
                if (got := c.get("answer")) is not None and answers_equal(got, answer)
            )
        )
    return aggregate(winners, selection="weighted")
