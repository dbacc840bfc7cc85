"""Every strategy answers within its budget: generations, tokens, FLOPs, verifier, deadline."""

from __future__ import annotations

import time

import pytest
from fakes import ScriptedGenerator, ScriptedVerifier, ScriptInput, probe

from langgraph_ttc.state import TTCContext
from langgraph_ttc.strategies import create_best_of_n_graph, create_strategy_graph
from langgraph_ttc.types import Budget, StrategyConfig, empty_usage

Q = "34*7-95+84*4"
PARAMS = 1_000

PLANS = {
    "greedy": StrategyConfig(strategy="greedy"),
    "majority": StrategyConfig(strategy="majority", n=8),
    "best_of_n": StrategyConfig(strategy="best_of_n", n=8),
    "beam": StrategyConfig(strategy="beam", n=8, beam_width=2),
    "lookahead": StrategyConfig(strategy="lookahead", n=4, beam_width=2, lookahead=1),
    "dvts": StrategyConfig(strategy="dvts", n=8, beam_width=2),
    "revise": StrategyConfig(strategy="revise", n=8, sequential=4),
}
BUDGETS = {
    "plan": Budget(generations=8),
    "tokens-150": Budget(generations=8, tokens=150),
    "tokens-30": Budget(generations=8, tokens=30),
    "flops": Budget(generations=8, flops=2.0 * PARAMS * 800),
    "one-token": Budget(tokens=1),
}


@pytest.mark.parametrize("budget_name", list(BUDGETS))
@pytest.mark.parametrize("strategy", list(PLANS))
def test_usage_never_exceeds_the_budget(strategy: str, budget_name: str) -> None:
    budget = BUDGETS[budget_name]
    gen = ScriptedGenerator(error_rate=0.3, params=PARAMS)
    graph = create_strategy_graph(PLANS[strategy], gen, verifier=ScriptedVerifier()).compile()
    out = graph.invoke({"question": Q}, context=TTCContext(seed=1, budget=budget))
    usage = out["usage"]
    assert usage["generations"] <= (budget.generations or PLANS[strategy].generations)
    assert budget.tokens is None or usage["generated_tokens"] <= budget.tokens
    assert budget.flops is None or usage["flops"] <= budget.flops
    assert usage["flops"] == 2.0 * PARAMS * (usage["prompt_tokens"] + usage["generated_tokens"])
    assert out["status"] in ("done", "budget_exhausted", "no_candidates")
    assert out["strategy"] == strategy
    if out["status"] == "done":
        assert out["answer"] is not None
    if budget_name == "plan":
        assert out["status"] == "done"


def test_tight_token_budget_stops_with_the_best_answer_so_far() -> None:
    gen = ScriptedGenerator(error_rate=0.0)
    config = StrategyConfig(strategy="beam", n=4, beam_width=2)
    graph = create_strategy_graph(config, gen, verifier=ScriptedVerifier()).compile()
    out = graph.invoke({"question": Q}, context=TTCContext(budget=Budget(tokens=100)))
    assert out["status"] == "budget_exhausted" and out["usage"]["generated_tokens"] <= 100


def test_token_budget_caps_max_tokens_of_a_call() -> None:
    gen = ScriptedGenerator(error_rate=0.0)
    graph = create_best_of_n_graph(
        gen, verifier=ScriptedVerifier(), config=StrategyConfig(n=4)
    ).compile()
    out = graph.invoke({"question": Q}, context=TTCContext(budget=Budget(tokens=100)))
    assert gen.calls[0][0].max_tokens == 25
    assert out["status"] == "budget_exhausted"
    assert all(c["answer"] is None for c in out["candidates"])  # cut by length: no answer made up


def test_verifier_token_cap_skips_scoring_and_votes() -> None:
    prm = ScriptedVerifier()
    gen = ScriptedGenerator(script=lambda x: f"#### {x.sample % 2}")
    graph = create_best_of_n_graph(gen, verifier=prm, config=StrategyConfig(n=3)).compile()
    out = graph.invoke({"question": Q}, context=TTCContext(budget=Budget(verifier_tokens=10)))
    assert prm.calls == [] and out["status"] == "budget_exhausted" and out["answer"] == "0"


def test_deadline_stops_the_run() -> None:
    def slow(x: ScriptInput) -> str:
        time.sleep(0.05)
        return "1+1=2"

    gen = ScriptedGenerator(script=slow)
    config = StrategyConfig(strategy="beam", n=2, beam_width=2)
    graph = create_strategy_graph(config, gen, verifier=ScriptedVerifier()).compile()
    start = time.perf_counter()
    out = graph.invoke({"question": Q}, context=TTCContext(deadline_s=0.2))
    assert out["status"] == "deadline" and time.perf_counter() - start < 2
    assert out["usage"]["wall_time_s"] > 0


def test_probe_usage_counts_against_the_budget() -> None:
    usage = empty_usage()
    usage["generations"] = 6.0
    probes = [probe(i, "3", 0.5) for i in range(6)]
    gen = ScriptedGenerator(error_rate=0.0)
    config = StrategyConfig(strategy="beam", n=4, beam_width=2)
    graph = create_strategy_graph(config, gen, verifier=ScriptedVerifier()).compile()
    out = graph.invoke(
        {"question": Q, "candidates": probes, "usage": usage},
        context=TTCContext(budget=Budget(generations=8)),
    )
    assert gen.sample_counts[0] == 2  # 8 - 6 probes: a beam of 2
    assert out["usage"]["generations"] == 8
    spent = empty_usage()
    spent["generations"] = 8.0
    out = graph.invoke(
        {"question": Q, "candidates": probes, "usage": spent},
        context=TTCContext(budget=Budget(generations=8)),
    )
    assert out["status"] == "budget_exhausted" and out["answer"] == "3"  # the probes' answer
