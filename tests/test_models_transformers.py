"""TransformersGenerator on a real (tiny, random) Llama with the suite tokenizer."""

from __future__ import annotations

import asyncio
import json
import threading
import time
from pathlib import Path
from typing import Any

import pytest
import torch

from langgraph_ttc.models import TransformersGenerator
from langgraph_ttc.models.transformers_loading import count_safetensors_params
from langgraph_ttc.types import Completion, GenerationRequest, Generator

Q = ["12*3-4", "7+8*2-30", "5", "9*9"]


@pytest.fixture(scope="module")
def gen(tiny_model_dir: Path) -> TransformersGenerator:
    return TransformersGenerator(tiny_model_dir, device="cpu")


def _rendered_ids(gen: TransformersGenerator, question: str, prefix: str = "") -> list[int]:
    tok: Any = gen.tokenizer
    text = tok.apply_chat_template(
        [{"role": "user", "content": question}], add_generation_prompt=True, tokenize=False
    )
    return list(tok(text + prefix, add_special_tokens=False)["input_ids"])


def _raw_generate(
    gen: TransformersGenerator, prompts: list[list[int]], seed: int | None = None, **kw: Any
) -> list[list[int]]:
    """Plain model.generate over left-padded prompts: the ground truth."""
    width = max(map(len, prompts))
    pad = gen.tokenizer.pad_token_id
    ids = torch.tensor([[pad] * (width - len(p)) + p for p in prompts])
    mask = torch.tensor([[0] * (width - len(p)) + [1] * len(p) for p in prompts])
    if seed is not None:
        torch.manual_seed(seed)
    model: Any = gen.model
    out = model.generate(input_ids=ids, attention_mask=mask, pad_token_id=pad, **kw)
    return [list(r) for r in out[:, width:].tolist()]


def _cut_at(ids: list[int], stops: set[int]) -> tuple[list[int], int | None]:
    end = next((k for k, x in enumerate(ids) if x in stops), None)
    return (ids if end is None else ids[:end]), end


# ---------------------------------------------------------------------- contract


def test_is_a_generator_and_counts_params_without_loading(tiny_model_dir: Path) -> None:
    fresh = TransformersGenerator(tiny_model_dir)
    params = fresh.params
    assert fresh._model is None, "params should come from the safetensors headers"
    assert params == sum(p.numel() for p in fresh.model.parameters())
    assert isinstance(fresh, Generator)
    assert fresh.name == str(tiny_model_dir)
    assert fresh.device.type == "cpu" and fresh.model.dtype == torch.float32


def test_params_are_read_when_built_and_from_shards(tiny_model_dir: Path, tmp_path: Path) -> None:
    from safetensors.torch import save_file

    # Built: the count is there before any event loop asks (no folder listing, no torch call).
    fresh = TransformersGenerator(tiny_model_dir)
    assert fresh._params is not None and fresh._model is None
    # A sharded folder: the shards named by the index, read header by header.
    tensors = {"a": torch.zeros(3, 4), "b": torch.zeros(5)}
    save_file({"a": tensors["a"]}, str(tmp_path / "model-1.safetensors"))
    save_file({"b": tensors["b"]}, str(tmp_path / "model-2.safetensors"))
    index = {"weight_map": {"a": "model-1.safetensors", "b": "model-2.safetensors"}}
    (tmp_path / "model.safetensors.index.json").write_text(json.dumps(index))
    assert count_safetensors_params(tmp_path) == 17
    assert count_safetensors_params(tmp_path / "missing") is None


async def test_loading_happens_off_the_event_loop(tiny_model_dir: Path) -> None:
    fresh = TransformersGenerator(tiny_model_dir)
    loop_thread = threading.get_ident()
    loaded_in: list[int] = []
    original = fresh._ensure_loaded

    def spy() -> None:
        loaded_in.append(threading.get_ident())
        original()

    fresh._ensure_loaded = spy  # type: ignore[method-assign]
    assert fresh.params  # known without loading
    (out,) = await fresh.agenerate([GenerationRequest(Q[0], max_tokens=4, seed=1)])
    assert len(out) == 1 and loaded_in and loop_thread not in loaded_in


def test_exact_n_in_request_order_with_mixed_n(gen: TransformersGenerator) -> None:
    reqs = [
        GenerationRequest(q, n=n, max_tokens=12, seed=s)
        for q, n, s in zip(Q, (3, 1, 5, 2), (1, 2, 3, 4), strict=True)
    ]
    out = gen.generate(reqs)
    assert [len(per) for per in out] == [3, 1, 5, 2]
    for q, per in zip(Q, out, strict=True):
        # The prompt count identifies the request: order is kept.
        assert all(c.prompt_tokens == len(_rendered_ids(gen, q)) for c in per)
        assert all(isinstance(c, Completion) for c in per)


def test_mixed_n_share_one_generate_call_and_batch_size_caps_it(
    tiny_model_dir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    g = TransformersGenerator(tiny_model_dir, batch_size=4)
    calls: list[int] = []
    model: Any = g.model
    real = model.generate

    def counting(*args: Any, **kwargs: Any) -> Any:
        rows = kwargs["input_ids"].shape[0] * kwargs.get("num_return_sequences", 1)
        calls.append(rows)
        return real(*args, **kwargs)

    monkeypatch.setattr(g.model, "generate", counting)
    out = g.generate(
        [GenerationRequest(q, n=n, max_tokens=5) for q, n in zip(Q, (1, 3, 2, 1), strict=True)]
    )
    assert [len(p) for p in out] == [1, 3, 2, 1]
    assert calls == [4, 3], "7 samples at batch_size 4 take two forward batches"
    for q, per in zip(Q, out, strict=True):  # sorted by length inside, returned in order
        assert all(c.prompt_tokens == len(_rendered_ids(g, q)) for c in per)

    calls.clear()
    g.batch_size = 64
    g.generate(
        [GenerationRequest(q, n=n, max_tokens=5) for q, n in zip(Q, (1, 3, 2, 1), strict=True)]
    )
    assert calls == [7], "one group, one generate call"

    calls.clear()
    g.generate(
        [
            GenerationRequest(Q[0], n=2, max_tokens=5),
            GenerationRequest(Q[1], n=2, max_tokens=6),
            GenerationRequest(Q[2], n=2, max_tokens=5, temperature=0),
        ]
    )
    assert sorted(calls) == [2, 4], "max_tokens splits calls; temperature is per sample"


# ---------------------------------------------------------------------- exactness


def test_greedy_matches_raw_generate_text_and_counts(gen: TransformersGenerator) -> None:
    tok: Any = gen.tokenizer
    newline = tok.encode("\n", add_special_tokens=False)[0]
    stops = {tok.eos_token_id, newline}
    reqs = [GenerationRequest(q, temperature=0, max_tokens=30, stop=("\n",)) for q in Q]
    out = gen.generate(reqs)
    prompts = [_rendered_ids(gen, q) for q in Q]
    raw = _raw_generate(
        gen, prompts, do_sample=False, max_new_tokens=30, eos_token_id=sorted(stops)
    )
    for per, ids in zip(out, raw, strict=True):
        (c,) = per
        content, end = _cut_at(ids, stops)
        assert c.text == tok.decode(content, skip_special_tokens=True)
        assert c.completion_tokens == (len(ids) if end is None else end + 1)
        assert c.finish_reason == ("length" if end is None else "stop")
        assert "\n" not in c.text


def test_sampling_draws_from_the_model_distribution(gen: TransformersGenerator) -> None:
    """The first sampled token's frequencies match softmax(logits / T), with and without top-p."""
    tok: Any = gen.tokenizer
    model: Any = gen.model
    ids = torch.tensor([_rendered_ids(gen, Q[0])])
    with torch.inference_mode():
        logits = model(input_ids=ids).logits[0, -1].double()
    n = 3000
    for temperature, top_p in ((0.8, 1.0), (1.3, 0.5)):
        probs = (logits / temperature).softmax(-1)
        if top_p < 1.0:  # the nucleus: tokens while the mass before them is under top_p
            p_sorted, order = probs.sort(descending=True)
            keep = (p_sorted.cumsum(0) - p_sorted) < top_p
            probs = torch.zeros_like(probs).scatter(0, order[keep], p_sorted[keep])
            probs = probs / probs.sum()
        (out,) = gen.generate(
            [
                GenerationRequest(
                    Q[0], n=n, max_tokens=1, temperature=temperature, top_p=top_p, seed=4
                )
            ]
        )
        # Bucket by text: special tokens (PAD, BOS, EOS) all read as "".
        texts = [tok.decode([i], skip_special_tokens=True) for i in range(len(probs))]
        expected: dict[str, float] = {}
        for t, p in zip(texts, probs.tolist(), strict=True):
            expected[t] = expected.get(t, 0.0) + p
        seen: dict[str, float] = {}
        for c in out:
            seen[c.text] = seen.get(c.text, 0.0) + 1 / n
        # Pearson's chi-square over the buckets expected 5 times or more; the bound
        # is about 4 standard deviations above its mean (the degrees of freedom).
        big = [t for t, p in expected.items() if p * n >= 5]
        chi2 = sum((seen.get(t, 0.0) * n - expected[t] * n) ** 2 / (expected[t] * n) for t in big)
        dof = len(big) - 1
        assert chi2 < dof + 4 * (2 * dof) ** 0.5, f"chi2 {chi2:.1f} with {dof} dof"
        assert all(expected.get(t, 0.0) > 0 for t in seen), "drew a token outside the nucleus"


def test_token_counts_are_honest(gen: TransformersGenerator) -> None:
    tok: Any = gen.tokenizer
    out = gen.generate([GenerationRequest(q, n=6, max_tokens=25, stop=("\n",), seed=5) for q in Q])
    for q, per in zip(Q, out, strict=True):
        for c in per:
            assert c.prompt_tokens == len(_rendered_ids(gen, q))
            assert 1 <= c.completion_tokens <= 25
            text_tokens = len(tok.encode(c.text, add_special_tokens=False))
            # Special tokens the model emitted are counted but not shown.
            extra = c.completion_tokens - text_tokens
            if c.finish_reason == "length":
                assert c.completion_tokens == 25 and extra >= 0
            else:
                assert extra >= 1  # the stop or EOS token itself


# ---------------------------------------------------------------------- stops


def test_stop_at_newline_never_leaves_a_newline(gen: TransformersGenerator) -> None:
    out = gen.generate([GenerationRequest(q, n=8, max_tokens=60, stop=("\n",), seed=3) for q in Q])
    flat = [c for per in out for c in per]
    assert all("\n" not in c.text for c in flat)
    assert sum(c.finish_reason == "stop" for c in flat) > 0
    assert all(c.finish_reason in ("stop", "length") for c in flat)


def _greedy_pieces(gen: TransformersGenerator, question: str, n: int = 40) -> list[str]:
    raw = _raw_generate(gen, [_rendered_ids(gen, question)], do_sample=False, max_new_tokens=n)[0]
    tok: Any = gen.tokenizer
    return [tok.decode([t]) for t in raw]


def test_multi_char_stop_string_cuts_exactly(gen: TransformersGenerator) -> None:
    """A two-character stop (generate's stop_strings path) taken from the greedy text."""
    question = "5"
    pieces = _greedy_pieces(gen, question)
    k = next(k for k in range(3, 30) if len(pieces[k]) == len(pieces[k + 1]) == 1)
    stop = pieces[k] + pieces[k + 1]
    # Expected: the fewest tokens whose text holds the stop string.
    m = next(m for m in range(1, 41) if stop in "".join(pieces[:m]))
    text = "".join(pieces[:m])
    out = gen.generate([GenerationRequest(question, temperature=0, max_tokens=40, stop=(stop,))])
    (c,) = out[0]
    assert c.text == text[: text.find(stop)]
    assert c.finish_reason == "stop"
    assert c.completion_tokens == m


def test_single_char_stop_fast_path(gen: TransformersGenerator) -> None:
    question = "1+1"
    pieces = _greedy_pieces(gen, question, 30)
    stop = pieces[4]
    assert len(stop) == 1
    first = pieces.index(stop)
    out = gen.generate([GenerationRequest(question, temperature=0, max_tokens=30, stop=(stop,))])
    (c,) = out[0]
    assert gen._single_token_stop(stop) is not None
    assert c.text == "".join(pieces[:first])
    assert c.finish_reason == "stop"
    assert c.completion_tokens == first + 1


def test_length_finish(gen: TransformersGenerator) -> None:
    (c,) = gen.generate([GenerationRequest(Q[0], temperature=0, max_tokens=1)])[0]
    if c.finish_reason == "length":
        assert c.completion_tokens == 1
    else:
        assert c.text == "" and c.completion_tokens == 1


# ---------------------------------------------------------------------- prefix


def test_prefix_continues_the_partial_answer(gen: TransformersGenerator) -> None:
    full = gen.generate([GenerationRequest(Q[2], temperature=0, max_tokens=30)])[0][0].text
    assert len(full) >= 10
    prefix = full[:6]
    cont = gen.generate([GenerationRequest(Q[2], prefix=prefix, temperature=0, max_tokens=24)])[0][
        0
    ]
    assert full[6:].startswith(cont.text) and cont.text, (full, cont.text)
    assert cont.prompt_tokens == len(_rendered_ids(gen, Q[2], prefix))
    assert cont.prompt_tokens == len(_rendered_ids(gen, Q[2])) + 6


def test_raw_prompt_without_template(tiny_model_dir: Path) -> None:
    g = TransformersGenerator(tiny_model_dir, chat_template=False)
    (c,) = g.generate([GenerationRequest("12+3=", temperature=0, max_tokens=4)])[0]
    assert c.prompt_tokens == len("12+3=")
    messages = [{"role": "user", "content": "12+3"}]
    (m,) = g.generate([GenerationRequest(messages, temperature=0, max_tokens=4)])[0]
    assert m.prompt_tokens == len("<s>12+3\n") - 2  # BOS is one token


# ---------------------------------------------------------------------- seeds


def test_greedy_is_deterministic(gen: TransformersGenerator) -> None:
    reqs = [GenerationRequest(q, n=3, temperature=0, max_tokens=20) for q in Q]
    a, b = gen.generate(reqs), gen.generate(reqs)
    assert a == b
    for per in a:
        assert len({c.text for c in per}) == 1


def test_same_seed_same_samples_different_seed_different(gen: TransformersGenerator) -> None:
    def run(seed: int | None) -> list[str]:
        out = gen.generate([GenerationRequest(q, n=4, max_tokens=20, seed=seed) for q in Q])
        return [c.text for per in out for c in per]

    assert run(7) == run(7)
    assert run(7) != run(8)
    assert len(set(run(7))) > 8, "samples of one request should differ"
    assert run(None) != run(None), "unseeded calls draw fresh samples"


async def test_agenerate_matches_and_leaves_the_loop_free(gen: TransformersGenerator) -> None:
    reqs = [GenerationRequest(q, n=8, max_tokens=60, seed=1) for q in Q]
    ticks = 0

    async def ticker() -> None:
        nonlocal ticks
        while True:
            ticks += 1
            await asyncio.sleep(0.001)

    task = asyncio.create_task(ticker())
    t0 = time.perf_counter()
    got = await gen.agenerate(reqs)
    elapsed = time.perf_counter() - t0
    task.cancel()
    assert got == gen.generate(reqs)
    assert ticks >= 2 or elapsed < 0.01, "the event loop was blocked while generating"


async def test_concurrent_agenerate_calls_share_batches_and_equal_alone(
    gen: TransformersGenerator,
) -> None:
    reqs = [[GenerationRequest(q, n=2, max_tokens=10, seed=i)] for i, q in enumerate(Q)]
    together = await asyncio.gather(*(gen.agenerate(r) for r in reqs))
    alone = [gen.generate(r) for r in reqs]
    assert together == alone


def test_logprobs_option(tiny_model_dir: Path) -> None:
    g = TransformersGenerator(tiny_model_dir, logprobs=True)
    out = g.generate([GenerationRequest(q, n=2, max_tokens=15, stop=("\n",), seed=2) for q in Q])
    for per in out:
        for c in per:
            assert c.logprobs is not None and len(c.logprobs) == c.completion_tokens
            assert all(lp <= 0.0 for lp in c.logprobs)


def test_loaded_model_object(gen: TransformersGenerator) -> None:
    g = TransformersGenerator(gen.model, tokenizer=gen.tokenizer, name="obj")
    assert g.name == "obj"
    req = [GenerationRequest(Q[0], temperature=0, max_tokens=10)]
    assert g.generate(req) == gen.generate(req)


# ---------------------------------------------------------------------- bad input


def test_empty_batch(gen: TransformersGenerator) -> None:
    assert gen.generate([]) == []


@pytest.mark.parametrize(
    ("requests", "error", "match"),
    [
        (GenerationRequest("1+1"), TypeError, "sequence"),
        ("1+1", TypeError, "sequence"),
        (["1+1"], TypeError, r"requests\[0\]"),
        ([GenerationRequest("1+1", top_p=0.0)], ValueError, "top_p"),
        ([GenerationRequest("1+1", stop=["\n"])], ValueError, "stop"),  # type: ignore[arg-type]
        ([GenerationRequest("1+1", stop=("",))], ValueError, "stop"),
        ([GenerationRequest("1+1", seed="x")], TypeError, "seed"),  # type: ignore[arg-type]
        ([GenerationRequest([{"role": "user"}])], TypeError, "content"),
        ([GenerationRequest("1+1", prefix=None)], TypeError, "prefix"),  # type: ignore[arg-type]
        ([GenerationRequest("1" * 1100)], ValueError, "fills the model's context of 1024"),
    ],
)
def test_bad_requests(
    gen: TransformersGenerator, requests: Any, error: type[Exception], match: str
) -> None:
    with pytest.raises(error, match=match):
        gen.generate(requests)


def test_bad_constructor_arguments(tiny_model_dir: Path) -> None:
    with pytest.raises(ValueError, match="batch_size"):
        TransformersGenerator(tiny_model_dir, batch_size=0)
    with pytest.raises(ValueError, match="pool_size"):
        TransformersGenerator(tiny_model_dir, pool_size=0)
    with pytest.raises(ValueError, match="max_wait_s"):
        TransformersGenerator(tiny_model_dir, max_wait_s=-0.1)
    with pytest.raises(TypeError, match="model"):
        TransformersGenerator(42)  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="model"):
        TransformersGenerator("  ")
    with pytest.raises(ValueError, match="dtype"):
        TransformersGenerator(tiny_model_dir, dtype="float77").model  # noqa: B018
    with pytest.raises(OSError):
        TransformersGenerator(tiny_model_dir / "missing").model  # noqa: B018


def test_max_tokens_is_capped_at_the_room_left_in_the_context(gen: TransformersGenerator) -> None:
    prompt = "1+" * 505  # about 1015 tokens with the template: 9 tokens of room
    (out,) = gen.generate([GenerationRequest(prompt, max_tokens=200, temperature=1.0, seed=0)])
    assert out[0].prompt_tokens + out[0].completion_tokens <= 1024
    assert out[0].completion_tokens <= 1024 - out[0].prompt_tokens


def test_row_streams_are_uniform_and_each_rows_own() -> None:
    from langgraph_ttc.models.transformers_sampling import row_key, row_uniforms

    keys = torch.tensor([row_key(5, j) for j in range(20000)])
    u = row_uniforms(keys, 3)
    assert float(u.min()) > 0 and float(u.max()) < 1
    assert abs(float(u.mean()) - 0.5) < 0.01 and abs(float(u.var()) - 1 / 12) < 0.003
    # Ten equal bins, each within 4 standard deviations of 2000.
    counts = torch.histc(u.float(), bins=10, min=0, max=1)
    assert float((counts - 2000).abs().max()) < 4 * (2000 * 0.9) ** 0.5
    # Step to step, the numbers are unrelated; a row's number does not depend on its batch.
    nxt = row_uniforms(keys, 4)
    assert abs(float(torch.corrcoef(torch.stack([u, nxt]))[0, 1])) < 0.03
    assert float(row_uniforms(keys[7:8], 3)[0]) == float(u[7])
    assert row_key(5, 0) != row_key(5, 1) and row_key(5, 0) != row_key(6, 0)
