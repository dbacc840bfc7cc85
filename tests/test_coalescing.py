"""Concurrent calls share batches, and every caller gets exactly what it would get alone.

The coalescer itself on plain functions; then the real adapters: the
generator on a tiny random Llama and on the bundled ``policy-small`` (a
request's completions are identical alone and sharing a batch, same seed),
the likelihood verifier (concurrent ``score`` calls share forward passes),
and the CPU thread rule.
"""

from __future__ import annotations

import asyncio
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import pytest
import torch

from langgraph_ttc.models import TransformersGenerator
from langgraph_ttc.models.coalesce import Coalescer
from langgraph_ttc.models.threads import SMALL_MODEL_PARAMS, THREADS_ENV, choose_threads
from langgraph_ttc.suite import task
from langgraph_ttc.suite.modeling import bundled_model_path
from langgraph_ttc.types import GenerationRequest
from langgraph_ttc.verifiers import TransformersLikelihoodVerifier

Q = ["12*3-4", "7+8*2-30", "5", "9*9", "3*4+5*6", "81-9*9"]


@pytest.fixture(autouse=True, scope="module")
def _one_thread() -> Any:
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


# ---------------------------------------------------------------------- the coalescer


def _doubler(log: list[list[int]], delay: float = 0.0) -> Any:
    def run(items: list[int]) -> list[int | BaseException]:
        log.append(list(items))
        time.sleep(delay)
        return [ValueError(f"bad {x}") if x < 0 else 2 * x for x in items]

    return run


def test_calls_that_arrive_while_a_batch_runs_share_the_next() -> None:
    log: list[list[int]] = []
    c: Coalescer[int, int] = Coalescer(_doubler(log, 0.05), max_size=100, name="t")
    with ThreadPoolExecutor(8) as pool:
        first = pool.submit(c.call, 0)
        time.sleep(0.01)  # the first batch is running
        rest = [pool.submit(c.call, x) for x in range(1, 8)]
        assert first.result() == 0
        assert [f.result() for f in rest] == [2 * x for x in range(1, 8)]
    assert log[0] == [0]
    assert sorted(x for batch in log[1:] for x in batch) == list(range(1, 8))
    assert len(log) <= 3 and c.stats.shared >= 1 and c.stats.largest >= 4


def test_size_caps_a_batch_and_an_oversize_item_runs_alone() -> None:
    log: list[list[int]] = []
    c: Coalescer[int, int] = Coalescer(_doubler(log, 0.03), max_size=5, size=lambda x: x)
    with ThreadPoolExecutor(8) as pool:
        blocker = pool.submit(c.call, 1)
        time.sleep(0.01)
        futures = [pool.submit(c.call, x) for x in (2, 2, 2, 9, 1)]
        assert [f.result() for f in futures] == [4, 4, 4, 18, 2]
        assert blocker.result() == 2
    for batch in log:
        assert sum(batch) <= 5 or batch == [9]


def test_errors_stay_with_their_caller_and_a_failed_batch_is_rerun_alone() -> None:
    calls: list[list[int]] = []

    def run(items: list[int]) -> list[int | BaseException]:
        calls.append(list(items))
        if 13 in items:
            raise RuntimeError("unlucky batch")
        return [ValueError("negative") if x < 0 else x for x in items]

    c: Coalescer[int, int] = Coalescer(run, max_size=10)
    with pytest.raises(ValueError, match="negative"):
        c.call(-1)
    blocker = c.submit(1)
    futures = [c.submit(x) for x in (2, 13, 3)]
    assert blocker.result() == 1
    assert futures[0].result() == 2 and futures[2].result() == 3
    with pytest.raises(RuntimeError, match="unlucky"):
        futures[1].result()
    assert [13] in calls, "the failed shared batch was rerun item by item"


async def test_acall_leaves_the_loop_free_and_a_lone_caller_never_waits() -> None:
    log: list[list[int]] = []
    c: Coalescer[int, int] = Coalescer(_doubler(log), max_size=10, max_wait_s=0.5)
    t0 = time.perf_counter()
    for x in range(5):
        assert await c.acall(x) == 2 * x
    assert time.perf_counter() - t0 < 0.5, "one caller at a time must not wait for company"
    got = await asyncio.gather(*(c.acall(x) for x in range(10)))
    assert got == [2 * x for x in range(10)]
    assert c.stats.shared >= 1


def test_bad_settings() -> None:
    with pytest.raises(ValueError, match="max_size"):
        Coalescer(_doubler([]), max_size=0)
    with pytest.raises(ValueError, match="max_wait_s"):
        Coalescer(_doubler([]), max_size=1, max_wait_s=-1)
    with pytest.raises(TypeError, match="max_wait_s"):
        Coalescer(_doubler([]), max_size=1, max_wait_s="1")  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="batch function returned 0 results"):
        Coalescer(lambda items: [], max_size=1).call(1)


# ---------------------------------------------------------------------- the generator


def _requests() -> list[GenerationRequest]:
    """Mixed settings, as concurrent graph runs would send them."""
    return [
        GenerationRequest(
            q, n=1 + i % 3, max_tokens=40, seed=100 + i, stop=("\n",) if i % 2 else ()
        )
        for i, q in enumerate(Q)
    ] + [
        GenerationRequest(Q[0], n=2, max_tokens=40, seed=7, temperature=1.2, top_p=0.7),
        GenerationRequest(Q[1], n=2, max_tokens=40, temperature=0.0),
    ]


def _alone_then_shared(gen: TransformersGenerator) -> None:
    reqs = _requests()
    alone = [gen.generate([r]) for r in reqs]
    assert any(len({c.text for c in per[0]}) > 1 for per in alone), "samples should differ"
    # One call holding all of them: one shared batch.
    assert gen.generate(reqs) == [a[0] for a in alone]
    # Concurrent calls from threads, coalesced.
    before = gen.coalescing.shared
    barrier = threading.Barrier(len(reqs))

    def call(r: GenerationRequest) -> Any:
        barrier.wait()
        return gen.generate([r])

    with ThreadPoolExecutor(len(reqs)) as pool:
        threaded = list(pool.map(call, reqs))
    assert threaded == alone
    assert gen.coalescing.shared > before, "the concurrent calls should have shared a batch"

    # Concurrent agenerate on one event loop, coalesced.
    async def gathered() -> list[Any]:
        return await asyncio.gather(*(gen.agenerate([r]) for r in reqs))

    before = gen.coalescing.shared
    assert asyncio.run(gathered()) == alone
    assert gen.coalescing.shared > before
    # Smaller forward batches: the same samples again.
    old = gen.batch_size
    gen.batch_size = 3
    try:
        assert gen.generate(reqs) == [a[0] for a in alone]
    finally:
        gen.batch_size = old


def test_completions_do_not_depend_on_batch_mates_tiny(tiny_model_dir: Path) -> None:
    _alone_then_shared(TransformersGenerator(tiny_model_dir, device="cpu"))


def test_completions_do_not_depend_on_batch_mates_policy_small() -> None:
    _alone_then_shared(
        TransformersGenerator(bundled_model_path("policy-small"), device="cpu", name="ps")
    )


def test_usage_and_logprobs_are_each_callers_own(tiny_model_dir: Path) -> None:
    gen = TransformersGenerator(tiny_model_dir, device="cpu")
    plain = GenerationRequest(Q[2], n=2, max_tokens=12, seed=3)
    asks = GenerationRequest(Q[3], n=1, max_tokens=12, seed=4, logprobs=True, top_logprobs=3)
    alone_plain, alone_asks = gen.generate([plain]), gen.generate([asks])
    both = gen.generate([plain, asks])
    assert both == [alone_plain[0], alone_asks[0]]
    assert all(c.logprobs is None and c.top_logprobs is None for c in both[0])
    (c,) = both[1]
    assert c.logprobs is not None and c.top_logprobs is not None
    assert len(c.logprobs) == len(c.top_logprobs) == c.completion_tokens


def test_top_logprobs(tiny_model_dir: Path) -> None:
    gen = TransformersGenerator(tiny_model_dir, device="cpu")
    (out,) = gen.generate(
        [GenerationRequest(Q[0], n=3, max_tokens=10, seed=1, logprobs=True, top_logprobs=5)]
    )
    for c in out:
        assert c.top_logprobs is not None and c.logprobs is not None
        assert len(c.top_logprobs) == c.completion_tokens
        for k, (top, lp) in enumerate(zip(c.top_logprobs, c.logprobs, strict=True)):
            values = list(top.values())
            assert 1 <= len(top) <= 5 and values == sorted(values, reverse=True)
            assert all(v <= 0 for v in values)
            # The drawn token is never likelier than the most likely one.
            assert lp <= values[0] + 1e-6
            if k < len(c.text) and c.text[k] in top:  # one character per token here
                assert top[c.text[k]] == pytest.approx(lp, abs=1e-5)
        assert all(isinstance(t, str) for top in c.top_logprobs for t in top)
    # Greedy: the drawn token is the most likely one.
    (g,) = gen.generate([GenerationRequest(Q[0], temperature=0, max_tokens=6, top_logprobs=2)])[0]
    assert g.top_logprobs is not None and len(g.top_logprobs) == g.completion_tokens
    for k, top in enumerate(g.top_logprobs[: len(g.text)]):
        assert next(iter(top)) == g.text[k]


# ---------------------------------------------------------------------- the verifier


def test_concurrent_scores_share_forward_passes_and_equal_alone() -> None:
    lik = TransformersLikelihoodVerifier(bundled_model_path("policy-small"), device="cpu").load()
    questions = Q[:5]
    batches = [
        [task.reference_solution(q), "1+1=2\n#### 2", "", "7*3=21\n21+12=34"] for q in questions
    ]
    alone = [lik.score(q, s) for q, s in zip(questions, batches, strict=True)]

    async def gathered() -> list[Any]:
        return await asyncio.gather(
            *(lik.ascore(q, s) for q, s in zip(questions, batches, strict=True))
        )

    before = lik.coalescing.shared
    together = asyncio.run(gathered())
    assert lik.coalescing.shared > before
    for a, b in zip(alone, together, strict=True):
        assert a.tokens == b.tokens and a.flops == b.flops
        for sa, sb in zip(a.steps, b.steps, strict=True):
            assert sb == pytest.approx(sa, rel=1e-5, abs=1e-7)
    with ThreadPoolExecutor(5) as pool:
        threaded = list(pool.map(lik.score, questions, batches))
    assert [t.tokens for t in threaded] == [a.tokens for a in alone]


def test_a_solution_given_twice_is_read_once_and_scored_the_same() -> None:
    lik = TransformersLikelihoodVerifier(bundled_model_path("policy-small"), device="cpu").load()
    q = Q[0]
    a, b = task.reference_solution(q), "12*3=36\n36-4=30\n#### 30"
    once = lik.score(q, [a, b])
    twice = lik.score(q, [a, b, a, a])
    assert twice.steps == [*once.steps, once.steps[0], once.steps[0]]
    assert twice.tokens == once.tokens, "the repeats cost nothing"


# ---------------------------------------------------------------------- threads


def test_thread_rule(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv(THREADS_ENV, raising=False)
    monkeypatch.delenv("OMP_NUM_THREADS", raising=False)
    assert choose_threads(800_000) == 1
    assert choose_threads(SMALL_MODEL_PARAMS) is None, "a large model keeps torch's default"
    assert choose_threads(None) is None
    assert choose_threads(800_000, 3) == 3, "the setting wins"
    monkeypatch.setenv("OMP_NUM_THREADS", "2")
    assert choose_threads(800_000) is None, "the user chose through OMP_NUM_THREADS"
    monkeypatch.setenv(THREADS_ENV, "4")
    assert choose_threads(800_000) == 4
    monkeypatch.setenv(THREADS_ENV, "many")
    with pytest.raises(ValueError, match=THREADS_ENV):
        choose_threads(800_000)
    with pytest.raises(ValueError, match="threads"):
        choose_threads(1, 0)


def test_loading_a_small_model_on_cpu_sets_one_thread(
    tiny_model_dir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv(THREADS_ENV, raising=False)
    monkeypatch.delenv("OMP_NUM_THREADS", raising=False)
    torch.set_num_threads(2)
    TransformersGenerator(tiny_model_dir, device="cpu").load()
    assert torch.get_num_threads() == 1
    TransformersGenerator(tiny_model_dir, device="cpu", threads=2).load()
    assert torch.get_num_threads() == 2
    TransformersLikelihoodVerifier(tiny_model_dir, device="cpu").load()
    assert torch.get_num_threads() == 1
    with pytest.raises(ValueError, match="threads"):
        TransformersGenerator(tiny_model_dir, threads=0)


def test_batches_run_at_the_chosen_thread_count(
    tiny_model_dir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Torch's setting reaches only the calling thread (OpenMP): the batch thread reapplies it."""
    monkeypatch.delenv(THREADS_ENV, raising=False)
    monkeypatch.delenv("OMP_NUM_THREADS", raising=False)
    gen = TransformersGenerator(tiny_model_dir, device="cpu", threads=2).load()
    seen: list[int] = []
    real = gen._run_chunk

    def spy(*args: Any) -> Any:
        seen.append(torch.get_num_threads())
        return real(*args)

    monkeypatch.setattr(gen, "_run_chunk", spy)
    torch.set_num_threads(1)  # as another library might, after loading
    gen.generate([GenerationRequest(Q[0], max_tokens=3, seed=0)])
    assert seen == [2]
