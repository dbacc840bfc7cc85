"""Throughput of ``TransformersGenerator`` against a raw ``model.generate`` on the same batch.

Both sides draw the same samples (same padded inputs, same generation settings,
same RNG seed), which the script checks token for token, so the only difference
in time is the adapter's own work: rendering the chat template, tokenizing,
padding, decoding and cutting at stop strings.

Run:
    python benchmarks/adapter_throughput.py [--model policy-small|PATH] [--requests 16] [--n 4]

Without ``--model`` it uses the bundled policy-small when present, else a random
model of the same shape (output is noise, but the compute is the same). CPU only.
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
import time
from pathlib import Path
from typing import Any

import torch

from langgraph_ttc.models.transformers import TransformersGenerator, _chunk_seed
from langgraph_ttc.suite.task import generate_problems
from langgraph_ttc.types import GenerationRequest


def _model_dir(arg: str | None, tmp: Path) -> Path:
    from langgraph_ttc.suite.modeling import build_config, bundled_model_path
    from langgraph_ttc.suite.tokenizer import build_tokenizer

    if arg and Path(arg).is_dir():
        return Path(arg)
    try:
        return bundled_model_path(arg or "policy-small")
    except FileNotFoundError:
        from transformers import GenerationConfig, LlamaForCausalLM

        torch.manual_seed(0)
        model = LlamaForCausalLM(build_config("small"))
        model.generation_config = GenerationConfig(bos_token_id=1, eos_token_id=2, pad_token_id=0)
        model.save_pretrained(tmp)
        build_tokenizer().save_pretrained(tmp)
        print(f"(bundled model missing: using a random 'small'-shaped model in {tmp})")
        return tmp


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--model", default=None)
    parser.add_argument("--requests", type=int, default=16)
    parser.add_argument("--n", type=int, default=4)
    parser.add_argument("--max-tokens", type=int, default=96)
    parser.add_argument("--repeats", type=int, default=7)
    parser.add_argument("--threads", type=int, default=2)
    args = parser.parse_args()
    torch.set_num_threads(args.threads)

    with tempfile.TemporaryDirectory() as tmp:
        path = _model_dir(args.model, Path(tmp))
        gen = TransformersGenerator(path, device="cpu", batch_size=args.requests * args.n)
        model: Any = gen.model
        tok = gen.tokenizer
        questions = [p.question for p in generate_problems(args.requests, seed=1)]
        requests = [
            GenerationRequest(q, n=args.n, max_tokens=args.max_tokens, stop=("\n",), seed=100 + i)
            for i, q in enumerate(questions)
        ]

        # The raw side gets the adapter's exact inputs, prepared outside the timer.
        texts = [
            tok.apply_chat_template(
                [{"role": "user", "content": q}], add_generation_prompt=True, tokenize=False
            )
            for q in questions
        ]
        enc = tok(
            texts, add_special_tokens=False, padding=True, padding_side="left", return_tensors="pt"
        )
        newline = tok.encode("\n", add_special_tokens=False)[0]
        seed = _chunk_seed([(r.seed, j) for r in requests for j in range(r.n)])  # type: ignore[misc]
        kwargs = {
            "max_new_tokens": args.max_tokens,
            "do_sample": True,
            "temperature": 0.8,
            "top_p": 1.0,
            "top_k": 0,
            "eos_token_id": sorted({tok.eos_token_id, newline}),
            "pad_token_id": tok.pad_token_id,
            "num_return_sequences": args.n,
        }

        def raw() -> torch.Tensor:
            torch.manual_seed(seed)
            return model.generate(**enc, **kwargs)

        # The adapter's own time is measured inside each call: its wall time minus
        # the model.generate it made. That ratio barely moves when the machine is
        # busy; the side-by-side wall times do.
        inner: list[float] = []
        real_generate = model.generate

        def timed_generate(*a: Any, **kw: Any) -> Any:
            t = time.perf_counter()
            try:
                return real_generate(*a, **kw)
            finally:
                inner.append(time.perf_counter() - t)

        gen.generate(requests)  # warm-up both paths
        raw()
        t_raw: list[float] = []
        t_ad: list[float] = []
        t_inner: list[float] = []
        for _ in range(args.repeats):
            t0 = time.perf_counter()
            out_raw = raw()
            t_raw.append(time.perf_counter() - t0)
            inner.clear()
            model.generate = timed_generate
            try:
                t0 = time.perf_counter()
                out_ad = gen.generate(requests)
                t_ad.append(time.perf_counter() - t0)
            finally:
                del model.generate  # back to the class method
            t_inner.append(sum(inner))

        # Same samples on both sides, so the time compares like with like.
        new = out_raw[:, enc["input_ids"].shape[1] :].tolist()
        eos = set(kwargs["eos_token_id"])  # type: ignore[call-overload]
        raw_tokens = []
        for ids in new:
            end = next((t for t, x in enumerate(ids) if x in eos), None)
            raw_tokens.append(len(ids) if end is None else end + 1)
        ad_tokens = [c.completion_tokens for per in out_ad for c in per]
        if raw_tokens != ad_tokens:
            raise SystemExit(
                "adapter and raw generate drew different samples: the comparison is void"
            )

        tokens = sum(ad_tokens)
        raw_s, ad_s = min(t_raw), min(t_ad)
        own = [a / i for a, i in zip(t_ad, t_inner, strict=True)]
        print(f"model: {path} ({gen.params:,} params), device cpu, threads {args.threads}")
        print(
            f"batch: {args.requests} requests x n={args.n} = {args.requests * args.n} sequences, "
            f"{tokens} generated tokens, best of {args.repeats}"
        )
        print(
            f"raw model.generate    : {raw_s * 1000:7.1f} ms  {tokens / raw_s:7.0f} tokens/s"
            f"  (median {statistics.median(t_raw) * 1000:.1f} ms)"
        )
        print(
            f"TransformersGenerator : {ad_s * 1000:7.1f} ms  {tokens / ad_s:7.0f} tokens/s"
            f"  (median {statistics.median(t_ad) * 1000:.1f} ms)"
        )
        print(f"adapter / raw throughput, best times: {raw_s / ad_s:.1%}")
        print(
            "adapter / raw throughput, generate time over adapter time in the same call: "
            f"median {1 / statistics.median(own):.1%}, worst {1 / max(own):.1%}"
        )


if __name__ == "__main__":
    main()
