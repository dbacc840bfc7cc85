"""Beam search, lookahead search and DVTS on the scripted generator and PRM."""

from __future__ import annotations

import pytest
from fakes import ScriptedGenerator, ScriptedVerifier, ScriptInput

from langgraph_ttc.state import TTCContext
from langgraph_ttc.strategies import (
    create_beam_search_graph,
    create_dvts_graph,
    create_lookahead_graph,
)
from langgraph_ttc.suite.task import evaluate
from langgraph_ttc.types import StrategyConfig

Q = "34*7-95+84*4"  # 4 steps, then the answer line


def run(graph, question: str = Q, **ctx):  # type: ignore[no-untyped-def]
    return graph.compile().invoke({"question": question}, context=TTCContext(**ctx))


def test_beam_search_keeps_n_over_m_and_expands_m() -> None:
    gen = ScriptedGenerator(error_rate=0.3)
    prm = ScriptedVerifier()
    config = StrategyConfig(strategy="beam", n=8, beam_width=2)
    out = run(create_beam_search_graph(gen, verifier=prm, config=config), seed=1)
    first, *rounds = gen.calls
    assert len(first) == 1 and first[0].n == 8 and first[0].prefix == ""
    assert first[0].stop == ("\n",) and first[0].max_tokens == 64
    assert rounds, "beam search never branched"
    for call in rounds:
        assert [r.n for r in call] == [2, 2, 2, 2]  # N/M kept beams, M expansions each
        assert len({r.prefix for r in call}) <= 4 and all(r.prefix.endswith("\n") for r in call)
    assert prm.batch_sizes == [8] * (1 + len(rounds))  # one verify call per round
    assert out["answer"] == str(evaluate(Q)) and out["status"] == "done"
    assert out["usage"]["generations"] == 8  # N paths in all
    assert not any(c.get("active") for c in out["candidates"])


def test_beam_search_prefixes_are_kept_paths_of_the_previous_round() -> None:
    gen = ScriptedGenerator(error_rate=0.3)
    prm = ScriptedVerifier()
    graph = create_beam_search_graph(
        gen, verifier=prm, config=StrategyConfig(strategy="beam", n=4, beam_width=2)
    )
    run(graph, seed=5)
    for (_, scored), nxt in zip(prm.calls, gen.calls[1:], strict=False):
        best = sorted(scored, key=lambda t: -prm.reference_scores(Q, t.split("\n"))[-1])[:2]
        # The kept prefixes are among the best-scored texts of the round before.
        kept = {r.prefix.rstrip("\n") for r in nxt}
        assert kept <= set(scored)
        assert max(prm.reference_scores(Q, k.split("\n"))[-1] for k in kept) == max(
            prm.reference_scores(Q, b.split("\n"))[-1] for b in best
        )


def test_beam_search_stops_once_n_solutions_finished() -> None:
    gen = ScriptedGenerator(script=lambda x: f"#### {x.sample}")
    out = run(
        create_beam_search_graph(
            gen,
            verifier=ScriptedVerifier(),
            config=StrategyConfig(strategy="beam", n=4, beam_width=2),
        )
    )
    assert len(gen.calls) == 1 and out["status"] == "done"
    assert sorted(c["answer"] for c in out["candidates"]) == ["0", "1", "2", "3"]


def test_max_rounds_runs_the_last_round_to_the_end() -> None:
    def endless(x: ScriptInput) -> str:
        if not x.request.stop:  # asked for the whole rest
            return "2+2=4\n#### 4"
        return "1+1=2"

    gen = ScriptedGenerator(script=endless)
    config = StrategyConfig(strategy="beam", n=4, beam_width=2, max_rounds=3)
    out = run(
        create_beam_search_graph(gen, verifier=ScriptedVerifier(), config=config), max_tokens=99
    )
    assert len(gen.calls) == 3
    last = gen.calls[-1][0]
    assert last.stop == () and last.max_tokens == 99 and last.prefix == "1+1=2\n1+1=2\n"
    assert out["answer"] == "4"
    assert all(c["done"] for c in out["candidates"])


def test_finished_solutions_are_archived_when_their_slot_is_refilled() -> None:
    def half_finish(x: ScriptInput) -> str:
        depth = x.request.prefix.count("\n")
        return f"#### {depth}" if x.sample == 0 and depth < 2 else "1+1=2"

    gen = ScriptedGenerator(script=half_finish)
    config = StrategyConfig(strategy="beam", n=4, beam_width=2, max_rounds=4)
    out = run(
        create_beam_search_graph(gen, verifier=ScriptedVerifier(good=0.5, bad=0.5), config=config)
    )
    ids = {c["id"] for c in out["candidates"]}
    assert any("-r" in i for i in ids), ids  # a finished path moved out of a refilled slot
    finished = [c for c in out["candidates"] if c["done"] and c["answer"] in ("0", "1")]
    assert len(finished) >= 2


@pytest.mark.parametrize("k", [1, 2])
def test_lookahead_costs_n_times_k_plus_one_and_scores_rollouts(k: int) -> None:
    gen = ScriptedGenerator(error_rate=0.3)
    prm = ScriptedVerifier()
    config = StrategyConfig(strategy="lookahead", n=4, beam_width=2, lookahead=k)
    out = run(create_lookahead_graph(gen, verifier=prm, config=config), seed=2)
    assert out["usage"]["generations"] == 4 * (k + 1)
    rollouts = [c for c in gen.calls if all(r.temperature == 0.0 for r in c)]
    assert rollouts and all(r.n == 1 for c in rollouts for r in c)
    # A rollout-scored text runs past the path's own steps (the path keeps only its own).
    _, first_scored = prm.calls[0]
    assert all(len(t.split("\n")) > 1 for t in first_scored)
    assert out["answer"] is not None and out["status"] == "done"


def test_lookahead_zero_is_beam_search() -> None:
    config = StrategyConfig(strategy="lookahead", n=4, beam_width=2, lookahead=0)
    beam = StrategyConfig(strategy="beam", n=4, beam_width=2)
    a = run(
        create_lookahead_graph(ScriptedGenerator(), verifier=ScriptedVerifier(), config=config),
        seed=4,
    )
    b = run(
        create_beam_search_graph(ScriptedGenerator(), verifier=ScriptedVerifier(), config=beam),
        seed=4,
    )
    assert a["answer"] == b["answer"]
    assert a["usage"]["generated_tokens"] == b["usage"]["generated_tokens"]


def test_dvts_subtrees_stay_independent() -> None:
    gen = ScriptedGenerator(error_rate=0.4)
    prm = ScriptedVerifier()
    config = StrategyConfig(strategy="dvts", n=8, beam_width=2)
    graph = create_dvts_graph(gen, verifier=prm, config=config).compile()
    seen_groups: dict[str, int] = {}
    for update in graph.stream({"question": Q}, context=TTCContext(seed=6), stream_mode="updates"):
        for node, delta in update.items():
            for c in (delta or {}).get("candidates", []):
                if node in ("generate", "branch") and c["id"].count("-") == 1:
                    slot = int(c["id"].split("-")[1])
                    assert c["group"] == slot // 2  # a slot never changes subtree
                    if node == "branch":
                        assert seen_groups[c["parent"]] == c["group"]  # parent in the same subtree
                    seen_groups[c["id"]] = c["group"]
    first = gen.calls[0]
    assert [r.n for r in first] == [2, 2, 2, 2]  # one request per subtree
    assert len({r.seed for r in first}) == 4
    for call in gen.calls[1:]:
        assert all(r.n == 2 for r in call) and len(call) <= 4


def test_dvts_answers_with_a_good_prm() -> None:
    gen = ScriptedGenerator(error_rate=0.3)
    config = StrategyConfig(strategy="dvts", n=8, beam_width=2)
    out = run(create_dvts_graph(gen, verifier=ScriptedVerifier(), config=config), seed=7)
    assert out["answer"] == str(evaluate(Q)) and out["usage"]["generations"] == 8
    assert {c["group"] for c in out["candidates"] if c["source"] == "dvts"} == {0, 1, 2, 3}
