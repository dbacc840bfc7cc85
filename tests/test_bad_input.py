"""Bad input gets a clear error naming the field; a dead backend gets an honest status."""

from __future__ import annotations

import pytest
from fakes import ScriptedGenerator, ScriptedVerifier, ScriptInput

from langgraph_ttc.state import TTCContext
from langgraph_ttc.strategies import (
    create_beam_search_graph,
    create_best_of_n_graph,
    create_revision_graph,
    create_strategy_graph,
)
from langgraph_ttc.suite.task import evaluate
from langgraph_ttc.types import Budget, StrategyConfig

Q = "34*7-95+84*4"


def bon(**kw):  # type: ignore[no-untyped-def]
    return create_best_of_n_graph(ScriptedGenerator(), verifier=ScriptedVerifier(), **kw).compile()


@pytest.mark.parametrize("question", ["", "   \n"])
def test_empty_question(question: str) -> None:
    with pytest.raises(ValueError, match="question"):
        bon().invoke({"question": question})


@pytest.mark.parametrize("question", [42, None, ["34*7"]])
def test_non_string_question(question: object) -> None:
    with pytest.raises(TypeError, match="question"):
        bon().invoke({"question": question})


@pytest.mark.parametrize("value", [0, -1, -0.5])
def test_budget_must_be_positive(value: float) -> None:
    with pytest.raises(ValueError, match=r"budget\.generations"):
        Budget(generations=value)
    with pytest.raises(ValueError, match=r"budget\.tokens"):
        Budget(tokens=int(value))


def test_budget_must_be_a_number() -> None:
    with pytest.raises(TypeError, match=r"budget\.flops"):
        Budget(flops="1e9")  # type: ignore[arg-type]


def test_n_greater_than_the_budget() -> None:
    with pytest.raises(ValueError, match=r"n=16.*budget \(8 generations\)"):
        bon().invoke({"question": Q}, context=TTCContext(budget=Budget(generations=8)))


def test_unknown_strategy() -> None:
    with pytest.raises(ValueError, match="strategy"):
        StrategyConfig(strategy="mcts")
    with pytest.raises(ValueError, match="strategy"):
        bon().invoke({"question": Q, "plan": {"strategy": "mcts"}})


def test_plan_of_another_graph() -> None:
    with pytest.raises(ValueError, match=r"plan.strategy 'beam'"):
        bon().invoke({"question": Q}, context=TTCContext(plan=StrategyConfig(strategy="beam", n=4)))
    with pytest.raises(ValueError, match=r"config.strategy 'beam'"):
        create_best_of_n_graph(ScriptedGenerator(), config=StrategyConfig(strategy="beam"))


def test_missing_verifier() -> None:
    with pytest.raises(ValueError, match="verifier"):
        create_beam_search_graph(ScriptedGenerator(), verifier=None)  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="verifier"):
        create_strategy_graph(StrategyConfig(strategy="dvts"), ScriptedGenerator())
    with pytest.raises(ValueError, match="verifier"):
        create_best_of_n_graph(ScriptedGenerator(), config=StrategyConfig(strategy="best_of_n"))


def test_revisions_need_n_at_least_sequential() -> None:
    with pytest.raises(ValueError, match="sequential"):
        create_revision_graph(
            ScriptedGenerator(), config=StrategyConfig(strategy="revise", n=2, sequential=4)
        )


def test_bad_context_fields() -> None:
    with pytest.raises(ValueError, match=r"context\.max_tokens"):
        bon().invoke({"question": Q}, context=TTCContext(max_tokens=0))
    with pytest.raises(TypeError, match=r"context\.seed"):
        bon().invoke({"question": Q}, context=TTCContext(seed="1"))  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="params"):
        bon().invoke({"question": Q}, context=TTCContext(budget=Budget(flops=1e9)))


def test_verifier_nan_names_the_verifier() -> None:
    graph = create_best_of_n_graph(
        ScriptedGenerator(), verifier=ScriptedVerifier(nan=True, name="nanny")
    )
    with pytest.raises(ValueError, match="nanny"):
        graph.compile().invoke({"question": Q})


def test_all_empty_generations_name_the_generator() -> None:
    graph = create_best_of_n_graph(
        ScriptedGenerator(empty=True, name="mute"), verifier=ScriptedVerifier()
    )
    with pytest.raises(ValueError, match="mute"):
        graph.compile().invoke({"question": Q})


def test_backend_failure_in_branch_ends_with_status_and_no_made_up_answer() -> None:
    gen = ScriptedGenerator(fail_after=1)
    graph = create_beam_search_graph(
        gen, verifier=ScriptedVerifier(), config=StrategyConfig(strategy="beam", n=4, beam_width=2)
    )
    out = graph.compile().invoke({"question": Q})
    assert out["status"] == "backend_error" and "scripted backend failure" in out["error"]
    assert out["answer"] is None and out["confidence"] is None  # no path had finished


def test_backend_failure_keeps_the_best_answer_so_far() -> None:
    gen = ScriptedGenerator(error_rate=0.0, fail_after=2)  # first attempts and one revision
    plan = StrategyConfig(strategy="revise", n=8, sequential=4)
    out = (
        create_revision_graph(gen, verifier=ScriptedVerifier(), config=plan)
        .compile()
        .invoke({"question": Q})
    )
    assert out["status"] == "backend_error" and out["error"].startswith("reviser")
    assert out["answer"] == str(evaluate(Q))
    assert len(out["candidates"]) == 4 and all(c["score"] is not None for c in out["candidates"])


def test_verifier_failure_falls_back_to_a_vote() -> None:
    gen = ScriptedGenerator(script=lambda x: f"#### {min(x.sample, 1)}")
    graph = create_best_of_n_graph(
        gen, verifier=ScriptedVerifier(fail_after=0), config=StrategyConfig(n=3)
    )
    out = graph.compile().invoke({"question": Q})
    assert out["status"] == "backend_error" and "verifier" in out["error"]
    assert out["answer"] == "1"


def test_partly_empty_step_expansions_fail_those_paths_only() -> None:
    def script(x: ScriptInput) -> str:
        return "" if x.sample == 1 else ("#### 5" if x.request.prefix else "2+3=5")

    graph = create_beam_search_graph(
        ScriptedGenerator(script=script),
        verifier=ScriptedVerifier(),
        config=StrategyConfig(strategy="beam", n=2, beam_width=2),
    )
    out = graph.compile().invoke({"question": "2+3"})
    assert out["answer"] == "5" and out["status"] == "done"
