"""Batch budgets (issue 10, item 2): one total budget over many questions, spent where it pays."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest

from langgraph_ttc.router import ComputePolicy
from langgraph_ttc.state import TTCContext
from langgraph_ttc.strategies.batch_allocation import (
    allocate_budgets,
    probes_per_question,
    question_plan,
    scale_plan,
)
from langgraph_ttc.strategies.batch_budget import asolve_batch, create_batch_graph, solve_batch
from langgraph_ttc.suite.task import evaluate
from langgraph_ttc.types import STRATEGIES, Budget, StrategyConfig
from tests.fakes import ScriptedGenerator, ScriptedVerifier

EASY = "2+3"
HARD = ["34*7-95+84*4", "12*7-5+6*3", "3*4+5*6-7"]
MORE = "5*6-7+8"


def _policy() -> ComputePolicy:
    """Best-of-N in every bin (names no models, so it runs as given)."""
    row = {n: StrategyConfig("best_of_n", n=n) for n in (1, 4, 16, 64)}
    return ComputePolicy(thresholds=(0.8, 0.6, 0.4, 0.2), table={b: dict(row) for b in range(1, 6)})


def _verifier() -> ScriptedVerifier:
    # The verifier finds EASY easy (bin 1) and every other question hard (bin 5).
    return ScriptedVerifier(
        score_fn=lambda q, steps: [0.95 if q == EASY else 0.05] * max(len(steps), 1)
    )


def _run(
    questions: list[str], total: float, gen: Any = None, ver: Any = None, **kw: Any
) -> dict[str, Any]:
    gen = gen or ScriptedGenerator(error_rate=0.3)
    ver = _verifier() if ver is None else ver
    graph = create_batch_graph(gen, verifier=ver or None, policy=kw.pop("policy", _policy()), **kw)
    ctx = TTCContext(seed=1, budget=Budget(generations=total))
    return graph.compile().invoke({"questions": questions}, context=ctx)


# --------------------------------------------------------------------------- the rule


def test_easy_questions_answer_from_their_probes_and_hard_ones_get_the_rest() -> None:
    gen = ScriptedGenerator(error_rate=0.3)
    out = _run([EASY, *HARD], 64, gen)
    budgets = [r["budget"] for r in out["results"]]
    assert budgets == out["budgets"] == [4, 20, 20, 20]  # 16 on average, 4 probes each
    easy, *hard = out["results"]
    assert easy["difficulty"] == 1 and all(r["difficulty"] == 5 for r in hard)
    # The easy question votes over its 4 probes and draws nothing more.
    assert easy["strategy"] == "best_of_n" and easy["usage"]["generations"] == 4
    assert easy["answer"] == str(evaluate(EASY))
    # One probe call per question, then only the hard ones sample: 20 - 4 probes each.
    assert sorted(gen.sample_counts) == [4, 4, 4, 4, 16, 16, 16]
    assert all(r["usage"]["generations"] == 20 and r["plan"]["n"] == 20 for r in hard)
    assert out["usage"]["generations"] == 64 and out["status"] == "done"
    assert [r["question"] for r in out["results"]] == [EASY, *HARD]


@pytest.mark.parametrize("total", [4, 5, 7, 12, 16, 33, 64, 101])
@pytest.mark.parametrize("easy", [0, 1, 4])
def test_a_batch_never_spends_more_than_its_total(total: int, easy: int) -> None:
    questions = [EASY] * easy + [*HARD, MORE][: 4 - easy]
    out = _run(questions, total)
    results = out["results"]
    assert len(results) == 4 and all(r["status"] == "done" for r in results)
    assert sum(r["budget"] for r in results) <= total
    assert all(r["usage"]["generations"] <= r["budget"] for r in results)
    assert out["usage"]["generations"] <= total
    assert out["usage"]["generations"] == sum(r["usage"]["generations"] for r in results)
    probes = probes_per_question(total, 4)
    if probes and 0 < easy < 4:
        hard_min = min(r["budget"] for r in results if r["difficulty"] == 5)
        assert max(r["budget"] for r in results if r["difficulty"] == 1) < hard_min


def test_allocation_gives_the_rest_by_weight_hardest_first_on_ties() -> None:
    # 4 spent each; 30 left in steps of 4 (then ones): bins 2..5 share, bin 1 gets nothing.
    got = allocate_budgets(46, [4, 4, 4, 4], [1, 2, 5, 3])
    assert got[0] == 4 and sum(got) == 46
    assert got[1:] == [13, 16, 13]  # 4 + 8 each, the hardest a step more, then the ones
    assert allocate_budgets(10, [0, 0], [None, None]) == [5, 5]
    # Every question easy: nothing marked worth more, so all share.
    assert allocate_budgets(16, [4, 4], [1, 1]) == [8, 8]
    # Custom weights: bin 5 twice bin 2.
    assert allocate_budgets(32, [4, 4], [2, 5], weights={2: 1.0, 5: 2.0}) == [12, 20]


def test_allocation_caps_a_question_at_max_share_of_the_mean() -> None:
    got = allocate_budgets(100, [4, 4, 4, 4], [1, 1, 1, 5], max_share=2.0)
    assert got[3] == 50  # the cap: twice the mean of 25
    assert sum(got) == 100  # the rest goes to the others rather than going unspent


@pytest.mark.parametrize(
    ("args", "match"),
    [
        ((3, [1, 1, 1, 1], [None] * 4), "below what the 4 questions need"),
        ((16, [4, 4], [1]), "2 spent values but 1 difficulties"),
        ((16, [], []), "at least one question"),
    ],
)
def test_allocation_rejects_impossible_input(args: tuple[Any, ...], match: str) -> None:
    with pytest.raises(ValueError, match=match):
        allocate_budgets(*args)


@pytest.mark.parametrize(
    ("kw", "match"),
    [
        ({"weights": {1: -1.0}}, r"weights\[1\]"),
        ({"step": 0}, "step"),
        ({"max_share": 0.5}, "max_share"),
    ],
)
def test_bad_options_fail_when_the_graph_is_built(kw: dict[str, Any], match: str) -> None:
    with pytest.raises(ValueError, match=match):
        create_batch_graph(ScriptedGenerator(), **kw)


def test_plans_scale_to_the_budget() -> None:
    assert scale_plan(StrategyConfig("revise", n=16, sequential=4), 22).n == 20
    assert scale_plan(StrategyConfig("beam", n=16, beam_width=4), 23).n == 20
    assert scale_plan(StrategyConfig("greedy", n=1), 30).n == 1
    assert scale_plan(StrategyConfig("adaptive", n=16), 37).n == 37
    vote = question_plan(_policy(), 1, 4, 4, available=STRATEGIES, has_verifier=True)
    assert vote == StrategyConfig("best_of_n", n=4, probes="samples")
    plan = question_plan(_policy(), 5, 20, 4, available=STRATEGIES, has_verifier=True)
    assert plan.strategy == "best_of_n" and plan.n == 20
    no_verifier = question_plan(_policy(), 5, 20, 4, available=["majority"], has_verifier=False)
    assert no_verifier.strategy == "majority" and no_verifier.n == 20


# --------------------------------------------------------------------------- runs


def test_async_matches_sync() -> None:
    questions = [EASY, *HARD]
    sync = solve_batch(questions, ScriptedGenerator(), verifier=_verifier(), budget=48, seed=3)
    gen = ScriptedGenerator()
    out = asyncio.run(asolve_batch(questions, gen, verifier=_verifier(), budget=48, seed=3))
    assert set(gen.modes) == {"async"}
    assert out["budgets"] == sync["budgets"]
    for a, b in zip(out["results"], sync["results"], strict=True):
        assert {**a, "usage": None} == {**b, "usage": None}
        assert a["usage"]["generations"] == b["usage"]["generations"]


def test_without_a_verifier_difficulty_is_agreement_and_votes_are_majority() -> None:
    gen = ScriptedGenerator(error_rate=0.0)  # every probe agrees: every question looks easy
    out = _run([EASY, *HARD], 32, gen, ver=False)
    assert all(r["difficulty"] == 1 for r in out["results"])
    assert all(r["answer"] == str(evaluate(r["question"])) for r in out["results"])
    assert out["usage"]["generations"] <= 32 and out["usage"]["verifier_calls"] == 0


def test_other_models_run_the_generic_policy_and_the_batch_says_so() -> None:
    out = _run([EASY, *HARD], 64, policy=None)  # the shipped policy, fitted on the bundled models
    assert out["policy"]["policy"] == "generic" and out["policy"]["fitted"] == "no"
    assert {r["strategy"] for r in out["results"][1:]} == {"adaptive"}
    assert out["usage"]["generations"] <= 64


def test_a_backend_failure_is_each_question_s_status() -> None:
    gen = ScriptedGenerator(fail_after=0)
    out = _run([EASY, *HARD], 64, gen)
    assert out["status"] == "done"
    for r in out["results"]:
        assert r["status"] == "backend_error" and r["answer"] is None
        assert "scripted backend failure" in (r["error"] or "")
    assert out["usage"]["generations"] == 0


def test_the_allocation_streams_and_every_question_is_traced_apart() -> None:
    gen, ver = ScriptedGenerator(), _verifier()
    graph = create_batch_graph(gen, verifier=ver, policy=_policy()).compile()
    ctx = TTCContext(seed=1, budget=Budget(generations=32))
    parts = graph.stream(
        {"questions": [EASY, HARD[0]]}, context=ctx, stream_mode="custom", subgraphs=True
    )
    events = [event for _, event in parts]
    alloc = [e for e in events if e.get("node") == "allocate"]
    assert alloc == [{"node": "allocate", "budgets": [4, 28], "budget": 32, "difficulties": [1, 5]}]
    assert any(e.get("node") == "generate" for e in events)  # the strategies' own progress


# --------------------------------------------------------------------------- bad input


@pytest.mark.parametrize(
    ("questions", "total", "error", "match"),
    [
        ([], 16, ValueError, "at least one question"),
        ([EASY, "  ", HARD[0]], 16, ValueError, r"questions\[1\].*non-empty"),
        ([EASY, 7], 16, TypeError, r"questions\[1\].*str"),
        (EASY, 16, TypeError, "list of strings"),
        ([EASY, *HARD], 3, ValueError, "smaller than the number of questions \\(4\\)"),
    ],
)
def test_bad_input_fails_before_any_model_runs(
    questions: Any, total: int, error: type[Exception], match: str
) -> None:
    gen = ScriptedGenerator()
    with pytest.raises(error, match=match):
        _run(questions, total, gen)
    with pytest.raises(error, match=match):
        solve_batch(questions, gen, budget=total)
    assert gen.calls == []


@pytest.mark.parametrize(
    ("budget", "match"),
    [
        (None, "context.budget.generations"),
        (Budget(tokens=100), "context.budget.generations"),
        (Budget(generations=16, tokens=100), "budget.tokens is not supported"),
    ],
)
def test_the_total_must_be_generations(budget: Budget | None, match: str) -> None:
    graph = create_batch_graph(ScriptedGenerator(), policy=_policy()).compile()
    with pytest.raises(ValueError, match=match):
        graph.invoke({"questions": [EASY]}, context=TTCContext(budget=budget))


def test_a_forced_plan_is_refused() -> None:
    graph = create_batch_graph(ScriptedGenerator(), policy=_policy()).compile()
    ctx = TTCContext(budget=Budget(generations=8), plan=StrategyConfig("majority", n=4))
    with pytest.raises(ValueError, match="a batch chooses each question's plan"):
        graph.invoke({"questions": [EASY]}, context=ctx)


def test_solve_batch_checks_its_budget() -> None:
    with pytest.raises(ValueError, match="positive int"):
        solve_batch([EASY], ScriptedGenerator(), budget=0)
    with pytest.raises(TypeError, match="int"):
        solve_batch([EASY], ScriptedGenerator(), budget=2.5)  # type: ignore[arg-type]
