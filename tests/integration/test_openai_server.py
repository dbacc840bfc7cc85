"""OpenAIGenerator against a real ``transformers serve``, directly and behind a faulty proxy.

``transformers serve`` (5.23, continuous batching) ignores ``n`` and ``stop``
and has no ``continue_final_message``: exactly the server the adapter's
fallbacks are for.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from _servers import FaultyProxy, ServeProcess

from langgraph_ttc.models import BackendError, OpenAIGenerator
from langgraph_ttc.types import GenerationRequest

pytestmark = pytest.mark.integration


def _tok(model_dir: Path) -> Any:
    from transformers import AutoTokenizer

    return AutoTokenizer.from_pretrained(model_dir)


def _prompt_len(tok: Any, question: str, prefix: str = "") -> int:
    text = tok.apply_chat_template(
        [{"role": "user", "content": question}], add_generation_prompt=True, tokenize=False
    )
    return len(tok(text + prefix, add_special_tokens=False)["input_ids"])


def _gen(model_dir: Path, base_url: str, **kw: Any) -> OpenAIGenerator:
    kw.setdefault("timeout", 30.0)
    # transformers serve rejects top_k/min_p/repetition_penalty (422): not sent here, so
    # that the proxy logs count the faults only (the fallback has its own test below)
    kw.setdefault("neutral_sampling", False)
    kw.setdefault("retry_backoff", 0.05)
    kw.setdefault("max_backoff", 0.2)
    return OpenAIGenerator(str(model_dir), base_url=base_url, **kw)


# ---------------------------------------------------------------------- the real server


def test_n_fallback_fans_out(serve: ServeProcess, tiny_model_dir: Path) -> None:
    gen = _gen(tiny_model_dir, serve.base_url)
    out = gen.generate(
        [
            GenerationRequest("12*3-4", n=5, max_tokens=16, seed=3),
            GenerationRequest("5+6", n=3, max_tokens=16),
        ]
    )
    assert [len(p) for p in out] == [5, 3]
    assert gen.supports_n is False, "transformers serve returns one choice whatever n is"
    texts = [c.text for p in out for c in p]
    assert len(set(texts)) > 4, f"samples should differ: {texts}"


async def test_async_path_and_concurrency(serve: ServeProcess, tiny_model_dir: Path) -> None:
    gen = _gen(tiny_model_dir, serve.base_url, supports_n=False, max_concurrency=16)
    out = await gen.agenerate([GenerationRequest(f"{i}+{i}", n=4, max_tokens=8) for i in range(8)])
    assert [len(p) for p in out] == [4] * 8
    await gen.aclose()


def test_stop_sequences_are_enforced(serve: ServeProcess, tiny_model_dir: Path) -> None:
    gen = _gen(tiny_model_dir, serve.base_url)
    (out,) = gen.generate([GenerationRequest("7*8+1", n=12, max_tokens=60, stop=("\n",))])
    assert len(out) == 12
    assert all("\n" not in c.text for c in out)
    stopped = [c for c in out if c.finish_reason == "stop"]
    assert stopped, "some of 12 random 60-token samples hold a newline"
    for c in out:
        assert 1 <= c.completion_tokens <= 60
        if c.finish_reason == "length":
            assert c.completion_tokens == 60


def test_usage_comes_from_the_server(serve: ServeProcess, tiny_model_dir: Path) -> None:
    tok = _tok(tiny_model_dir)
    gen = _gen(tiny_model_dir, serve.base_url)
    questions = ["1+2", "21*3+4*5-6"]
    out = gen.generate([GenerationRequest(q, n=2, max_tokens=12) for q in questions])
    for q, per in zip(questions, out, strict=True):
        for c in per:
            assert c.prompt_tokens == _prompt_len(tok, q)
            assert 1 <= c.completion_tokens <= 12
            # The server counts EOS and special tokens the text does not show.
            assert c.completion_tokens >= len(tok(c.text, add_special_tokens=False)["input_ids"])


def test_completions_mode_continues_a_prefix(serve: ServeProcess, tiny_model_dir: Path) -> None:
    tok = _tok(tiny_model_dir)
    gen = _gen(tiny_model_dir, serve.base_url, mode="completions", tokenizer=tok)
    msgs = [{"role": "user", "content": "12*3"}]
    (out,) = gen.generate([GenerationRequest(msgs, prefix="12*3=36\n", n=2, max_tokens=10)])
    assert len(out) == 2
    assert all(c.prompt_tokens == _prompt_len(tok, "12*3", "12*3=36\n") for c in out)


def test_chat_prefix_is_rejected_with_a_clear_error(
    serve: ServeProcess, tiny_model_dir: Path
) -> None:
    gen = _gen(tiny_model_dir, serve.base_url)
    with pytest.raises(BackendError, match="mode='completions'") as info:
        gen.generate([GenerationRequest("1+2", prefix="1+2=3\n")])
    assert info.value.status == 422 and not info.value.retryable


def test_neutral_sampling_fields_it_rejects_are_dropped(
    serve: ServeProcess, tiny_model_dir: Path
) -> None:
    """transformers serve answers 422 to top_k/min_p/repetition_penalty: sent once, then not."""
    gen = _gen(tiny_model_dir, serve.base_url, neutral_sampling=None)
    assert gen.sampling["top_k"] == 0
    (out,) = gen.generate([GenerationRequest("2+2", n=2, max_tokens=8)])
    assert len(out) == 2 and gen.sampling == {}
    user = _gen(tiny_model_dir, serve.base_url, top_k=5)
    with pytest.raises(BackendError, match="top_k") as info:
        user.generate([GenerationRequest("2+2", max_tokens=8)])
    assert info.value.status == 422  # a field the user set is not dropped silently


# ---------------------------------------------------------------------- behind a faulty proxy


def test_transient_faults_are_retried(proxy: FaultyProxy, tiny_model_dir: Path) -> None:
    proxy.set_faults(("429", "500", "hang", "drop"))
    gen = _gen(tiny_model_dir, proxy.base_url, timeout=2.0, max_retries=5)
    (out,) = gen.generate([GenerationRequest("3*4", max_tokens=10, stop=("\n",))])
    assert len(out) == 1
    assert proxy.stats.log == ["429", "500", "hang", "drop", "pass"]


def test_transient_garbage_is_retried(proxy: FaultyProxy, tiny_model_dir: Path) -> None:
    proxy.set_faults(("garbage", "nochoices", "503"))
    gen = _gen(tiny_model_dir, proxy.base_url, max_retries=3)
    (out,) = gen.generate([GenerationRequest("3*4", max_tokens=10)])
    assert len(out) == 1
    assert proxy.stats.log == ["garbage", "nochoices", "503", "pass"]


def test_fan_out_through_a_flaky_proxy(proxy: FaultyProxy, tiny_model_dir: Path) -> None:
    proxy.set_faults(("500", "pass", "429", "drop", "pass", "500"))
    gen = _gen(tiny_model_dir, proxy.base_url, max_concurrency=3, max_retries=4)
    (out,) = gen.generate([GenerationRequest("9-2", n=6, max_tokens=8, seed=1)])
    assert len(out) == 6
    assert proxy.stats.max_in_flight <= 3
    assert proxy.stats.log.count("pass") == 6


@pytest.mark.parametrize(
    ("fault", "status", "words"),
    [
        ("500", 500, "HTTP 500"),
        ("429", 429, "HTTP 429"),
        ("hang", None, "timed out"),
        ("drop", None, "connection error"),
        ("garbage", 200, "not JSON"),
        ("nochoices", 200, "no choices"),
    ],
)
def test_permanent_faults_raise_backend_error(
    proxy: FaultyProxy, tiny_model_dir: Path, fault: str, status: int | None, words: str
) -> None:
    proxy.set_faults(default=fault)
    gen = _gen(tiny_model_dir, proxy.base_url, timeout=1.0, max_retries=2)
    with pytest.raises(BackendError) as info:
        gen.generate([GenerationRequest("1+1", max_tokens=5)])
    err = info.value
    assert err.status == status and err.retryable
    assert words in str(err) and "after 3 attempt(s)" in str(err)
    assert f"{proxy.base_url}/chat/completions" in str(err)
    assert proxy.stats.log == [fault] * 3


def test_client_error_is_not_retried(proxy: FaultyProxy, tiny_model_dir: Path) -> None:
    proxy.set_faults(default="401")
    gen = _gen(tiny_model_dir, proxy.base_url, max_retries=4)
    with pytest.raises(BackendError, match="HTTP 401") as info:
        gen.generate([GenerationRequest("1+1", max_tokens=5)])
    assert info.value.status == 401 and not info.value.retryable
    assert proxy.stats.log == ["401"]
