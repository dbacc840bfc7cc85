"""The training loops: causal-LM fine-tuning and the PRM's soft-label objective."""

from __future__ import annotations

import math
import random
from collections.abc import Iterator, Sequence

import torch
import torch.nn.functional as F
from tqdm.auto import tqdm
from transformers import LlamaForCausalLM, PreTrainedTokenizerBase

from langgraph_ttc.formats import BAD_TOKEN, GOOD_TOKEN, STEP_TAG

__all__ = ["train_lm", "train_prm"]


def _batches(n: int, batch_size: int, steps: int, seed: int) -> Iterator[list[int]]:
    rng = random.Random(seed)
    order: list[int] = []
    for _ in range(steps):
        if len(order) < batch_size:
            fresh = list(range(n))
            rng.shuffle(fresh)
            order += fresh
        yield order[:batch_size]
        order = order[batch_size:]


def _lr(step: int, steps: int, peak: float, warmup: int = 100) -> float:
    if step < warmup:
        return peak * (step + 1) / warmup
    return peak * 0.5 * (1 + math.cos(math.pi * (step - warmup) / max(1, steps - warmup)))


def train_lm(
    model: LlamaForCausalLM,
    tok: PreTrainedTokenizerBase,
    prompts: Sequence[str],
    targets: Sequence[str],
    *,
    steps: int,
    batch_size: int,
    lr: float,
    seed: int,
    desc: str,
) -> dict[str, float]:
    """Causal-LM fine-tuning with the loss on the targets only.

    Args:
        model: The model, trained in place and left in eval mode.
        tok: The suite's tokenizer.
        prompts: Rendered prompts; no loss on them.
        targets: What the model learns to write after each prompt (EOS is appended).
        steps: Optimiser steps.
        batch_size: Sequences per step.
        lr: Peak learning rate (linear warmup, cosine decay).
        seed: Seeds the batch order.
        desc: The progress bar's label.

    Returns:
        ``steps``, ``tokens`` seen and the ``final_loss``.
    """
    device = next(model.parameters()).device
    p_ids = tok(list(prompts), add_special_tokens=False)["input_ids"]
    t_ids = tok([t + tok.eos_token for t in targets], add_special_tokens=False)["input_ids"]
    opt = torch.optim.AdamW(model.parameters(), lr=lr, weight_decay=0.01, betas=(0.9, 0.98))
    model.train()
    tokens, last_loss = 0, float("nan")
    bar = tqdm(_batches(len(prompts), batch_size, steps, seed), total=steps, desc=desc)
    for step, idx in enumerate(bar):
        seqs = [p_ids[i] + t_ids[i] for i in idx]
        width = max(map(len, seqs))
        x = torch.full((len(idx), width), tok.pad_token_id, dtype=torch.long)
        y = torch.full((len(idx), width), -100, dtype=torch.long)
        m = torch.zeros((len(idx), width), dtype=torch.long)
        for r, i in enumerate(idx):
            s = seqs[r]
            x[r, : len(s)] = torch.tensor(s)
            m[r, : len(s)] = 1
            y[r, len(p_ids[i]) : len(s)] = torch.tensor(t_ids[i])
        x, y, m = x.to(device), y.to(device), m.to(device)
        for g in opt.param_groups:
            g["lr"] = _lr(step, steps, lr)
        with torch.autocast(device.type, dtype=torch.bfloat16, enabled=device.type == "cuda"):
            logits = model(input_ids=x, attention_mask=m).logits
        loss = F.cross_entropy(
            logits[:, :-1].float().reshape(-1, logits.shape[-1]), y[:, 1:].reshape(-1)
        )
        opt.zero_grad(set_to_none=True)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
        opt.step()
        tokens += int(m.sum())
        last_loss = loss.item()
        if step % 50 == 0:
            bar.set_postfix(loss=f"{last_loss:.3f}")
    model.eval()
    return {"steps": steps, "tokens": tokens, "final_loss": last_loss}


def train_prm(
    model: LlamaForCausalLM,
    tok: PreTrainedTokenizerBase,
    texts: Sequence[str],
    labels: Sequence[Sequence[float]],
    *,
    steps: int,
    batch_size: int,
    lr: float,
    seed: int,
) -> dict[str, float]:
    """Soft-label BCE on P(good) = softmax([good, bad]) at each step tag.

    Args:
        model: The model, trained in place and left in eval mode.
        tok: The suite's tokenizer.
        texts: PRM inputs, one step tag after each step.
        labels: Per text, one label in [0, 1] per step tag.
        steps: Optimiser steps.
        batch_size: Texts per step.
        lr: Peak learning rate (linear warmup, cosine decay).
        seed: Seeds the batch order.

    Returns:
        ``steps`` and the ``final_loss``.
    """
    device = next(model.parameters()).device
    tag, good, bad = (tok.convert_tokens_to_ids(t) for t in (STEP_TAG, GOOD_TOKEN, BAD_TOKEN))
    ids = tok(list(texts), add_special_tokens=False)["input_ids"]
    opt = torch.optim.AdamW(model.parameters(), lr=lr, weight_decay=0.01)
    model.train()
    last = float("nan")
    bar = tqdm(_batches(len(texts), batch_size, steps, seed), total=steps, desc="prm")
    for step, idx in enumerate(bar):
        width = max(len(ids[i]) for i in idx)
        x = torch.full((len(idx), width), tok.pad_token_id, dtype=torch.long)
        m = torch.zeros_like(x)
        y = torch.full((len(idx), width), -1.0)
        for r, i in enumerate(idx):
            seq = ids[i]
            x[r, : len(seq)] = torch.tensor(seq)
            m[r, : len(seq)] = 1
            tag_pos = [p for p, t in enumerate(seq) if t == tag]
            for p, lab in zip(tag_pos, labels[i], strict=True):
                y[r, p] = lab
        x, m, y = x.to(device), m.to(device), y.to(device)
        for g in opt.param_groups:
            g["lr"] = _lr(step, steps, lr)
        with torch.autocast(device.type, dtype=torch.bfloat16, enabled=device.type == "cuda"):
            logits = model(input_ids=x, attention_mask=m).logits
        pair = logits[..., [good, bad]].float()
        logp = torch.log_softmax(pair, dim=-1)
        sel = y >= 0
        target = y[sel]
        loss = -(target * logp[..., 0][sel] + (1 - target) * logp[..., 1][sel]).mean()
        opt.zero_grad(set_to_none=True)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
        opt.step()
        last = loss.item()
        if step % 50 == 0:
            bar.set_postfix(loss=f"{last:.3f}")
    model.eval()
    return {"steps": steps, "final_loss": last}
