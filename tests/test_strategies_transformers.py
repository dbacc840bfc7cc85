"""Every strategy end to end on a real (tiny, random) transformers model and PRM.

The model's output is noise, so these check the plumbing, not accuracy: real
tokenizer, chat template, ``model.generate`` with stop strings and seeds,
real token counts, and a real PRM forward pass, through every graph.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from langgraph_ttc.state import TTCContext
from langgraph_ttc.strategies import create_strategy_graph
from langgraph_ttc.types import Budget, StrategyConfig

models = pytest.importorskip(
    "langgraph_ttc.models.transformers", reason="TransformersGenerator is not there yet"
)
prm_module = pytest.importorskip(
    "langgraph_ttc.verifiers.prm", reason="TransformersPRM is not there yet"
)

# The random model's greedy reply to some questions is EOS at once, which the
# graphs reject as a broken backend (see test_bad_input); this one is not.
Q = "7*8+9-1"
PLANS = [
    StrategyConfig(strategy="greedy"),
    StrategyConfig(strategy="majority", n=4),
    StrategyConfig(strategy="best_of_n", n=4),
    StrategyConfig(strategy="beam", n=4, beam_width=2, max_rounds=3),
    StrategyConfig(strategy="lookahead", n=2, beam_width=2, lookahead=1, max_rounds=3),
    StrategyConfig(strategy="dvts", n=4, beam_width=2, max_rounds=3),
    StrategyConfig(strategy="revise", n=4, sequential=2),
]
# Random weights rarely emit a line break: long steps let tree search branch.
CTX = TTCContext(seed=5, max_tokens=24, step_max_tokens=100)


@pytest.fixture(scope="module")
def adapters(tiny_model_dir: Path) -> tuple[Any, Any]:
    generator = models.TransformersGenerator(tiny_model_dir, device="cpu")
    verifier = prm_module.TransformersPRM(tiny_model_dir, device="cpu")
    return generator, verifier


@pytest.mark.parametrize("plan", PLANS, ids=lambda p: p.strategy)
def test_strategy_runs_on_a_real_model(plan: StrategyConfig, adapters: tuple[Any, Any]) -> None:
    generator, verifier = adapters
    graph = create_strategy_graph(plan, generator, verifier=verifier).compile()
    out = graph.invoke({"question": Q}, context=CTX)
    usage = out["usage"]
    assert out["status"] in ("done", "no_candidates")
    assert usage["generations"] == plan.generations
    assert 0 < usage["generated_tokens"] <= plan.generations * CTX.step_max_tokens * plan.max_rounds
    tokens = usage["prompt_tokens"] + usage["generated_tokens"]
    assert usage["flops"] == 2 * generator.params * tokens
    assert out["candidates"] and all(c["text"] == "\n".join(c["steps"]) for c in out["candidates"])
    if plan.strategy not in ("majority", "greedy"):
        assert usage["verifier_calls"] >= 1 and usage["verifier_tokens"] > 0
    if plan.strategy in ("beam", "lookahead", "dvts"):
        assert all(c["done"] for c in out["candidates"])  # max_rounds closes every path
        assert max(len(c["steps"]) for c in out["candidates"]) >= 2  # it did branch


def test_real_model_async_equals_sync_within_a_token_budget(adapters: tuple[Any, Any]) -> None:
    import asyncio

    generator, verifier = adapters
    plan = StrategyConfig(strategy="beam", n=4, beam_width=2, max_rounds=3)
    graph = create_strategy_graph(plan, generator, verifier=verifier).compile()
    ctx = TTCContext(seed=9, max_tokens=24, step_max_tokens=100, budget=Budget(tokens=400))
    sync = graph.invoke({"question": Q}, context=ctx)
    asyn = asyncio.run(graph.ainvoke({"question": Q}, context=ctx))
    assert sync["candidates"] == asyn["candidates"] and sync["answer"] == asyn["answer"]
    assert sync["usage"]["generated_tokens"] <= 400
