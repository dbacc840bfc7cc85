"""``fit_policy``: the best arm per bin and budget, two-fold CV, probe-aware costs."""

from __future__ import annotations

import pytest

from langgraph_ttc.bench.arms import arm_by_name
from langgraph_ttc.bench.fit import PolicyFit, fit_policy, folds_of, runs_as_measured
from langgraph_ttc.types import StrategyConfig

ARMS = [arm_by_name(n) for n in ("greedy", "majority", "bon_weighted", "beam_m4")]
QIDS = [f"q{i:02d}" for i in range(20)]


def bin_of(qid: str, _budget: int) -> int:
    return 1 + int(qid[1:]) // 4  # 4 questions per bin


def base_table(value: float = 0.0) -> dict[tuple[str, str, int], float]:
    return {(q, a.name, b): value for q in QIDS for a in ARMS for b in (1, 4, 16) if a.config(b)}


def test_matched_fit_picks_the_best_arm_per_bin() -> None:
    table = base_table()
    for q in QIDS:
        easy = bin_of(q, 16) <= 2
        table[(q, "majority", 16)] = 1.0 if easy else 0.0
        table[(q, "bon_weighted", 16)] = 0.5 if easy else 1.0
        table[(q, "greedy", 1)] = 1.0 if bin_of(q, 1) == 1 else 0.0
    fit = fit_policy(table, QIDS, bin_of, arms=ARMS, budgets=[1, 4, 16])
    assert fit.mode == "matched"
    assert [fit.choices[b][16].arm for b in range(1, 6)] == ["majority"] * 2 + ["bon_weighted"] * 3
    assert fit.policy.lookup(1, 16).strategy == "majority"
    assert fit.policy.lookup(4, 16).strategy == "best_of_n"
    assert fit.policy.lookup(1, 1).strategy == "greedy"
    # Every bin is separable here, so the cross-validated choice is perfect too.
    assert fit.cv_overall[16] == pytest.approx(1.0)
    assert fit.cv[3][16] == pytest.approx(1.0)


def test_two_fold_cross_validation_scores_the_choice_on_the_other_fold() -> None:
    table = base_table()
    group = [q for q in QIDS if bin_of(q, 16) == 3]
    fold_a, fold_b = folds_of(group)
    assert len(fold_a) == len(fold_b) == 2 and set(fold_a) | set(fold_b) == set(group)
    for q in group:
        # majority is perfect on fold a and useless on fold b; best-of-N is 0.5 everywhere.
        table[(q, "majority", 16)] = 1.0 if q in fold_a else 0.0
        table[(q, "bon_weighted", 16)] = 0.5
    fit = fit_policy(table, QIDS, bin_of, arms=ARMS, budgets=[16])
    # Chosen on a -> majority, scored on b -> 0; chosen on b -> best-of-N, scored on a -> 0.5.
    assert fit.cv[3][16] == pytest.approx(0.25)
    # On the whole bin both reach 0.5 at the same cost: the arm listed first wins the tie.
    assert fit.choices[3][16].arm == "majority"
    assert fit.choices[3][16].accuracy == pytest.approx(0.5)


def test_probe_aware_fit_counts_the_probes_and_runs_as_measured() -> None:
    arms = [*ARMS, arm_by_name("revise_s4")]
    table = {(q, a.name, b): 0.0 for q in QIDS for a in arms for b in (1, 2, 4, 16) if a.config(b)}
    for q in QIDS:
        table[(q, "greedy", 1)] = 1.0  # after probes the router votes over them: not greedy
        table[(q, "beam_m4", 4)] = 1.0  # likewise: the probes join the final vote
        table[(q, "majority", 2)] = 1.0  # 2 samples < 4 probes: the vote would count 4
        table[(q, "revise_s4", 4)] = 1.0  # 1 chain < 4 probes: extra probes become chains
        table[(q, "revise_s4", 16)] = 0.95  # 4 chains, each started by a probe: as measured
        table[(q, "majority", 4)] = 0.9
        table[(q, "beam_m4", 16)] = 0.99  # 16 + 4 probes > 16 anyway
    probes = {1: None, 2: None, 4: None, 16: 4}
    fit = fit_policy(
        table,
        QIDS,
        lambda q, b: None if probes[b] is None else bin_of(q, b),
        arms=arms,
        budgets=[1, 2, 4, 16],
        probes=probes.get,
    )
    assert fit.mode == "probe_aware"
    assert {(fit.choices[b][16].arm, fit.choices[b][16].budget) for b in range(1, 6)} == {
        ("revise_s4", 16)
    }
    assert fit.choices[1][16].cost == 16
    assert fit.policy.lookup(2, 16).sequential == 4
    # No probes at budget 4: anything goes, one choice for every bin; ties go to the cheapest.
    assert {fit.choices[b][4].arm for b in range(1, 6)} == {"greedy"}
    matched = fit_policy(table, QIDS, bin_of, arms=arms, budgets=[1, 2, 4, 16])
    assert matched.choices[1][16].arm == "beam_m4"


def test_runs_as_measured() -> None:
    assert runs_as_measured(StrategyConfig("greedy", n=1, temperature=0.0), 0)
    assert not runs_as_measured(StrategyConfig("greedy", n=1, temperature=0.0), 1)
    assert runs_as_measured(StrategyConfig("best_of_n", n=4), 4)
    assert not runs_as_measured(StrategyConfig("majority", n=2, selection="majority"), 4)
    assert runs_as_measured(StrategyConfig("revise", n=16, sequential=4), 4)
    assert not runs_as_measured(StrategyConfig("revise", n=8, sequential=8), 4)
    assert not runs_as_measured(StrategyConfig("beam", n=16, beam_width=4), 4)


def test_fit_needs_results() -> None:
    with pytest.raises(ValueError, match="no arm has results"):
        fit_policy({}, QIDS, bin_of, arms=ARMS, budgets=[16])


def test_pooling_when_one_arm_cross_validates_better_than_per_bin_choices() -> None:
    table = base_table()
    for b in range(1, 6):
        group = [q for q in QIDS if bin_of(q, 16) == b]
        fold_a, _ = folds_of(group)
        for q in group:
            # A trap for per-bin choice: best-of-N looks perfect on one fold of each bin.
            table[(q, "bon_weighted", 16)] = 1.0 if q in fold_a else 0.0
            table[(q, "majority", 16)] = 0.6
    binned = fit_policy(table, QIDS, bin_of, arms=ARMS, budgets=[16])
    # Each bin: chosen on a -> best-of-N, scores 0 on b; chosen on b -> majority, 0.6 on a.
    assert binned.cv_overall[16] == pytest.approx(0.3)
    assert not binned.pooled[16]
    pooled = fit_policy(table, QIDS, bin_of, arms=ARMS, budgets=[16], pool_when_better=True)
    assert pooled.cv_pooled[16] >= binned.cv_overall[16]
    assert pooled.pooled[16]
    assert pooled.cv_overall[16] == pytest.approx(pooled.cv_pooled[16])
    assert {pooled.choices[b][16].arm for b in range(1, 6)} == {"majority"}
    # Where bins really differ, per-bin choice cross-validates better and is kept.
    separable = base_table()
    for q in QIDS:
        easy = bin_of(q, 16) <= 2
        separable[(q, "majority", 16)] = 1.0 if easy else 0.0
        separable[(q, "bon_weighted", 16)] = 0.0 if easy else 1.0
    kept = fit_policy(separable, QIDS, bin_of, arms=ARMS, budgets=[16], pool_when_better=True)
    assert not kept.pooled[16]
    assert kept.choices[1][16].arm == "majority" and kept.choices[5][16].arm == "bon_weighted"


def _probe_fit(table: dict[tuple[str, str, int], float], *, unprobed: bool = False) -> PolicyFit:
    probes = {1: None, 4: 4, 16: 4}
    return fit_policy(
        table,
        QIDS,
        lambda q, b: None if probes[b] is None else bin_of(q, b),
        arms=ARMS,
        budgets=[1, 4, 16],
        probes=probes.get,
        pool_when_better=True,
        unprobed=unprobed,
    )


def test_the_fit_skips_the_probes_where_they_do_not_pay() -> None:
    from langgraph_ttc.router.policy import ComputePolicy

    table = base_table()
    for q in QIDS:
        # Beam search at 16 is best, but after 4 probes it neither fits nor runs as measured.
        table[(q, "beam_m4", 16)] = 0.9
        table[(q, "majority", 16)] = 0.5
        table[(q, "majority", 4)] = 0.4
        table[(q, "beam_m4", 4)] = 0.2
    fit = _probe_fit(table, unprobed=True)
    assert fit.unprobed == {4: True, 16: True}
    assert fit.cv_overall[16] == pytest.approx(0.9)
    policy = fit.policy
    plan = policy.unprobed_plan(16)
    assert plan is not None and plan.strategy == "beam" and plan.n == 16
    at_4 = policy.unprobed_plan(4)
    assert at_4 is not None and at_4.strategy == "majority"
    assert policy.unprobed_plan(1) is None  # no probes at 1 anyway: the table decides
    # Every bin holds the unprobed choice, so the simulations replay what the router runs.
    assert {fit.choices[b][16].arm for b in range(1, 6)} == {"beam_m4"}
    # It survives the policy's JSON form (what `ttc fit-policy` writes).
    again = ComputePolicy.from_dict(policy.to_dict())
    assert again.unprobed_plan(16) == plan
    # Without the option, the paper's probe-aware fit never skips probes.
    plain = _probe_fit(table)
    assert not plain.policy.unprobed
    assert plain.cv_overall[16] == pytest.approx(0.5)


def test_the_fit_keeps_the_probes_where_they_pay() -> None:
    table = base_table()
    for q in QIDS:
        easy = bin_of(q, 16) <= 2
        # Each bin has its own best arm (both run as measured after 4 probes): routing pays.
        table[(q, "majority", 16)] = 1.0 if easy else 0.0
        table[(q, "bon_weighted", 16)] = 0.0 if easy else 1.0
        table[(q, "majority", 4)] = 0.6  # the same for every bin: probes cannot pay at 4
    fit = _probe_fit(table, unprobed=True)
    assert fit.unprobed == {4: True, 16: False}
    policy = fit.policy
    # 16 probes explicitly (None), so it does not inherit the unprobed entry of 4.
    assert policy.unprobed == {4: policy.unprobed[4], 16: None}
    assert policy.unprobed_plan(16) is None and policy.unprobed_plan(8) is not None
    assert policy.lookup(1, 16).strategy == "majority"
    assert policy.lookup(5, 16).strategy == "best_of_n"
    assert fit.cv_unprobed[16] < fit.cv_overall[16]
