"""The step delimiter as a setting: chat-style steps ("\\n\\n", several lines each) end to end.

The scripted policy writes like a chat model here: steps separated by a blank
line, each arithmetic step a sentence and its equation on two lines. A search
that cut at "\\n" would send "\\n" as the stop string and get half steps (the
negative control below shows it does, so these tests can fail).
"""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Any, Literal

import pytest
from fakes import ScriptedGenerator, ScriptedVerifier

from langgraph_ttc.engine.candidates import extend_path, full_candidate, prefix_of, split_lines
from langgraph_ttc.formats import CHAT_STEP_DELIMITER
from langgraph_ttc.router import ComputePolicy
from langgraph_ttc.state import TTCContext
from langgraph_ttc.strategies import (
    create_beam_search_graph,
    create_best_of_n_graph,
    create_dvts_graph,
    create_lookahead_graph,
    create_particle_filter_graph,
)
from langgraph_ttc.strategies.compute_optimal import create_ttc_graph
from langgraph_ttc.strategies.factory import create_strategy_graph
from langgraph_ttc.suite.task import evaluate, reference_solution
from langgraph_ttc.types import Budget, Completion, StrategyConfig
from langgraph_ttc.verifiers import FunctionVerifier, LLMJudge

Q = "34*7-95+84*4"  # 4 arithmetic steps, then the answer
D = CHAT_STEP_DELIMITER
Builder = Callable[..., Any]

SEARCHES: list[tuple[str, Builder, StrategyConfig]] = [
    ("beam", create_beam_search_graph, StrategyConfig("beam", n=8, beam_width=2)),
    ("dvts", create_dvts_graph, StrategyConfig("dvts", n=8, beam_width=2)),
    ("lookahead", create_lookahead_graph, StrategyConfig("lookahead", n=4, beam_width=2)),
    ("particle", create_particle_filter_graph, StrategyConfig("particle_filter", n=8)),
]


def chat_policy(error_rate: float = 0.3) -> ScriptedGenerator:
    return ScriptedGenerator(error_rate=error_rate, delimiter=D, explain=True)


def is_whole_step(step: str) -> bool:
    """A chat-style step: "We compute a op b." then "a<op>b=c", or the answer line."""
    lines = step.split("\n")
    if len(lines) == 1:
        return lines[0].startswith("####")
    return len(lines) == 2 and lines[0].startswith("We compute ") and "=" in lines[1]


def check_delimited(gen: ScriptedGenerator, prm: ScriptedVerifier, out: dict[str, Any]) -> None:
    """Stops, prefixes, candidates and what the verifier read all follow "\\n\\n"."""
    stepwise = [r for call in gen.calls for r in call if r.stop]
    assert stepwise, "no step-level request was made"
    assert all(r.stop == (D,) for r in stepwise)
    for r in (r for call in gen.calls for r in call if r.prefix):
        assert r.prefix.endswith(D) and not r.prefix.endswith(D + "\n")
        assert all(is_whole_step(s) for s in split_lines(r.prefix, D))
    for cand in out["candidates"]:
        if cand["text"]:
            assert cand["text"] == D.join(cand["steps"])
            assert all(is_whole_step(s) for s in cand["steps"]), cand["steps"]
    solutions = [sol for _, sols in prm.calls for sol in sols]
    assert solutions
    for sol in solutions:
        assert all(is_whole_step(s) for s in sol.split(D)), sol


@pytest.mark.parametrize(("label", "build", "config"), SEARCHES, ids=[s[0] for s in SEARCHES])
def test_tree_searches_stop_split_and_join_at_a_chat_delimiter(
    label: str, build: Builder, config: StrategyConfig
) -> None:
    gen, prm = chat_policy(), ScriptedVerifier(step_delimiter=D)
    graph = build(gen, verifier=prm, config=config, step_delimiter=D).compile()
    out = graph.invoke({"question": Q}, context=TTCContext(seed=3))
    check_delimited(gen, prm, out)
    assert out["status"] == "done" and out["answer"] == str(evaluate(Q))
    # The perfect PRM rewarded whole steps: some finished path is the reference, step for step.
    ref = [line for line in reference_solution(Q).splitlines() if not line.startswith("####")]
    finished = [c for c in out["candidates"] if c["done"] and c["answer"] == str(evaluate(Q))]
    assert any([s.split("\n")[-1] for s in c["steps"][:-1]] == ref for c in finished)


def test_best_of_n_cuts_full_solutions_at_the_chat_delimiter() -> None:
    gen, prm = chat_policy(), ScriptedVerifier(step_delimiter=D)
    config = StrategyConfig("best_of_n", n=8)
    graph = create_best_of_n_graph(gen, verifier=prm, config=config, step_delimiter=D).compile()
    out = graph.invoke({"question": Q}, context=TTCContext(seed=2))
    assert all(r.stop == () for call in gen.calls for r in call)  # full solutions: no stop
    samples = [c for c in out["candidates"] if c["source"] == "sample"]
    assert len(samples) == 8 and all(len(c["steps"]) == 5 for c in samples)
    assert all(is_whole_step(s) for c in samples for s in c["steps"])
    assert prm.calls[0][1] == [c["text"] for c in samples]
    assert all(len(c["step_scores"] or []) == 5 for c in samples)  # the PRM saw 5 steps each
    assert out["answer"] == str(evaluate(Q))


def test_the_same_policy_cut_at_a_line_break_gets_half_steps() -> None:
    """Negative control: the default delimiter on a chat-style policy breaks its steps."""
    gen, prm = chat_policy(error_rate=0.0), ScriptedVerifier(step_delimiter=None)
    config = StrategyConfig("beam", n=4, beam_width=2)
    out = (
        create_beam_search_graph(gen, verifier=prm, config=config)
        .compile()
        .invoke({"question": Q}, context=TTCContext(seed=1))
    )
    assert gen.calls[0][0].stop == ("\n",)
    first = [c for c in out["candidates"] if c.get("round") == 0] or out["candidates"]
    assert not any(is_whole_step(s) for c in first for s in c["steps"][:1])
    with pytest.raises(AssertionError):
        check_delimited(gen, prm, out)


def test_context_overrides_the_graphs_delimiter_for_one_run() -> None:
    gen, prm = chat_policy(), ScriptedVerifier(step_delimiter=None)
    graph = create_beam_search_graph(
        gen, verifier=prm, config=StrategyConfig("beam", n=4, beam_width=2)
    ).compile()
    out = graph.invoke({"question": Q}, context=TTCContext(seed=1, step_delimiter=D))
    stepwise = [r for call in gen.calls for r in call if r.stop]
    assert stepwise and all(r.stop == (D,) for r in stepwise)
    assert all(r.prefix.endswith(D) for call in gen.calls for r in call if r.prefix)
    assert all(is_whole_step(s) for c in out["candidates"] for s in c["steps"])
    # A dict context (LangGraph Server) works the same way.
    gen2 = chat_policy()
    graph2 = create_beam_search_graph(
        gen2, verifier=prm, config=StrategyConfig("beam", n=4, beam_width=2)
    ).compile()
    graph2.invoke({"question": Q}, context={"seed": 1, "step_delimiter": D})  # type: ignore[call-overload]
    assert [r.stop for r in gen2.calls[0]] == [(D,)]


async def test_async_runs_use_the_delimiter_too() -> None:
    gen, prm = chat_policy(), ScriptedVerifier(step_delimiter=D)
    graph = create_lookahead_graph(
        gen, verifier=prm, config=StrategyConfig("lookahead", n=4, beam_width=2), step_delimiter=D
    ).compile()
    out = await graph.ainvoke({"question": Q}, context=TTCContext(seed=5))
    check_delimited(gen, prm, out)
    assert set(gen.modes) == {"async"}


# --------------------------------------------------------------------------- mismatches


def test_a_verifier_cutting_elsewhere_is_refused_when_the_graph_is_built() -> None:
    prm = ScriptedVerifier(step_delimiter=D, name="chat-prm")
    with pytest.raises(ValueError) as err:
        create_beam_search_graph(chat_policy(), verifier=prm)
    msg = str(err.value)
    assert "'\\n'" in msg and "'\\n\\n'" in msg and "chat-prm" in msg
    assert "the graph's step_delimiter" in msg
    # The real verifiers carry the attribute too: the judge is checked the same way.
    judge = LLMJudge(chat_policy(), step_delimiter=D)
    with pytest.raises(ValueError, match="step delimiter mismatch"):
        create_best_of_n_graph(chat_policy(), verifier=judge, step_delimiter="\n")
    with pytest.raises(ValueError, match="step delimiter mismatch"):
        create_strategy_graph(StrategyConfig("dvts"), chat_policy(), verifier=judge)


def test_a_run_whose_context_disagrees_with_the_verifier_fails_before_any_call() -> None:
    gen, prm = chat_policy(), ScriptedVerifier(step_delimiter=D, name="chat-prm")
    graph = create_beam_search_graph(gen, verifier=prm, step_delimiter=D).compile()
    with pytest.raises(ValueError) as err:
        graph.invoke({"question": Q}, context=TTCContext(step_delimiter="\n"))
    msg = str(err.value)
    assert "context.step_delimiter" in msg and "'\\n\\n'" in msg and "chat-prm" in msg
    assert gen.calls == [] and prm.calls == []


def test_a_verifier_without_a_delimiter_is_not_checked() -> None:
    verifier = FunctionVerifier(lambda q, s: 1.0 if s.endswith(str(evaluate(q))) else 0.0)
    gen = chat_policy(error_rate=0.0)
    graph = create_best_of_n_graph(
        gen, verifier=verifier, config=StrategyConfig("best_of_n", n=2), step_delimiter=D
    )
    out = graph.compile().invoke({"question": Q})
    assert out["answer"] == str(evaluate(Q))


@pytest.mark.parametrize(("value", "error"), [("", ValueError), (3, TypeError)])
def test_bad_delimiters_are_named(value: object, error: type[Exception]) -> None:
    with pytest.raises(error, match="step_delimiter"):
        create_beam_search_graph(chat_policy(), verifier=ScriptedVerifier(), step_delimiter=value)  # type: ignore[arg-type]
    graph = create_best_of_n_graph(chat_policy(), config=StrategyConfig("majority", n=2))
    with pytest.raises(error, match=r"context\.step_delimiter"):
        graph.compile().invoke({"question": Q}, context=TTCContext(step_delimiter=value))  # type: ignore[arg-type, call-overload]


# Probes at every budget, then a step-level search: stops and prefixes are checked too.
BEAM_EVERYWHERE = ComputePolicy(
    thresholds=(0.8, 0.6, 0.4, 0.2),
    table={b: {16: StrategyConfig("beam", n=12, beam_width=4)} for b in range(1, 6)},
)


@pytest.mark.parametrize("where", ["graph", "context"])
def test_the_routed_graph_cuts_its_probes_at_the_runs_delimiter(where: str) -> None:
    # A verifier with a delimiter of its own must agree with the graph's at build
    # time; the per-run override is for verifiers that take any cut.
    gen, prm = chat_policy(), ScriptedVerifier(step_delimiter=D if where == "graph" else None)
    graph = create_ttc_graph(
        gen,
        verifier=prm,
        policy=BEAM_EVERYWHERE,
        step_delimiter=D if where == "graph" else "\n",
    ).compile()
    ctx = TTCContext(seed=3, budget=Budget(generations=16), step_delimiter=D)
    if where == "graph":
        ctx = TTCContext(seed=3, budget=Budget(generations=16))
    out = graph.invoke({"question": Q}, context=ctx)
    probes = [c for c in out["candidates"] if c.get("source") == "probe"]
    assert probes and out["difficulty"] is not None
    check_delimited(gen, prm, out)
    if where == "graph":  # the perfect PRM reads whole steps only with its own delimiter
        assert out["answer"] == str(evaluate(Q))


def test_the_routed_graph_refuses_a_verifier_that_cuts_elsewhere() -> None:
    with pytest.raises(ValueError, match="step_delimiter"):
        create_ttc_graph(
            chat_policy(), verifier=ScriptedVerifier(step_delimiter="\n"), step_delimiter=D
        )


# --------------------------------------------------------------------------- the cut itself


def test_split_and_join_round_trip_with_either_delimiter() -> None:
    text = "We compute 2 times 3.\n2*3=6\n\n\nWe compute 6 plus 1.\n6+1=7  \n\n#### 7\n\n"
    steps = split_lines(text, D)
    assert steps == ["We compute 2 times 3.\n2*3=6", "We compute 6 plus 1.\n6+1=7", "#### 7"]
    assert split_lines(D.join(steps), D) == steps
    assert (
        prefix_of(steps[:2], D) == "We compute 2 times 3.\n2*3=6\n\nWe compute 6 plus 1.\n6+1=7\n\n"
    )
    # The default is unchanged: one step a line, indentation kept.
    assert split_lines("a\n\n  b \nc") == ["a", "  b", "c"]
    assert prefix_of(["a", "b"]) == "a\nb\n"


def test_candidate_builders_cut_at_the_given_delimiter() -> None:
    comp = Completion("We compute 2 times 3.\n2*3=6\n\n#### 6", "stop", 5, 9)
    full = full_candidate("s-0", comp, lambda t: "6" if "####" in t else None, source="sample")
    assert len(full["steps"]) == 3  # cut at "\n" by default
    full = full_candidate(
        "s-0", comp, lambda t: "6" if "####" in t else None, source="sample", delimiter=D
    )
    assert full["steps"] == ["We compute 2 times 3.\n2*3=6", "#### 6"] and full["answer"] == "6"
    step = Completion("We compute 2 times 3.\n2*3=6", "stop", 5, 9)
    path = extend_path("b-0", [], step, lambda t: None, source="b", delimiter=D)
    assert path["steps"] == ["We compute 2 times 3.\n2*3=6"] and not path["done"]


# --------------------------------------------------------------------------- real backends


class Recording:
    """A generator proxy that records every request (a real adapter underneath)."""

    def __init__(self, inner: Any) -> None:
        self.inner, self.name, self.params = inner, inner.name, inner.params
        self.requests: list[Any] = []

    def generate(self, requests: Any) -> Any:
        self.requests.extend(requests)
        return self.inner.generate(requests)

    async def agenerate(self, requests: Any) -> Any:
        self.requests.extend(requests)
        return await self.inner.agenerate(requests)


@pytest.mark.parametrize("mode", ["completions", "chat"])
def test_an_endpoint_gets_prefixes_ending_with_the_delimiter(
    mode: Literal["completions", "chat"],
) -> None:
    from test_models_openai import FakeOpenAI

    from langgraph_ttc.models import OpenAIGenerator
    from langgraph_ttc.suite.tokenizer import build_tokenizer

    server = FakeOpenAI()
    server.finish = "stop"  # each reply is one step that stopped at the delimiter
    try:
        tok = build_tokenizer()
        gen = OpenAIGenerator("m", base_url=server.base_url, api_key="k", mode=mode, tokenizer=tok)
        graph = create_beam_search_graph(
            gen,
            verifier=ScriptedVerifier(step_delimiter=D),
            config=StrategyConfig("beam", n=4, beam_width=2, max_rounds=3),
            step_delimiter=D,
        ).compile()
        graph.invoke({"question": Q}, context=TTCContext(seed=1))
        steps = [b for b in server.bodies if b.get("stop")]
        assert steps and all(b["stop"] == [D] for b in steps)
        rendered = tok.apply_chat_template(
            [{"role": "user", "content": Q}], add_generation_prompt=True, tokenize=False
        )
        if mode == "completions":  # the chat template, then the path so far
            prefixed = [b for b in steps if b["prompt"] != rendered]
            assert prefixed and all(b["prompt"].startswith(rendered) for b in prefixed)
            assert all(b["prompt"].endswith(D) for b in prefixed)
        else:  # the path so far as the assistant turn to continue
            prefixed = [b for b in steps if b["messages"][-1]["role"] == "assistant"]
            assert prefixed and all(b["continue_final_message"] is True for b in prefixed)
            assert all(b["messages"][-1]["content"].endswith(D) for b in prefixed)
    finally:
        server.close()


def test_a_local_model_runs_a_chat_delimited_beam_search(tiny_model_dir: Any) -> None:
    models = pytest.importorskip("langgraph_ttc.models.transformers")
    prm_module = pytest.importorskip("langgraph_ttc.verifiers.prm")
    gen = Recording(models.TransformersGenerator(tiny_model_dir, device="cpu"))
    prm = prm_module.TransformersPRM(tiny_model_dir, device="cpu", step_delimiter=D)
    graph = create_beam_search_graph(
        gen,
        verifier=prm,
        config=StrategyConfig("beam", n=4, beam_width=2, max_rounds=3),
        step_delimiter=D,
    ).compile()
    # Random weights write long steps: room for a blank line to turn up.
    out = graph.invoke({"question": "7*8+9-1"}, context=TTCContext(seed=5, step_max_tokens=100))
    assert out["status"] in ("done", "no_candidates")
    stepwise = [r for r in gen.requests if r.stop]
    assert stepwise and all(r.stop == (D,) for r in stepwise)
    assert all(r.prefix.endswith(D) for r in gen.requests if r.prefix)
    for cand in out["candidates"]:
        assert cand["text"] == D.join(cand["steps"]) and all(D not in s for s in cand["steps"])
        if cand["step_scores"]:
            assert len(cand["step_scores"]) == len(cand["steps"])  # the PRM cut them the same way


def test_a_generative_judge_guides_a_chat_delimited_search() -> None:
    """The judge (P(yes) from top logprobs, one request per step prefix) as the search's PRM."""
    from fakes import ScriptInput

    ref = reference_solution(Q).splitlines()

    def on_track(inp: ScriptInput) -> bool:
        shown = inp.question.split("Partial solution:\n", 1)[1].rsplit("\nIs every", 1)[0]
        steps = shown.split(D)
        return all(
            s.split("\n")[-1].replace(" ", "") == r.replace(" ", "")
            for s, r in zip(steps, ref, strict=False)
        )

    def tops(inp: ScriptInput, text: str) -> list[dict[str, float]]:
        p = 0.9 if on_track(inp) else 0.2
        return [{" Yes": math.log(p * 0.9), " No": math.log((1 - p) * 0.9), " The": math.log(0.1)}]

    judge_model = ScriptedGenerator(script=lambda inp: " Yes", top_logprobs=tops, name="judge-lm")
    judge = LLMJudge(judge_model, per_step=True, top_logprobs=5, step_delimiter=D)
    gen = chat_policy()
    config = StrategyConfig("beam", n=8, beam_width=2)
    out = (
        create_beam_search_graph(gen, verifier=judge, config=config, step_delimiter=D)
        .compile()
        .invoke({"question": Q}, context=TTCContext(seed=3))
    )
    assert out["answer"] == str(evaluate(Q))
    asked = [r for call in judge_model.calls for r in call]
    assert asked and all(r.top_logprobs == 5 for r in asked)
    for cand in out["candidates"]:
        if cand["text"] and cand["step_scores"]:
            assert len(cand["step_scores"]) == len(cand["steps"])  # one judge request a step
            assert all(s in (pytest.approx(0.9), pytest.approx(0.2)) for s in cand["step_scores"])
