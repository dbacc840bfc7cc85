"""The sweep end to end on scripted models: resume from the cache, deterministic reports."""

from __future__ import annotations

import json
import shutil
import sqlite3
from pathlib import Path
from typing import Any

import pytest
from fakes import ScriptedGenerator, ScriptedVerifier

from langgraph_ttc.bench.analysis import analyse
from langgraph_ttc.bench.arms import router_arm
from langgraph_ttc.bench.cache import BenchCache
from langgraph_ttc.bench.data import default_checker, suite_items
from langgraph_ttc.bench.pools import BenchModels
from langgraph_ttc.bench.report import render_markdown, write_json
from langgraph_ttc.bench.runner import SweepRunner
from langgraph_ttc.bench.sweep import SweepConfig

CONFIG = SweepConfig(
    name="test",
    questions=5,
    budgets=(1, 2, 4),
    tree_budgets=(4,),
    router_budgets=(2, 4),
    seeds=2,
    pool_size=8,
    revision_chains=2,
    revision_length=2,
    arms=("greedy", "majority", "bon_weighted", "beam_m4", "revise_s2"),
)
ITEMS = {s: suite_items(s, 5) for s in ("validation", "test")}


class Models:
    """Scripted models whose calls are counted; the policy can be killed after n calls."""

    def __init__(self, kill_after: int | None = None) -> None:
        self.policy = ScriptedGenerator(
            error_rate=0.3, params=1_000, fail_after=kill_after, error=RuntimeError("killed")
        )
        self.reviser = ScriptedGenerator(error_rate=0.2, params=1_000, name="reviser")
        self.large = ScriptedGenerator(error_rate=0.05, params=14_000, name="large")
        self.prm = ScriptedVerifier(params=500)

    def bench(self) -> BenchModels:
        return BenchModels(self.policy, self.prm, self.reviser, self.large)

    @property
    def calls(self) -> int:
        gens = (self.policy, self.reviser, self.large)
        return sum(len(g.calls) for g in gens) + len(self.prm.calls)


def run(out: Path, models: Models) -> Any:
    with BenchCache(out / "cache.sqlite") as cache:
        runner = SweepRunner(
            CONFIG,
            models.bench(),
            cache,
            ITEMS,
            checker=default_checker,
            progress=False,
        )
        return runner.run()


def dump(out: Path) -> list[tuple[Any, ...]]:
    db = sqlite3.connect(out / "cache.sqlite")
    rows = db.execute(
        "SELECT split, qid, arm, budget, seed, payload FROM results ORDER BY 1, 2, 3, 4, 5"
    ).fetchall()
    db.close()
    # Wall times differ between runs; everything else must not.
    return [(*r[:5], {k: v for k, v in json.loads(r[5]).items() if k != "wall_s"}) for r in rows]


def test_a_killed_sweep_resumes_without_redoing_finished_units(tmp_path: Path) -> None:
    whole = Models()
    summary = run(tmp_path / "whole", whole)
    assert set(summary.computed) == {"pools", "graphs", "router", "reference"}
    total = whole.calls

    killed = Models(kill_after=25)
    with pytest.raises(RuntimeError, match="killed"):
        run(tmp_path / "resumed", killed)
    before = killed.calls
    assert 0 < before < total

    resumed = Models()
    run(tmp_path / "resumed", resumed)
    # Finished units are not redone: only the calls of the unit in flight when killed are.
    redone = before + resumed.calls - total
    assert resumed.calls < total
    assert 0 <= redone <= 6
    assert dump(tmp_path / "resumed") == dump(tmp_path / "whole")

    again = Models()
    summary = run(tmp_path / "resumed", again)
    assert again.calls == 0
    assert sum(summary.computed.values()) == 0


def test_the_report_is_a_pure_function_of_the_cache(tmp_path: Path) -> None:
    models = Models()
    summary = run(tmp_path / "a", models)
    policy = summary.policy
    assert policy is not None
    with BenchCache(tmp_path / "a" / "cache.sqlite") as cache:
        assert any(k.arm == router_arm(policy) for k in cache.result_keys())
        first = analyse(cache, CONFIG, ITEMS, policy=policy)
        write_json(first, tmp_path / "a.json")
        md = render_markdown(first)
    # A copy of the cache with its rows written in the opposite order reads the same.
    shutil.copytree(tmp_path / "a", tmp_path / "b")
    db = sqlite3.connect(tmp_path / "b" / "cache.sqlite")
    rows = db.execute("SELECT * FROM results").fetchall()
    db.execute("DELETE FROM results")
    db.executemany("INSERT INTO results VALUES (?, ?, ?, ?, ?, ?)", reversed(rows))
    db.commit()
    db.close()
    with BenchCache(tmp_path / "b" / "cache.sqlite") as cache:
        second = analyse(cache, CONFIG, ITEMS, policy=policy)
        write_json(second, tmp_path / "b.json")
        assert render_markdown(second) == md
    assert (tmp_path / "a.json").read_bytes() == (tmp_path / "b.json").read_bytes()
    assert "## The paper's findings and ours" in md
    co = first["compute_optimal"]
    assert [r["budget"] for r in co["router"]["runs"]] == [2, 4]
    # The router's probes are counted: it never spends more than its budget.
    assert all(r["generations"] <= r["budget"] for r in co["router"]["runs"])


def test_fit_policy_command_writes_a_loadable_policy(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    from dataclasses import asdict

    from langgraph_ttc.cli import main
    from langgraph_ttc.router.policy import ComputePolicy

    run(tmp_path, Models())
    with BenchCache(tmp_path / "cache.sqlite") as cache:
        cache.set_meta("config", CONFIG.to_dict())
        cache.set_meta("items", {s: [asdict(i) for i in v] for s, v in ITEMS.items()})
    assert main(["fit-policy", "--out", str(tmp_path), "--write", str(tmp_path / "p.json")]) == 0
    out = capsys.readouterr().out
    assert "fitted on validation (5 questions)" in out and "cv_accuracy" in out
    policy = ComputePolicy.load(tmp_path / "p.json")
    assert sorted(policy.table[1]) == [1, 2, 4]
    # It names the models the sweep ran: the router runs it on those only.
    assert policy.fitted_for is not None
    assert policy.fitted_for["generator"] == "ScriptedGenerator:scripted-generator"
    assert main(["fit-policy", "--out", str(tmp_path), "--split", "nope"]) == 2
    assert "not in the cache" in capsys.readouterr().err


def test_report_only_reports_the_router_the_cache_ran(tmp_path: Path) -> None:
    from langgraph_ttc.bench.arms import ROUTER_META_KEY
    from langgraph_ttc.bench.cli import _stored_policy
    from langgraph_ttc.bench.fit import fit_router_policy
    from langgraph_ttc.router.policy import ComputePolicy

    ran = ComputePolicy.default()  # not what a fit of this cache chooses
    with BenchCache(tmp_path / "cache.sqlite") as cache:
        SweepRunner(
            CONFIG,
            Models().bench(),
            cache,
            ITEMS,
            checker=default_checker,
            policy=ran,
            progress=False,
        ).run()
        assert cache.get_meta(ROUTER_META_KEY) == router_arm(ran)
        refit = fit_router_policy(cache, CONFIG, ITEMS["validation"]).policy
        assert router_arm(refit) != router_arm(ran)
        policy, fit = _stored_policy(cache, CONFIG, ITEMS, None)
        # The runs in the cache are the default policy's: the report shows those.
        assert policy is not None and router_arm(policy) == router_arm(ran) and fit is None
        # Without the record (a cache from before it), the refit is reported.
        cache.set_meta(ROUTER_META_KEY, None)
        policy, fit = _stored_policy(cache, CONFIG, ITEMS, None)
        assert router_arm(policy) == router_arm(refit) and fit is not None
