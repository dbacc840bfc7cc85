"""A search's tree as data on the candidates, and the helpers every search reads it with.

A tree search keeps its frontier in *slots* ``0 .. width-1``: the candidate
in slot ``i`` carries ``slot=i``, the id of the path it extends in
``parent`` and the step round that made it in ``round``. Each round's
children overwrite the slots (so a checkpoint holds the frontier once, not
every pruned path of every round); a finished solution in a slot that is
about to be refilled is first archived under a new id, with ``slot=None``.

Nothing here calls a model or reads the graph state.
"""

from __future__ import annotations

from collections.abc import Sequence

from langgraph_ttc.types import Candidate

__all__ = ["archive", "finished", "rank", "slot_id", "slots"]


def slot_id(source: str, index: int) -> str:
    """The id of frontier slot ``index`` (ids are names, never parsed)."""
    return f"{source}-{index}"


def archive(cand: Candidate, round_: int) -> Candidate:
    """A finished solution taken off its slot in ``round_``, kept under a new id."""
    return {**cand, "id": f"{cand['id']}-r{round_}", "active": False, "slot": None}


def slots(candidates: Sequence[Candidate], source: str) -> list[Candidate]:
    """The frontier slots of a tree search (candidates of ``source`` with a slot), in order."""
    placed = [c for c in candidates if c.get("source") == source and c.get("slot") is not None]
    return sorted(placed, key=lambda c: c.get("slot") or 0)


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
