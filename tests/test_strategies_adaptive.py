"""Adaptive sampling (issue 10, item 1): rounds of samples until the vote settles."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest

from langgraph_ttc.router.planning import default_plan
from langgraph_ttc.state import TTCContext
from langgraph_ttc.strategies import create_adaptive_graph, create_strategy_graph
from langgraph_ttc.strategies.adaptive import settled
from langgraph_ttc.strategies.compute_optimal import create_ttc_graph
from langgraph_ttc.suite.task import evaluate
from langgraph_ttc.types import Budget, StrategyConfig
from tests.fakes import ScriptedGenerator, ScriptedVerifier, ScriptInput, probe

Q = "34*7-95+84*4"
RIGHT = str(evaluate(Q))
KEYS = ["answer", "confidence", "status", "usage", "candidates", "plan", "strategy"]


def _run(graph: Any, budget: Budget | None = None, **inputs: Any) -> dict[str, Any]:
    ctx = TTCContext(seed=3, budget=budget)
    return graph.compile().invoke({"question": Q, **inputs}, context=ctx, output_keys=KEYS)


def _spread(inp: ScriptInput) -> str:
    # No answer ever holds more than a third of the vote.
    return f"#### {inp.request.seed % 1000 * 10 + inp.sample % 3}"


def test_stops_after_the_first_round_when_all_samples_agree() -> None:
    gen = ScriptedGenerator(error_rate=0.0)
    config = StrategyConfig("adaptive", n=64, round_size=4, selection="majority")
    out = _run(create_adaptive_graph(gen, config=config))
    assert gen.sample_counts == [4]
    assert out["usage"]["generations"] == 4
    assert out["answer"] == RIGHT and out["confidence"] == 1.0 and out["status"] == "done"


def test_keeps_sampling_to_the_cap_while_the_vote_is_split() -> None:
    gen = ScriptedGenerator(script=_spread)
    config = StrategyConfig("adaptive", n=10, round_size=4, selection="majority")
    out = _run(create_adaptive_graph(gen, config=config))
    assert gen.sample_counts == [4, 4, 2]  # the last round only fills the cap
    assert len({r.seed for call in gen.calls for r in call}) == 3  # a new seed each round
    assert out["usage"]["generations"] == 10 and out["status"] == "done"


def test_the_budget_is_the_cap() -> None:
    gen = ScriptedGenerator(script=_spread)
    config = StrategyConfig("adaptive", n=64, round_size=4, selection="majority")
    out = _run(create_adaptive_graph(gen, config=config), budget=Budget(tokens=60))
    assert out["usage"]["generated_tokens"] <= 60 and out["usage"]["generations"] < 64
    assert out["status"] == "budget_exhausted" and out["answer"] is not None


def test_weighted_vote_scores_each_round_and_stops_on_the_share() -> None:
    gen = ScriptedGenerator(error_rate=0.3)
    prm = ScriptedVerifier()
    config = StrategyConfig("adaptive", n=32, round_size=4, stop_share=0.9)
    out = _run(create_adaptive_graph(gen, verifier=prm, config=config))
    assert sum(prm.batch_sizes) == len(out["candidates"]) == out["usage"]["generations"]
    assert out["answer"] == RIGHT
    assert settled(config, out["candidates"], verified=True)
    assert len(out["candidates"]) < 32


def test_adopted_probes_vote_in_the_first_round() -> None:
    gen = ScriptedGenerator(error_rate=0.0)
    config = StrategyConfig("adaptive", n=16, round_size=4, selection="majority")
    probes = [probe(i, RIGHT) for i in range(4)]
    out = _run(create_adaptive_graph(gen, config=config), candidates=probes)
    assert gen.sample_counts == [4] and out["answer"] == RIGHT


def test_async_matches_sync() -> None:
    config = StrategyConfig("adaptive", n=12, round_size=4, selection="majority")
    ctx = TTCContext(seed=5)
    graph = create_adaptive_graph(ScriptedGenerator(error_rate=0.5), config=config).compile()
    sync = graph.invoke({"question": Q}, context=ctx)
    graph = create_adaptive_graph(ScriptedGenerator(error_rate=0.5), config=config).compile()
    asyn = asyncio.run(graph.ainvoke({"question": Q}, context=ctx))
    assert (
        sync["answer"] == asyn["answer"]
        and sync["usage"]["generations"] == asyn["usage"]["generations"]
    )


def test_streams_a_generate_event_per_round() -> None:
    gen = ScriptedGenerator(script=_spread)
    config = StrategyConfig("adaptive", n=8, round_size=4, selection="majority")
    graph = create_adaptive_graph(gen, config=config).compile()
    events = [e for e in graph.stream({"question": Q}, stream_mode="custom") if isinstance(e, dict)]
    assert [e["round"] for e in events if e.get("node") == "generate"] == [0, 1]


def test_forced_and_built_through_the_factory() -> None:
    plan = default_plan("adaptive", 8)
    assert plan.strategy == "adaptive" and plan.n == 8 and plan.round_size == 4
    gen = ScriptedGenerator(error_rate=0.0)
    graph = create_strategy_graph(plan, gen, verifier=ScriptedVerifier())
    assert _run(graph)["answer"] == RIGHT
    routed = create_ttc_graph(ScriptedGenerator(error_rate=0.0))
    out = routed.compile().invoke(
        {"question": Q},
        context=TTCContext(seed=1, budget=Budget(generations=8), plan=plan),
        output_keys=KEYS,
    )
    assert out["strategy"] == "adaptive" and out["usage"]["generations"] == 4


def test_bad_settings_name_the_field() -> None:
    with pytest.raises(ValueError, match="stop_share"):
        StrategyConfig("adaptive", stop_share=0.0)
    with pytest.raises(ValueError, match="round_size"):
        StrategyConfig("adaptive", round_size=0)


# ------------------------------------------------------- statistical stops (give up, posterior)


def test_a_split_vote_is_given_up_after_give_up_after_samples() -> None:
    # No answer ever holds more than a third: the share rule alone runs to the cap.
    gen = ScriptedGenerator(script=_spread)
    config = StrategyConfig(
        "adaptive", n=64, round_size=4, selection="majority", give_up_after=12, give_up_share=0.4
    )
    out = _run(create_adaptive_graph(gen, config=config))
    assert gen.sample_counts == [4, 4, 4]  # stops as soon as 12 votes are in
    assert out["usage"]["generations"] == 12 and out["status"] == "done"
    assert out["answer"] is not None  # the plan's vote still answers


def test_a_leader_above_the_give_up_share_keeps_sampling() -> None:
    # One answer in two: a 0.5 share is above 0.4, so no give-up; below 0.75, no stop.
    def half(inp: ScriptInput) -> str:
        return "#### 1" if inp.sample % 2 == 0 else f"#### {inp.request.seed % 997 + 2}"

    gen = ScriptedGenerator(script=half)
    config = StrategyConfig(
        "adaptive", n=24, round_size=4, selection="majority", give_up_after=8, give_up_share=0.4
    )
    out = _run(create_adaptive_graph(gen, config=config))
    assert out["usage"]["generations"] == 24 and out["answer"] == "1"


def test_the_posterior_rule_stops_when_the_leader_is_clear() -> None:
    from langgraph_ttc.strategies.adaptive import leader_confidence

    assert leader_confidence({"a": 4.0}) > 0.95  # 4 of 4 agree
    assert leader_confidence({"a": 3.0, "b": 1.0}) < 0.95  # 3 to 1 is not yet clear
    assert leader_confidence({"a": 7.0, "b": 1.0}) > 0.95
    assert leader_confidence({"a": 2.0, "b": 2.0}) == pytest.approx(0.5)

    # 3 of 4 per round: the share rule (0.75) stops at once, the posterior at 0.95 does not.
    def mostly(inp: ScriptInput) -> str:
        return "#### 7" if inp.sample % 4 else f"#### {inp.request.seed % 997 + 100}"

    share = ScriptedGenerator(script=mostly)
    _run(
        create_adaptive_graph(share, config=StrategyConfig("adaptive", n=64, selection="majority"))
    )
    posterior = ScriptedGenerator(script=mostly)
    config = StrategyConfig("adaptive", n=64, selection="majority", stop_confidence=0.95)
    out = _run(create_adaptive_graph(posterior, config=config))
    assert share.sample_counts == [4]
    assert sum(posterior.sample_counts) == 8 and out["answer"] == "7"  # 6 to 1 is clear


@pytest.mark.parametrize(
    "field,value",
    [
        ("stop_confidence", 1.0),
        ("give_up_share", -0.1),
        ("give_up_after", -1),
        ("give_up_after", True),
    ],
)
def test_bad_statistical_stop_settings_are_named(field: str, value: Any) -> None:
    with pytest.raises(ValueError, match=field):
        StrategyConfig("adaptive", **{field: value})
