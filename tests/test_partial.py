"""Faults keep what came back: a batch that lost some samples ends the run as ``partial``.

A generator that raises ``PartialBatchError`` hands the driver what came back;
the node uses it, the usage counts it (and only it), the run selects the best
answer so far and says ``status="partial"`` with the error. The real server
behind a fault-injecting proxy is in ``tests/integration/test_faults.py``.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

import pytest

from langgraph_ttc.models import BackendError, PartialBatchError
from langgraph_ttc.state import TTCContext
from langgraph_ttc.strategies import (
    create_beam_search_graph,
    create_best_of_n_graph,
    create_lookahead_graph,
    create_revision_graph,
)
from langgraph_ttc.strategies.compute_optimal import create_ttc_graph
from langgraph_ttc.suite.task import evaluate
from langgraph_ttc.types import Budget, Completion, GenerationRequest, StrategyConfig
from tests.fakes import ScriptedGenerator, ScriptedVerifier, shipped_policy_unfitted

Q = "17*3+25-4*6"

Lose = Callable[[int, int, int], bool]
"""``(call index, request index, sample index) -> whether that sample fails for good``."""


class LossyGenerator(ScriptedGenerator):
    """A scripted solver whose chosen samples fail for good, as a remote batch's can."""

    def __init__(self, lose: Lose, **kw: object) -> None:
        super().__init__(**kw)  # type: ignore[arg-type]
        self.lose = lose
        self.lost = 0
        self.returned = 0

    def _lossy(self, full: list[list[Completion]]) -> list[list[Completion]]:
        call = len(self.calls) - 1
        kept = [
            [c for j, c in enumerate(per) if not self.lose(call, k, j)]
            for k, per in enumerate(full)
        ]
        lost = sum(len(a) - len(b) for a, b in zip(full, kept, strict=True))
        self.lost += lost
        self.returned += sum(len(per) for per in kept)
        if not lost:
            return full
        if not any(kept):
            raise BackendError("every sample failed", backend=self.name)
        raise PartialBatchError(
            f"{lost} samples failed for good", completions=kept, failed=lost, backend=self.name
        )

    def generate(self, requests: Sequence[GenerationRequest]) -> list[list[Completion]]:
        return self._lossy(super().generate(requests))

    async def agenerate(self, requests: Sequence[GenerationRequest]) -> list[list[Completion]]:
        return self._lossy(await super().agenerate(requests))


def _every_third(call: int, request: int, sample: int) -> bool:
    return sample % 3 == 2


@pytest.mark.parametrize("mode", ["sync", "async"])
async def test_best_of_n_keeps_what_came_back(mode: str) -> None:
    gen = LossyGenerator(_every_third, error_rate=0.2, params=100)
    graph = create_best_of_n_graph(
        gen, verifier=ScriptedVerifier(), config=StrategyConfig(n=9)
    ).compile()
    ctx = TTCContext(seed=0, budget=Budget(generations=9))
    inp = {"question": Q}
    out = (
        await graph.ainvoke(inp, context=ctx) if mode == "async" else graph.invoke(inp, context=ctx)
    )
    assert out["status"] == "partial"
    assert out["error"].startswith("generator 'scripted-generator': 3 samples failed")
    assert out["answer"] == str(evaluate(Q))
    assert len(out["candidates"]) == 6 and all(c["score"] is not None for c in out["candidates"])
    # Exactly what came back is counted: 6 of 9 generations, their tokens and FLOPs.
    assert out["usage"]["generations"] == 6.0
    assert out["usage"]["generated_tokens"] > 0 and out["usage"]["flops"] > 0


def test_a_tree_search_ends_with_the_best_finished_path() -> None:
    # The last branch round (paths finish in it) loses a sample of every request.
    gen = LossyGenerator(lambda call, k, j: call == 4 and j == 1, error_rate=0.0)
    graph = create_beam_search_graph(
        gen, verifier=ScriptedVerifier(), config=StrategyConfig("beam", n=4, beam_width=2)
    ).compile()
    out = graph.invoke({"question": Q}, context=TTCContext(seed=0))
    assert out["status"] == "partial" and gen.lost == 2
    assert out["answer"] == str(evaluate(Q))  # a path finished in the round that came back
    assert not any(c.get("active") for c in out["candidates"])


def test_revision_chains_without_an_attempt_stop() -> None:
    gen = LossyGenerator(lambda call, k, j: call == 1 and k == 0, error_rate=0.0)
    plan = StrategyConfig(strategy="revise", n=8, sequential=2)
    out = (
        create_revision_graph(gen, verifier=ScriptedVerifier(), config=plan)
        .compile()
        .invoke({"question": Q}, context=TTCContext(seed=0))
    )
    assert out["status"] == "partial" and out["error"].startswith("reviser")
    assert out["answer"] == str(evaluate(Q))
    assert len([c for c in out["candidates"] if c["source"] == "revision"]) == 3
    assert out["usage"]["generations"] == 7.0


def test_lookahead_rollouts_that_failed_end_early() -> None:
    gen = LossyGenerator(
        lambda call, k, j: call == 1 and k == 0, error_rate=0.0
    )  # the first rollout call loses its first path
    plan = StrategyConfig("lookahead", n=4, beam_width=2, lookahead=1)
    out = (
        create_lookahead_graph(gen, verifier=ScriptedVerifier(), config=plan)
        .compile()
        .invoke({"question": Q}, context=TTCContext(seed=0))
    )
    assert out["status"] == "partial" and gen.lost == 1
    assert out["usage"]["generations"] == plan.generations  # rollouts cost no generations


def test_router_probes_partly_lost_end_with_the_probes_best_answer() -> None:
    gen = LossyGenerator(lambda call, k, j: call == 0 and j == 0, error_rate=0.0)
    out = (
        create_ttc_graph(gen, verifier=ScriptedVerifier(), policy=shipped_policy_unfitted())
        .compile()
        .invoke(
            {"question": Q},
            context=TTCContext(seed=0, budget=Budget(generations=16)),
            output_keys=["answer", "confidence", "status", "error", "usage"],
        )
    )
    assert out["status"] == "partial" and "router probes" in out["error"]
    assert out["answer"] == str(evaluate(Q)) and out["confidence"]
    assert out["usage"]["generations"] == 3.0  # 3 of the 4 probes came back
    assert len(gen.calls) == 1  # no strategy ran on a failing backend


def test_nothing_back_is_still_a_backend_error() -> None:
    gen = LossyGenerator(lambda call, k, j: True)
    out = (
        create_best_of_n_graph(gen, verifier=ScriptedVerifier(), config=StrategyConfig(n=4))
        .compile()
        .invoke({"question": Q})
    )
    assert out["status"] == "backend_error" and out["answer"] is None
    assert out["usage"]["generations"] == 0.0


def test_the_budget_holds_whatever_is_lost() -> None:
    budget = Budget(generations=8, tokens=400)
    for lose in (_every_third, lambda c, k, j: c % 2 == 1 and j == 0):
        gen = LossyGenerator(lose, error_rate=0.3, params=10)
        for plan in (StrategyConfig(n=8), StrategyConfig("beam", n=8, beam_width=2)):
            graph = (
                create_best_of_n_graph(gen, verifier=ScriptedVerifier(), config=plan)
                if plan.strategy == "best_of_n"
                else create_beam_search_graph(gen, verifier=ScriptedVerifier(), config=plan)
            )
            out = graph.compile().invoke({"question": Q}, context=TTCContext(budget=budget))
            assert out["usage"]["generations"] <= 8
            assert out["usage"]["generated_tokens"] <= 400


def test_a_short_reply_without_the_error_is_a_broken_backend() -> None:
    class Short(ScriptedGenerator):
        def generate(self, requests: Sequence[GenerationRequest]) -> list[list[Completion]]:
            return [per[:-1] for per in super().generate(requests)]

    graph = create_best_of_n_graph(
        Short(name="short"), verifier=ScriptedVerifier(), config=StrategyConfig(n=4)
    ).compile()
    with pytest.raises(ValueError, match=r"'short' returned 3 completions for request 0.*n=4"):
        graph.invoke({"question": Q})
