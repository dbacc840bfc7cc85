"""Revision chains: prompts, chain structure, hierarchical selection, reuse of probes."""

from __future__ import annotations

from collections.abc import Sequence

from fakes import ScriptedGenerator, ScriptedVerifier, ScriptInput, messages_of, probe

from langgraph_ttc.formats import REVISE_PROMPT
from langgraph_ttc.state import TTCContext
from langgraph_ttc.strategies import create_revision_graph
from langgraph_ttc.suite.task import evaluate
from langgraph_ttc.types import StrategyConfig

Q = "34*7-95+84*4"


def run(graph, inputs=None, **ctx):  # type: ignore[no-untyped-def]
    return graph.compile().invoke(inputs or {"question": Q}, context=TTCContext(**ctx))


def test_chains_run_in_parallel_and_revise_in_sequence() -> None:
    gen = ScriptedGenerator(error_rate=0.5, revision_gain=0.3)
    prm = ScriptedVerifier()
    config = StrategyConfig(strategy="revise", n=8, sequential=4)
    out = run(create_revision_graph(gen, verifier=prm, config=config), seed=2)
    assert gen.batch_sizes == [1, 2, 2, 2] and gen.sample_counts == [2, 2, 2, 2]
    last = messages_of(gen.calls[-1][0].prompt)
    assert [m["role"] for m in last] == [
        "user",
        "assistant",
        "user",
        "assistant",
        "user",
        "assistant",
        "user",
    ]
    assert last[0]["content"] == Q and all(m["content"] == REVISE_PROMPT for m in last[2::2])
    by_chain: dict[int, list[str]] = {}
    for c in out["candidates"]:
        by_chain.setdefault(c["group"], []).append(c["id"])
    assert by_chain == {
        0: ["sample-0", "revision-0-1", "revision-0-2", "revision-0-3"],
        1: ["sample-1", "revision-1-1", "revision-1-2", "revision-1-3"],
    }
    parents = {c["id"]: c.get("parent") for c in out["candidates"]}
    assert parents["revision-1-3"] == "revision-1-2" and parents["revision-1-1"] == "sample-1"
    assert prm.batch_sizes == [8]  # every attempt scored in one call
    assert out["usage"]["generations"] == 8 and out["status"] == "done"
    assert out["answer"] == str(evaluate(Q))


def test_history_keeps_the_four_most_recent_attempts() -> None:
    gen = ScriptedGenerator(script=lambda x: f"#### {x.attempts}")
    config = StrategyConfig(strategy="revise", n=6, sequential=6, selection="majority")
    run(create_revision_graph(gen, config=config))
    prompt = messages_of(gen.calls[-1][0].prompt)
    assert [m["content"] for m in prompt[1::2]] == ["#### 1", "#### 2", "#### 3", "#### 4"]


def test_reviser_writes_the_revisions() -> None:
    gen = ScriptedGenerator(error_rate=0.0)
    reviser = ScriptedGenerator(error_rate=0.0, name="reviser")
    config = StrategyConfig(strategy="revise", n=4, sequential=2)
    run(create_revision_graph(gen, reviser=reviser, config=config))
    assert gen.sample_counts == [2] and reviser.sample_counts == [2]


def test_custom_revision_prompt_builder() -> None:
    gen = ScriptedGenerator(error_rate=0.0)
    config = StrategyConfig(strategy="revise", n=2, sequential=2)

    def prompt(question: str, attempts: Sequence[str]) -> str:
        return f"{question}\nfix: {attempts[-1]}"

    run(create_revision_graph(gen, config=config, revision_prompt=prompt))
    assert str(gen.calls[-1][0].prompt).startswith(f"{Q}\nfix: ")


def test_hierarchical_selection_with_a_verifier_flat_vote_without() -> None:
    scores = {"5": 0.3, "7": 0.9, "9": 0.9}

    def score(question: str, steps: list[str]) -> list[float]:
        return [scores[steps[-1].split()[-1]]]

    def script(x: ScriptInput) -> str:
        if not x.attempts:
            return f"#### {[5, 7][x.sample]}"
        first = messages_of(x.request.prompt)[1]["content"]
        return "#### 5" if first == "#### 5" else "#### 9"

    config = StrategyConfig(strategy="revise", n=4, sequential=2)
    out = run(
        create_revision_graph(
            ScriptedGenerator(script=script),
            verifier=ScriptedVerifier(score_fn=score),
            config=config,
        )
    )
    # Chain 0: 5, 5 (0.6); chain 1: 7, 9 (0.9 each, 7 first). Across winners: 5 (0.3) vs 7 (0.9).
    assert out["answer"] == "7"
    out = run(create_revision_graph(ScriptedGenerator(script=script), config=config))
    assert out["answer"] == "5"  # flat vote: 5 x2, 7 x1, 9 x1


def test_probes_are_reused_as_first_attempts() -> None:
    gen = ScriptedGenerator(error_rate=0.0)
    first = probe(0, "1", 0.2)
    config = StrategyConfig(strategy="revise", n=4, sequential=2)
    out = run(
        create_revision_graph(gen, verifier=ScriptedVerifier(), config=config),
        {"question": Q, "candidates": [first]},
    )
    assert gen.sample_counts == [1, 2]  # one new first attempt, then two revisions
    assert (
        messages_of(gen.calls[1][0].prompt)[1]["content"] == "#### 1"
    )  # chain 0 revises the probe
    assert out["answer"] == str(evaluate(Q))
