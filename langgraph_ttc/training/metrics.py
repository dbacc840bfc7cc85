"""Measure the bundled models on held-out test questions and write ``metrics.json``.

Everything in the model cards comes from here. Per operation count:

- policies: greedy accuracy, pass@1 at T=0.8 (mean over the samples),
  pass@k, majority@k and PRM-weighted best-of-k;
- the PRM: AUROC of its final-step score, correct against incorrect;
- the reviser: accuracy after 0 to 4 revisions.
"""

from __future__ import annotations

import json
from collections import Counter, defaultdict
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import torch
from transformers import LlamaForCausalLM

from langgraph_ttc.bench.stats import auroc
from langgraph_ttc.suite.task import DEFAULT_MAX_OPS, check, extract_answer, load_split
from langgraph_ttc.suite.tokenizer import build_tokenizer
from langgraph_ttc.training.prompts import chat_prompt, revision_messages
from langgraph_ttc.training.sampling import sample_many
from langgraph_ttc.training.scale import Scale
from langgraph_ttc.verifiers.prm import TransformersPRM

REVISIONS = 4


def _weighted_pick(answers: Sequence[str | None], weights: Sequence[float]) -> str | None:
    totals: dict[str, float] = defaultdict(float)
    for a, w in zip(answers, weights, strict=True):
        if a is not None:
            totals[a] += w
    return max(totals, key=lambda a: totals[a]) if totals else None


def _mean(xs: Sequence[float]) -> float:
    return round(sum(xs) / len(xs), 4) if xs else float("nan")


def evaluate_policy(
    model: LlamaForCausalLM,
    prm: Any,
    questions: Sequence[str],
    *,
    samples: int,
    seed: int,
    name: str,
    batch_size: int = 4096,
) -> tuple[dict[str, list[float]], list[float], list[bool]]:
    """Per-question metrics of one policy, plus the PRM's final scores and labels."""
    tok = build_tokenizer()
    prompts = [chat_prompt(tok, [{"role": "user", "content": q}]) for q in questions]
    greedy = sample_many(
        model,
        tok,
        prompts,
        temperature=0.0,
        seed=seed,
        desc=f"{name} greedy",
        batch_size=batch_size,
    )
    many = sample_many(
        model,
        tok,
        [p for p in prompts for _ in range(samples)],
        seed=seed,
        desc=f"{name} samples",
        batch_size=batch_size,
    )
    out: dict[str, list[float]] = defaultdict(list)
    final_scores: list[float] = []
    final_labels: list[bool] = []
    for i, q in enumerate(questions):
        texts = [s.text.strip() for s in many[i * samples : (i + 1) * samples]]
        ok = [check(t, q) for t in texts]
        answers = [extract_answer(t) for t in texts]
        scores = [steps[-1] for steps in prm.score(q, texts).steps]
        truth = next((a for a, c in zip(answers, ok, strict=True) if c), None)
        votes = Counter(a for a in answers if a is not None)
        out["greedy"].append(float(check(greedy[i].text, q)))
        out["pass@1"].append(sum(ok) / samples)
        out[f"pass@{samples}"].append(float(any(ok)))
        out[f"majority@{samples}"].append(
            float(bool(votes) and votes.most_common(1)[0][0] == truth and truth is not None)
        )
        pick = _weighted_pick(answers, scores)
        out[f"prm_weighted@{samples}"].append(float(pick is not None and check(pick, q)))
        final_scores += scores
        final_labels += ok
    return out, final_scores, final_labels


def evaluate_reviser(
    model: LlamaForCausalLM,
    questions: Sequence[str],
    *,
    chains: int,
    seed: int,
    batch_size: int = 4096,
) -> list[list[float]]:
    """Correctness of attempt 0..4 of ``chains`` sampled revision chains per question."""
    tok = build_tokenizer()
    work = [q for q in questions for _ in range(chains)]
    attempts: list[list[str]] = [[] for _ in work]
    acc: list[list[float]] = []
    for r in range(REVISIONS + 1):
        prompts = [
            chat_prompt(tok, revision_messages(q, a[-4:]))
            for q, a in zip(work, attempts, strict=True)
        ]
        outs = sample_many(
            model, tok, prompts, seed=seed + r, desc=f"reviser round {r}", batch_size=batch_size
        )
        for a, s in zip(attempts, outs, strict=True):
            a.append(s.text.strip())
        acc.append([float(check(a[-1], q)) for q, a in zip(work, attempts, strict=True)])
    return acc


def _test_questions(scale: Scale, seed: int) -> dict[int, list[str]]:
    problems = load_split("test", scale.eval_per_ops * DEFAULT_MAX_OPS, seed=seed)
    by_ops: dict[int, list[str]] = defaultdict(list)
    for p in problems:
        by_ops[p.ops].append(p.question)
    return by_ops


def _loader(out: Path, device: torch.device) -> Callable[[str], LlamaForCausalLM]:
    def load(name: str) -> LlamaForCausalLM:
        model = LlamaForCausalLM.from_pretrained(out / name, dtype=torch.float32)
        return torch.nn.Module.to(model, device).eval()  # type: ignore[return-value]

    return load


def _reviser_metrics(
    reviser: LlamaForCausalLM, by_ops: dict[int, list[str]], *, scale: Scale, seed: int
) -> dict[str, Any]:
    """The reviser's accuracy after 0 to 4 revisions, overall and per operation count."""
    chains = max(1, scale.eval_samples // 4)
    rev_per_ops: dict[str, list[float]] = {}
    rev_all: list[list[float]] = [[] for _ in range(REVISIONS + 1)]
    for k in sorted(by_ops):
        acc = evaluate_reviser(
            reviser, by_ops[k], chains=chains, seed=seed + k, batch_size=scale.sample_batch
        )
        rev_per_ops[str(k)] = [_mean(a) for a in acc]
        for r, a in enumerate(acc):
            rev_all[r] += a
    return {
        "chains_per_question": chains,
        "accuracy_after_revisions": [_mean(a) for a in rev_all],
        "per_ops": rev_per_ops,
    }


def write_reviser_metrics(out: Path, *, scale: Scale, seed: int, device: torch.device) -> None:
    """Measure only the reviser under ``out`` and update ``metrics.json``'s ``reviser``."""
    path = out / "metrics.json"
    metrics = json.loads(path.read_text())
    reviser = _loader(out, device)("reviser")
    metrics["reviser"] = _reviser_metrics(
        reviser, _test_questions(scale, seed), scale=scale, seed=seed
    )
    path.write_text(json.dumps(metrics, indent=2, sort_keys=True))
    print(json.dumps({"reviser": metrics["reviser"]["accuracy_after_revisions"]}))


def write_metrics(out: Path, *, scale: Scale, seed: int, device: torch.device) -> dict[str, Any]:
    """Evaluate every model under ``out`` and write ``out/metrics.json``."""
    by_ops = _test_questions(scale, seed)
    load = _loader(out, device)

    prm_model = load("prm")
    prm = TransformersPRM(prm_model, tokenizer=build_tokenizer(), batch_size=256)
    metrics: dict[str, Any] = {
        "split": "test",
        "questions_per_ops": scale.eval_per_ops,
        "samples": scale.eval_samples,
        "temperature": 0.8,
        "seed": seed,
        "policies": {},
    }
    all_scores: list[float] = []
    all_labels: list[bool] = []
    for name in ("policy-small", "policy-large"):
        model = load(name)
        per_ops: dict[str, dict[str, float]] = {}
        overall: dict[str, list[float]] = defaultdict(list)
        for k in sorted(by_ops):
            stats, scores, labels = evaluate_policy(
                model,
                prm,
                by_ops[k],
                samples=scale.eval_samples,
                seed=seed + k,
                name=f"{name} ops={k}",
                batch_size=scale.sample_batch,
            )
            per_ops[str(k)] = {m: _mean(v) for m, v in stats.items()}
            for m, v in stats.items():
                overall[m] += v
            if name == "policy-small":
                all_scores += scores
                all_labels += labels
        metrics["policies"][name] = {
            "per_ops": per_ops,
            "overall": {m: _mean(v) for m, v in overall.items()},
        }
        del model
    metrics["prm"] = {
        "final_step_auroc": round(auroc(all_scores, all_labels), 4),
        "solutions": len(all_labels),
        "sampled_from": "policy-small",
    }
    metrics["reviser"] = _reviser_metrics(load("reviser"), by_ops, scale=scale, seed=seed)
    # Sections other stages wrote (the verifiers) stay.
    path = out / "metrics.json"
    metrics = {**(json.loads(path.read_text()) if path.exists() else {}), **metrics}
    (out / "metrics.json").write_text(json.dumps(metrics, indent=2, sort_keys=True))
    print(
        json.dumps(
            {
                "small": metrics["policies"]["policy-small"]["overall"],
                "large": metrics["policies"]["policy-large"]["overall"],
                "prm": metrics["prm"],
                "reviser": metrics["reviser"]["accuracy_after_revisions"],
            },
            indent=1,
        )
    )
    return metrics
