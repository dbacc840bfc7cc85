"""A lean batched sampler for the training pipeline and the metrics.

``model.generate`` is bound by Python overhead at this model size (see the
toolchain notes), and the PRM's Monte Carlo labels need millions of short
rollouts. This loop does only what they need: left-padded prompts, a KV
cache, temperature sampling, stop tokens, and a seeded ``torch.Generator``.
The library's adapters use ``model.generate``; this stays inside ``training``.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import torch
from tqdm.auto import tqdm
from transformers import DynamicCache, PreTrainedModel, PreTrainedTokenizerBase


@dataclass(frozen=True)
class Sample:
    """One sampled continuation: its text, and whether it ended at a stop token."""

    text: str
    stopped: bool
    tokens: int


def _encode(tok: PreTrainedTokenizerBase, prompts: Sequence[str]) -> list[list[int]]:
    return tok(list(prompts), add_special_tokens=False)["input_ids"]  # type: ignore[no-any-return]


@torch.no_grad()
def sample_batch(
    model: PreTrainedModel,
    tok: PreTrainedTokenizerBase,
    prompts: Sequence[str],
    *,
    max_new_tokens: int = 96,
    temperature: float = 0.8,
    stop_ids: Sequence[int] | None = None,
    generator: torch.Generator | None = None,
) -> list[Sample]:
    """Sample one continuation per prompt, all in one padded batch."""
    device = next(model.parameters()).device
    stops = torch.tensor(list(stop_ids or [tok.eos_token_id]), device=device)
    ids = _encode(tok, prompts)
    width = max(len(x) for x in ids)
    pad = tok.pad_token_id if tok.pad_token_id is not None else 0
    input_ids = torch.full((len(ids), width), pad, dtype=torch.long)
    mask = torch.zeros((len(ids), width), dtype=torch.long)
    for i, x in enumerate(ids):
        input_ids[i, width - len(x) :] = torch.tensor(x)
        mask[i, width - len(x) :] = 1
    input_ids, mask = input_ids.to(device), mask.to(device)
    positions = (mask.cumsum(-1) - 1).clamp(min=0)
    cache = DynamicCache()
    out = model(
        input_ids=input_ids, attention_mask=mask, position_ids=positions, past_key_values=cache
    )
    logits = out.logits[:, -1, :]
    next_pos = positions[:, -1] + 1
    generated = torch.full((len(ids), max_new_tokens), pad, dtype=torch.long, device=device)
    finished = torch.zeros(len(ids), dtype=torch.bool, device=device)
    stopped = torch.zeros(len(ids), dtype=torch.bool, device=device)
    lengths = torch.zeros(len(ids), dtype=torch.long, device=device)
    for t in range(max_new_tokens):
        if temperature > 0:
            probs = torch.softmax(logits.float() / temperature, dim=-1)
            token = torch.multinomial(probs, 1, generator=generator).squeeze(-1)
        else:
            token = logits.argmax(-1)
        token = torch.where(finished, torch.full_like(token, pad), token)
        generated[:, t] = token
        lengths += (~finished).long()
        hit = torch.isin(token, stops) & ~finished
        stopped |= hit
        finished |= hit
        if bool(finished.all()):
            break
        mask = torch.cat([mask, (~finished).long().unsqueeze(-1)], dim=-1)
        out = model(
            input_ids=token.unsqueeze(-1),
            attention_mask=mask,
            position_ids=next_pos.unsqueeze(-1),
            past_key_values=cache,
        )
        logits = out.logits[:, -1, :]
        next_pos = next_pos + 1
    result: list[Sample] = []
    gen = generated.tolist()
    for row, n, s in zip(gen, lengths.tolist(), stopped.tolist(), strict=True):
        body = row[: n - 1] if s else row[:n]
        result.append(Sample(str(tok.decode(body, skip_special_tokens=False)), bool(s), int(n)))
    return result


def sample_many(
    model: PreTrainedModel,
    tok: PreTrainedTokenizerBase,
    prompts: Sequence[str],
    *,
    batch_size: int = 4096,
    max_new_tokens: int = 96,
    temperature: float = 0.8,
    stop_ids: Sequence[int] | None = None,
    seed: int = 0,
    desc: str | None = None,
) -> list[Sample]:
    """Sample one continuation per prompt, batched by prompt length, seeded.

    Prompts of similar length share a batch, which keeps padding (and the
    wasted attention) small; results come back in the order of ``prompts``.
    """
    device = next(model.parameters()).device
    gen = torch.Generator(device=device).manual_seed(seed)
    order = sorted(range(len(prompts)), key=lambda i: len(prompts[i]))
    results: list[Sample | None] = [None] * len(prompts)
    starts = range(0, len(order), batch_size)
    for start in tqdm(starts, desc=desc, disable=desc is None, leave=False):
        chunk = order[start : start + batch_size]
        samples = sample_batch(
            model,
            tok,
            [prompts[i] for i in chunk],
            max_new_tokens=max_new_tokens,
            temperature=temperature,
            stop_ids=stop_ids,
            generator=gen,
        )
        for i, s in zip(chunk, samples, strict=True):
            results[i] = s
    return [s for s in results if s is not None]
