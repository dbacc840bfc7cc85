"""``select``: aggregate the finished candidates into the final answer.

How is the strategy's ``select`` rule; :func:`vote` is the flat one most
strategies use (weighted best-of-N, majority vote, or the single best score).
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from typing import Any

from langgraph_ttc.answers import aggregate
from langgraph_ttc.engine.driver import NodeRun, make_node
from langgraph_ttc.engine.settings import budget_label, plan_of
from langgraph_ttc.engine.tree import finished
from langgraph_ttc.state import TTCState
from langgraph_ttc.types import Candidate, StrategyConfig

__all__ = [
    "SelectRule",
    "Selected",
    "ballot",
    "confidence_weight",
    "make_select_node",
    "probe_quota",
    "vote",
]

Selected = tuple[str | None, float, dict[str, float], str]
"""``(answer, confidence, totals per answer, the rule applied)``."""

SelectRule = Callable[[StrategyConfig, Sequence[Candidate]], Selected]
"""``(plan, every candidate) -> Selected``."""


def probe_quota(plan: StrategyConfig, chains: int = 0) -> int | None:
    """How many router probes the plan's vote adopts: all (``None``), ``chains``, or none."""
    use = plan.probe_use
    if use == "samples":
        return None
    return chains if use == "chains" else 0


def ballot(candidates: Sequence[Candidate], probes: int | None = None) -> list[Candidate]:
    """The candidates a plan's vote sees: its own, and the first ``probes`` router probes.

    ``probes=None`` adopts every probe. When none of the plan's own finished
    candidates holds an answer (the budget ran out before it drew any), every
    probe takes part: an answer already paid for beats no answer.
    """
    own = [c for c in candidates if c.get("source") != "probe"]
    if not any(c.get("done") and c.get("answer") is not None for c in own):
        return list(candidates)
    kept = [c for c in candidates if c.get("source") == "probe" and c.get("done")]
    if probes is not None:
        kept = kept[:probes]
    ids = {c["id"] for c in kept}
    return [c for c in candidates if c.get("source") != "probe" or c["id"] in ids]


def vote(candidates: Sequence[Candidate], selection: str) -> Selected:
    """One flat aggregate over the finished candidates.

    Every finished candidate given takes part (filter the router's probes
    first with :func:`ballot`). A scored rule falls back to majority
    when no finished candidate with an answer was scored (the run stopped
    before ``verify``).
    """
    done = finished(candidates)
    if selection == "confidence":
        return _confidence_vote(done)
    if selection != "majority" and not any(
        c.get("score") is not None and c.get("answer") is not None for c in done
    ):
        selection = "majority"
    answer, confidence, totals = aggregate(done, selection=selection)
    return answer, confidence, totals, selection


def confidence_weight(candidate: Candidate) -> float | None:
    """The model's own confidence in a sample: ``exp(mean token logprob)``, in (0, 1].

    ``None`` when the backend gave no log-probabilities (DeepConf's mean
    confidence, used as a vote weight).
    """
    logprob = candidate.get("logprob")
    return None if logprob is None else math.exp(min(0.0, float(logprob)))


def _confidence_vote(done: Sequence[Candidate]) -> Selected:
    """Weighted vote with each sample's confidence as its weight; majority without logprobs."""
    weights = [confidence_weight(c) for c in done]
    if all(w is None for w in weights):
        answer, share, totals = aggregate(done, selection="majority")
        return answer, share, totals, "majority"
    weighted = [{**c, "score": w or 0.0} for c, w in zip(done, weights, strict=True)]
    answer, share, totals = aggregate(weighted, selection="weighted")
    return answer, share, totals, "confidence"


def make_select_node(*, graph: str, select: SelectRule) -> Any:
    """The ``select`` node: writes ``answer``, ``confidence`` and the final ``status``.

    ``status`` becomes ``done`` (or ``no_candidates`` when no candidate has an
    answer) unless an earlier node stopped the run for a reason (budget,
    deadline, backend error), which is kept. The frontier is closed: no
    candidate stays active.
    """

    def logic(state: TTCState, run: NodeRun) -> dict[str, Any]:
        plan = plan_of(state)
        cands = state.get("candidates") or []
        answer, confidence, totals, rule = select(plan, cands)
        status = state.get("status", "running")
        if status == "running":
            status = "done" if answer is not None else "no_candidates"
        run.emit(
            {
                "node": "select",
                "round": state.get("round", 0),
                "strategy": plan.strategy,
                "answer": answer,
                "confidence": confidence,
                "selection": rule,
                "totals": totals,
                "status": status,
                "generations": run.usage["generations"],
                "budget": budget_label(run.ctx.budget, plan),
            }
        )
        return {
            "answer": answer,
            "confidence": confidence if answer is not None else None,
            "status": status,
            "candidates": [{**c, "active": False} for c in cands if c.get("active")],
        }

    return make_node("select", logic)
