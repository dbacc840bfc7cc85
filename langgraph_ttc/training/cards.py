"""Write a model card (``README.md``) into each trained model folder.

The cards are built from ``training.json`` (written when a model is saved)
and ``metrics.json`` (written by ``langgraph_ttc.training.metrics``), so every
number in them is a measured one.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from langgraph_ttc.suite.modeling import BUNDLED_MODELS

_PURPOSE = {
    "policy-small": (
        "The generator: it writes step-by-step solutions of the bundled arithmetic task."
    ),
    "policy-large": (
        "The same architecture with about 14x the parameters, trained on the same data for "
        "the same number of tokens: the paper's FLOPs-matched comparison. It is also the "
        "bundled default verifier: the probability it gives each step's tokens (minimum over "
        "the step's tokens, then over the steps) scores policy-small's solutions "
        "(`langgraph_ttc.verifiers.TransformersLikelihoodVerifier`, "
        "`langgraph_ttc.defaults.bundled_verifier`). It is larger than the policy it checks, "
        "as real setups are; its compute is reported as verifier compute."
    ),
    "prm": (
        "A process reward model in the Math-Shepherd format: a causal LM read at the step tag "
        "`ки` after each step, scored as P(`+`) against P(`-`). Use it with "
        "`langgraph_ttc.verifiers.TransformersPRM`. It is the suite's fixture of the step-tag "
        "format, not the default verifier: it ranks questions by difficulty far better than "
        "it ranks a question's own solutions (see below)."
    ),
    "reviser": (
        "policy-small fine-tuned to revise: its context holds 0 to 4 earlier attempts of "
        "policy-small as it drew them, right ones included, the wrong one closest to the "
        "target last (the paper's recipe, plus right attempts), each followed by a `Revise.` "
        "turn; its target is the correct solution."
    ),
}


def _table(rows: dict[str, dict[str, float]]) -> str:
    cols = list(next(iter(rows.values())))
    lines = ["| ops | " + " | ".join(cols) + " |", "|---" * (len(cols) + 1) + "|"]
    for ops, vals in rows.items():
        lines.append(f"| {ops} | " + " | ".join(f"{vals[c]:.3f}" for c in cols) + " |")
    return "\n".join(lines)


def card(
    name: str,
    training: dict[str, Any],
    metrics: dict[str, Any],
    run: dict[str, Any],
    timings: dict[str, float] | None = None,
) -> str:
    """The Markdown card of one model (``timings``: seconds per pipeline stage)."""
    out = [
        f"# {name}",
        "",
        _PURPOSE[name],
        "",
        "**A demonstration model for the bundled task only** (integer expressions of + - * with "
        f"operands {run['operands'][0]} to {run['operands'][1]} and 1 to {run['ops']} operations). "
        "It is not a general language model.",
        "",
        "## Training",
        "",
        f"- Parameters: {training['params']:,}; stored as {training['dtype']}.",
        f"- Made by `python -m langgraph_ttc.training --out DIR --scale {training['scale']} "
        f"--seed {training['seed']}` on {training['device']}.",
    ]
    # A partial run (--only) made this model from its stages; a full run, from its own.
    made_with = training.get("made_with", "").removeprefix("--only ").split() or [name]
    timings = timings or {}
    for stage in made_with:
        if stage in timings:
            out.append(f"- Stage `{stage}`: {timings[stage]:.0f} s on {training['device']}.")
    for key in (
        "init",
        "steps",
        "tokens",
        "batch_size",
        "lr",
        "train_questions",
        "examples",
        "label_source",
        "made_with",
        "final_loss",
    ):
        if key in training:
            out.append(f"- {key.replace('_', ' ')}: {training[key]}")
    out += [
        "",
        "## Measured",
        "",
        f"On {metrics['questions_per_ops']} held-out test questions per operation "
        f"count; {metrics['samples']} samples at T={metrics['temperature']}.",
    ]
    if name.startswith("policy"):
        pol = metrics["policies"][name]
        out += [
            "",
            _table(pol["per_ops"]),
            "",
            "Overall: " + ", ".join(f"{k} {v:.3f}" for k, v in pol["overall"].items()) + ".",
        ]
        out.append("`prm_weighted` is weighted best-of-N with the bundled PRM's last-step score.")
    elif name == "prm":
        out += [
            "",
            f"- Final-step AUROC, correct against incorrect solutions of policy-small: "
            f"{metrics['prm']['final_step_auroc']:.3f} ({metrics['prm']['solutions']} solutions).",
        ]
    else:
        rev = metrics["reviser"]
        acc = ", ".join(f"{a:.3f}" for a in rev["accuracy_after_revisions"])
        out += [
            "",
            f"- Accuracy after 0, 1, 2, 3, 4 revisions: {acc} "
            f"({rev['chains_per_question']} sampled chains per question).",
        ]
    verifiers = metrics.get("verifiers", {})
    if name == "policy-large" and "likelihood" in verifiers:
        out += _verifier_section("As the default verifier (step likelihood)", verifiers)
    if name == "prm" and "prm" in verifiers:
        out += _verifier_section("As a verifier", verifiers, key="prm")
    return "\n".join(out) + "\n"


def _verifier_section(title: str, verifiers: dict[str, Any], key: str = "likelihood") -> list[str]:
    """The verifier numbers of ``training.verifier_metrics``, as a card section."""
    v = verifiers[key]
    fold = v["fold"]
    aurocs = ", ".join(
        f"{f} {a['within_question']:.3f} (pooled {a['pooled']:.3f})" for f, a in v["auroc"].items()
    )
    overall = v["overall"]
    lines = [
        "",
        f"## {title}",
        "",
        f"On {verifiers['questions_per_ops']} test questions per operation count, "
        f"{verifiers['samples']} samples of policy-small each at T={verifiers['temperature']}.",
        "",
        f"- Within-question AUROC (mean over the questions whose {verifiers['auroc_samples']} "
        f"first samples are mixed), per fold over steps: {aurocs}. The router and the "
        f"searches use `{fold}`.",
        f"- Weighted best-of-16 {overall['weighted@16']:.3f} against majority@16 "
        f"{overall['majority@16']:.3f}; best-of-64 {overall['weighted@64']:.3f} against "
        f"{overall['majority@64']:.3f}.",
    ]
    if "beam@16" in overall:
        lines.append(
            f"- Beam search (N=16, M=4, the library's graph) {overall['beam@16']:.3f} against "
            f"weighted best-of-16 {overall['weighted@16']:.3f}."
        )
    if v.get("params"):
        lines.append(
            f"- Verifier compute: {v['params']:,} parameters, "
            f"{v['flops_per_token']:,} FLOPs per scored token."
        )
    lines += ["", _table(v["per_ops"])]
    return lines


def write_cards(out: Path) -> None:
    """Write ``README.md`` into each model folder under ``out``."""
    metrics = json.loads((out / "metrics.json").read_text())
    run = json.loads((out / "run.json").read_text())
    timings_path = out / "timings.json"
    timings = json.loads(timings_path.read_text()) if timings_path.exists() else {}
    for name in BUNDLED_MODELS:
        training = json.loads((out / name / "training.json").read_text())
        (out / name / "README.md").write_text(card(name, training, metrics, run, timings))
