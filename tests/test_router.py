"""The router: difficulty estimators, the route node and the compute-optimal graph."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest

from langgraph_ttc.router import (
    ComputePolicy,
    OracleDifficulty,
    VerifierDifficulty,
    generic_policy,
)
from langgraph_ttc.router.difficulty import ProbeSettings, agreement, run_estimate
from langgraph_ttc.router.fitted import run_models
from langgraph_ttc.router.planning import available_plan, fit_after_probes, total_cost
from langgraph_ttc.state import TTCContext
from langgraph_ttc.strategies.compute_optimal import create_ttc_graph
from langgraph_ttc.suite.task import check, evaluate
from langgraph_ttc.types import STRATEGIES, Budget, StrategyConfig
from tests.fakes import ScriptedGenerator, ScriptedVerifier

Q = "34*7-95+84*4"


def _paper_policy() -> ComputePolicy:
    """The paper's shape, fixed for these tests (the shipped default gets refitted)."""

    def row(pick: Callable[[int], StrategyConfig]) -> dict[int, StrategyConfig]:
        return {
            n: StrategyConfig("greedy", n=1) if n == 1 else pick(n) for n in (1, 2, 4, 8, 16, 32)
        }

    def beam(n: int) -> StrategyConfig:
        if n < 4:
            return StrategyConfig("best_of_n", n=n)
        return StrategyConfig("beam", n=n, beam_width=2 if n < 16 else 4)

    revise = row(lambda n: StrategyConfig("revise", n=n, sequential=min(4, n)))
    table = {
        1: revise,
        2: revise,
        3: row(beam),
        4: row(beam),
        5: row(lambda n: StrategyConfig("best_of_n", n=n)),
    }
    return ComputePolicy(thresholds=(0.6, 0.4, 0.2, 0.1), table=table)


PAPER = _paper_policy()


def _ttc(generator: Any, **kw: Any) -> Any:
    kw.setdefault("policy", PAPER)
    return create_ttc_graph(generator, **kw)


def _ctx(budget: float | None = 16, **kw: object) -> TTCContext:
    kw.setdefault("seed", 1)
    return TTCContext(budget=Budget(generations=budget) if budget else None, **kw)  # type: ignore[arg-type]


# The output schema leaves out plan and error; the tests read them too.
KEYS = [
    "answer",
    "confidence",
    "status",
    "error",
    "strategy",
    "difficulty",
    "plan",
    "usage",
    "candidates",
]


def _run(graph, question: str = Q, ctx: TTCContext | None = None) -> dict:
    return graph.compile().invoke({"question": question}, context=ctx or _ctx(), output_keys=KEYS)


def _constant(score: float) -> ScriptedVerifier:
    return ScriptedVerifier(score_fn=lambda q, steps: [score] * max(len(steps), 1))


# --------------------------------------------------------------------------- routing by difficulty


def test_easy_question_goes_to_revisions_and_reuses_probes() -> None:
    gen, prm = ScriptedGenerator(error_rate=0.0), ScriptedVerifier()
    out = _run(_ttc(gen, verifier=prm))
    assert out["difficulty"] == 1
    assert out["strategy"] == "revise"
    assert out["answer"] == str(evaluate(Q))
    # One batched probe call first; the 4 probes open the revision's 4 chains.
    assert gen.sample_counts[0] == 4
    assert prm.batch_sizes[0] == 4
    assert out["usage"]["generations"] == 16
    assert sum(c.get("source") == "probe" for c in out["candidates"]) == 4


def test_hard_question_goes_to_best_of_n_without_double_counting() -> None:
    gen, prm = ScriptedGenerator(error_rate=1.0), ScriptedVerifier(bad=0.05)
    out = _run(_ttc(gen, verifier=prm))
    assert out["difficulty"] == 5
    assert out["strategy"] == "best_of_n"
    # 4 probes, then best-of-16 draws only the 12 it still needs.
    assert gen.sample_counts == [4, 12]
    assert out["usage"]["generations"] == 16.0
    assert out["usage"]["verifier_calls"] == 2
    assert out["plan"]["n"] == 16
    assert out["status"] == "done"


def test_medium_question_goes_to_beam_search_fitted_to_budget() -> None:
    gen = ScriptedGenerator(error_rate=0.3)
    out = _run(_ttc(gen, verifier=_constant(0.3)))
    assert out["difficulty"] == 3
    assert out["strategy"] == "beam"
    # Beam search draws its own paths: 16 - 4 probes = 12 beams, a multiple of M=4.
    assert out["plan"]["n"] == 12 and out["plan"]["beam_width"] == 4
    assert out["usage"]["generations"] <= 16


@pytest.mark.parametrize("budget", [1, 2, 3, 5, 7, 8, 13, 16, 33, 64, 100])
@pytest.mark.parametrize("score", [0.95, 0.5, 0.3, 0.15, 0.01])
def test_probes_plus_plan_never_exceed_the_budget(budget: int, score: float) -> None:
    gen = ScriptedGenerator(error_rate=0.3)
    out = _run(_ttc(gen, verifier=_constant(score)), "12+7*3", _ctx(budget))
    probes = sum(c.get("source") == "probe" for c in out["candidates"])
    plan = StrategyConfig.from_dict(out["plan"])
    assert total_cost(plan, probes) <= budget
    assert out["usage"]["generations"] <= budget
    if budget < 4:
        assert probes == 0 and out["difficulty"] is None
    else:
        assert probes == min(4, budget // 4)


def test_unset_budget_defaults_to_16_generations() -> None:
    gen = ScriptedGenerator(error_rate=1.0)
    out = _run(_ttc(gen, verifier=ScriptedVerifier(bad=0.05)), Q, TTCContext(seed=0))
    assert out["strategy"] == "best_of_n"
    assert out["usage"]["generations"] == 16


def test_the_shipped_policy_is_the_default_for_the_models_it_was_fitted_on() -> None:
    gen, ver = ScriptedGenerator(error_rate=0.3), _constant(0.3)
    # The shipped table, as if it had been fitted on these (scripted) models.
    shipped = ComputePolicy.default()
    assert shipped.fitted_for is not None
    policy = replace(shipped, fitted_for=run_models(gen, ver))
    out = _run(create_ttc_graph(gen, verifier=ver, policy=policy))
    wanted = available_plan(policy.lookup(policy.bin(0.3), 16), STRATEGIES, has_verifier=True)
    assert out["difficulty"] == policy.bin(0.3)
    assert out["plan"] == fit_after_probes(wanted, 16, 4).to_dict()


def _route_event(graph: Any, ctx: TTCContext | None = None) -> dict[str, Any]:
    parts = graph.compile().stream({"question": Q}, context=ctx or _ctx(), stream_mode="custom")
    return next(p for p in parts if p.get("node") == "route")


def test_other_models_get_the_generic_policy_and_the_router_says_so() -> None:
    gen, ver = ScriptedGenerator(error_rate=0.3), _constant(0.3)
    out = _run(create_ttc_graph(gen, verifier=ver))  # the shipped policy, fitted on others
    generic = generic_policy()
    # No probes: bins fitted on another verifier's scores mean nothing here.
    assert out["difficulty"] is None
    assert not any(c.get("source") == "probe" for c in out["candidates"])
    assert out["plan"] == generic.unprobed_plan(16).to_dict()  # type: ignore[union-attr]
    assert out["strategy"] == "adaptive" and out["usage"]["generations"] <= 16
    event = _route_event(create_ttc_graph(gen, verifier=ver))
    report = event["policy"]
    assert report["policy"] == "generic" and report["fitted"] == "no"
    assert report["models"] == run_models(gen, ver)
    assert report["fitted_for"] == ComputePolicy.default().fitted_for
    assert "generator 'ScriptedGenerator:scripted-generator'" in report["reason"]
    assert "ttc fit-policy" in report["reason"]


def test_a_policy_fitted_on_the_run_s_models_is_used_and_reported() -> None:
    gen, ver = ScriptedGenerator(error_rate=0.3), _constant(0.3)
    fitted = replace(PAPER, fitted_for=run_models(gen, ver))
    report = _route_event(create_ttc_graph(gen, verifier=ver, policy=fitted))["policy"]
    assert report["policy"] == "given" and report["fitted"] == "yes" and report["reason"] == ""
    # Fitted with a verifier, run without one: that is another setup.
    other = _route_event(create_ttc_graph(gen, policy=fitted))["policy"]
    assert other["fitted"] == "no" and "verifier None" in other["reason"]


def test_a_policy_naming_no_models_runs_as_given() -> None:
    gen = ScriptedGenerator(error_rate=0.3)
    event = _route_event(_ttc(gen, verifier=_constant(0.3)))
    assert event["policy"]["policy"] == "given" and event["policy"]["fitted"] == "unknown"
    assert event["difficulty"] == PAPER.bin(0.3)


def test_forced_plan_skips_the_probes() -> None:
    gen = ScriptedGenerator(error_rate=0.2)
    ctx = _ctx(plan=StrategyConfig("best_of_n", n=8))
    out = _run(_ttc(gen, verifier=ScriptedVerifier()), Q, ctx)
    assert out["difficulty"] is None
    assert out["strategy"] == "best_of_n"
    assert gen.sample_counts == [8]


def test_forced_plan_without_budget_runs_its_own_cost() -> None:
    gen = ScriptedGenerator(error_rate=0.2)
    ctx = TTCContext(seed=0, plan=StrategyConfig("best_of_n", n=40))
    out = _run(_ttc(gen, verifier=ScriptedVerifier()), Q, ctx)
    assert gen.sample_counts == [40]
    assert out["usage"]["generations"] == 40


def test_forced_plan_the_graph_cannot_run_is_an_error() -> None:
    ctx = _ctx(plan=StrategyConfig("beam", n=8))
    with pytest.raises(ValueError, match=r"context\.plan\.strategy 'beam'"):
        _run(_ttc(ScriptedGenerator()), Q, ctx)


def test_token_budget_binds_the_probes() -> None:
    gen = ScriptedGenerator(error_rate=0.2)
    ctx = TTCContext(seed=0, budget=Budget(generations=16, tokens=60))
    out = _run(_ttc(gen, verifier=ScriptedVerifier()), Q, ctx)
    probe_request = gen.calls[0][0]
    assert probe_request.n * probe_request.max_tokens <= 60
    assert out["usage"]["generated_tokens"] <= 60


def test_without_a_verifier_agreement_and_majority() -> None:
    gen = ScriptedGenerator(error_rate=0.0)
    graph = _ttc(gen)
    assert {"beam", "lookahead", "dvts", "best_of_n"}.isdisjoint(graph.nodes)
    out = _run(graph)
    # All 4 probes agree: agreement 1.0, the easiest bin; revisions need no verifier.
    assert out["difficulty"] == 1
    assert out["strategy"] == "revise"
    assert out["answer"] == str(evaluate(Q))
    scatter = ScriptedGenerator(script=lambda s: f"1+1=2\n#### {s.rng.randint(0, 10**9)}")
    out = _run(_ttc(scatter))
    # Every probe answers differently: agreement 0, the hardest bin, whose best-of-N
    # becomes majority voting without a verifier.
    assert out["difficulty"] == 5
    assert out["strategy"] == "majority"


def test_backend_failure_while_probing_ends_the_run_honestly() -> None:
    gen = ScriptedGenerator(fail_after=0)
    out = _run(_ttc(gen, verifier=ScriptedVerifier()))
    assert out["status"] == "backend_error"
    assert out["answer"] is None
    assert "router probes" in out["error"]


async def test_async_matches_sync() -> None:
    sync = _run(_ttc(ScriptedGenerator(), verifier=ScriptedVerifier()), Q, _ctx(seed=3))
    graph = _ttc(ScriptedGenerator(), verifier=ScriptedVerifier()).compile()
    out = await graph.ainvoke({"question": Q}, context=_ctx(seed=3), output_keys=KEYS)
    assert out["answer"] == sync["answer"]
    assert out["strategy"] == sync["strategy"]
    assert [c["text"] for c in out["candidates"]] == [c["text"] for c in sync["candidates"]]
    assert out["usage"]["generations"] == sync["usage"]["generations"]


def test_checkpointed_run_keeps_the_whole_state() -> None:
    from langchain_core.runnables import RunnableConfig
    from langgraph.checkpoint.memory import InMemorySaver

    graph = _ttc(ScriptedGenerator(error_rate=1.0), verifier=ScriptedVerifier(bad=0.05))
    app = graph.compile(checkpointer=InMemorySaver())
    config: RunnableConfig = {"configurable": {"thread_id": "t1"}}
    app.invoke({"question": Q}, config, context=_ctx())
    state = app.get_state(config).values
    # Probes and samples each once (upserted by id), usage counted once.
    ids = [c["id"] for c in state["candidates"]]
    assert len(ids) == len(set(ids)) == 16
    assert state["usage"]["generations"] == 16
    history = list(app.get_state_history(config))
    assert [h.next for h in history][:3] == [(), ("best_of_n",), ("route",)]


def test_custom_policy_and_strategy_subset() -> None:
    table = {
        b: {1: StrategyConfig("greedy", n=1), 8: StrategyConfig("dvts", n=8)} for b in range(1, 6)
    }
    policy = ComputePolicy(thresholds=(0.8, 0.6, 0.4, 0.2), table=table)
    gen = ScriptedGenerator(error_rate=0.3)
    graph = _ttc(
        gen, verifier=ScriptedVerifier(), policy=policy, strategies=("greedy", "beam", "best_of_n")
    )
    assert set(graph.nodes) == {"route", "greedy", "beam", "best_of_n"}
    out = _run(graph, Q, _ctx(8))
    assert out["strategy"] == "beam"  # dvts is not built: its nearest substitute


def test_bad_input_is_rejected_early() -> None:
    gen = ScriptedGenerator()
    with pytest.raises(ValueError, match="need a verifier"):
        _ttc(gen, strategies=("beam",))
    with pytest.raises(ValueError, match="unknown strategies"):
        _ttc(gen, strategies=("nope",))
    with pytest.raises(TypeError, match="policy"):
        _ttc(gen, policy={"thresholds": []})  # type: ignore[arg-type]
    with pytest.raises(TypeError, match="estimator"):
        _ttc(gen, estimator=object())  # type: ignore[arg-type]
    graph = _ttc(gen).compile()
    with pytest.raises(ValueError, match="question"):
        graph.invoke({"question": "   "}, context=_ctx())
    assert gen.calls == []


# --------------------------------------------------------------------------- estimators


def _settings(
    gen: ScriptedGenerator, prm: ScriptedVerifier | None, samples: int = 4
) -> ProbeSettings:
    from langgraph_ttc.answers import extract_answer
    from langgraph_ttc.engine.candidates import question_prompt

    return ProbeSettings(
        question=Q,
        generator=gen,
        verifier=prm,
        prompt=question_prompt,
        extract_answer=extract_answer,
        samples=samples,
        seed=5,
    )


def test_verifier_difficulty_one_generate_one_score() -> None:
    gen, prm = ScriptedGenerator(error_rate=0.5), ScriptedVerifier()
    est = run_estimate(VerifierDifficulty(k=8), _settings(gen, prm, 8))
    assert gen.sample_counts == [8] and prm.batch_sizes == [8]
    right = sum(check(c["text"], Q) for c in est.candidates)
    # The perfect PRM scores right solutions 0.9 and wrong ones 0.1 (fold "last").
    assert est.score == pytest.approx((0.9 * right + 0.1 * (8 - right)) / 8)
    assert est.method == "verifier"
    assert all(c["source"] == "probe" and c["score"] is not None for c in est.candidates)
    assert est.usage["generations"] == 8 and est.usage["verifier_calls"] == 1


def test_agreement_without_verifier() -> None:
    est = run_estimate(VerifierDifficulty(), _settings(ScriptedGenerator(error_rate=0.0), None))
    assert (est.method, est.score) == ("agreement", 1.0)
    cands = est.candidates
    two: list[Any] = [
        {**cands[0], "answer": "1"},
        {**cands[1], "answer": "1"},
        {**cands[2], "answer": "2"},
    ]
    assert agreement(two) == 0.5
    assert agreement([{**c, "answer": None} for c in cands]) == 0.0
    assert agreement(cands[:1]) == 0.5
    assert agreement([]) == 0.0


def test_probe_budget_share() -> None:
    est = VerifierDifficulty(k=4)
    assert [est.probes_for(n) for n in (1, 3, 4, 8, 12, 16, 256)] == [None, None, 1, 2, 3, 4, 4]
    with pytest.raises(ValueError, match="k"):
        VerifierDifficulty(k=0)
    with pytest.raises(ValueError, match="max_fraction"):
        VerifierDifficulty(max_fraction=0)


def test_oracle_difficulty() -> None:
    oracle = OracleDifficulty(pass_rates={Q: 0.05}, thresholds=(0.5, 0.1, 0.05, 0.01))
    assert oracle.probes_for(100) == 0
    est = run_estimate(oracle, _settings(ScriptedGenerator(), None))
    assert (est.score, est.bin, est.method, est.candidates) == (0.05, 3, "oracle", [])
    with pytest.raises(ValueError, match="no pass rate"):
        run_estimate(
            oracle,
            ProbeSettings(**{**_settings(ScriptedGenerator(), None).__dict__, "question": "1+1"}),
        )
    checker = OracleDifficulty(checker=check, samples=4)
    gen = ScriptedGenerator(error_rate=0.0)
    est = run_estimate(checker, _settings(gen, None))
    assert (est.score, est.method, len(est.candidates)) == (1.0, "checker", 4)
    with pytest.raises(ValueError, match="exactly one"):
        OracleDifficulty()
    with pytest.raises(ValueError, match=r"pass_rates\['x'\]"):
        OracleDifficulty(pass_rates={"x": 2.0})


def test_oracle_routes_the_graph() -> None:
    gen = ScriptedGenerator(error_rate=0.3)
    oracle = OracleDifficulty(pass_rates={Q: 0.01})
    out = _run(_ttc(gen, verifier=ScriptedVerifier(), estimator=oracle))
    assert out["difficulty"] == 5 and out["strategy"] == "best_of_n"
    assert gen.sample_counts == [16]  # no probes: the rate was known


# --------------------------------------------------------------------------- real models


def test_tiny_model_real_path(tiny_model_dir: Path) -> None:
    from langgraph_ttc.models import TransformersGenerator
    from langgraph_ttc.verifiers import TransformersPRM

    # Any: the Generator protocol's params is settable, the adapter's a read-only property.
    gen: Any = TransformersGenerator(tiny_model_dir)
    prm = TransformersPRM(tiny_model_dir)
    out = _run(_ttc(gen, verifier=prm), "3+4*2", _ctx(8, max_tokens=24, step_max_tokens=8))
    assert out["difficulty"] in range(1, 6)
    assert out["strategy"] in ("revise", "beam", "best_of_n", "greedy")
    assert 0 < out["usage"]["generations"] <= 8
    assert out["usage"]["verifier_calls"] >= 1
    assert sum(c.get("source") == "probe" for c in out["candidates"]) == 2
