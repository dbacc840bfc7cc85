"""Particle filtering on the scripted generator and PRM."""

from __future__ import annotations

import asyncio
import math
from dataclasses import replace

import pytest
from fakes import ScriptedGenerator, ScriptedVerifier

from langgraph_ttc.router.planning import available_plan, default_plan
from langgraph_ttc.state import TTCContext
from langgraph_ttc.strategies import create_particle_filter_graph, create_strategy_graph
from langgraph_ttc.strategies.particle_filter import (
    draw_particles,
    keep_particles,
    particle_expand,
    particle_weights,
    resample,
)
from langgraph_ttc.suite.task import evaluate
from langgraph_ttc.types import Budget, Candidate, StrategyConfig

Q = "34*7-95+84*4"


def _particle(slot: int, score: float, *, done: bool = False, round_: int = 2) -> Candidate:
    return Candidate(
        id=f"particle-{slot}",
        text=f"step {slot}",
        steps=[f"step {slot}"],
        done=done,
        answer=None,
        score=score,
        step_scores=[score],
        slot=slot,
        round=round_,
        source="particle",
        active=not done,
    )


def test_resample_counts_follow_the_weights() -> None:
    counts = resample([0.7, 0.2, 0.1], 20_000, seed=3)
    assert sum(counts) == 20_000
    for got, want in zip(counts, [0.7, 0.2, 0.1], strict=True):
        assert abs(got / 20_000 - want) < 0.02
    assert resample([0.7, 0.2, 0.1], 8, seed=7) == resample([0.7, 0.2, 0.1], 8, seed=7)
    assert resample([0.7, 0.2, 0.1], 8, seed=2) == [4, 2, 2]  # pinned
    assert resample([], 4, seed=0) == [] and resample([1.0], 0, seed=0) == [0]


def test_weights_are_a_softmax_at_the_temperature() -> None:
    flat = particle_weights([0.9, 0.1], 1.0)
    sharp = particle_weights([0.9, 0.1], 0.05)
    assert sum(flat) == pytest.approx(1.0) and sum(sharp) == pytest.approx(1.0)
    assert flat[0] == pytest.approx(1 / (1 + math.exp(-0.8)))
    assert sharp[0] > 0.999 > flat[0]
    with pytest.raises(ValueError):
        particle_weights([0.5], 0.0)


def test_keep_and_expand_agree_and_refill_only_live_slots() -> None:
    frontier = [_particle(0, 0.9), _particle(1, 0.1, done=True), _particle(2, 0.5)]
    frontier.append(_particle(3, 0.2))
    plan = StrategyConfig("particle_filter", n=4)
    drawn = draw_particles(frontier, plan, seed=11)
    assert sum(k for _, k in drawn) == 3  # as many draws as live particles
    kept = keep_particles(frontier, [], plan, 11)
    expanded = particle_expand(frontier, plan, 11)
    assert [c["id"] for c in kept] == [p["id"] for p, idx in expanded for _ in idx]
    assert sorted(i for _, idx in expanded for i in idx) == [0, 2, 3]  # finished slot 1 stays
    # prune marks undrawn particles inactive before branch: expand does not depend on it.
    pruned = [{**c, "active": c["id"] in {k["id"] for k in kept}} for c in frontier]
    assert particle_expand(pruned, plan, 11) == expanded
    assert keep_particles([_particle(0, 0.9, done=True)], [], plan, 11) == []


def test_low_temperature_lets_the_best_particle_dominate() -> None:
    frontier = [_particle(i, s) for i, s in enumerate([0.9, 0.3, 0.2, 0.1])]
    cold = StrategyConfig("particle_filter", n=4, pf_temperature=0.01)
    warm = StrategyConfig("particle_filter", n=4, pf_temperature=100.0)
    cold_ids, warm_ids = set(), set()
    for seed in range(20):
        cold_ids |= {c["id"] for c in keep_particles(frontier, [], cold, seed)}
        warm_ids |= {c["id"] for c in keep_particles(frontier, [], warm, seed)}
    assert cold_ids == {"particle-0"}
    assert warm_ids == {f"particle-{i}" for i in range(4)}


def _graph(gen: ScriptedGenerator, prm: ScriptedVerifier, n: int = 8, **kw: float):  # type: ignore[no-untyped-def]
    config = StrategyConfig("particle_filter", n=n, **kw)  # type: ignore[arg-type]
    return create_particle_filter_graph(gen, verifier=prm, config=config).compile()


def test_graph_finds_the_answer_sync_and_async_alike() -> None:
    prm = ScriptedVerifier()
    sync = _graph(ScriptedGenerator(error_rate=0.3), prm).invoke(
        {"question": Q}, context=TTCContext(seed=4)
    )
    asyn = asyncio.run(
        _graph(ScriptedGenerator(error_rate=0.3), ScriptedVerifier()).ainvoke(
            {"question": Q}, context=TTCContext(seed=4)
        )
    )
    assert sync["answer"] == asyn["answer"] == str(evaluate(Q))
    assert sync["candidates"] == asyn["candidates"]
    assert sync["usage"]["generations"] == 8 and sync["status"] == "done"
    assert sync["strategy"] == "particle_filter"
    finished = [c for c in sync["candidates"] if c["done"]]
    assert len(finished) == 8 and not any(c.get("active") for c in sync["candidates"])


@pytest.mark.parametrize("cap", [8, 8.5, 20])
def test_never_exceeds_the_generation_budget(cap: float) -> None:
    gen = ScriptedGenerator(error_rate=0.3)
    out = _graph(gen, ScriptedVerifier(), n=8).invoke(
        {"question": Q}, context=TTCContext(seed=2, budget=Budget(generations=cap))
    )
    assert out["usage"]["generations"] <= min(cap, 8)
    assert out["answer"] is not None


def test_a_plan_over_the_budget_is_refused() -> None:
    with pytest.raises(ValueError, match="more than the budget"):
        _graph(ScriptedGenerator(), ScriptedVerifier(), n=16).invoke(
            {"question": Q}, context=TTCContext(seed=2, budget=Budget(generations=8))
        )


def test_token_budget_is_respected() -> None:
    gen = ScriptedGenerator(error_rate=0.3)
    out = _graph(gen, ScriptedVerifier()).invoke(
        {"question": Q}, context=TTCContext(seed=2, budget=Budget(tokens=200))
    )
    assert out["usage"]["generated_tokens"] <= 200


def test_wiring_config_factory_and_fallbacks() -> None:
    with pytest.raises(ValueError, match="pf_temperature"):
        StrategyConfig("particle_filter", pf_temperature=0)
    old = StrategyConfig("beam").to_dict()
    del old["pf_temperature"]
    assert StrategyConfig.from_dict(old) == StrategyConfig("beam")
    plan = StrategyConfig("particle_filter", n=6)  # n need not be a multiple of beam_width
    assert StrategyConfig.from_dict(plan.to_dict()) == plan
    beam = available_plan(plan, {"beam"}, has_verifier=True)
    assert beam.strategy == "beam" and beam.n == 6 and beam.beam_width == 3
    assert available_plan(plan, {"majority"}, has_verifier=False).strategy == "majority"
    assert default_plan("particle_filter", 12) == replace(
        StrategyConfig("particle_filter", n=12), temperature=0.8
    )
    gen, prm = ScriptedGenerator(error_rate=0.3), ScriptedVerifier()
    graph = create_strategy_graph(plan, gen, verifier=prm).compile()
    assert graph.invoke({"question": Q}, context=TTCContext(seed=1))["answer"] == str(evaluate(Q))
    with pytest.raises(ValueError, match="verifier"):
        create_strategy_graph(plan, gen)
