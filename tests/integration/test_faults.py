"""Faults keep what came back, against the real ``transformers serve`` behind a faulty proxy.

The server serves the bundled ``policy-small`` (it answers the bundled task).
``transformers serve`` ignores ``n``, so a best-of-8 run sends 8 requests, one
per sample. The proxy injects 429, 500, hangs past the client's timeout and
dropped connections on chosen arrivals; the adapter retries each once. The
tests count what the proxy injected and what came back, and check that the
run keeps every sample that came back, counts exactly them, never spends
past its budget, and says ``partial`` (or ``done`` when every fault was
recovered). A beam search (completions mode, prefixes as raw text) that
loses half of a branch round keeps the paths that came back.

Counts (asserted): best-of-8 with one retry a sample, 12 requests, 6 faults
injected, 2 samples recovered, 2 lost, 6 came back and 6 generations counted;
with the four kinds once each, 4 injected, all 4 recovered, 8 of 8.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from _servers import FaultyProxy, ServeProcess, transformers_serve

from langgraph_ttc.models import OpenAIGenerator
from langgraph_ttc.state import TTCContext
from langgraph_ttc.strategies import create_beam_search_graph, create_best_of_n_graph
from langgraph_ttc.suite.modeling import bundled_model_path
from langgraph_ttc.suite.task import check
from langgraph_ttc.types import Budget, GenerationRequest, StrategyConfig
from langgraph_ttc.verifiers import FunctionVerifier

pytestmark = pytest.mark.integration

Q = "17*3+25-4*6"
N = 8
MAX_TOKENS = 64
FAULTS = ("429", "500", "hang", "drop")


@pytest.fixture(scope="module")
def policy_serve(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServeProcess]:
    import importlib.util

    missing = [m for m in ("fastapi", "uvicorn") if importlib.util.find_spec(m) is None]
    if missing:
        pytest.skip(f"transformers serve needs {missing}: pip install 'transformers[serving]'")
    model = bundled_model_path("policy-small")
    with transformers_serve(model, tmp_path_factory.mktemp("serve-policy")) as server:
        # The first requests load the model (about 15 s here): not under the fault timeout.
        for mode in ("chat", "completions"):
            warm = OpenAIGenerator(
                str(model),
                base_url=server.base_url,
                timeout=120.0,
                mode=mode,  # type: ignore[arg-type]
            )
            warm.generate([GenerationRequest(Q, max_tokens=4)])
        yield server


@pytest.fixture
def faulty(policy_serve: ServeProcess) -> Iterator[FaultyProxy]:
    with FaultyProxy(policy_serve.port, hang_s=12.0) as px:
        yield px


def _run(proxy: FaultyProxy, budget: Budget) -> dict[str, Any]:
    gen = OpenAIGenerator(
        str(bundled_model_path("policy-small")),
        base_url=proxy.base_url,
        supports_n=False,
        max_concurrency=N,
        timeout=6.0,  # a "hang" (12 s) outlasts it; a loaded CPU answers well within it
        max_retries=1,
        retry_backoff=0.05,
        max_backoff=0.1,
        params=1_000_000,
        # transformers serve refuses the neutral sampling fields (422) and each
        # concurrent first request would be sent again: the counts here are exact.
        neutral_sampling=False,
    )
    graph = create_best_of_n_graph(gen, config=StrategyConfig("majority", n=N)).compile()
    ctx = TTCContext(seed=0, budget=budget, max_tokens=MAX_TOKENS)
    return graph.invoke({"question": Q}, context=ctx)


def _counts(proxy: FaultyProxy) -> dict[str, int]:
    log = proxy.stats.log
    return {"requests": len(log), "injected": sum(f != "pass" for f in log)}


BUDGET = Budget(generations=N, tokens=N * MAX_TOKENS)


def test_lost_samples_end_the_run_partial_with_what_came_back(faulty: FaultyProxy) -> None:
    # First attempts: 4 faults, 4 answers. Retries of the 4: 2 more faults, 2 answers.
    faulty.set_faults((*FAULTS, "pass", "pass", "pass", "pass", "500", "drop", "pass", "pass"))
    out = _run(faulty, BUDGET)
    counts = _counts(faulty)
    came_back = len(out["candidates"])
    print(f"\nfaults: {counts}, came back {came_back} of {N}: {out['answer']}, {out['usage']}")
    assert counts == {"requests": 12, "injected": 6}
    assert came_back == 6  # 4 at once + 2 recovered; 2 lost for good
    assert out["status"] == "partial"
    assert "2 of 8 samples failed for good" in out["error"]
    assert out["answer"] is not None and out["answer"] in {c["answer"] for c in out["candidates"]}
    # Exactly what came back is counted, and the budget holds.
    assert out["usage"]["generations"] == 6.0
    assert 0 < out["usage"]["generated_tokens"] <= BUDGET.tokens
    assert out["usage"]["generations"] <= BUDGET.generations


def test_recovered_faults_lose_nothing(faulty: FaultyProxy) -> None:
    faulty.set_faults(FAULTS)  # one of each, then every request passes
    out = _run(faulty, BUDGET)
    counts = _counts(faulty)
    print(f"\nfaults: {counts}, came back {len(out['candidates'])} of {N}")
    assert counts == {"requests": N + 4, "injected": 4}
    assert out["status"] == "done" and len(out["candidates"]) == N
    assert out["usage"]["generations"] == N
    assert out["usage"]["generated_tokens"] <= BUDGET.tokens


def test_a_batch_that_fails_entirely_is_a_backend_error(faulty: FaultyProxy) -> None:
    faulty.set_faults(default="500")
    out = _run(faulty, BUDGET)
    assert _counts(faulty) == {"requests": 2 * N, "injected": 2 * N}
    assert out["status"] == "backend_error" and out["answer"] is None
    assert out["usage"]["generations"] == 0.0


def test_a_tree_search_keeps_the_paths_that_came_back(faulty: FaultyProxy) -> None:
    # Beam search, N=4, M=2: 4 first steps, then 2 kept paths x 2 children a round.
    # The first branch round loses 2 of its 4 samples for good (no retries).
    faulty.set_faults(("pass",) * 4 + ("500", "drop"))
    model = str(bundled_model_path("policy-small"))
    gen = OpenAIGenerator(
        model,
        base_url=faulty.base_url,
        mode="completions",  # transformers serve continues a prefix only as raw text
        tokenizer=model,
        supports_n=False,
        timeout=60.0,  # no hang here: only the injected faults may fail a sample
        max_retries=0,
        # Exact request counts: no BOS probe and no 422 for the neutral sampling
        # fields (transformers serve adds no BOS and refuses those fields).
        server_adds_bos=False,
        neutral_sampling=False,
    )
    checker = FunctionVerifier(lambda q, s: check(s, q), name="checker")
    graph = create_beam_search_graph(
        gen, verifier=checker, config=StrategyConfig("beam", n=4, beam_width=2)
    ).compile()
    budget = Budget(generations=4, tokens=4 * 16 * 8)
    out = graph.invoke({"question": Q}, context=TTCContext(seed=0, budget=budget))
    counts = _counts(faulty)
    print(f"\ntree search faults: {counts}, candidates {len(out['candidates'])}")
    assert counts == {"requests": 8, "injected": 2}
    assert out["status"] == "partial" and "2 of 4 samples failed for good" in out["error"]
    # Children take their slot's id: 2 slots hold a new path, 2 still the old first step.
    assert len(out["candidates"]) == 4
    assert sorted(len(c["steps"]) for c in out["candidates"]) == [1, 1, 2, 2]
    assert out["usage"]["generations"] == 4.0 <= budget.generations
    assert out["usage"]["generated_tokens"] <= budget.tokens
