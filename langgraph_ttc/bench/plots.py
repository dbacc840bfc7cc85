"""The report's figures (matplotlib, Agg backend), drawn from the analysis alone.

* ``accuracy_vs_budget.png``: accuracy against generations, one line per arm.
* ``accuracy_by_bin.png``: accuracy per oracle difficulty bin at N = 4, 16, 64 (256).
* ``compute_optimal.png``: compute-optimal (oracle, predicted) and the router's
  own runs against best-of-N, the efficiency ratio marked.
* ``flops_matched.png``: policy-small + router vs policy-large greedy per bin,
  one row per FLOPs ledger (generator only; with the verifier).

Needs the ``bench`` extra (matplotlib).
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

from langgraph_ttc.bench.arms import ARMS, choice_budget, choice_name
from langgraph_ttc.bench.sections.accuracy import BIN_BUDGETS
from langgraph_ttc.router.policy import NUM_BINS

__all__ = ["write_plots"]

_LABELS = {a.name: a.label for a in ARMS}
_MAIN_ARMS = (
    "greedy",
    "majority",
    "bon_weighted",
    "bon_max",
    "beam_m4",
    "beam_sqrt",
    "lookahead_k1",
    "lookahead_k3",
    "dvts_m4",
    "revise_s4",
    "revise_s8",
)


def _pyplot() -> Any:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    plt.rcParams.update({"figure.dpi": 110, "font.size": 9, "svg.hashsalt": "ttc"})
    return plt


def _save(fig: Any, path: Path) -> None:
    # No timestamps in the file: the same analysis gives the same PNG.
    fig.savefig(path, metadata={"Software": None}, bbox_inches="tight")


def _errs(points: list[Mapping[str, Any]]) -> tuple[list[float], list[float], list[list[float]]]:
    xs = [float(p.get("generations") or p["budget"]) for p in points]
    ys = [float(p["accuracy"]) for p in points]
    err = [
        [y - float(p["low"]) for y, p in zip(ys, points, strict=True)],
        [float(p["high"]) - y for y, p in zip(ys, points, strict=True)],
    ]
    return xs, ys, err


def _accuracy_vs_budget(plt: Any, analysis: Mapping[str, Any], path: Path) -> None:
    sweep = analysis["sweep"]
    curves = analysis["splits"][sweep["eval_split"]]["curves"]
    fig, ax = plt.subplots(figsize=(7.5, 4.8))
    colors = plt.get_cmap("tab20").colors
    for i, arm in enumerate(_MAIN_ARMS):
        points = curves.get(arm)
        if not points:
            continue
        xs, ys, err = _errs(points)
        style = "o" if len(points) == 1 else "-o"
        ax.errorbar(
            xs,
            ys,
            yerr=err,
            fmt=style,
            ms=3,
            capsize=2,
            lw=1.2,
            elinewidth=0.6,
            color=colors[(2 * i) % 20 if i < 10 else 2 * (i - 10) + 1],
            label=_LABELS[arm],
        )
    runs = analysis.get("compute_optimal", {}).get("router", {}).get("runs", [])
    if runs:
        xs, ys, err = _errs(runs)
        ax.errorbar(
            xs, ys, yerr=err, fmt="-s", ms=4, capsize=2, lw=2.2, color="black", label="router"
        )
    ax.set_xscale("log", base=2)
    ax.set_xlabel("generations per question")
    ax.set_ylabel(f"accuracy ({sweep['eval_split']})")
    ax.set_title("Accuracy vs test-time compute")
    ax.grid(alpha=0.3)
    ax.legend(fontsize=7, loc="upper left", bbox_to_anchor=(1.01, 1.0))
    _save(fig, path)
    plt.close(fig)


def _accuracy_by_bin(plt: Any, analysis: Mapping[str, Any], path: Path) -> None:
    sweep = analysis["sweep"]
    by_bin = analysis["splits"][sweep["eval_split"]]["by_oracle_bin"]
    budgets = [
        b for b in BIN_BUDGETS if any(choice_budget(k) == b for v in by_bin.values() for k in v)
    ]
    arms = (
        "majority",
        "bon_weighted",
        "beam_m4",
        "lookahead_k1",
        "dvts_m4",
        "revise_s4",
        "revise_s8",
    )
    colors = plt.get_cmap("tab10").colors
    fig, axes = plt.subplots(
        1, max(1, len(budgets)), figsize=(3.6 * max(1, len(budgets)), 3.6), squeeze=False
    )
    for ax, budget in zip(axes[0], budgets, strict=False):
        present = [a for a in arms if any(choice_name(a, budget) in v for v in by_bin.values())]
        width = 0.8 / max(1, len(present))
        for i, arm in enumerate(present):
            xs = [b + (i - (len(present) - 1) / 2) * width for b in range(1, NUM_BINS + 1)]
            ys = [
                float(by_bin.get(str(b), {}).get(choice_name(arm, budget), {}).get("accuracy") or 0)
                for b in range(1, NUM_BINS + 1)
            ]
            ax.bar(xs, ys, width=width, label=_LABELS[arm], color=colors[arms.index(arm)])
        ax.set_title(f"N = {budget}")
        ax.set_xlabel("difficulty bin (1 easiest; oracle)")
        ax.set_xticks(range(1, NUM_BINS + 1))
        ax.set_ylim(0, 1)
        ax.grid(axis="y", alpha=0.3)
    axes[0][0].set_ylabel("accuracy")
    # One legend for all panels (colours are fixed per arm).
    found: dict[str, Any] = {}
    for ax in axes[0]:
        for handle, label in zip(*ax.get_legend_handles_labels(), strict=True):
            found.setdefault(label, handle)
    order = [_LABELS[a] for a in arms if _LABELS[a] in found]
    handles, labels = [found[label] for label in order], order
    if handles:
        fig.legend(
            handles,
            labels,
            fontsize=7,
            loc="lower center",
            ncol=len(labels),
            bbox_to_anchor=(0.5, -0.12),
        )
    _save(fig, path)
    plt.close(fig)


def _compute_optimal(plt: Any, analysis: Mapping[str, Any], path: Path) -> None:
    sweep = analysis["sweep"]
    co = analysis.get("compute_optimal", {})
    curves = analysis["splits"][sweep["eval_split"]]["curves"]
    fig, ax = plt.subplots(figsize=(7, 4.5))
    bon = curves.get("bon_weighted", [])
    if bon:
        xs, ys, err = _errs(bon)
        ax.errorbar(xs, ys, yerr=err, fmt="-o", ms=3, capsize=2, label="best-of-N weighted")
    for name, label in (
        ("oracle", "compute-optimal, oracle bins (sim.)"),
        ("predicted", "compute-optimal, predicted bins (sim., probes counted)"),
    ):
        curve = co.get(name, {}).get("test", {}).get("curve", [])
        if curve:
            xs, ys, err = _errs(curve)
            ax.errorbar(xs, ys, yerr=err, fmt="--^", ms=3, capsize=2, label=label)
    runs = co.get("router", {}).get("runs", [])
    if runs:
        xs, ys, err = _errs(runs)
        ax.errorbar(
            xs,
            ys,
            yerr=err,
            fmt="-s",
            ms=4,
            capsize=2,
            lw=2,
            color="black",
            label="router (graph runs)",
        )
    target = co.get("target", {})
    if target.get("accuracy") is not None:
        t = float(target["accuracy"])
        ax.axhline(t, color="grey", ls=":", lw=1)
        ax.text(1, t, f" best-of-N@{target['budget']}", va="bottom", fontsize=7, color="grey")
        need = co.get("router", {}).get("needed") or co.get("predicted", {}).get("needed")
        if need and need.get("reached"):
            x = float(need["interpolated"])
            ax.axvline(x, color="black", ls=":", lw=1)
            ax.annotate(
                f"{target['budget'] / x:.1f}x less compute",
                xy=(x, t),
                xytext=(x * 1.3, t - 0.08),
                arrowprops={"arrowstyle": "->", "lw": 0.8},
                fontsize=8,
            )
    ax.set_xscale("log", base=2)
    ax.set_xlabel("generations per question (probes included)")
    ax.set_ylabel(f"accuracy ({sweep['eval_split']})")
    ax.set_title("Compute-optimal scaling vs best-of-N")
    ax.grid(alpha=0.3)
    ax.legend(fontsize=7, loc="upper left", bbox_to_anchor=(1.01, 1.0))
    _save(fig, path)
    plt.close(fig)


def _flops_matched(plt: Any, analysis: Mapping[str, Any], path: Path) -> bool:
    fm = analysis.get("flops_matched", {})
    rows = [
        (title, fm.get(key) or [])
        for key, title in (
            ("ratios", "generator FLOPs"),
            ("ratios_with_verifier", "generator + verifier FLOPs"),
        )
    ]
    rows = [(t, es) for t, es in rows if es]
    if not fm.get("available") or not any("by_bin" in e for _, es in rows for e in es):
        return False
    cols = max(len(es) for _, es in rows)
    fig, axes = plt.subplots(len(rows), cols, figsize=(3.6 * cols, 3.4 * len(rows)), squeeze=False)
    for r, (ledger, entries) in enumerate(rows):
        for ax, e in zip(axes[r], entries, strict=False):
            ax.set_title(f"R = {e['R']:g} (X = {e['X']:.0f}), {ledger}", fontsize=8)
            ax.set_ylim(0, 1)
            if "by_bin" not in e:
                # No router budget fits these FLOPs: the small model cannot be run here.
                ax.text(0.5, 0.5, "no router budget fits", ha="center", transform=ax.transAxes)
                ax.set_xticks([])
                continue
            bins = sorted(e["by_bin"], key=int)
            xs = [int(b) for b in bins]
            router = [e["by_bin"][b]["router"] for b in bins]
            large = [e["by_bin"][b]["large"] for b in bins]
            ax.bar(
                [x - 0.2 for x in xs],
                router,
                width=0.4,
                label=f"policy-small + router @{e['budget']}",
            )
            ax.bar([x + 0.2 for x in xs], large, width=0.4, label="policy-large greedy")
            ax.set_xlabel("difficulty bin (1 easiest; oracle)")
            ax.set_xticks(xs)
            ax.grid(axis="y", alpha=0.3)
            ax.legend(fontsize=6)
        axes[r][0].set_ylabel("accuracy")
    fig.suptitle(f"FLOPs-matched: {fm['M']:.1f}x larger model vs test-time compute", y=1.02)
    _save(fig, path)
    plt.close(fig)
    return True


def write_plots(analysis: Mapping[str, Any], out: Path) -> list[str]:
    """Draw the figures into ``out``; returns their file names."""
    plt = _pyplot()
    out.mkdir(parents=True, exist_ok=True)
    names = ["accuracy_vs_budget.png", "accuracy_by_bin.png", "compute_optimal.png"]
    _accuracy_vs_budget(plt, analysis, out / names[0])
    _accuracy_by_bin(plt, analysis, out / names[1])
    _compute_optimal(plt, analysis, out / names[2])
    if _flops_matched(plt, analysis, out / "flops_matched.png"):
        names.append("flops_matched.png")
    return names
