"""Fitting a ``ComputePolicy``: the best arm per difficulty bin and budget.

The paper's compute-optimal rule θ*(q, N) is chosen per difficulty bin and
budget on held-out questions. :func:`fit_policy` does that on a results
table, with the paper's two-fold cross-validation inside each bin (choose
on one fold, score the choice on the other, average the two) to estimate
how well the choice does on questions it was not chosen on; the policy it
returns is then chosen on all the questions.

Two ways to spend the budget:

* **matched** (the paper's): at budget N choose among the arms *at* N; the
  difficulty estimate is free (oracle bins, or the paper's uncounted probes).
* **probe-aware** (what the router runs): at budget N the router first draws
  ``probes(N)`` probes; choose among every arm at any swept budget b whose
  total cost with the probes (``router.planning.total_cost``: voting and
  revisions reuse the probes, greedy and tree search pay on top) is at most
  N, and that the router runs *as measured* (:func:`runs_as_measured`). Where
  the router draws no probe (small budgets), it routes with ``default_bin``:
  one choice over all questions is written into every bin.

Why "as measured": after routing, the strategy's ``select`` votes over every
finished candidate, the probes included. Voting arms with at least as many
samples as probes, and revisions with at least as many chains as probes
(each probe starts a chain), then run exactly the arm the sweep measured.
Greedy decoding and the tree searches do not: their final vote also counts
the probes, which the sweep did not measure (greedy after probes is a
majority vote of the probes and the greedy sample, ties going to the first
probe); nor do revisions with fewer chains than probes (the extra probes
become chains of one and outvote the long chains). Those are left out where
probes are drawn.

Ties go to the cheaper arm, then to the arm listed first.

**Unprobed entries** (issue 10, item 5; ``fit_policy(unprobed=True)``, what
the router's fit does). Probes buy a difficulty estimate but cost generations
and rule out plans that do not run as measured after them. At each budget
where the router would probe, the fit also cross-validates the best single
arm run *without* probes (any arm whose own cost fits, as in
:func:`fit_fixed_policy`). Where that scores at least as well as the probed
choice, probing does not pay: the budget gets a ``ComputePolicy.unprobed``
entry with that arm, and the router skips its probes there. The other probed
budgets get an explicit ``None`` entry (probe), so a lookup between budgets
never inherits an unprobed entry from below by accident.

The sweep's fits, on a split's cached results: :func:`fit_router_policy`
(what the router runs: probe-aware, predicted bins), :func:`fit_oracle_policy`
(the paper's: oracle bins, matched budgets) and :func:`fit_fixed_policy`
(no difficulty: one arm per budget for every question).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field

from langgraph_ttc.bench.arms import Arm, budget_keys
from langgraph_ttc.bench.cache import BenchCache
from langgraph_ttc.bench.data import BenchItem
from langgraph_ttc.bench.difficulty import probe_count, probes_at
from langgraph_ttc.bench.split_data import SplitData, load_split
from langgraph_ttc.bench.stats import stable_hash
from langgraph_ttc.bench.sweep import SweepConfig
from langgraph_ttc.router.planning import total_cost
from langgraph_ttc.router.policy import NUM_BINS, ComputePolicy, quantile_thresholds
from langgraph_ttc.types import StrategyConfig

__all__ = [
    "Choice",
    "PolicyFit",
    "fit_fixed_policy",
    "fit_oracle_policy",
    "fit_policy",
    "fit_predicted_policy",
    "fit_router_policy",
    "folds_of",
    "runs_as_measured",
]

Table = Mapping[tuple[str, str, int], float]
"""``(question id, arm name, budget) -> accuracy`` (the mean over seeds)."""


@dataclass(frozen=True)
class Choice:
    """The arm chosen for a bin and a budget.

    Attributes:
        arm: The arm's name.
        budget: The budget the arm was measured at (<= the key budget).
        config: Its ``StrategyConfig`` (what the policy stores).
        accuracy: Its accuracy on the questions it was chosen on.
        questions: How many questions that was.
        cost: Its cost in generations, probes included.
    """

    arm: str
    budget: int
    config: StrategyConfig
    accuracy: float
    questions: int
    cost: int


@dataclass(frozen=True)
class PolicyFit:
    """A fitted policy and how it was chosen.

    Attributes:
        policy: The ``ComputePolicy`` (chosen on all questions of each bin).
        choices: ``{bin: {budget: Choice}}`` behind the policy's table.
        cv: ``{bin: {budget: accuracy}}``: two-fold cross-validated accuracy.
        cv_overall: ``{budget: accuracy}``: the same over all bins, weighted by
            the questions in each bin.
        cv_cost: ``{budget: generations}``: the mean cost of the cross-validated
            choices, probes included.
        mode: ``matched`` or ``probe_aware``.
        cv_pooled: ``{budget: accuracy}``: two-fold CV of one arm for all bins.
        pooled: ``{budget: bool}``: whether the policy holds one arm for all
            bins there (no estimate at that budget, or ``pool_when_better``).
        unprobed: ``{budget: bool}``: whether the policy runs that budget without
            probes (a ``ComputePolicy.unprobed`` entry; its choice fills every bin).
        cv_unprobed: ``{budget: accuracy}``: two-fold CV of the best arm run
            without probes, at the budgets where the router would probe.
    """

    policy: ComputePolicy
    choices: dict[int, dict[int, Choice]]
    cv: dict[int, dict[int, float]]
    cv_overall: dict[int, float]
    cv_cost: dict[int, float]
    mode: str
    cv_pooled: dict[int, float] = field(default_factory=dict)
    pooled: dict[int, bool] = field(default_factory=dict)
    unprobed: dict[int, bool] = field(default_factory=dict)
    cv_unprobed: dict[int, float] = field(default_factory=dict)


def folds_of(qids: Sequence[str]) -> tuple[list[str], list[str]]:
    """Split questions into two folds of (nearly) equal size by a fixed hash."""
    ordered = sorted(qids, key=lambda q: (stable_hash("fold", q), q))
    return ordered[0::2], ordered[1::2]


def runs_as_measured(config: StrategyConfig, probes: int) -> bool:
    """Whether the router, after ``probes`` probes, runs ``config`` as the sweep measured it.

    See the module docstring: voting needs ``n >= probes``, revisions
    ``n // sequential >= probes``; greedy and tree search only run as
    measured without probes.
    """
    if probes <= 0:
        return True
    if config.strategy in ("majority", "best_of_n"):
        return config.n >= probes
    if config.strategy == "revise":
        return config.n // config.sequential >= probes
    return False


def _candidates(
    arms: Sequence[Arm], budgets: Sequence[int], key: int, probes: int | None, matched: bool
) -> list[tuple[int, Arm, int, StrategyConfig, int]]:
    """``(order, arm, budget, config, cost)`` of every arm that fits budget ``key``."""
    out = []
    for order, arm in enumerate(arms):
        for b in budgets:
            if (matched and b != key) or b > key:
                continue
            config = arm.config(b)
            if config is None:
                continue
            if not matched and not runs_as_measured(config, probes or 0):
                continue
            cost = b if matched else total_cost(config, probes or 0)
            if cost <= key:
                out.append((order, arm, b, config, cost))
    return out


def _best(
    table: Table,
    qids: Sequence[str],
    candidates: Sequence[tuple[int, Arm, int, StrategyConfig, int]],
) -> Choice | None:
    best: tuple[tuple[float, int, int, int], Choice] | None = None
    for order, arm, b, config, cost in candidates:
        values = [table.get((q, arm.name, b)) for q in qids]
        if not qids or any(v is None for v in values):
            continue  # an arm is compared only where it ran on every question
        acc = sum(v for v in values if v is not None) / len(values)
        rank = (-acc, cost, order, b)
        if best is None or rank < best[0]:
            best = (rank, Choice(arm.name, b, config, acc, len(qids), cost))
    return None if best is None else best[1]


def _score(table: Table, qids: Sequence[str], choice: Choice) -> float | None:
    values = [table.get((q, choice.arm, choice.budget)) for q in qids]
    if not qids or any(v is None for v in values):
        return None
    return sum(v for v in values if v is not None) / len(values)


def _cross_validate(
    table: Table,
    groups: Sequence[Sequence[str]],
    cands: Sequence[tuple[int, Arm, int, StrategyConfig, int]],
    fallback: Choice,
) -> tuple[list[float | None], float, float, int]:
    """Two-fold CV of choosing within each group: accuracy per group; totals of acc, cost, n."""
    per_group: list[float | None] = []
    total_acc = total_cost = 0.0
    total_q = 0
    for group in groups:
        fold_a, fold_b = folds_of(group)
        scored = cost = 0.0
        count = 0
        for chosen_on, scored_on in ((fold_a, fold_b), (fold_b, fold_a)):
            if not scored_on:
                continue
            pick = (_best(table, chosen_on, cands) if chosen_on else None) or fallback
            acc = _score(table, scored_on, pick)
            if acc is None:
                continue
            scored += acc * len(scored_on)
            count += len(scored_on)
            cost += pick.cost * len(scored_on)
        per_group.append(scored / count if count else None)
        total_acc += scored
        total_cost += cost
        total_q += count
    return per_group, total_acc, total_cost, total_q


def fit_policy(
    table: Table,
    qids: Sequence[str],
    bin_of: Callable[[str, int], int | None],
    *,
    arms: Sequence[Arm],
    budgets: Sequence[int],
    keys: Sequence[int] | None = None,
    probes: Callable[[int], int | None] | None = None,
    pool_when_better: bool = False,
    unprobed: bool = False,
    thresholds: Sequence[float] = (0.8, 0.6, 0.4, 0.2),
    default_bin: int = 3,
    description: str = "",
    fitted_for: Mapping[str, str | None] | None = None,
) -> PolicyFit:
    """Choose the best arm per (bin, budget), with two-fold cross-validation.

    Args:
        table: Accuracy per (question, arm, budget), seeds averaged.
        qids: The questions to fit on.
        bin_of: The bin (1..5) of a question when the budget is ``key``;
            ``None`` when the router would not estimate it (no probes).
        arms: The arms that may be chosen.
        budgets: The budgets the arms were measured at.
        keys: The policy's budget keys (default: ``budgets``).
        probes: Probes the router draws at a key budget (``None`` for none);
            ``probes=None`` altogether selects the paper's matched mode.
        pool_when_better: Beyond the paper: at a budget where one arm for all
            bins has a cross-validated accuracy at least as high as choosing
            per bin, write that one arm into every bin (per-bin choices on a
            few questions per bin overfit).
        unprobed: Beyond the paper (probe-aware mode only): at a budget where
            the router probes, choose to skip the probes when the best arm run
            without them cross-validates at least as well (see the module
            docstring); the policy gets ``unprobed`` entries.
        thresholds: The policy's bin thresholds on the predicted score.
        default_bin: The policy's bin for unestimated questions.
        description: Stored in the policy.
        fitted_for: The models the table's results came from
            (``router.fitted.run_models``), stored in the policy: the router
            runs it with those models only.

    Returns:
        The fit (see :class:`PolicyFit`).

    Raises:
        ValueError: If no arm has results for some key budget.
    """
    matched = probes is None
    keys = sorted(keys or budgets)
    choices: dict[int, dict[int, Choice]] = {b: {} for b in range(1, NUM_BINS + 1)}
    cv: dict[int, dict[int, float]] = {b: {} for b in range(1, NUM_BINS + 1)}
    cv_overall: dict[int, float] = {}
    cv_cost: dict[int, float] = {}
    cv_pooled: dict[int, float] = {}
    pooled: dict[int, bool] = {}
    skip: dict[int, bool] = {}
    cv_skip: dict[int, float] = {}
    skip_configs: dict[int, StrategyConfig | None] = {}
    for key in keys:
        p = None if probes is None else probes(key)
        cands = _candidates(arms, budgets, key, p, matched)
        overall = _best(table, qids, cands)
        if overall is None:
            raise ValueError(f"no arm has results on every question at budget {key}")
        members: dict[int | None, list[str]] = {}
        for q in qids:
            members.setdefault(bin_of(q, key), []).append(q)
        # Questions with no estimate are routed with the default bin: one choice for all.
        binned = None not in members
        for bin_ in range(1, NUM_BINS + 1):
            group = members.get(bin_, []) if binned else []
            choices[bin_][key] = (_best(table, group, cands) if group else None) or overall
        names = sorted(members, key=lambda b: -1 if b is None else b)
        per_bin, acc, cost, count = _cross_validate(
            table, [members[b] for b in names], cands, overall
        )
        _, acc_all, cost_all, count_all = _cross_validate(table, [list(qids)], cands, overall)
        cv_pooled[key] = acc_all / count_all if count_all else float("nan")
        pooled[key] = not binned or (pool_when_better and count_all > 0 and acc_all >= acc - 1e-12)
        if pooled[key] and binned:
            for bin_ in range(1, NUM_BINS + 1):
                choices[bin_][key] = overall
            acc, cost, count = acc_all, cost_all, count_all
        for b, value in zip(names, per_bin, strict=True):
            if b is not None and value is not None:
                cv[b][key] = value
        if unprobed and not matched and p:
            free = _candidates(arms, budgets, key, 0, False)
            alone = _best(table, qids, free)
            if alone is not None:
                _, acc_free, cost_free, count_free = _cross_validate(
                    table, [list(qids)], free, alone
                )
                cv_skip[key] = acc_free / count_free if count_free else float("nan")
                # Ties go to no probes: they would cost generations and buy nothing.
                probed_cv = acc / count if count else float("-inf")
                skip[key] = count_free > 0 and acc_free / count_free >= probed_cv - 1e-12
                if skip[key]:
                    for bin_ in range(1, NUM_BINS + 1):
                        choices[bin_][key] = alone
                    acc, cost, count = acc_free, cost_free, count_free
                skip_configs[key] = alone.config if skip[key] else None
        cv_overall[key] = acc / count if count else float("nan")
        cv_cost[key] = cost / count if count else float("nan")
    policy = ComputePolicy(
        thresholds=tuple(thresholds),
        table={b: {k: c.config for k, c in row.items()} for b, row in choices.items()},
        default_bin=default_bin,
        description=description,
        # Explicit `None` (probe) entries only matter once some budget skips its probes.
        unprobed=skip_configs if any(skip.values()) else {},
        fitted_for=fitted_for,
    )
    return PolicyFit(
        policy,
        choices,
        cv,
        cv_overall,
        cv_cost,
        "matched" if matched else "probe_aware",
        cv_pooled,
        pooled,
        skip,
        cv_skip,
    )


# --------------------------------------------------------------------------- the sweep's fits


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
    # The models the sweep ran (`ttc bench` records them): the router runs the
    # policy on those only, and the generic one on others.
    return fit_predicted_policy(data, config, fitted_for=cache.get_meta("fitted_for"))


def fit_predicted_policy(
    data: SplitData,
    config: SweepConfig,
    *,
    fitted_for: Mapping[str, str | None] | None = None,
) -> PolicyFit:
    """The router's policy fitted on one split's data (see :func:`fit_router_policy`).

    ``fitted_for`` names the models the data came from (``router.fitted.run_models``).
    """
    k = probe_count()
    thresholds = quantile_thresholds([data.predicted(q, k) for q in data.qids])
    description = (
        f"Fitted by `ttc bench` ({config.name} sweep) on the {data.split} split "
        f"({len(data.items)} questions): per predicted-difficulty bin and budget, the arm with "
        "the best accuracy whose cost with the router's probes fits the budget (probe-aware; "
        "two-fold cross-validated in the report). Bins: quantiles of the mean verifier score "
        f"of {k} probes. Where one arm for all bins cross-validates at least as well as "
        "per-bin choices, that arm fills every bin; where the best arm run without probes "
        "cross-validates at least as well as probing, the budget is `unprobed` (no probes). "
        f"Budgets above {max(budget_keys(config))} use the largest entry."
    )
    return fit_policy(
        data.table,
        data.qids,
        lambda q, b: data.predicted_bin(q, b, thresholds),
        arms=_candidate_arms(config),
        budgets=budget_keys(config),
        probes=probes_at,
        pool_when_better=True,
        unprobed=True,
        thresholds=thresholds,
        default_bin=3,
        description=description,
        fitted_for=fitted_for,
    )


def fit_oracle_policy(data: SplitData, config: SweepConfig) -> PolicyFit:
    """The paper's compute-optimal choice: oracle bins, matched budgets, no probe cost."""
    return fit_policy(
        data.table,
        data.qids,
        lambda q, _b: data.oracle_bins[q],
        arms=_candidate_arms(config),
        budgets=budget_keys(config),
        probes=None,
        description="oracle bins, matched budgets (the paper's compute-optimal choice)",
    )


def fit_fixed_policy(data: SplitData, config: SweepConfig) -> PolicyFit:
    """Beyond the paper: no difficulty, so no probes; the best arm per budget for every question.

    Any arm costing at most the budget may be chosen.
    """
    return fit_policy(
        data.table,
        data.qids,
        lambda _q, _b: None,
        arms=_candidate_arms(config),
        budgets=budget_keys(config),
        probes=lambda _b: 0,
        description="one arm per budget for every question (no probes)",
    )
