"""Every number of the report, computed from the cache alone.

:func:`analyse` reads the cached pools and results of a sweep and returns
one plain-data dict (rounded floats, sorted keys): accuracy curves with
Wilson intervals, accuracy per difficulty bin, the PRM diagnosis, the
compute-optimal policies (oracle and predicted bins) against best-of-N, the
router's own runs, the FLOPs-matched comparison with the larger model, and
the simulations beyond the paper. The same cache gives the same dict, byte
for byte once serialised: nothing here samples, times or reads a clock.
"""

from __future__ import annotations

import itertools
import json
import math
from collections import defaultdict
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from langgraph_ttc.answers import aggregate
from langgraph_ttc.bench.arms import ARMS, LARGE_GREEDY, Arm, arm_by_name
from langgraph_ttc.bench.cache import BenchCache, ResultRow
from langgraph_ttc.bench.data import BenchItem
from langgraph_ttc.bench.difficulty import (
    ORACLE_MIN_SAMPLES,
    pass_at_1,
    predicted_score,
    quantile_bins,
    threshold_bin,
)
from langgraph_ttc.bench.estimate import estimate_sweep_seconds
from langgraph_ttc.bench.fit import PolicyFit, fit_policy
from langgraph_ttc.bench.runner import (
    revision_pool_kind,
    router_arm,
    sample_pool_kind,
)
from langgraph_ttc.bench.stats import auroc, mean, rng_for, wilson_interval
from langgraph_ttc.bench.subsample import memoized_answers, sample_candidate
from langgraph_ttc.bench.sweep import SweepConfig
from langgraph_ttc.router.difficulty import VerifierDifficulty
from langgraph_ttc.router.policy import NUM_BINS, ComputePolicy, quantile_thresholds

__all__ = [
    "BIN_BUDGETS",
    "FLOPS_RATIOS",
    "SplitData",
    "analyse",
    "fit_oracle_policy",
    "fit_router_policy",
    "load_split",
    "needed_budget",
]

BIN_BUDGETS = (4, 16, 64, 256)
"""Budgets at which accuracy is broken down by difficulty bin."""

FLOPS_RATIOS = (0.16, 0.79, 22.0)
"""R = inference tokens / pretraining tokens, as in the paper's FLOPs-matched study."""

TARGET_BUDGET = 64
"""The best-of-N budget the router is asked to match (the paper's 4x: 16 vs 64)."""

_COST_FIELDS = (
    "generations",
    "generated_tokens",
    "prompt_tokens",
    "flops",
    "verifier_tokens",
    "verifier_flops",
    "wall_s",
)


def _r(x: float | None, digits: int = 4) -> float | None:
    """Round for the report; NaN becomes ``None`` (JSON has no NaN)."""
    if x is None or (isinstance(x, float) and not math.isfinite(x)):
        return None
    return round(float(x), digits)


def _g(x: float | None) -> float | None:
    """Round a large number to 4 significant digits."""
    if x is None or not math.isfinite(x):
        return None
    return float(f"{x:.4g}")


@dataclass
class SplitData:
    """One split's cached data, indexed.

    Attributes:
        split: The split's name.
        items: Its questions.
        pools: Sample pool per question id.
        rows: Every cached result of the split.
        table: ``(qid, arm, budget) -> accuracy`` (mean over seeds).
        per_q: ``(arm, budget) -> {qid: payloads}``.
        pass1: Oracle pass@1 per question.
        oracle_bins: Quantile bin of pass@1 per question (1 easiest).
    """

    split: str
    items: list[BenchItem]
    pools: dict[str, Mapping[str, Any]]
    rows: list[ResultRow]
    table: dict[tuple[str, str, int], float] = field(default_factory=dict)
    per_q: dict[tuple[str, int], dict[str, list[Mapping[str, Any]]]] = field(default_factory=dict)
    pass1: dict[str, float] = field(default_factory=dict)
    oracle_bins: dict[str, int] = field(default_factory=dict)

    @property
    def qids(self) -> list[str]:
        return [i.qid for i in self.items]

    def predicted(self, qid: str, probes: int) -> float:
        """The mean PRM score of the question's first ``probes`` pool samples (or all, if fewer)."""
        pool = self.pools[qid]
        return predicted_score(pool, min(probes, len(pool["samples"])))

    def accuracy(
        self, arm: str, budget: int, qids: Sequence[str] | None = None
    ) -> dict[str, Any] | None:
        """Accuracy (mean over questions of the seed mean), its Wilson interval and costs."""
        runs = self.per_q.get((arm, budget))
        if not runs:
            return None
        ids = [q for q in (qids if qids is not None else self.qids) if q in runs]
        if not ids:
            return None
        per_question = [mean([float(p["correct"]) for p in runs[q]]) for q in ids]
        acc = mean(per_question)
        lo, hi = wilson_interval(acc * len(ids), len(ids))
        out: dict[str, Any] = {
            "accuracy": _r(acc),
            "low": _r(lo),
            "high": _r(hi),
            "questions": len(ids),
            "runs": sum(len(runs[q]) for q in ids),
        }
        for f in _COST_FIELDS:
            values = [mean([float(p.get(f, 0.0) or 0.0) for p in runs[q]]) for q in ids]
            out[f] = _r(mean(values), 3) if f in ("generations", "wall_s") else _g(mean(values))
        return out


def load_split(
    cache: BenchCache, config: SweepConfig, split: str, items: Sequence[BenchItem]
) -> SplitData:
    """Index one split's pools and results.

    Raises:
        ValueError: If a question has no sample pool (run the sweep first).
    """
    kind = sample_pool_kind(config)
    pools: dict[str, Mapping[str, Any]] = {}
    for item in items:
        pool = cache.get_pool(split, item.qid, kind)
        if pool is None:
            raise ValueError(
                f"no sample pool for question {item.qid} of split {split!r} in {cache.path}; "
                "run `ttc bench` first"
            )
        pools[item.qid] = pool
    wanted = {i.qid for i in items}
    rows = [r for r in cache.results(split) if r.key.qid in wanted]
    data = SplitData(split, list(items), pools, rows)
    grouped: dict[tuple[str, int], dict[str, list[Mapping[str, Any]]]] = defaultdict(dict)
    for row in rows:
        k = row.key
        grouped[(k.arm, k.budget)].setdefault(k.qid, []).append(row.payload)
    data.per_q = dict(grouped)
    for (arm, budget), runs in data.per_q.items():
        for qid, payloads in runs.items():
            data.table[(qid, arm, budget)] = mean([float(p["correct"]) for p in payloads])
    data.pass1 = {q: pass_at_1(p) for q, p in pools.items()}
    if len(items) >= NUM_BINS:
        data.oracle_bins = quantile_bins(data.pass1)
    return data


def _keys(config: SweepConfig) -> list[int]:
    return sorted({1, *config.budgets, *config.tree_budgets})


def _candidate_arms(config: SweepConfig) -> list[Arm]:
    return [a for a in config.arm_list if a.policy_candidate]


def fit_router_policy(
    cache: BenchCache, config: SweepConfig, items: Sequence[BenchItem]
) -> PolicyFit:
    """The router's policy: probe-aware, predicted bins, chosen on ``items`` (the fit split).

    Thresholds are the quantiles of the 4-probe predicted score; at each
    budget a question's bin uses as many probes as the router draws there.
    """
    assert config.fit_split is not None
    data = load_split(cache, config, config.fit_split, items)
    return _fit_predicted(data, config)


def _probes(budget: int) -> int | None:
    return VerifierDifficulty().probes_for(budget)


def _fit_predicted(data: SplitData, config: SweepConfig) -> PolicyFit:
    k = VerifierDifficulty().k
    thresholds = quantile_thresholds([data.predicted(q, k) for q in data.qids])

    def bin_of(qid: str, budget: int) -> int | None:
        p = _probes(budget)
        return None if p is None else threshold_bin(data.predicted(qid, p), thresholds)

    description = (
        f"Fitted by `ttc bench` ({config.name} sweep) on the {data.split} split "
        f"({len(data.items)} questions): per predicted-difficulty bin and budget, the arm with "
        "the best accuracy whose cost with the router's probes fits the budget (probe-aware; "
        "two-fold cross-validated in the report). Bins: quantiles of the mean PRM score "
        f"of {k} probes. Where one arm for all bins cross-validates at least as well as "
        "per-bin choices, that arm fills every bin. Budgets above "
        f"{max(_keys(config))} use the largest entry."
    )
    return fit_policy(
        data.table,
        data.qids,
        bin_of,
        arms=_candidate_arms(config),
        budgets=_keys(config),
        probes=_probes,
        pool_when_better=True,
        thresholds=thresholds,
        default_bin=3,
        description=description,
    )


def fit_oracle_policy(data: SplitData, config: SweepConfig) -> PolicyFit:
    """The paper's compute-optimal choice: oracle bins, matched budgets, no probe cost."""
    return fit_policy(
        data.table,
        data.qids,
        lambda q, _b: data.oracle_bins[q],
        arms=_candidate_arms(config),
        budgets=_keys(config),
        probes=None,
        description="oracle bins, matched budgets (the paper's compute-optimal choice)",
    )


def needed_budget(curve: Sequence[tuple[float, float]], target: float) -> dict[str, Any]:
    """The smallest cost at which a curve reaches ``target`` accuracy.

    Args:
        curve: ``(cost, accuracy)`` points in increasing cost.
        target: The accuracy to reach.

    Returns:
        ``reached``; ``cost`` (the first point at or above target);
        ``interpolated`` (log2-linear between that point and the one before);
        and ``best`` (the highest accuracy on the curve).
    """
    pts = sorted(curve)
    best = max((a for _, a in pts), default=float("nan"))
    for i, (cost, acc) in enumerate(pts):
        if acc >= target - 1e-12:
            interp = cost
            if i > 0 and pts[i - 1][1] < target and pts[i - 1][0] > 0 and cost > 0:
                c0, a0 = pts[i - 1]
                frac = (target - a0) / (acc - a0)
                interp = 2 ** (math.log2(c0) + frac * (math.log2(cost) - math.log2(c0)))
            return {
                "reached": True,
                "cost": _r(cost, 2),
                "interpolated": _r(interp, 2),
                "best": _r(best),
            }
    return {"reached": False, "cost": None, "interpolated": None, "best": _r(best)}


# --------------------------------------------------------------------------- sections


def _curves(
    data: SplitData, arms: Sequence[str], budgets: Sequence[int]
) -> dict[str, list[dict[str, Any]]]:
    out: dict[str, list[dict[str, Any]]] = {}
    for arm in arms:
        points = []
        for b in budgets:
            acc = data.accuracy(arm, b)
            if acc is not None:
                points.append({"budget": b, **acc})
        if points:
            out[arm] = points
    return out


def _by_bin(
    data: SplitData, bins: Mapping[str, int], arms: Sequence[str], budgets: Sequence[int]
) -> dict[str, dict[str, dict[str, Any]]]:
    """``{bin: {arm@budget: accuracy}}`` for the given bins."""
    out: dict[str, dict[str, dict[str, Any]]] = {}
    for b in range(1, NUM_BINS + 1):
        ids = [q for q in data.qids if bins.get(q) == b]
        row: dict[str, dict[str, Any]] = {}
        for arm in arms:
            for budget in budgets:
                acc = data.accuracy(arm, budget, ids)
                if acc is not None:
                    row[f"{arm}@{budget}"] = {
                        k: acc[k] for k in ("accuracy", "low", "high", "questions")
                    }
        out[str(b)] = row
    return out


def _difficulty(data: SplitData, thresholds: Sequence[float] | None) -> dict[str, Any]:
    k = VerifierDifficulty().k
    samples = min(len(p["samples"]) for p in data.pools.values())
    out: dict[str, Any] = {
        "pool_samples": samples,
        "oracle_ok": samples >= ORACLE_MIN_SAMPLES,
        "bins": {},
    }
    pred = {q: data.predicted(q, k) for q in data.qids}
    for b in range(1, NUM_BINS + 1):
        ids = [q for q in data.qids if data.oracle_bins.get(q) == b]
        groups: dict[str, int] = defaultdict(int)
        for item in data.items:
            if item.qid in ids and item.group:
                groups[item.group] += 1
        out["bins"][str(b)] = {
            "questions": len(ids),
            "pass1_mean": _r(mean([data.pass1[q] for q in ids])),
            "pass1_min": _r(min((data.pass1[q] for q in ids), default=float("nan"))),
            "pass1_max": _r(max((data.pass1[q] for q in ids), default=float("nan"))),
            "predicted_mean": _r(mean([pred[q] for q in ids])),
            "groups": dict(sorted(groups.items())),
        }
    # How well the 4-probe score ranks questions by their true pass@1.
    out["spearman_predicted_vs_pass1"] = _r(
        _spearman([pred[q] for q in data.qids], [data.pass1[q] for q in data.qids])
    )
    if thresholds is not None:
        pbins = {q: threshold_bin(pred[q], thresholds) for q in data.qids}
        agree = sum(pbins[q] == data.oracle_bins.get(q) for q in data.qids)
        within = sum(abs(pbins[q] - data.oracle_bins.get(q, 0)) <= 1 for q in data.qids)
        out["predicted_bin_exact_agreement"] = _r(agree / len(data.qids))
        out["predicted_bin_within_one"] = _r(within / len(data.qids))
        out["predicted_bin_sizes"] = {
            str(b): sum(v == b for v in pbins.values()) for b in range(1, NUM_BINS + 1)
        }
    return out


def _ranks(values: Sequence[float]) -> list[float]:
    order = sorted(range(len(values)), key=lambda i: values[i])
    ranks = [0.0] * len(values)
    i = 0
    while i < len(order):
        j = i
        while j + 1 < len(order) and values[order[j + 1]] == values[order[i]]:
            j += 1
        for k in range(i, j + 1):
            ranks[order[k]] = (i + j) / 2
        i = j + 1
    return ranks


def _spearman(x: Sequence[float], y: Sequence[float]) -> float:
    if len(x) < 3:
        return float("nan")
    rx, ry = _ranks(x), _ranks(y)
    mx, my = mean(rx), mean(ry)
    cov = sum((a - mx) * (b - my) for a, b in zip(rx, ry, strict=True))
    vx = math.sqrt(sum((a - mx) ** 2 for a in rx))
    vy = math.sqrt(sum((b - my) ** 2 for b in ry))
    return cov / (vx * vy) if vx and vy else float("nan")


def _prm_diagnosis(data: SplitData, budgets: Sequence[int]) -> dict[str, Any]:
    """Why weighted best-of-N does (not) beat majority: folds, max, AUROC per bin."""
    out: dict[str, Any] = {"auroc": {}, "by_budget": {}}
    for fold in ("last", "min", "prod", "mean"):
        scores: list[float] = []
        labels: list[bool] = []
        per_bin: dict[int, tuple[list[float], list[bool]]] = defaultdict(lambda: ([], []))
        within: list[float] = []
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
            a = auroc(s_q, l_q)
            if math.isfinite(a):
                within.append(a)
        out["auroc"][fold] = {
            "all": _r(auroc(scores, labels)),
            "within_question_mean": _r(mean(within)),
            "questions_with_both": len(within),
            "by_bin": {str(b): _r(auroc(*per_bin[b])) for b in range(1, NUM_BINS + 1)},
        }
    arms = ["majority", "bon_weighted", "bon_weighted_min", "bon_weighted_prod", "bon_max"]
    for b in budgets:
        row = {}
        for arm in arms:
            acc = data.accuracy(arm, b)
            if acc is not None:
                row[arm] = acc["accuracy"]
        if row:
            out["by_budget"][str(b)] = row
    # pass@N: the ceiling any selection rule can reach from the same samples.
    out["pass_at"] = {}
    for b in budgets:
        vals = []
        for q in data.qids:
            samples = data.pools[q]["samples"]
            if b > len(samples):
                continue
            vals.append(float(any(s["correct"] for s in samples[:b])))
        if vals:
            out["pass_at"][str(b)] = _r(mean(vals))
    return out


def _simulate(
    data: SplitData,
    fit: PolicyFit,
    bin_of: Callable[[str, int], int | None],
    keys: Sequence[int],
    bins: Mapping[str, int] | None = None,
) -> dict[str, Any]:
    """A fitted policy applied to a split's cached results (no new runs).

    For each question and key budget, the question's bin gives the choice;
    its cached accuracy at the chosen arm and budget is the outcome.
    """
    curve = []
    per_bin: dict[str, dict[str, Any]] = {}
    for key in keys:
        accs: list[float] = []
        costs: list[float] = []
        used: dict[str, int] = defaultdict(int)
        by_bin: dict[int, list[float]] = defaultdict(list)
        for q in data.qids:
            b = bin_of(q, key)
            choice = fit.choices[b if b is not None else fit.policy.default_bin][key]
            value = data.table.get((q, choice.arm, choice.budget))
            if value is None:
                continue
            accs.append(value)
            costs.append(choice.cost)
            used[f"{choice.arm}@{choice.budget}"] += 1
            if bins is not None and q in bins:
                by_bin[bins[q]].append(value)
        if not accs:
            continue
        acc = mean(accs)
        lo, hi = wilson_interval(acc * len(accs), len(accs))
        curve.append(
            {
                "budget": key,
                "accuracy": _r(acc),
                "low": _r(lo),
                "high": _r(hi),
                "generations": _r(mean(costs), 3),
                "questions": len(accs),
                "choices": dict(sorted(used.items())),
            }
        )
        if key in BIN_BUDGETS:
            per_bin[str(key)] = {str(b): _r(mean(v)) for b, v in sorted(by_bin.items())}
    return {"curve": curve, "by_bin": per_bin}


def _choices(fit: PolicyFit) -> dict[str, dict[str, dict[str, Any]]]:
    return {
        str(b): {
            str(k): {
                "arm": c.arm,
                "budget": c.budget,
                "accuracy": _r(c.accuracy),
                "cost": c.cost,
                "cv_accuracy": _r(fit.cv[b].get(k)),
            }
            for k, c in sorted(row.items())
        }
        for b, row in sorted(fit.choices.items())
    }


def _router_runs(data: SplitData, name: str, budgets: Sequence[int]) -> list[dict[str, Any]]:
    out = []
    for b in budgets:
        acc = data.accuracy(name, b)
        if acc is None:
            continue
        runs = data.per_q[(name, b)]
        payloads = [p for q in data.qids for p in runs.get(q, [])]
        strategies: dict[str, int] = defaultdict(int)
        difficulty: dict[str, int] = defaultdict(int)
        for p in payloads:
            strategies[str(p.get("strategy"))] += 1
            difficulty[str(p.get("difficulty"))] += 1
        by_bin = {}
        for ob in range(1, NUM_BINS + 1):
            ids = [q for q in data.qids if data.oracle_bins.get(q) == ob]
            sub = data.accuracy(name, b, ids)
            if sub is not None:
                by_bin[str(ob)] = sub["accuracy"]
        out.append(
            {
                "budget": b,
                **acc,
                "probes": _r(mean([float(p.get("probes", 0)) for p in payloads]), 3),
                "strategies": dict(sorted(strategies.items())),
                "predicted_bins": dict(sorted(difficulty.items())),
                "errors": sum(p.get("status") == "backend_error" for p in payloads),
                "by_oracle_bin": by_bin,
            }
        )
    return out


def _early_stop(
    data: SplitData, budget: int, taus: Sequence[float], seeds: int, chunk: int = 4
) -> dict[str, Any]:
    """Sample in chunks (the first is the probes) and stop once the weighted vote is decided.

    A question stops after a chunk when the leading answer holds at least
    ``tau`` of the PRM-weighted mass, or at ``budget``. Simulated on the pool
    (each seed a different sample order), selected with ``answers.aggregate``.
    """
    out = {}
    for tau in taus:
        accs, costs = [], []
        for q in data.qids:
            samples = data.pools[q]["samples"]
            for seed in range(seeds):
                order = rng_for("early", q, seed).sample(
                    range(len(samples)), min(budget, len(samples))
                )
                drawn: list[int] = []
                answer = None
                for start in range(0, len(order), chunk):
                    drawn += order[start : start + chunk]
                    cands = [sample_candidate(samples[i], f"s{i}", "last") for i in drawn]
                    answer, confidence, _ = aggregate(cands, selection="weighted")
                    if answer is not None and confidence >= tau:
                        break
                # A sample's stored verdict is the checker's on its own (canonical) answer.
                correct = answer is not None and any(
                    samples[i]["correct"] and samples[i]["answer"] == answer for i in drawn
                )
                accs.append(float(correct))
                costs.append(float(len(drawn)))
        acc = mean(accs)
        n = len(data.qids)
        lo, hi = wilson_interval(acc * n, n)
        out[f"{tau:g}"] = {
            "accuracy": _r(acc),
            "low": _r(lo),
            "high": _r(hi),
            "generations": _r(mean(costs), 3),
        }
    return out


def _allocation(
    val: SplitData, test: SplitData, fit: PolicyFit, keys: Sequence[int], target: float
) -> dict[str, Any]:
    """Spread a batch's budget over predicted bins (chosen on validation), applied to test."""
    k = VerifierDifficulty().k
    th = fit.policy.thresholds

    def curves(data: SplitData) -> dict[int, dict[int, tuple[float, float, int]]]:
        out: dict[int, dict[int, tuple[float, float, int]]] = defaultdict(dict)
        bins = {q: threshold_bin(data.predicted(q, k), th) for q in data.qids}
        for b in range(1, NUM_BINS + 1):
            ids = [q for q in data.qids if bins[q] == b]
            for key in keys:
                p = _probes(key)
                if p is None or p < k:
                    continue  # allocation needs the full estimate first
                choice = fit.choices[b][key]
                vals = [data.table.get((q, choice.arm, choice.budget)) for q in ids]
                vals_ok = [v for v in vals if v is not None]
                if ids and len(vals_ok) == len(ids):
                    out[b][key] = (mean(vals_ok), float(choice.cost), len(ids))
        return out

    vc, tc = curves(val), curves(test)
    bins = [b for b in range(1, NUM_BINS + 1) if vc.get(b)]
    total_q = sum(next(iter(vc[b].values()))[2] for b in bins)
    best: tuple[float, tuple[int, ...]] | None = None
    for combo in itertools.product(*[sorted(vc[b]) for b in bins]):
        cost = (
            sum(vc[b][key][1] * vc[b][key][2] for b, key in zip(bins, combo, strict=True)) / total_q
        )
        if cost > target + 1e-9:
            continue
        acc = (
            sum(vc[b][key][0] * vc[b][key][2] for b, key in zip(bins, combo, strict=True)) / total_q
        )
        if best is None or acc > best[0] + 1e-12:
            best = (acc, combo)
    if best is None:
        return {"target": target, "found": False}
    plan = dict(zip(bins, best[1], strict=True))
    t_total = sum(tc[b][plan[b]][2] for b in bins if plan[b] in tc.get(b, {}))
    if not t_total:
        return {"target": target, "found": False}
    t_acc = (
        sum(tc[b][plan[b]][0] * tc[b][plan[b]][2] for b in bins if plan[b] in tc.get(b, {}))
        / t_total
    )
    t_cost = (
        sum(tc[b][plan[b]][1] * tc[b][plan[b]][2] for b in bins if plan[b] in tc.get(b, {}))
        / t_total
    )
    lo, hi = wilson_interval(t_acc * t_total, t_total)
    return {
        "target": target,
        "found": True,
        "budgets_by_bin": {str(b): plan[b] for b in bins},
        "validation_accuracy": _r(best[0]),
        "accuracy": _r(t_acc),
        "low": _r(lo),
        "high": _r(hi),
        "generations": _r(t_cost, 3),
    }


# --------------------------------------------------------------------------- entry point


def analyse(
    cache: BenchCache,
    config: SweepConfig,
    items: Mapping[str, Sequence[BenchItem]],
    *,
    policy: ComputePolicy | None = None,
    policy_fit: PolicyFit | None = None,
) -> dict[str, Any]:
    """Compute every number of the report from the cache.

    Args:
        cache: The sweep's cache.
        config: The sweep.
        items: Questions per split.
        policy: The policy the router ran (its runs are looked up by its hash).
        policy_fit: The fit behind ``policy``, if it was fitted here.

    Returns:
        Plain data (see the module docstring).
    """
    with memoized_answers():
        return _analyse(cache, config, items, policy=policy, policy_fit=policy_fit)


def _analyse(
    cache: BenchCache,
    config: SweepConfig,
    items: Mapping[str, Sequence[BenchItem]],
    *,
    policy: ComputePolicy | None = None,
    policy_fit: PolicyFit | None = None,
) -> dict[str, Any]:
    splits = {s: load_split(cache, config, s, items[s]) for s in config.splits}
    budgets = sorted({1, *config.budgets, *config.tree_budgets})
    arm_names = [a.name for a in config.arm_list]
    result: dict[str, Any] = {
        "sweep": config.to_dict(),
        "questions": {s: len(v) for s, v in items.items()},
        "sessions": cache.get_meta("sessions") or [],
        "compute_seconds": {},
        "splits": {},
    }
    for s, data in splits.items():
        by_source: dict[str, float] = defaultdict(float)
        for pool in data.pools.values():
            by_source["sample_pools"] += float(pool.get("wall_s", 0.0))
        rkind = revision_pool_kind(config)
        for q in data.qids:
            rp = cache.get_pool(s, q, rkind)
            if rp is not None:
                by_source["revision_pools"] += float(rp.get("wall_s", 0.0))
        seen: set[tuple[str, int, int, str]] = set()
        for row in data.rows:
            if row.payload.get("source") == "graph":
                # Arms that share a config share one run: count it once.
                ident = json.dumps(row.payload.get("config") or row.key.arm, sort_keys=True)
                run = (row.key.qid, row.key.budget, row.key.seed, ident)
                if run in seen:
                    continue
                seen.add(run)
                arm = row.key.arm.split(":")[0]
                by_source[arm] += float(row.payload.get("wall_s", 0.0))
        result["compute_seconds"][s] = {k: _r(v, 1) for k, v in sorted(by_source.items())}

    fit_data = splits.get(config.fit_split) if config.fit_split else None
    thresholds = policy.thresholds if policy is not None else None
    for s, data in splits.items():
        result["splits"][s] = {
            "difficulty": _difficulty(data, thresholds),
            "curves": _curves(data, arm_names, budgets),
            "by_oracle_bin": _by_bin(
                data, data.oracle_bins, arm_names, [b for b in BIN_BUDGETS if b in budgets]
            ),
            "prm": _prm_diagnosis(data, budgets),
        }

    eval_data = splits[config.eval_split]
    co: dict[str, Any] = {}
    target = eval_data.accuracy("bon_weighted", TARGET_BUDGET)
    co["target"] = {"arm": "bon_weighted", "budget": TARGET_BUDGET, **(target or {})}
    keys = _keys(config)
    if fit_data is not None and len(fit_data.items) >= NUM_BINS:
        oracle_fit = fit_oracle_policy(fit_data, config)
        co["oracle"] = {
            "cv": [
                {"budget": k, "accuracy": _r(v)} for k, v in sorted(oracle_fit.cv_overall.items())
            ],
            "choices": _choices(oracle_fit),
            "test": _simulate(
                eval_data,
                oracle_fit,
                lambda q, _b: eval_data.oracle_bins[q],
                keys,
                eval_data.oracle_bins,
            ),
        }
        pred_fit = policy_fit if policy_fit is not None else _fit_predicted(fit_data, config)
        th = pred_fit.policy.thresholds

        def pred_bin(q: str, b: int) -> int | None:
            p = _probes(b)
            return None if p is None else threshold_bin(eval_data.predicted(q, p), th)

        co["predicted"] = {
            "thresholds": [_r(t) for t in th],
            "cv": [
                {
                    "budget": k,
                    "accuracy": _r(v),
                    "generations": _r(pred_fit.cv_cost[k], 3),
                    "pooled_accuracy": _r(pred_fit.cv_pooled.get(k)),
                    "pooled": pred_fit.pooled.get(k, False),
                }
                for k, v in sorted(pred_fit.cv_overall.items())
            ],
            "choices": _choices(pred_fit),
            "test": _simulate(eval_data, pred_fit, pred_bin, keys, eval_data.oracle_bins),
        }
        if target is not None:
            t = float(target["accuracy"])
            for name in ("oracle", "predicted"):
                curve = [(p["generations"], p["accuracy"]) for p in co[name]["test"]["curve"]]
                co[name]["needed"] = needed_budget(curve, t)
        if target is not None and config.eval_split != config.fit_split:
            co["allocation"] = _allocation(fit_data, eval_data, pred_fit, keys, 16.0)
        # Beyond the paper: no difficulty at all, so no probes: the best arm per budget
        # (any arm costing at most the budget), chosen on the fit split.
        fixed_fit = fit_policy(
            fit_data.table,
            fit_data.qids,
            lambda _q, _b: None,
            arms=_candidate_arms(config),
            budgets=keys,
            probes=lambda _b: 0,
            description="one arm per budget for every question (no probes)",
        )
        co["no_router"] = {
            "cv": [
                {"budget": k, "accuracy": _r(v)} for k, v in sorted(fixed_fit.cv_overall.items())
            ],
            "choices": {
                str(k): f"{c.arm}@{c.budget}" for k, c in sorted(fixed_fit.choices[1].items())
            },
            "test": _simulate(
                eval_data, fixed_fit, lambda _q, _b: None, keys, eval_data.oracle_bins
            ),
        }
        if target is not None:
            curve = [(p["generations"], p["accuracy"]) for p in co["no_router"]["test"]["curve"]]
            co["no_router"]["needed"] = needed_budget(curve, float(target["accuracy"]))
    if target is not None:
        bon_curve = [
            (float(p["generations"] or 0), float(p["accuracy"] or 0))
            for p in result["splits"][config.eval_split]["curves"].get("bon_weighted", [])
        ]
        co["bon_weighted_needed"] = needed_budget(bon_curve, float(target["accuracy"]))
    # A harder baseline than best-of-N: the best single arm at the target budget,
    # picked on the evaluation split itself (so an optimistic fixed strategy).
    fixed = [
        (float(acc["accuracy"]), a)
        for a in arm_names
        if a != "greedy" and (acc := eval_data.accuracy(a, TARGET_BUDGET)) is not None
    ]
    best_fixed = None
    if fixed:
        top = max(v for v, _ in fixed)
        arm = next(a for v, a in fixed if v == top)
        best_fixed = {
            "arm": arm,
            "budget": TARGET_BUDGET,
            **(eval_data.accuracy(arm, TARGET_BUDGET) or {}),
        }
        co["best_fixed"] = best_fixed
    if policy is not None:
        name = router_arm(policy)
        runs = _router_runs(eval_data, name, config.router_budgets)
        co["router"] = {"arm": name, "runs": runs}
        # Routers that ran other policies on the same questions (e.g. the hand-set default).
        others = sorted(
            {r.key.arm for r in eval_data.rows if r.key.arm.startswith("router:")} - {name}
        )
        co["other_routers"] = []
        for other in others:
            stored = cache.get_meta(f"policy:{other}") or {}
            other_runs = _router_runs(eval_data, other, config.router_budgets)
            co["other_routers"].append(
                {
                    "arm": other,
                    "description": str(stored.get("description", ""))[:160],
                    "runs": [
                        {
                            k: p[k]
                            for k in (
                                "budget",
                                "accuracy",
                                "low",
                                "high",
                                "generations",
                                "questions",
                            )
                        }
                        for p in other_runs
                    ],
                }
            )
        if target is not None and runs:
            curve = [(float(p["generations"]), float(p["accuracy"])) for p in runs]
            co["router"]["needed"] = needed_budget(curve, float(target["accuracy"]))
            if best_fixed is not None:
                co["router"]["needed_best_fixed"] = needed_budget(
                    curve, float(best_fixed["accuracy"])
                )
    if target is not None:
        taus = (0.5, 0.6, 0.7, 0.8, 0.9, 1.0)
        co["early_stop"] = {
            "budget": TARGET_BUDGET,
            "test": _early_stop(eval_data, TARGET_BUDGET, taus, config.seeds),
        }
        if fit_data is not None and fit_data is not eval_data:
            co["early_stop"]["validation"] = _early_stop(
                fit_data, TARGET_BUDGET, taus, config.seeds
            )
    result["compute_optimal"] = co
    result["flops_matched"] = _flops_matched(eval_data, policy, config)
    if config.fit_split is not None:
        full = SweepConfig.preset("full")
        result["full_sweep_estimate"] = estimate_sweep_seconds(cache, config, full)
    return result


def _flops_matched(
    data: SplitData, policy: ComputePolicy | None, config: SweepConfig
) -> dict[str, Any]:
    """policy-small + router at M + 3(M-1)/R generations vs the larger model's greedy, per bin."""
    large = data.per_q.get((LARGE_GREEDY, 1))
    if not large:
        return {"available": False, "why": "no reference-model runs in the cache"}
    params_large = next(float(p[0].get("params") or 0) for p in large.values())
    params_small = float(next(iter(data.pools.values())).get("params") or 0)
    if not params_large or not params_small:
        return {"available": False, "why": "parameter counts unknown"}
    m = params_large / params_small
    small_greedy = data.accuracy("greedy", 1)
    large_acc = data.accuracy(LARGE_GREEDY, 1)
    out: dict[str, Any] = {
        "available": True,
        "params_small": int(params_small),
        "params_large": int(params_large),
        "M": _r(m, 2),
        "large_greedy": large_acc,
        "small_greedy": small_greedy,
        "ratios": [],
    }
    name = router_arm(policy) if policy is not None else None
    greedy_flops = float((small_greedy or {}).get("flops") or 0.0)
    for ratio in FLOPS_RATIOS:
        x = m + 3 * (m - 1) / ratio
        # Matched in FLOPs, not generations: a revision's long context costs more
        # than a greedy pass. The router's largest budget whose mean generator FLOPs
        # stay within X greedy passes of policy-small (the verifier is not counted).
        by_gens = [b for b in config.router_budgets if b <= x + 1e-9]
        fits = []
        for b in config.router_budgets:
            acc = data.accuracy(name, b) if name is not None else None
            if acc is not None and greedy_flops and float(acc["flops"] or 0) <= x * greedy_flops:
                fits.append(b)
        budget = max(fits) if fits else None
        entry: dict[str, Any] = {
            "R": ratio,
            "X": _r(x, 1),
            "budget": budget,
            "budget_by_generations": max(by_gens) if by_gens else None,
        }
        if budget is not None and name is not None and (name, budget) in data.per_q:
            router = data.accuracy(name, budget)
            assert router is not None
            entry["router"] = router
            if small_greedy and small_greedy.get("flops"):
                entry["flops_used_vs_small_greedy"] = _r(
                    float(router["flops"] or 0) / float(small_greedy["flops"]), 2
                )
            if large_acc and large_acc.get("flops"):
                entry["flops_used_vs_large_greedy"] = _r(
                    float(router["flops"] or 0) / float(large_acc["flops"]), 2
                )
            by_bin = {}
            for b in range(1, NUM_BINS + 1):
                ids = [q for q in data.qids if data.oracle_bins.get(q) == b]
                r_acc = data.accuracy(name, budget, ids)
                l_acc = data.accuracy(LARGE_GREEDY, 1, ids)
                if r_acc is None or l_acc is None:
                    continue
                by_bin[str(b)] = {
                    "router": r_acc["accuracy"],
                    "router_low": r_acc["low"],
                    "router_high": r_acc["high"],
                    "large": l_acc["accuracy"],
                    "large_low": l_acc["low"],
                    "large_high": l_acc["high"],
                    "questions": r_acc["questions"],
                }
            entry["by_bin"] = by_bin
        else:
            entry["missing"] = (
                f"no router budget in this sweep spends at most {x:.0f} greedy passes of FLOPs"
                if budget is None
                else f"the router did not run at {budget} generations"
            )
        out["ratios"].append(entry)
    return out


def arms_in(config: SweepConfig) -> list[Arm]:
    """The sweep's arms (a helper for the report)."""
    return [arm_by_name(a) for a in config.arms if any(x.name == a for x in ARMS)]
