"""Greedy, majority and best-of-N graphs on the scripted generator and PRM."""

from __future__ import annotations

import pytest
from fakes import ScriptedGenerator, ScriptedVerifier, ScriptInput, probe

from langgraph_ttc.state import TTCContext
from langgraph_ttc.strategies import create_best_of_n_graph
from langgraph_ttc.suite.task import evaluate
from langgraph_ttc.types import Budget, StrategyConfig, empty_usage

Q = "34*7-95+84*4"


def run(graph, question: str = Q, **ctx):  # type: ignore[no-untyped-def]
    return graph.compile().invoke({"question": question}, context=TTCContext(**ctx))


def answers_by_sample(answers: list[int]):  # type: ignore[no-untyped-def]
    def script(x: ScriptInput) -> str:
        return f"1+1=2\n#### {answers[x.sample]}"

    return script


# Answers 1 x3 (score .2 each), 2 x2 (.45 each), 3 x1 (.85): weighted -> 2, majority -> 1, max -> 3.
SCORES = {"1": 0.2, "2": 0.45, "3": 0.85}


def scored_by_answer(question: str, steps: list[str]) -> list[float]:
    return [0.5] * (len(steps) - 1) + [SCORES[steps[-1].split()[-1]]]


@pytest.mark.parametrize(
    ("selection", "expected"), [("weighted", "2"), ("majority", "1"), ("max", "3")]
)
def test_selection_rules_pick_different_answers(selection: str, expected: str) -> None:
    gen = ScriptedGenerator(script=answers_by_sample([1, 1, 1, 2, 2, 3]))
    prm = ScriptedVerifier(score_fn=scored_by_answer)
    config = StrategyConfig(strategy="best_of_n", n=6, selection=selection)
    out = run(create_best_of_n_graph(gen, verifier=prm, config=config))
    assert out["answer"] == expected and out["status"] == "done"
    assert gen.sample_counts == [6] and prm.batch_sizes == [6]  # one batched call each
    if selection == "weighted":
        assert out["confidence"] == pytest.approx(0.9 / 2.35)


def test_greedy_is_one_temperature_zero_sample() -> None:
    gen = ScriptedGenerator(error_rate=0.0)
    out = run(create_best_of_n_graph(gen, config=StrategyConfig(strategy="greedy")))
    (req,) = gen.calls[0]
    assert req.n == 1 and req.temperature == 0.0 and req.stop == ()
    assert out["answer"] == str(evaluate(Q)) and out["usage"]["generations"] == 1
    assert out["strategy"] == "greedy" and out["difficulty"] is None


def test_majority_never_calls_the_verifier() -> None:
    gen = ScriptedGenerator(script=answers_by_sample([4, 5, 5, 6]))
    prm = ScriptedVerifier(score_fn=scored_by_answer)
    config = StrategyConfig(strategy="majority", n=4)
    out = run(create_best_of_n_graph(gen, verifier=prm, config=config))
    assert out["answer"] == "5" and out["confidence"] == 0.5 and prm.calls == []


def test_best_of_n_finds_the_right_answer_with_a_good_prm() -> None:
    gen = ScriptedGenerator(error_rate=0.3)
    out = run(create_best_of_n_graph(gen, verifier=ScriptedVerifier()), seed=3)
    assert out["answer"] == str(evaluate(Q))
    assert len(out["candidates"]) == 16 and out["usage"]["generations"] == 16
    assert all(c["score"] is not None for c in out["candidates"])


def test_probes_count_as_samples_and_against_the_budget() -> None:
    gen = ScriptedGenerator(error_rate=0.3)
    prm = ScriptedVerifier()
    probes = [probe(i, str(evaluate(Q)), 0.9) for i in range(4)]
    usage = empty_usage()
    usage["generations"] = 4.0
    usage["generated_tokens"] = 40
    graph = create_best_of_n_graph(gen, verifier=prm, config=StrategyConfig(n=16)).compile()
    out = graph.invoke(
        {"question": Q, "candidates": probes, "usage": usage, "difficulty": 2},
        context=TTCContext(budget=Budget(generations=16)),
    )
    assert gen.sample_counts == [12]  # 16 minus the 4 probes
    assert prm.batch_sizes == [12]  # the probes were scored already
    assert out["usage"]["generations"] == 16 and out["difficulty"] == 2
    assert {c["id"] for c in out["candidates"]} >= {"probe-0", "probe-3"}


def test_empty_samples_are_failed_candidates_not_verified() -> None:
    gen = ScriptedGenerator(error_rate=0.0, empty=lambda req, j: j % 2 == 1)
    prm = ScriptedVerifier()
    out = run(create_best_of_n_graph(gen, verifier=prm, config=StrategyConfig(n=6)))
    failed = [c for c in out["candidates"] if not c["text"]]
    assert len(failed) == 3 and all(c["answer"] is None and c["score"] == 0.0 for c in failed)
    assert prm.batch_sizes == [3] and out["answer"] == str(evaluate(Q))


def test_plan_precedence_state_then_context_then_builder() -> None:
    gen = ScriptedGenerator()
    graph = create_best_of_n_graph(gen, config=StrategyConfig(strategy="majority", n=3)).compile()
    graph.invoke({"question": Q})
    graph.invoke({"question": Q}, context=TTCContext(plan=StrategyConfig(strategy="majority", n=5)))
    out = graph.invoke(
        {"question": Q, "plan": StrategyConfig(strategy="greedy").to_dict()},
        context=TTCContext(plan=StrategyConfig(strategy="majority", n=5)),
    )
    assert gen.sample_counts == [3, 5, 1] and out["strategy"] == "greedy"


def test_greedy_with_a_verifier_does_not_call_it() -> None:
    prm = ScriptedVerifier()
    graph = create_best_of_n_graph(
        ScriptedGenerator(), verifier=prm, config=StrategyConfig(strategy="greedy")
    )
    out = graph.compile().invoke({"question": Q})
    assert prm.calls == [] and out["answer"] is not None
