"""Confidence-weighted voting (issue 10, item 4): samples weighted by the model's own logprobs."""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Sequence

from langgraph_ttc.nodes import confidence_weight, vote
from langgraph_ttc.state import TTCContext
from langgraph_ttc.strategies import create_best_of_n_graph
from langgraph_ttc.types import Completion, GenerationRequest, StrategyConfig
from tests.fakes import ScriptedGenerator, ScriptInput


def _cand(i: int, answer: str, logprob: float | None) -> dict:
    out = {"id": f"s{i}", "text": f"#### {answer}", "steps": [], "done": True, "answer": answer}
    out.update(score=None, step_scores=None, source="sample")
    if logprob is not None:
        out["logprob"] = logprob
    return out


def test_confident_minority_outweighs_an_unsure_majority() -> None:
    cands = [_cand(0, "1", -3.0), _cand(1, "1", -3.0), _cand(2, "2", -0.05)]
    answer, share, totals, rule = vote(cands, "confidence")  # type: ignore[arg-type]
    assert (answer, rule) == ("2", "confidence")
    assert math.isclose(totals["1"], 2 * math.exp(-3.0))
    assert 0 < share < 1
    # No logprobs at all: a plain vote.
    plain = [_cand(i, a, None) for i, a in enumerate("112")]
    assert vote(plain, "confidence")[0::3] == ("1", "majority")  # type: ignore[arg-type]
    assert confidence_weight(_cand(0, "1", -0.0)) == 1.0  # type: ignore[arg-type]


class _WithLogprobs:
    """A scripted generator that returns token logprobs when a request asks for them."""

    def __init__(self, inner: ScriptedGenerator) -> None:
        self.inner, self.name, self.params = inner, inner.name, inner.params
        self.asked: list[bool] = []

    def _add(self, reqs: Sequence[GenerationRequest], out: list[list[Completion]]) -> list:
        self.asked += [r.logprobs for r in reqs]
        return [
            [
                dataclasses.replace(c, logprobs=(-0.01,) if "42" in c.text else (-2.0, -2.0))
                if r.logprobs
                else c
                for c in per
            ]
            for r, per in zip(reqs, out, strict=True)
        ]

    def generate(self, requests: Sequence[GenerationRequest]) -> list[list[Completion]]:
        return self._add(requests, self.inner.generate(requests))

    async def agenerate(self, requests: Sequence[GenerationRequest]) -> list[list[Completion]]:
        return self._add(requests, await self.inner.agenerate(requests))


def test_majority_graph_asks_for_logprobs_and_weights_by_them() -> None:
    def script(inp: ScriptInput) -> str:
        return "#### 42" if inp.sample == 0 else "#### 7"

    gen = _WithLogprobs(ScriptedGenerator(script=script))
    config = StrategyConfig("majority", n=4, selection="confidence")
    out = (
        create_best_of_n_graph(gen, config=config)
        .compile()
        .invoke({"question": "1+2"}, context=TTCContext(seed=0))
    )
    assert gen.asked == [True]
    assert out["answer"] == "42"  # one sure sample against three unsure ones
    plain = StrategyConfig("majority", n=4, selection="majority")
    gen = _WithLogprobs(ScriptedGenerator(script=script))
    out = create_best_of_n_graph(gen, config=plain).compile().invoke({"question": "1+2"})
    assert gen.asked == [False] and out["answer"] == "7"
