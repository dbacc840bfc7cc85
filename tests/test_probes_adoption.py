"""Issue 10, item 5: a plan states which router probes it adopts, and only those vote.

The first three tests failed before the fix: a routed greedy plan returned a
probe's answer on a tie, revisions turned extra probes into one-attempt
chains that outvoted the real chain, and tree search let the probes into its
final vote.
"""

from __future__ import annotations

from typing import Any

import pytest

from langgraph_ttc.router import ComputePolicy
from langgraph_ttc.router.planning import available_plan, total_cost
from langgraph_ttc.state import TTCContext
from langgraph_ttc.strategies import (
    create_beam_search_graph,
    create_best_of_n_graph,
    create_revision_graph,
)
from langgraph_ttc.strategies.compute_optimal import create_ttc_graph
from langgraph_ttc.strategies.factory import select_answer
from langgraph_ttc.suite.task import evaluate
from langgraph_ttc.types import Budget, StrategyConfig, empty_usage
from tests.fakes import ScriptedGenerator, ScriptedVerifier, ScriptInput, probe

Q = "34*7-95+84*4"
RIGHT = str(evaluate(Q))
KEYS = ["answer", "status", "strategy", "plan", "usage", "candidates", "difficulty"]


def _with_probes(graph: Any, probes: list, *, budget: float = 64) -> dict[str, Any]:
    usage = empty_usage()
    usage["generations"] = float(len(probes))
    return graph.compile().invoke(
        {"question": Q, "candidates": probes, "usage": usage},
        context=TTCContext(seed=0, budget=Budget(generations=budget)),
        output_keys=KEYS,
    )


def _greedy_42_else_sample(inp: ScriptInput) -> str:
    # The greedy sample says 42; every sampled one (the probes) says something else.
    if inp.request.temperature == 0:
        return "#### 42"
    return f"#### {100 + inp.sample}"


def _policy(plan: StrategyConfig, **kw: Any) -> ComputePolicy:
    return ComputePolicy(
        thresholds=(0.8, 0.6, 0.4, 0.2),
        table={b: {1: StrategyConfig("greedy", n=1), 8: plan} for b in range(1, 6)},
        **kw,
    )


def test_routed_greedy_returns_its_own_answer_on_a_tie() -> None:
    gen = ScriptedGenerator(script=_greedy_42_else_sample)
    graph = create_ttc_graph(gen, policy=_policy(StrategyConfig("greedy", n=1)))
    out = graph.compile().invoke(
        {"question": Q}, context=TTCContext(seed=0, budget=Budget(generations=8)), output_keys=KEYS
    )
    assert out["strategy"] == "greedy"
    assert sum(c.get("source") == "probe" for c in out["candidates"]) == 2
    # Before: one vote each for 100, 101 and 42, the first probe won the tie.
    assert out["answer"] == "42"


def test_revisions_start_exactly_the_plans_chains() -> None:
    def script(inp: ScriptInput) -> str:
        return "#### 5" if inp.attempts else "#### 7"

    probes = [probe(i, "7", 0.5) for i in range(4)]
    config = StrategyConfig("revise", n=4, sequential=4)  # one chain
    gen = ScriptedGenerator(script=script)
    out = _with_probes(create_revision_graph(gen, config=config), probes)
    assert gen.sample_counts == [1, 1, 1]  # the chain's 3 revisions, started by probe 0
    # Before: probes 1..3 became chains of one: 7 x4 against 5 x3.
    assert out["answer"] == "5"
    scored = [probe(i, "7", 0.9) for i in range(4)]
    prm = ScriptedVerifier(score_fn=lambda q, steps: [0.6])
    out = _with_probes(create_revision_graph(gen, verifier=prm, config=config), scored)
    # One chain, hierarchical: 7 (0.9) against 5 (3 x 0.6): the extra probes no longer count.
    assert out["answer"] == "5"


def test_tree_search_leaves_the_probes_out_of_its_vote() -> None:
    probes = [probe(i, "999", 0.9) for i in range(4)]
    gen = ScriptedGenerator(error_rate=0.0)
    config = StrategyConfig("beam", n=4, beam_width=2)
    prm = ScriptedVerifier(good=0.6)
    out = _with_probes(create_beam_search_graph(gen, verifier=prm, config=config), probes)
    # Before: the probes' 4 x 0.9 outweighed the beams' 4 x 0.6.
    assert out["answer"] == RIGHT


def test_a_plan_may_adopt_the_probes_as_samples() -> None:
    probes = [probe(i, "999", 0.9) for i in range(4)]
    config = StrategyConfig("beam", n=4, beam_width=2, probes="samples")
    prm = ScriptedVerifier(good=0.6)
    gen = ScriptedGenerator(error_rate=0.0)
    out = _with_probes(create_beam_search_graph(gen, verifier=prm, config=config), probes)
    assert out["answer"] == "999"
    greedy = StrategyConfig("greedy", n=1, probes="samples")
    assert select_answer(greedy, probes[:1], verified=False)[0] == "999"


def test_majority_without_probes_draws_all_its_samples() -> None:
    probes = [probe(i, "999", 0.9) for i in range(4)]
    gen = ScriptedGenerator(error_rate=0.0)
    config = StrategyConfig("majority", n=3, selection="majority", probes="none")
    out = _with_probes(create_best_of_n_graph(gen, config=config), probes)
    assert gen.sample_counts == [3]
    assert out["answer"] == RIGHT
    assert total_cost(config, 4) == 7
    assert total_cost(StrategyConfig("majority", n=3), 4) == 4


def test_probes_still_answer_when_the_plan_drew_nothing() -> None:
    probes = [probe(i, "3", 0.5) for i in range(2)]
    config = StrategyConfig("greedy", n=1)
    assert select_answer(config, probes, verified=False)[0] == "3"


def test_probe_setting_is_checked_and_survives_substitution() -> None:
    with pytest.raises(ValueError, match="probes"):
        StrategyConfig("majority", probes="sometimes")
    with pytest.raises(ValueError, match="chains"):
        StrategyConfig("beam", probes="chains")
    assert StrategyConfig("revise").probe_use == "chains"
    assert StrategyConfig("dvts").probe_use == "none"
    plan = available_plan(
        StrategyConfig("revise", probes="chains"), {"majority"}, has_verifier=False
    )
    assert plan.strategy == "majority" and plan.probe_use == "samples"


def test_a_policy_entry_without_probes_skips_them() -> None:
    gen = ScriptedGenerator(script=_greedy_42_else_sample)
    majority = StrategyConfig("majority", n=8, selection="majority")
    policy = _policy(majority, unprobed={1: StrategyConfig("greedy", n=1), 16: None})
    out = (
        create_ttc_graph(gen, policy=policy)
        .compile()
        .invoke(
            {"question": Q},
            context=TTCContext(seed=0, budget=Budget(generations=8)),
            output_keys=KEYS,
        )
    )
    assert out["strategy"] == "greedy" and out["difficulty"] is None
    assert gen.sample_counts == [1]  # no probe call
    assert out["answer"] == "42"
    assert policy.unprobed_plan(16) is None and policy.unprobed_plan(4) is not None
    again = ComputePolicy.from_dict(policy.to_dict())
    assert again.unprobed == policy.unprobed


def test_old_policy_files_load_and_always_probe() -> None:
    # A policy written before `unprobed` existed: no such key, probes everywhere.
    data = ComputePolicy.default().to_dict()
    data.pop("unprobed", None)
    old = ComputePolicy.from_dict(data)
    assert old.unprobed == {} and old.unprobed_plan(256) is None
    assert "unprobed" not in old.to_dict()
    assert ComputePolicy.from_dict(old.to_dict()) == old


def test_the_shipped_policy_skips_the_probes_where_its_fit_chose_to() -> None:
    shipped = ComputePolicy.default()
    assert shipped.unprobed_plan(4) is not None and shipped.unprobed_plan(64) is not None
    assert shipped.unprobed_plan(16) is None  # it probes at 16
    assert ComputePolicy.from_dict(shipped.to_dict()) == shipped
