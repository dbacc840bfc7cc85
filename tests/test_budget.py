"""Budget arithmetic: call caps, plan fit, usage counts."""

from __future__ import annotations

import pytest

from langgraph_ttc.budget import (
    cap_call,
    check_plan_fits,
    generation_usage,
    prompt_token_bound,
    verifier_usage,
)
from langgraph_ttc.suite.tokenizer import build_tokenizer
from langgraph_ttc.types import (
    Budget,
    Completion,
    ScoreResult,
    StrategyConfig,
    Usage,
    empty_usage,
)


def _usage(**values: float) -> Usage:
    u = empty_usage()
    u.update(values)  # type: ignore[typeddict-item]
    return u


def test_no_budget_leaves_the_call_whole() -> None:
    cap = cap_call(None, empty_usage(), samples=16, max_tokens=256)
    assert (cap.samples, cap.max_tokens, cap.limited_by) == (16, 256, None)


def test_generation_cap_cuts_samples() -> None:
    cap = cap_call(Budget(generations=16), _usage(generations=4.0), samples=16, max_tokens=10)
    assert (cap.samples, cap.limited_by) == (12, "generations")


def test_generation_cap_counts_lookahead_paths_at_k_plus_one() -> None:
    cap = cap_call(
        Budget(generations=16), empty_usage(), samples=8, max_tokens=10, generations_per_sample=3
    )
    assert cap.samples == 5


def test_steps_of_paid_paths_cost_no_generations() -> None:
    cap = cap_call(
        Budget(generations=4),
        _usage(generations=4.0),
        samples=8,
        max_tokens=10,
        generations_per_sample=0,
    )
    assert (cap.samples, cap.limited_by) == (8, None)


def test_token_cap_cuts_max_tokens_per_sample() -> None:
    cap = cap_call(Budget(tokens=1000), _usage(generated_tokens=400), samples=10, max_tokens=256)
    assert (cap.samples, cap.max_tokens, cap.limited_by) == (10, 60, "tokens")
    assert cap.samples * cap.max_tokens <= 600


def test_fewer_tokens_than_samples_cuts_samples() -> None:
    cap = cap_call(Budget(tokens=103), _usage(generated_tokens=100), samples=10, max_tokens=256)
    assert (cap.samples, cap.max_tokens) == (3, 1)


def test_spent_budget_allows_nothing() -> None:
    cap = cap_call(Budget(tokens=100), _usage(generated_tokens=100), samples=4, max_tokens=8)
    assert cap.samples == 0 and cap.limited_by == "tokens"


def test_flops_cap_bounds_prompt_and_generated_tokens() -> None:
    budget = Budget(flops=2 * 10 * (50 + 20) * 4)  # exactly 4 samples of 50 + 20 tokens
    cap = cap_call(budget, empty_usage(), samples=8, max_tokens=100, prompt_tokens=50, params=10)
    assert cap.limited_by == "flops"
    assert cap.samples * 2 * 10 * (50 + cap.max_tokens) <= budget.flops  # type: ignore[operator]
    assert cap.samples >= 1


def test_plan_that_cannot_fit_names_n_and_budget() -> None:
    with pytest.raises(ValueError, match=r"n=16.*budget \(8 generations\)"):
        check_plan_fits(StrategyConfig(strategy="best_of_n", n=16), Budget(generations=8))
    with pytest.raises(ValueError, match="lookahead"):
        check_plan_fits(
            StrategyConfig(strategy="lookahead", n=8, lookahead=1), Budget(generations=8)
        )
    check_plan_fits(StrategyConfig(strategy="beam", n=8), Budget(generations=8))
    check_plan_fits(StrategyConfig(strategy="beam", n=8), None)


def test_prompt_token_bound_covers_the_suite_chat_template() -> None:
    tok = build_tokenizer()
    messages = [{"role": "user", "content": "34*7-95+84*4"}]
    prefix = "34*7=238\nки84*4=336\n"
    rendered = tok.apply_chat_template(messages, add_generation_prompt=True, tokenize=False)
    real = len(tok(str(rendered) + prefix, add_special_tokens=False)["input_ids"])
    assert real <= prompt_token_bound(messages, prefix) <= real + 100


def test_generation_usage_counts_tokens_and_flops_exactly() -> None:
    comps = [
        [Completion("a", "stop", 10, 3), Completion("b", "length", 10, 5)],
        [Completion("c", "stop", 12, 1)],
    ]
    usage = generation_usage(comps, params=1000, generations=3)
    assert usage["generations"] == 3
    assert usage["prompt_tokens"] == 32 and usage["generated_tokens"] == 9
    assert usage["flops"] == 2 * 1000 * 41
    assert generation_usage(comps, params=None, generations=0)["flops"] == 0


def test_verifier_usage_is_kept_apart() -> None:
    usage = verifier_usage(ScoreResult(steps=[[0.5]], tokens=40, flops=8e3))
    assert usage["verifier_calls"] == 1 and usage["verifier_tokens"] == 40
    assert usage["verifier_flops"] == 8e3 and usage["generated_tokens"] == 0
