"""The report's PRM diagnosis: why the weighted vote does (not) beat majority."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Sequence
from typing import Any

from langgraph_ttc.bench.rounding import rounded
from langgraph_ttc.bench.split_data import SplitData
from langgraph_ttc.bench.stats import auroc, mean, within_question_auroc
from langgraph_ttc.bench.subsample import sample_candidate
from langgraph_ttc.router.policy import NUM_BINS

__all__ = ["prm_diagnosis"]

_FOLDS = ("last", "min", "prod", "mean")
_VOTING_ARMS = ("majority", "bon_weighted", "bon_weighted_min", "bon_weighted_prod", "bon_max")


def prm_diagnosis(data: SplitData, budgets: Sequence[int]) -> dict[str, Any]:
    """Why weighted best-of-N does (not) beat majority: folds, max, AUROC per bin.

    Returns:
        ``auroc`` per fold (overall, within questions, per oracle bin),
        ``by_budget`` (the voting arms' accuracy) and ``pass_at`` (pass@N).
    """
    out: dict[str, Any] = {"auroc": {}, "by_budget": {}}
    for fold in _FOLDS:
        out["auroc"][fold] = _fold_auroc(data, fold)
    for b in budgets:
        row = {}
        for arm in _VOTING_ARMS:
            acc = data.accuracy(arm, b)
            if acc is not None:
                row[arm] = acc["accuracy"]
        if row:
            out["by_budget"][str(b)] = row
    out["pass_at"] = _pass_at(data, budgets)
    return out


def _fold_auroc(data: SplitData, fold: str) -> dict[str, Any]:
    """AUROC of the pool samples' folded scores: all, mean within questions, per oracle bin."""
    scores: list[float] = []
    labels: list[bool] = []
    per_bin: dict[int, tuple[list[float], list[bool]]] = defaultdict(lambda: ([], []))
    groups: list[tuple[list[float], list[bool]]] = []
    for q in data.qids:
        s_q: list[float] = []
        l_q: list[bool] = []
        for s in data.pools[q]["samples"]:
            score = sample_candidate(s, "x", fold)["score"]
            assert score is not None
            s_q.append(score)
            l_q.append(bool(s["correct"]))
        scores += s_q
        labels += l_q
        b = data.oracle_bins.get(q, 0)
        per_bin[b][0].extend(s_q)
        per_bin[b][1].extend(l_q)
        groups.append((s_q, l_q))
    within, mixed = within_question_auroc(groups)
    return {
        "all": rounded(auroc(scores, labels)),
        "within_question_mean": rounded(within),
        "questions_with_both": mixed,
        "by_bin": {str(b): rounded(auroc(*per_bin[b])) for b in range(1, NUM_BINS + 1)},
    }


def _pass_at(data: SplitData, budgets: Sequence[int]) -> dict[str, Any]:
    """pass@N: the ceiling any selection rule can reach from the same samples."""
    out = {}
    for b in budgets:
        vals = []
        for q in data.qids:
            samples = data.pools[q]["samples"]
            if b > len(samples):
                continue
            vals.append(float(any(s["correct"] for s in samples[:b])))
        if vals:
            out[str(b)] = rounded(mean(vals))
    return out
