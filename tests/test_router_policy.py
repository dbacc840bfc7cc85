"""ComputePolicy: binning, lookup, JSON round trip and validation; plan fitting."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from langgraph_ttc.router import (
    ComputePolicy,
    available_plan,
    check_policy,
    default_plan,
    fit_plan,
    generic_policy,
    model_fingerprint,
)
from langgraph_ttc.router.policy import DEFAULT_POLICY_PATH, quantile_thresholds
from langgraph_ttc.types import StrategyConfig


def _policy(**kw: object) -> ComputePolicy:
    table = {
        b: {1: StrategyConfig("greedy", n=1), 8: StrategyConfig("best_of_n", n=8)}
        for b in range(1, 6)
    }
    table[3] = {4: StrategyConfig("beam", n=4, beam_width=2), 16: StrategyConfig("beam", n=16)}
    args: dict = {"thresholds": (0.8, 0.6, 0.4, 0.2), "table": table}
    args.update(kw)
    return ComputePolicy(**args)


def test_bins_are_ordered_easiest_first() -> None:
    policy = _policy()
    assert [policy.bin(s) for s in (1.0, 0.8, 0.79, 0.6, 0.5, 0.4, 0.3, 0.2, 0.1, 0.0)] == [
        1,
        1,
        2,
        2,
        3,
        3,
        4,
        4,
        5,
        5,
    ]
    with pytest.raises(ValueError, match="score"):
        policy.bin(float("nan"))


def test_lookup_takes_largest_budget_not_above_request() -> None:
    policy = _policy()
    assert policy.lookup(3, 4).n == 4
    assert policy.lookup(3, 15).n == 4
    assert policy.lookup(3, 16).n == 16
    assert policy.lookup(3, 1000).n == 16
    # Below every entry: the smallest entry (the router shrinks it to fit).
    assert policy.lookup(3, 2).n == 4
    assert policy.lookup(None, 16).strategy == "beam"  # default_bin 3
    assert policy.lookup(1, 7).strategy == "greedy"
    with pytest.raises(ValueError, match="difficulty"):
        policy.lookup(6, 8)
    with pytest.raises(ValueError, match="budget"):
        policy.lookup(1, 0)


def test_json_round_trip(tmp_path: Path) -> None:
    policy = _policy(description="test", default_bin=2)
    path = policy.save(tmp_path / "p.json")
    data = json.loads(path.read_text())
    assert data["format"] == "langgraph-ttc/compute-policy"
    # Only non-default fields are written.
    assert data["table"]["3"]["4"] == {"strategy": "beam", "n": 4, "beam_width": 2}
    assert ComputePolicy.load(path) == policy
    assert ComputePolicy.from_dict(policy.to_dict()) == policy


@pytest.mark.parametrize(
    ("mutate", "match"),
    [
        (lambda d: d.update(thresholds=[0.2, 0.4, 0.6, 0.8]), "strictly decreasing"),
        (lambda d: d.update(thresholds=[0.8, 0.6, 0.4]), "4 cut points"),
        (lambda d: d.update(thresholds=[1.5, 0.6, 0.4, 0.2]), r"\[0, 1\]"),
        (lambda d: d["table"].pop("5"), "missing"),
        (lambda d: d["table"].update({"6": d["table"]["1"]}), "unexpected"),
        (lambda d: d["table"]["2"].update({"x": {"strategy": "greedy", "n": 1}}), "budget"),
        (
            lambda d: d["table"]["2"].update({"4": {"strategy": "nope", "n": 4}}),
            r"table\[2\]\[4\].*strategy",
        ),
        (
            lambda d: d["table"]["2"].update({"4": {"strategy": "best_of_n", "n": 8}}),
            "more than its budget",
        ),
        (
            lambda d: d["table"]["2"].update({"4": {"strategy": "best_of_n", "n": 4, "bogus": 1}}),
            "bogus",
        ),
        (lambda d: d.update(version=99), "version"),
        (lambda d: d.update(extra=1), "unknown policy fields"),
        (lambda d: d.update(default_bin=0), "default_bin"),
        (lambda d: d.pop("table"), "missing the field 'table'"),
        (lambda d: d.update(fitted_for="policy-small"), "fitted_for must be an object"),
        (lambda d: d.update(fitted_for={"verifier": "v"}), "must name the generator"),
        (lambda d: d.update(fitted_for={"generator": "g", "prm": "p"}), "unknown roles"),
        (lambda d: d.update(fitted_for={"generator": ""}), r"fitted_for\['generator'\]"),
    ],
)
def test_invalid_policies_name_the_field(mutate, match: str) -> None:
    data = _policy().to_dict()
    mutate(data)
    with pytest.raises((ValueError, TypeError), match=match):
        ComputePolicy.from_dict(data)


def test_fitted_for_round_trips(tmp_path: Path) -> None:
    fitted = {"generator": "TransformersGenerator:m@abc", "verifier": None}
    policy = _policy(fitted_for=fitted)
    assert policy.to_dict()["fitted_for"] == fitted
    assert ComputePolicy.load(policy.save(tmp_path / "p.json")) == policy
    assert "fitted_for" not in _policy().to_dict()  # unknown: runs with any models


def test_load_errors_name_the_file(tmp_path: Path) -> None:
    bad = tmp_path / "bad.json"
    bad.write_text("{not json")
    with pytest.raises(ValueError, match=r"bad\.json.*not valid JSON"):
        ComputePolicy.load(bad)
    bad.write_text(json.dumps({"thresholds": [0.5, 0.4, 0.3, 0.2]}))
    with pytest.raises(ValueError, match=r"bad\.json.*table"):
        ComputePolicy.load(bad)
    with pytest.raises(FileNotFoundError):
        ComputePolicy.load(tmp_path / "missing.json")


def test_shipped_default_policy() -> None:
    policy = ComputePolicy.default()
    budgets = [1, 2, 4, 8, 16, 32, 64, 128, 256]
    for b in range(1, 6):
        assert sorted(policy.table[b]) == budgets
        assert policy.lookup(b, 1).strategy == "greedy"
        for n in budgets:
            assert policy.lookup(b, n).generations <= n
    assert policy.description
    # It names what it was fitted on: the bundled policy and the default verifier.
    assert policy.fitted_for is not None
    assert policy.fitted_for["generator"].startswith("TransformersGenerator:policy-small@")
    assert policy.fitted_for["verifier"].startswith("TransformersLikelihoodVerifier:policy-large@")
    # Written in the canonical form: saving it again changes nothing.
    text = DEFAULT_POLICY_PATH.read_text()
    assert json.loads(text) == policy.to_dict()


def test_quantile_thresholds() -> None:
    scores = [i / 99 for i in range(100)]
    th = quantile_thresholds(scores)
    assert len(th) == 4 and list(th) == sorted(th, reverse=True)
    policy = _policy(thresholds=th)
    counts = [sum(policy.bin(s) == b for s in scores) for b in range(1, 6)]
    assert counts == [20, 20, 20, 20, 20]
    with pytest.raises(ValueError, match="at least 5"):
        quantile_thresholds([0.1, 0.2])


@pytest.mark.parametrize(
    ("config", "left", "expected"),
    [
        (StrategyConfig("best_of_n", n=16), 12, {"strategy": "best_of_n", "n": 12}),
        (StrategyConfig("best_of_n", n=8), 12, {"strategy": "best_of_n", "n": 8}),
        (
            StrategyConfig("beam", n=16, beam_width=4),
            14,
            {"strategy": "beam", "n": 12, "beam_width": 4},
        ),
        (
            StrategyConfig("beam", n=16, beam_width=4),
            3,
            {"strategy": "beam", "n": 3, "beam_width": 3},
        ),
        (StrategyConfig("dvts", n=16, beam_width=4), 1, {"strategy": "best_of_n", "n": 1}),
        (
            StrategyConfig("lookahead", n=16, beam_width=4, lookahead=1),
            12,
            {"strategy": "lookahead", "n": 4},
        ),
        (
            StrategyConfig("lookahead", n=16, beam_width=4, lookahead=3),
            12,
            {"strategy": "beam", "n": 12, "lookahead": 0},
        ),
        (
            StrategyConfig("revise", n=16, sequential=16),
            6,
            {"strategy": "revise", "n": 6, "sequential": 6},
        ),
        (StrategyConfig("greedy", n=1), 1, {"strategy": "greedy", "n": 1}),
    ],
)
def test_fit_plan(config: StrategyConfig, left: int, expected: dict) -> None:
    fitted = fit_plan(config, left)
    assert fitted is not None
    assert fitted.generations <= left
    for key, value in expected.items():
        assert getattr(fitted, key) == value


def test_fit_plan_with_nothing_left() -> None:
    assert fit_plan(StrategyConfig("best_of_n", n=4), 0) is None


def test_available_plan_falls_back() -> None:
    beam = StrategyConfig("beam", n=16)
    everything = ("greedy", "majority", "best_of_n", "beam", "lookahead", "dvts", "revise")
    assert available_plan(beam, everything, has_verifier=True) == beam
    no_verifier = available_plan(beam, everything, has_verifier=False)
    assert (no_verifier.strategy, no_verifier.selection, no_verifier.n) == (
        "majority",
        "majority",
        16,
    )
    revise = StrategyConfig("revise", n=8, sequential=8)
    assert (
        available_plan(revise, ("best_of_n", "majority"), has_verifier=True).strategy == "best_of_n"
    )
    la = StrategyConfig("lookahead", n=8, lookahead=1)
    assert available_plan(la, ("dvts", "majority"), has_verifier=True).strategy == "dvts"
    with pytest.raises(ValueError, match="no strategy can stand in"):
        available_plan(beam, ("beam",), has_verifier=False)


def test_default_plan_spends_the_budget() -> None:
    assert default_plan("beam", 16).to_dict()["n"] == 16
    assert default_plan("beam", 10).n == 8
    assert default_plan("lookahead", 16).generations == 16
    assert default_plan("revise", 2).sequential == 2
    assert default_plan("greedy", 16).temperature == 0.0
    with pytest.raises(ValueError, match="strategy"):
        default_plan("nope", 4)
    with pytest.raises(ValueError, match="budget"):
        default_plan("beam", 0)


# --------------------------------------------------------------------------- fitted for


class _Named:
    def __init__(self, name: str, source: str | None = None) -> None:
        self.name = name
        self._source = source


class _Wrapper:
    def __init__(self, inner: object) -> None:
        self.inner = inner
        self.name = "wrapped"


def test_fingerprints_tell_models_apart(tmp_path: Path) -> None:
    a, b = tmp_path / "a" / "model", tmp_path / "b" / "model"
    for folder, layers in ((a, 2), (b, 3)):
        folder.mkdir(parents=True)
        (folder / "config.json").write_text(json.dumps({"num_hidden_layers": layers}))
    fa, fb = model_fingerprint(_Named("x", str(a))), model_fingerprint(_Named("x", str(b)))
    assert fa is not None and fa.startswith("_Named:model@") and fa != fb
    # The name does not matter for a local folder; a wrapper is seen through.
    assert model_fingerprint(_Wrapper(_Named("renamed", str(a)))) == fa
    # Without a folder: the adapter class and its name.
    assert model_fingerprint(_Named("openai:m")) == "_Named:openai:m"
    assert model_fingerprint(None) is None


def test_the_shipped_policy_matches_the_bundled_models() -> None:
    pytest.importorskip("torch")
    from langgraph_ttc.defaults import bundled_available, load_bundled

    if not bundled_available():
        pytest.skip("bundled models not installed")
    gen, ver, _ = load_bundled("cpu")  # builds the adapters; loads no weights
    checked = check_policy(ComputePolicy.default(), gen, ver)
    assert checked.fitted == "yes" and checked.policy == ComputePolicy.default()
    other = check_policy(ComputePolicy.default(), gen, None)
    assert other.fitted == "no" and other.policy == generic_policy()


def test_the_generic_policy_needs_no_fit_and_no_probes() -> None:
    policy = generic_policy()
    assert policy.fitted_for is None and "Generic" in policy.description
    for budget in (1, 2, 3, 4, 7, 16, 100, 1000):
        plan = policy.unprobed_plan(budget)
        assert plan is not None and plan.generations <= max(budget, 1)
        assert plan.strategy == ("greedy" if budget < 4 else "adaptive")
    assert policy.unprobed_plan(16) == StrategyConfig("adaptive", n=16, round_size=4)
    assert ComputePolicy.from_dict(policy.to_dict()) == policy
