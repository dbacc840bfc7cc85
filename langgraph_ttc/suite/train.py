"""Train the bundled models, end to end, from one seeded command.

    python -m langgraph_ttc.suite.train --out DIR [--scale full|quick] [--seed 0]

Stages, each written under ``DIR`` and skipped when its output is there
(so a killed run resumes):

1. ``data``: train questions with reference solutions;
2. ``policy-small`` and ``policy-large``: the same data, the same tokens;
3. ``rollouts``: Monte Carlo labels for the PRM (Math-Shepherd);
4. ``prm``: policy-small fine-tuned to score steps at the step tag;
5. ``revisions``: incorrect attempts in context, a correct target;
6. ``reviser``: policy-small fine-tuned on them;
7. ``metrics`` and model cards: see ``langgraph_ttc.suite.metrics``.

CUDA is used when present; the CPU works too, slowly (``--scale quick`` is a
smoke run of every stage in a few minutes).
"""

from __future__ import annotations

import argparse
import json
import math
import random
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import torch
import torch.nn.functional as F
from tqdm.auto import tqdm
from transformers import GenerationConfig, LlamaForCausalLM, PreTrainedTokenizerBase

from langgraph_ttc.suite.modeling import build_config
from langgraph_ttc.suite.sampling import sample_many
from langgraph_ttc.suite.task import (
    DEFAULT_MAX_OPS,
    DEFAULT_OPERANDS,
    check,
    load_split,
    reference_solution,
)
from langgraph_ttc.suite.tokenizer import (
    BAD_TOKEN,
    GOOD_TOKEN,
    REVISE_PROMPT,
    STEP_TAG,
    build_tokenizer,
)


@dataclass(frozen=True)
class Scale:
    """How much of everything a run does."""

    train_questions: int
    policy_steps: int
    batch_size: int
    rollout_questions: int
    rollout_samples: int
    rollouts_per_step: int
    prm_steps: int
    revision_questions: int
    revision_samples: int
    reviser_steps: int
    eval_per_ops: int
    eval_samples: int
    sample_batch: int
    shapes: tuple[str, str] = ("small", "large")


SCALES = {
    "full": Scale(
        train_questions=200_000,
        policy_steps=1000,
        batch_size=64,
        rollout_questions=3000,
        rollout_samples=4,
        rollouts_per_step=8,
        prm_steps=1500,
        revision_questions=20_000,
        revision_samples=8,
        reviser_steps=1000,
        eval_per_ops=100,
        eval_samples=16,
        sample_batch=16384,
    ),
    "quick": Scale(
        train_questions=2000,
        policy_steps=30,
        batch_size=16,
        rollout_questions=12,
        rollout_samples=2,
        rollouts_per_step=2,
        prm_steps=20,
        revision_questions=40,
        revision_samples=2,
        reviser_steps=20,
        eval_per_ops=4,
        eval_samples=4,
        sample_batch=64,
    ),
    # Every stage in seconds, on tiny random-shaped models: the tests run it.
    "smoke": Scale(
        train_questions=200,
        policy_steps=3,
        batch_size=8,
        rollout_questions=3,
        rollout_samples=2,
        rollouts_per_step=2,
        prm_steps=2,
        revision_questions=4,
        revision_samples=2,
        reviser_steps=2,
        eval_per_ops=1,
        eval_samples=2,
        sample_batch=64,
        shapes=("tiny", "tiny"),
    ),
}


def chat_prompt(tok: PreTrainedTokenizerBase, messages: list[dict[str, str]]) -> str:
    """The rendered prompt the adapters send: template plus generation prompt."""
    return str(tok.apply_chat_template(messages, tokenize=False, add_generation_prompt=True))


def revision_messages(question: str, attempts: Sequence[str]) -> list[dict[str, str]]:
    """The reviser's context: the question, then each earlier attempt and a revise turn."""
    messages = [{"role": "user", "content": question}]
    for attempt in attempts:
        messages += [
            {"role": "assistant", "content": attempt},
            {"role": "user", "content": REVISE_PROMPT},
        ]
    return messages


# --------------------------------------------------------------------------- training loops


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
    """Causal-LM fine-tuning with the loss on the targets only."""
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
    """Soft-label BCE on P(good) = softmax([good, bad]) at each step tag."""
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


# --------------------------------------------------------------------------- stages


class Pipeline:
    """The stages of one training run, sharing a folder, a seed and a device."""

    def __init__(self, out: Path, *, scale: str, seed: int, device: str | None) -> None:
        self.out = out
        self.scale_name = scale
        self.scale = SCALES[scale]
        self.seed = seed
        self.device = torch.device(device or ("cuda" if torch.cuda.is_available() else "cpu"))
        self.tok = build_tokenizer()
        self.timings: dict[str, float] = {}
        out.mkdir(parents=True, exist_ok=True)
        if self.device.type == "cpu":
            torch.set_num_threads(max(1, torch.get_num_threads()))
        if self.device.type == "cuda":
            torch.backends.cuda.matmul.allow_tf32 = True

    # -- helpers
    def _json(self, name: str) -> Any:
        return json.loads((self.out / name).read_text())

    def _write_json(self, name: str, data: Any) -> None:
        tmp = self.out / (name + ".tmp")
        tmp.write_text(json.dumps(data))
        tmp.replace(self.out / name)

    def _stage(self, name: str, marker: str, fn: Callable[[], None]) -> None:
        if (self.out / marker).exists():
            print(f"[train] {name}: done already, skipped")
            return
        start = time.time()
        print(f"[train] {name} on {self.device}")
        torch.manual_seed(self.seed)
        fn()
        self.timings[name] = round(time.time() - start, 1)
        print(f"[train] {name}: {self.timings[name]} s")

    def load(self, name: str) -> LlamaForCausalLM:
        model = LlamaForCausalLM.from_pretrained(self.out / name, dtype=torch.float32)
        return torch.nn.Module.to(model, self.device).eval()  # type: ignore[return-value]

    def save(
        self, model: LlamaForCausalLM, name: str, info: dict[str, Any], *, dtype: torch.dtype
    ) -> None:
        path = self.out / name
        model.generation_config = GenerationConfig(
            do_sample=True,
            temperature=0.8,
            max_new_tokens=128,
            bos_token_id=self.tok.bos_token_id,
            eos_token_id=self.tok.eos_token_id,
            pad_token_id=self.tok.pad_token_id,
        )
        torch.nn.Module.to(model, dtype).save_pretrained(path)
        self.tok.save_pretrained(path)
        info = {
            **info,
            "params": sum(p.numel() for p in model.parameters()),
            "dtype": str(dtype).removeprefix("torch."),
            "seed": self.seed,
            "device": torch.cuda.get_device_name() if self.device.type == "cuda" else "cpu",
            "scale": self.scale_name,
        }
        (path / "training.json").write_text(json.dumps(info, indent=2))
        torch.nn.Module.to(model, torch.float32)

    # -- 1. data
    def data(self) -> None:
        s = self.scale
        problems = load_split("train", s.train_questions, seed=self.seed, distinct=False)
        rows = [{**p.to_dict(), "solution": reference_solution(p.question)} for p in problems]
        self._write_json("data.json", rows)

    # -- 2. policies
    def policy(self, shape: str) -> None:
        rows = self._json("data.json")
        s = self.scale
        torch.manual_seed(self.seed)
        model = LlamaForCausalLM(build_config(self.scale.shapes[shape == "large"]))
        torch.nn.Module.to(model, self.device)
        prompts = [
            chat_prompt(self.tok, [{"role": "user", "content": r["question"]}]) for r in rows
        ]
        lr = 2e-3 if shape == "small" else 1e-3
        stats = train_lm(
            model,
            self.tok,
            prompts,
            [r["solution"] for r in rows],
            steps=s.policy_steps,
            batch_size=s.batch_size,
            lr=lr,
            seed=self.seed,
            desc=f"policy-{shape}",
        )
        dtype = torch.bfloat16 if shape == "large" else torch.float32
        self.save(
            model,
            f"policy-{shape}",
            {
                "kind": "policy",
                "shape": shape,
                "lr": lr,
                **stats,
                "batch_size": s.batch_size,
                "train_questions": len(rows),
            },
            dtype=dtype,
        )

    # -- 3. rollouts
    def rollouts(self) -> None:
        s = self.scale
        policy = self.load("policy-small")
        problems = load_split("train", s.rollout_questions, seed=self.seed + 1, distinct=False)
        questions = [p.question for p in problems for _ in range(s.rollout_samples)]
        prompts = [chat_prompt(self.tok, [{"role": "user", "content": q}]) for q in questions]
        sols = sample_many(
            policy, self.tok, prompts, seed=self.seed, desc="solutions", batch_size=s.sample_batch
        )
        # Each step prefix is rolled out rollouts_per_step times; the last step's
        # label is the solution's own correctness, no rollout needed.
        jobs: list[tuple[int, int]] = []
        steps_of: list[list[str]] = []
        for k, sol in enumerate(sols):
            steps = [x for x in sol.text.split("\n") if x.strip()][:12]
            steps_of.append(steps)
            jobs += [(k, j) for j in range(len(steps) - 1) for _ in range(s.rollouts_per_step)]
        roll_prompts = [prompts[k] + "\n".join(steps_of[k][: j + 1]) + "\n" for k, j in jobs]
        rolls = sample_many(
            policy,
            self.tok,
            roll_prompts,
            seed=self.seed + 1,
            desc="rollouts",
            batch_size=s.sample_batch,
        )
        hits: dict[tuple[int, int], list[int]] = {}
        for (k, j), r in zip(jobs, rolls, strict=True):
            text = "\n".join(steps_of[k][: j + 1]) + "\n" + r.text
            hits.setdefault((k, j), []).append(int(check(text, questions[k])))
        rows = []
        for k, steps in enumerate(steps_of):
            if not steps:
                continue
            labels = [sum(hits[(k, j)]) / len(hits[(k, j)]) for j in range(len(steps) - 1)]
            labels.append(float(check("\n".join(steps), questions[k])))
            rows.append({"question": questions[k], "steps": steps, "labels": labels})
        self._write_json("rollouts.json", rows)

    # -- 4. PRM
    def prm(self) -> None:
        from langgraph_ttc.verifiers.prm import format_prm_input

        rows = self._json("rollouts.json")
        model = self.load("policy-small")
        texts = [
            format_prm_input(r["question"], r["steps"], step_tag=STEP_TAG, bos=self.tok.bos_token)
            for r in rows
        ]
        stats = train_prm(
            model,
            self.tok,
            texts,
            [r["labels"] for r in rows],
            steps=self.scale.prm_steps,
            batch_size=self.scale.batch_size,
            lr=1e-3,
            seed=self.seed,
        )
        self.save(
            model,
            "prm",
            {
                "kind": "prm",
                "init": "policy-small",
                "examples": len(rows),
                **stats,
                "label_source": f"{self.scale.rollouts_per_step} Monte Carlo rollouts per prefix",
            },
            dtype=torch.float32,
        )

    # -- 5. revision data
    def revisions(self) -> None:
        s = self.scale
        policy = self.load("policy-small")
        problems = load_split("train", s.revision_questions, seed=self.seed + 2, distinct=False)
        questions = [p.question for p in problems for _ in range(s.revision_samples)]
        prompts = [chat_prompt(self.tok, [{"role": "user", "content": q}]) for q in questions]
        sols = sample_many(
            policy,
            self.tok,
            prompts,
            seed=self.seed + 2,
            desc="attempts",
            batch_size=s.sample_batch,
        )
        rng = random.Random(self.seed)
        rows = []
        for i, p in enumerate(problems):
            texts = [
                x.text.strip() for x in sols[i * s.revision_samples : (i + 1) * s.revision_samples]
            ]
            wrong = [t for t in texts if not check(t, p.question)]
            right = [t for t in texts if check(t, p.question)]
            target = right[0] if right else reference_solution(p.question)
            k = rng.randint(0, min(4, len(wrong)))
            context = rng.sample(wrong, k)
            # The paper puts the incorrect attempt closest to the target last.
            context.sort(key=lambda t: -_edit_distance(t, target))
            rows.append({"question": p.question, "attempts": context, "target": target})
        self._write_json("revisions.json", rows)

    # -- 6. reviser
    def reviser(self) -> None:
        rows = self._json("revisions.json")
        model = self.load("policy-small")
        prompts = [
            chat_prompt(self.tok, revision_messages(r["question"], r["attempts"])) for r in rows
        ]
        stats = train_lm(
            model,
            self.tok,
            prompts,
            [r["target"] for r in rows],
            steps=self.scale.reviser_steps,
            batch_size=self.scale.batch_size,
            lr=1e-3,
            seed=self.seed,
            desc="reviser",
        )
        self.save(
            model,
            "reviser",
            {"kind": "reviser", "init": "policy-small", "examples": len(rows), **stats},
            dtype=torch.float32,
        )

    def run(self, only: Sequence[str] | None = None) -> None:
        stages: list[tuple[str, str, Callable[[], None]]] = [
            ("data", "data.json", self.data),
            ("policy-small", "policy-small/config.json", lambda: self.policy("small")),
            ("policy-large", "policy-large/config.json", lambda: self.policy("large")),
            ("rollouts", "rollouts.json", self.rollouts),
            ("prm", "prm/config.json", self.prm),
            ("revisions", "revisions.json", self.revisions),
            ("reviser", "reviser/config.json", self.reviser),
        ]
        for name, marker, fn in stages:
            if only and name not in only:
                continue
            self._stage(name, marker, fn)
        timings = self.out / "timings.json"
        old = json.loads(timings.read_text()) if timings.exists() else {}
        timings.write_text(json.dumps({**old, **self.timings}, indent=2))
        if not only or "metrics" in only:
            from langgraph_ttc.suite.metrics import write_metrics

            write_metrics(self.out, scale=self.scale, seed=self.seed, device=self.device)
        if (self.out / "metrics.json").exists():
            from langgraph_ttc.suite.cards import write_cards

            write_cards(self.out)


def _edit_distance(a: str, b: str) -> int:
    prev = list(range(len(b) + 1))
    for i, ca in enumerate(a, 1):
        cur = [i]
        for j, cb in enumerate(b, 1):
            cur.append(min(prev[j] + 1, cur[j - 1] + 1, prev[j - 1] + (ca != cb)))
        prev = cur
    return prev[-1]


def main(argv: Sequence[str] | None = None) -> None:
    """Command line: ``python -m langgraph_ttc.suite.train --out DIR``."""
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument(
        "--out", type=Path, required=True, help="output folder (resumes if it exists)"
    )
    parser.add_argument("--scale", choices=sorted(SCALES), default="full")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--device", default=None, help="cuda or cpu (default: cuda when present)")
    parser.add_argument(
        "--only", nargs="*", default=None, help="run only these stages (and 'metrics')"
    )
    args = parser.parse_args(argv)
    cfg = {
        "scale": args.scale,
        "seed": args.seed,
        "ops": DEFAULT_MAX_OPS,
        "operands": DEFAULT_OPERANDS,
        **asdict(SCALES[args.scale]),
    }
    args.out.mkdir(parents=True, exist_ok=True)
    (args.out / "run.json").write_text(json.dumps(cfg, indent=2))
    Pipeline(args.out, scale=args.scale, seed=args.seed, device=args.device).run(args.only)


if __name__ == "__main__":
    main()
