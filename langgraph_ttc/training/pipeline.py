"""The stages of a training run of the bundled models, each resumable.

Stages, each written under the output folder and skipped when its output is
there (so a killed run resumes):

1. ``data``: train questions with reference solutions;
2. ``policy-small`` and ``policy-large``: the same data, the same tokens;
3. ``rollouts``: Monte Carlo labels for the PRM (Math-Shepherd);
4. ``prm``: policy-small fine-tuned to score steps at the step tag;
5. ``revisions``: incorrect attempts in context, a correct target;
6. ``reviser``: policy-small fine-tuned on them;
7. ``metrics`` and model cards: see ``langgraph_ttc.training.metrics`` and
   ``langgraph_ttc.training.cards``.

The command line is ``python -m langgraph_ttc.training``; see
``langgraph_ttc.training.cli``.
"""

from __future__ import annotations

import json
import random
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import torch
from transformers import GenerationConfig, LlamaForCausalLM

from langgraph_ttc.formats import STEP_TAG
from langgraph_ttc.suite.modeling import build_config
from langgraph_ttc.suite.task import check, load_split, reference_solution
from langgraph_ttc.suite.tokenizer import build_tokenizer
from langgraph_ttc.training.cards import write_cards
from langgraph_ttc.training.loops import train_lm, train_prm
from langgraph_ttc.training.metrics import write_metrics, write_reviser_metrics
from langgraph_ttc.training.prompts import chat_prompt, revision_messages
from langgraph_ttc.training.sampling import sample_many
from langgraph_ttc.training.scale import SCALES
from langgraph_ttc.verifiers.prm import format_prm_input

__all__ = ["Pipeline"]


class Pipeline:
    """The stages of one training run, sharing a folder, a seed and a device.

    Args:
        out: The output folder; a run resumes from what is there.
        scale: A key of ``SCALES``: ``full``, ``quick`` or ``smoke``.
        seed: Seeds every stage.
        device: ``cuda`` or ``cpu``; CUDA when present by default.
    """

    def __init__(self, out: Path, *, scale: str, seed: int, device: str | None) -> None:
        self.out = out
        self.scale_name = scale
        self.scale = SCALES[scale]
        self.seed = seed
        self.device = torch.device(device or ("cuda" if torch.cuda.is_available() else "cpu"))
        self.tok = build_tokenizer()
        self.timings: dict[str, float] = {}
        self.only: Sequence[str] | None = None
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
        """Load a model this run saved, in float32 on the run's device, in eval mode."""
        model = LlamaForCausalLM.from_pretrained(self.out / name, dtype=torch.float32)
        return torch.nn.Module.to(model, self.device).eval()  # type: ignore[return-value]

    def save(
        self, model: LlamaForCausalLM, name: str, info: dict[str, Any], *, dtype: torch.dtype
    ) -> None:
        """Save a model, the tokenizer and ``training.json`` (``info`` plus run facts).

        Args:
            model: The trained model; it is stored as ``dtype``, then cast back to float32.
            name: The folder under the output folder.
            info: What the card reports about its training.
            dtype: The stored dtype.
        """
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
        if self.only:
            # A partial run builds on the models already in the folder.
            info["made_with"] = "--only " + " ".join(self.only)
        (path / "training.json").write_text(json.dumps(info, indent=2))
        torch.nn.Module.to(model, torch.float32)

    # -- 1. data
    def data(self) -> None:
        """Stage 1: train questions with reference solutions, in ``data.json``."""
        s = self.scale
        problems = load_split("train", s.train_questions, seed=self.seed, distinct=False)
        rows = [{**p.to_dict(), "solution": reference_solution(p.question)} for p in problems]
        self._write_json("data.json", rows)

    # -- 2. policies
    def policy(self, shape: str) -> None:
        """Stage 2: train ``policy-small`` or ``policy-large`` (``shape``) from scratch."""
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
        """Stage 3: Monte Carlo step labels for the PRM, in ``rollouts.json``."""
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
        """Stage 4: fine-tune policy-small into the PRM on the rollout labels."""
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
        """Stage 5: earlier attempts in context and a correct target, in ``revisions.json``."""
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
            rows += [revision_example(p.question, texts, rng) for _ in range(s.revision_rows)]
        self._write_json("revisions.json", rows)

    # -- 6. reviser
    def reviser(self) -> None:
        """Stage 6: fine-tune policy-small into the reviser."""
        self._train_reviser("policy-small", self.scale.reviser_steps, lr=1e-3)

    def reviser_refine(self) -> None:
        """Stage 6b: go on training the reviser on ``revisions.json`` (``refine_steps``).

        It keeps what the reviser learned about solving and learns the current
        revision data's lesson: keep a right attempt, fix a wrong one.
        """
        self._train_reviser("reviser", self.scale.refine_steps, lr=3e-4)
        (self.out / "reviser" / "refine.json").write_text(
            json.dumps({"steps": self.scale.refine_steps, "scale": self.scale_name})
        )

    def _train_reviser(self, init: str, steps: int, *, lr: float) -> None:
        rows = self._json("revisions.json")
        model = self.load(init)
        prompts = [
            chat_prompt(self.tok, revision_messages(r["question"], r["attempts"])) for r in rows
        ]
        stats = train_lm(
            model,
            self.tok,
            prompts,
            [r["target"] for r in rows],
            steps=steps,
            batch_size=self.scale.batch_size,
            lr=lr,
            seed=self.seed,
            desc=f"reviser from {init}",
        )
        info = {"kind": "reviser", "init": init, "examples": len(rows), **stats}
        if init == "reviser":
            before = self._json("reviser/training.json")
            info["init"] = f"the reviser of scale {before['scale']} ({before['steps']} steps)"
        self.save(model, "reviser", info, dtype=torch.float32)

    def run(self, only: Sequence[str] | None = None) -> None:
        """Run the stages not done yet, then the metrics and the model cards.

        Args:
            only: Run only these stages (and the metrics if ``"metrics"`` is named, or
                only the reviser's with ``"reviser-metrics"``).
        """
        self.only = only
        stages: list[tuple[str, str, Callable[[], None]]] = [
            ("data", "data.json", self.data),
            ("policy-small", "policy-small/config.json", lambda: self.policy("small")),
            ("policy-large", "policy-large/config.json", lambda: self.policy("large")),
            ("rollouts", "rollouts.json", self.rollouts),
            ("prm", "prm/config.json", self.prm),
            ("revisions", "revisions.json", self.revisions),
            ("reviser", "reviser/config.json", self.reviser),
        ]
        if self.scale.refine_steps:
            stages.append(("reviser-refine", "reviser/refine.json", self.reviser_refine))
        for name, marker, fn in stages:
            if only and name not in only:
                continue
            self._stage(name, marker, fn)
        timings = self.out / "timings.json"
        old = json.loads(timings.read_text()) if timings.exists() else {}
        timings.write_text(json.dumps({**old, **self.timings}, indent=2))
        if not only or "metrics" in only:
            write_metrics(self.out, scale=self.scale, seed=self.seed, device=self.device)
        elif "reviser-metrics" in only:
            write_reviser_metrics(self.out, scale=self.scale, seed=self.seed, device=self.device)
        if (self.out / "metrics.json").exists():
            write_cards(self.out)


def revision_example(question: str, attempts: Sequence[str], rng: random.Random) -> dict[str, Any]:
    """One reviser training example: 0 to 4 earlier attempts, then the correct solution.

    The paper's recipe, with one change: the context holds attempts as the
    policy drew them, right ones included (at inference a chain's earlier
    attempts are often right, and a reviser that never saw one learns to
    change every answer). Where the context holds a wrong attempt, the one
    closest to the target by edit distance comes last, as in the paper.
    """
    target = reference_solution(question)
    context = rng.sample(list(attempts), min(rng.randint(0, 4), len(attempts)))
    wrong = [t for t in context if not check(t, question)]
    if wrong:
        closest = min(wrong, key=lambda t: _edit_distance(t, target))
        context.remove(closest)
        context.append(closest)
    return {"question": question, "attempts": context, "target": target}


def _edit_distance(a: str, b: str) -> int:
    prev = list(range(len(b) + 1))
    for i, ca in enumerate(a, 1):
        cur = [i]
        for j, cb in enumerate(b, 1):
            cur.append(min(prev[j] + 1, cur[j - 1] + 1, prev[j - 1] + (ca != cb)))
        prev = cur
    return prev[-1]
