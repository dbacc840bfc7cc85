"""The machine-readable headline and the two FLOPs ledgers, on a scripted sweep and by hand."""

from __future__ import annotations

import json
from typing import Any

import pytest
from fakes import ScriptedGenerator, ScriptedVerifier

from langgraph_ttc.bench.analysis import analyse
from langgraph_ttc.bench.cache import BenchCache
from langgraph_ttc.bench.data import default_checker, suite_items
from langgraph_ttc.bench.pools import BenchModels
from langgraph_ttc.bench.report import render_markdown, write_json
from langgraph_ttc.bench.runner import SweepRunner
from langgraph_ttc.bench.sections.flops import bins_won
from langgraph_ttc.bench.sections.headline import headline
from langgraph_ttc.bench.sweep import SweepConfig

CONFIG = SweepConfig(
    name="test",
    questions=5,
    budgets=(1, 4, 16, 64),
    tree_budgets=(4,),
    router_budgets=(4, 16, 64),
    seeds=2,
    pool_size=64,
    revision_chains=4,
    revision_length=4,
    arms=("greedy", "majority", "bon_weighted", "beam_m4", "revise_s4"),
)
ITEMS = {s: suite_items(s, 5) for s in ("validation", "test")}

SCHEMA = {
    "questions_per_split": int,
    "bon_weighted_at_64": float,
    "majority_at_64": float,
    "greedy": float,
    "router_generations_to_match_bon64": (float, type(None)),
    "router_efficiency_vs_bon64": (float, type(None)),
    "best_fixed_arm_at_64": dict,
    "router_efficiency_vs_best_fixed64": (float, type(None)),
    "flops_matched_bins_won": dict,
    "flops_matched_bins_won_with_verifier": dict,
}


@pytest.fixture(scope="module")
def analysis(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    out = tmp_path_factory.mktemp("sweep")
    # A verifier as costly as 200 policies: with its FLOPs counted, little fits the match.
    models = BenchModels(
        ScriptedGenerator(error_rate=0.3, params=1_000),
        ScriptedVerifier(params=200_000),
        ScriptedGenerator(error_rate=0.2, params=1_000, name="reviser"),
        ScriptedGenerator(error_rate=0.05, params=14_000, name="large"),
    )
    with BenchCache(out / "cache.sqlite") as cache:
        summary = SweepRunner(
            CONFIG, models, cache, ITEMS, checker=default_checker, progress=False
        ).run()
        result = analyse(cache, CONFIG, ITEMS, policy=summary.policy)
        write_json(result, out / "results.json")
    result["_written"] = json.loads((out / "results.json").read_text())
    return result


def test_the_headline_has_exactly_the_issues_schema(analysis: dict[str, Any]) -> None:
    head = analysis["_written"]["headline"]
    assert set(head) == set(SCHEMA)
    for key, kind in SCHEMA.items():
        assert isinstance(head[key], kind), (key, head[key])
    assert set(head["best_fixed_arm_at_64"]) == {"arm", "accuracy"}
    assert isinstance(head["best_fixed_arm_at_64"]["arm"], str)
    assert isinstance(head["best_fixed_arm_at_64"]["accuracy"], float)
    for key in ("flops_matched_bins_won", "flops_matched_bins_won_with_verifier"):
        assert set(head[key]) == {"0.16", "0.79", "22"}
        for bins in head[key].values():
            assert all(isinstance(b, int) and 1 <= b <= 5 for b in bins)
            assert bins == sorted(set(bins))
    assert head["questions_per_split"] == 5


def test_the_headline_reads_the_reports_own_numbers(analysis: dict[str, Any]) -> None:
    head = analysis["headline"]
    curves = analysis["splits"]["test"]["curves"]
    at = {(a, p["budget"]): p["accuracy"] for a, ps in curves.items() for p in ps}
    assert head["bon_weighted_at_64"] == at[("bon_weighted", 64)]
    assert head["majority_at_64"] == at[("majority", 64)]
    assert head["greedy"] == at[("greedy", 1)]
    router = analysis["compute_optimal"]["router"]
    assert router["runs"], "the router ran"
    if head["router_generations_to_match_bon64"] is not None:
        gens = head["router_generations_to_match_bon64"]
        assert gens == pytest.approx(router["needed"]["interpolated"])
        assert head["router_efficiency_vs_bon64"] == pytest.approx(64 / gens, abs=0.01)
    fixed = analysis["compute_optimal"]["best_fixed"]
    assert head["best_fixed_arm_at_64"] == {"arm": fixed["arm"], "accuracy": fixed["accuracy"]}
    md = render_markdown(analysis)
    assert "## Headline" in md
    assert f"best-of-N weighted@64 {head['bon_weighted_at_64']:.3f}" in md


def test_the_verifier_ledger_charges_the_verifier(analysis: dict[str, Any]) -> None:
    fm = analysis["flops_matched"]
    assert fm["available"]
    plain, with_v = fm["ratios"], fm["ratios_with_verifier"]
    assert [e["R"] for e in plain] == [e["R"] for e in with_v] == [0.16, 0.79, 22.0]
    for a, b in zip(plain, with_v, strict=True):
        assert a["ledger"] == "flops" and b["ledger"] == "flops+verifier_flops"
        # Counting more FLOPs never buys a larger budget.
        assert (b["budget"] or 0) <= (a["budget"] or 0)
        if b["budget"] is not None and a["budget"] == b["budget"]:
            assert b["flops_used_vs_small_greedy"] > a["flops_used_vs_small_greedy"]
    # This verifier is 200x the policy: with it counted, the router affords less somewhere.
    assert any((b["budget"] or 0) < (a["budget"] or 0) for a, b in zip(plain, with_v, strict=True))
    head = analysis["headline"]
    assert head["flops_matched_bins_won"] == {f"{e['R']:g}": e["bins_won"] for e in plain}
    assert head["flops_matched_bins_won_with_verifier"] == {
        f"{e['R']:g}": e["bins_won"] for e in with_v
    }
    md = render_markdown(analysis)
    assert "Generator FLOPs only (the paper's ledger)" in md
    assert "Generator + verifier FLOPs" in md


def test_bins_won_counts_ties_and_nothing_where_no_budget_fits() -> None:
    entry = {
        "by_bin": {
            "1": {"router": 1.0, "large": 1.0},
            "2": {"router": 0.5, "large": 0.75},
            "3": {"router": 0.8, "large": 0.6},
        }
    }
    assert bins_won(entry) == [1, 3]
    assert bins_won({"missing": "no router budget fits"}) == []


def test_headline_of_a_sweep_without_a_router_says_null() -> None:
    curve = [{"budget": 64, "accuracy": 0.5}]
    analysis = {
        "sweep": {"eval_split": "test"},
        "questions": {"validation": 70, "test": 60},
        "splits": {"test": {"curves": {"bon_weighted": curve, "majority": curve, "greedy": []}}},
        "compute_optimal": {},
        "flops_matched": {"available": False},
    }
    head = headline(analysis)
    assert head["questions_per_split"] == 60
    assert head["greedy"] is None and head["router_efficiency_vs_bon64"] is None
    assert head["best_fixed_arm_at_64"] == {"arm": None, "accuracy": None}
    assert head["flops_matched_bins_won"] == {"0.16": [], "0.79": [], "22": []}
