"""The benchmark's outputs: ``results.json`` (every number) and ``report.md``.

Both are pure functions of :func:`langgraph_ttc.bench.analysis.analyse`'s
output, so the same cache gives the same files byte for byte.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from langgraph_ttc.bench.arms import (
    ARMS,
    LARGE_GREEDY,
    budget_keys_for,
    choice_arm,
    choice_budget,
    choice_name,
)
from langgraph_ttc.bench.findings import findings
from langgraph_ttc.bench.report_headline import flops_lines, headline_lines
from langgraph_ttc.bench.sections.accuracy import BIN_BUDGETS
from langgraph_ttc.router.policy import NUM_BINS

__all__ = ["render_markdown", "write_json", "write_report"]

_LABELS = {a.name: a.label for a in ARMS} | {LARGE_GREEDY: "policy-large greedy"}


def write_json(analysis: Mapping[str, Any], path: Path) -> Path:
    """Write every number as sorted, indented JSON."""
    data = {**analysis, "findings": findings(analysis)}
    path.write_text(json.dumps(data, indent=1, sort_keys=True) + "\n")
    return path


def _n(x: Any, spec: str) -> str:
    """A number formatted with ``spec``, or a dash for a missing one."""
    if x is None or (isinstance(x, float) and x != x):
        return "–"
    return format(x, spec)


def _ints(values: Sequence[int]) -> str:
    return ", ".join(map(str, values))


def _cell(p: Mapping[str, Any] | None) -> str:
    if not p or p.get("accuracy") is None:
        return ""
    return f"{p['accuracy']:.3f} [{p['low']:.2f}, {p['high']:.2f}]"


def _table(header: Sequence[str], rows: Sequence[Sequence[str]]) -> list[str]:
    out = ["| " + " | ".join(header) + " |", "|" + "|".join("---" for _ in header) + "|"]
    out += ["| " + " | ".join(str(c).replace("|", "\\|") for c in row) + " |" for row in rows]
    return out


def _curve_table(
    curves: Mapping[str, Sequence[Mapping[str, Any]]], budgets: Sequence[int]
) -> list[str]:
    rows = []
    for arm, points in curves.items():
        by_b = {p["budget"]: p for p in points}
        rows.append([_LABELS.get(arm, arm)] + [_cell(by_b.get(b)) for b in budgets])
    return _table(["arm"] + [f"N={b}" for b in budgets], rows)


def render_markdown(analysis: Mapping[str, Any], *, plots: Sequence[str] = ()) -> str:
    """The report as Markdown (see the module docstring)."""
    sweep = analysis["sweep"]
    ev = sweep["eval_split"]
    split = analysis["splits"][ev]
    co = analysis.get("compute_optimal", {})
    lines = _setup(analysis)
    lines += headline_lines(analysis.get("headline"))
    lines += ["## The paper's findings and ours", ""]
    lines += _table(
        ["paper's finding", "paper's result", "ours", "agree?"],
        [[f["finding"], f["paper"], f["ours"], f["agree"]] for f in findings(analysis)],
    )
    lines.append("")
    lines += _compute_optimal(co)
    lines += _router_runs(co)
    lines += _fitted_policies(co, ev)
    lines += _beyond(co)
    lines += ["## Accuracy vs budget", ""]
    lines += _curve_table(split["curves"], budget_keys_for(sweep["budgets"], sweep["tree_budgets"]))
    lines.append("")
    lines += _by_bin(split)
    lines += _prm(split["prm"])
    lines += flops_lines(analysis.get("flops_matched", {}))
    lines += _difficulty(split["difficulty"])
    for p in plots:
        lines += [f"![{Path(p).stem}]({p})", ""]
    return "\n".join(lines).rstrip() + "\n"


def _setup(analysis: Mapping[str, Any]) -> list[str]:
    """The title, how to read the numbers, and the setup: questions, budgets, time."""
    sweep = analysis["sweep"]
    ev = sweep["eval_split"]
    lines = [f"# langgraph-ttc benchmark: the {sweep['name']} sweep", ""]
    lines += [
        "Accuracies are on the "
        f"**{ev}** split unless said otherwise, with 95% Wilson intervals over questions "
        "(seed-averaged per question). N counts generations (the paper's unit), router probes "
        "included. Numbers come from `results.json`, written from the same cache.",
        "",
        "## Setup",
        "",
    ]
    q = analysis["questions"]
    lines += [
        "- Questions: " + ", ".join(f"{s} {n}" for s, n in q.items()),
        f"- Budgets (voting, revisions): {_ints(sweep['budgets'])}; tree search: "
        f"{_ints(sweep['tree_budgets'])}; router: {_ints(sweep['router_budgets'])}",
        f"- Seeds: {sweep['seeds']} subsets per budget for the pool arms; {sweep['graph_seeds']} "
        "run(s) per budget for the graph arms and the router",
        f"- Pools: {sweep['pool_size']} samples per question at T={sweep['temperature']}; revision "
        f"chains {sweep['revision_chains']} x {sweep['revision_length']} attempts",
    ]
    lines += _times(analysis)
    lines.append("")
    return lines


def _times(analysis: Mapping[str, Any]) -> list[str]:
    """The sweep sessions, the cached compute time and the full sweep's estimate."""
    lines = []
    sessions = analysis.get("sessions") or []
    if sessions:
        done = [x for x in sessions if x.get("finished", True)]
        last = done[-1] if done else sessions[-1]
        walls = last.get("wall_s", {})
        killed = len(sessions) - len(done)
        lines.append(
            f"- Sweep sessions: {len(sessions)}"
            + (f" ({killed} interrupted)" if killed else "")
            + f"; last finished: {walls.get('total', 0):.0f} s wall ("
            + ", ".join(f"{k} {v:.0f} s" for k, v in sorted(walls.items()) if k != "total")
            + ")"
        )
    for s, secs in analysis.get("compute_seconds", {}).items():
        total = sum(float(v or 0) for v in secs.values())
        lines.append(
            f"- Compute time cached for {s}: {total:.0f} s ("
            + ", ".join(f"{k} {float(v or 0):.0f} s" for k, v in secs.items())
            + ")"
        )
    est = analysis.get("full_sweep_estimate")
    if est:
        parts = ", ".join(
            f"{k} {float(v) / 3600:.1f} h"
            for k, v in est.items()
            if k not in ("total", "hours", "target") and v is not None
        )
        lines.append(
            f"- Estimated time of the full sweep ({est['target']['questions_per_split']} questions "
            f"x {est['target']['splits']} splits, scaled from this sweep's unit timings on the "
            f"same machine): {est['hours']:.1f} h ({parts})"
        )
    return lines


def _compute_optimal(co: Mapping[str, Any]) -> list[str]:
    """Generations each method needs to match the best-of-N target."""
    lines = ["## Compute-optimal vs best-of-N", ""]
    target = co.get("target", {})
    if target.get("accuracy") is not None:
        lines.append(f"Target: best-of-N weighted at N={target['budget']}: {_cell(target)}.")
        lines.append("")
        rows = []
        for name, label in (("bon_weighted_needed", "best-of-N weighted itself"),):
            need = co.get(name)
            if need:
                rows.append([label, _need(need, target["budget"])])
        for name, label in (
            (
                "oracle",
                "compute-optimal, oracle bins (simulated from the cache; no probe cost, "
                "as in the paper)",
            ),
            ("predicted", "compute-optimal, predicted bins (simulated; probes counted)"),
            ("no_router", "no router: the best arm per budget for all questions (simulated)"),
        ):
            need = co.get(name, {}).get("needed")
            if need:
                rows.append([label, _need(need, target["budget"])])
        router_need = co.get("router", {}).get("needed")
        fixed = co.get("best_fixed")
        fixed_need = co.get("router", {}).get("needed_best_fixed")
        if fixed and fixed_need:
            rows.append(
                [
                    f"the router vs the best fixed arm at N={fixed['budget']} "
                    f"({_LABELS.get(fixed['arm'], fixed['arm'])}, {_cell(fixed)}; picked on "
                    "this split)",
                    _need(fixed_need, fixed["budget"]),
                ]
            )
        if router_need:
            rows.append(
                [
                    "**the router (its own graph runs; predicted bins, probes counted)**",
                    _need(router_need, target["budget"]),
                ]
            )
        lines += _table(["method", f"generations to match N={target['budget']} (efficiency)"], rows)
        lines.append("")
    return lines


def _router_runs(co: Mapping[str, Any]) -> list[str]:
    """The router's own runs, and those of routers with other policies."""
    lines: list[str] = []
    runs = co.get("router", {}).get("runs", [])
    if runs:
        lines += ["### The router's runs", ""]
        rows = []
        for r in runs:
            rows.append(
                [
                    str(r["budget"]),
                    _cell(r),
                    f"{_n(r['generations'], '.1f')}",
                    f"{_n(r['probes'], '.1f')}",
                    f"{_n(r['flops'], '.3g')}",
                    f"{_n(r['verifier_tokens'], '.4g')}",
                    ", ".join(f"{k} {v}" for k, v in r["strategies"].items()),
                ]
            )
        lines += _table(
            [
                "budget",
                "accuracy",
                "generations used",
                "probes",
                "FLOPs (generator)",
                "verifier tokens",
                "strategies run",
            ],
            rows,
        )
        lines.append("")
    for other in co.get("other_routers", []):
        lines += [f"### The router with another policy ({other['arm']})", ""]
        lines += [f"Policy: {other['description']}", ""]
        lines += _table(
            ["budget", "accuracy", "generations used"],
            [[str(r["budget"]), _cell(r), f"{_n(r['generations'], '.1f')}"] for r in other["runs"]],
        )
        lines.append("")
    return lines


def _fitted_policies(co: Mapping[str, Any], ev: str) -> list[str]:
    """The fitted policies (oracle and predicted bins) replayed on the evaluation split."""
    lines: list[str] = []
    for name, label in (
        ("oracle", "oracle bins, matched budgets"),
        ("predicted", "predicted bins, probe-aware"),
    ):
        sim = co.get(name)
        if not sim:
            continue
        lines += [f"### Compute-optimal ({label})", ""]
        rows = []
        cv = {c["budget"]: c for c in sim.get("cv", [])}
        for p in sim["test"]["curve"]:
            rows.append(
                [
                    str(p["budget"]),
                    _cell(p),
                    f"{_n(p['generations'], '.1f')}",
                    f"{cv.get(p['budget'], {}).get('accuracy') or 0:.3f}",
                    "no probes"
                    if cv.get(p["budget"], {}).get("unprobed")
                    else "yes"
                    if cv.get(p["budget"], {}).get("pooled")
                    else "no",
                    ", ".join(f"{k} x{v}" for k, v in p["choices"].items()),
                ]
            )
        lines += _table(
            [
                "budget",
                f"{ev} accuracy",
                "generations",
                "2-fold CV accuracy (fit split)",
                "one arm for all bins (or no probes)",
                "arms chosen (questions)",
            ],
            rows,
        )
        lines.append("")
    return lines


def _beyond(co: Mapping[str, Any]) -> list[str]:
    """Beyond the paper: no router, early stopping, budget allocation."""
    lines: list[str] = []
    alloc = co.get("allocation")
    early = co.get("early_stop")
    no_router = co.get("no_router")
    if alloc or early or no_router:
        lines += ["### Beyond the paper (simulated from the cached pools)", ""]
        if no_router:
            lines.append(
                "No router: one arm per budget for every question (no probes, no difficulty), "
                "chosen on the fit split."
            )
            lines.append("")
            lines += _table(
                ["budget", "accuracy", "generations", "arm"],
                [
                    [
                        str(p["budget"]),
                        _cell(p),
                        f"{_n(p['generations'], '.1f')}",
                        no_router["choices"].get(str(p["budget"]), ""),
                    ]
                    for p in no_router["test"]["curve"]
                ],
            )
            lines.append("")
        if early:
            rows = [
                [t, _cell(v), f"{_n(v['generations'], '.1f')}"] for t, v in early["test"].items()
            ]
            lines.append(
                "Early stop: sample 4 at a time (the first 4 are the probes), stop when the "
                "leading answer holds at least τ of the PRM-weighted vote, at most "
                f"{early['budget']}."
            )
            lines.append("")
            lines += _table(["τ", "accuracy", "mean generations"], rows)
            lines.append("")
        if alloc and alloc.get("found"):
            lines.append(
                f"Budget allocation across the batch (mean ≤ {alloc['target']:g} generations, "
                f"chosen on the fit split per predicted bin: {alloc['budgets_by_bin']}): "
                f"accuracy {_cell(alloc)} "
                f"at {_n(alloc['generations'], '.1f')} generations per question."
            )
            lines.append("")

    return lines


def _by_bin(split: Mapping[str, Any]) -> list[str]:
    """Accuracy per oracle difficulty bin, one table per budget."""
    lines = ["## Accuracy per difficulty bin (oracle bins: quintiles of pass@1)", ""]
    diff = split["difficulty"]
    lines.append(
        "Bins: "
        + "; ".join(
            f"{b}: {v['questions']} q, pass@1 {_n(v['pass1_mean'], '.2f')} "
            f"({_n(v['pass1_min'], '.2f')}–{_n(v['pass1_max'], '.2f')})"
            for b, v in diff["bins"].items()
            if v["questions"]
        )
    )
    lines.append("")
    by_bin = split["by_oracle_bin"]
    for budget in BIN_BUDGETS:
        cols = sorted({k for v in by_bin.values() for k in v if choice_budget(k) == budget})
        if not cols:
            continue
        arms = [choice_arm(c) for c in cols]
        order = [a.name for a in ARMS if a.name in arms]
        rows = []
        for b in range(1, NUM_BINS + 1):
            row = by_bin.get(str(b), {})
            cells = [row.get(choice_name(a, budget)) for a in order]
            rows.append([str(b)] + [f"{_n(c['accuracy'], '.3f')}" if c else "" for c in cells])
        lines += [f"N={budget}:", ""]
        lines += _table(["bin"] + [_LABELS.get(a, a) for a in order], rows)
        lines.append("")

    return lines


def _prm(prm: Mapping[str, Any]) -> list[str]:
    """The PRM: the voting arms side by side, pass@N, and AUROC per fold."""
    lines = ["## The PRM: weighted vote vs majority", ""]
    rows = []
    for b, row in prm["by_budget"].items():
        rows.append(
            [b]
            + [
                f"{_n(row.get(a, float('nan')), '.3f')}"
                for a in (
                    "majority",
                    "bon_weighted",
                    "bon_weighted_min",
                    "bon_weighted_prod",
                    "bon_max",
                )
            ]
            + [f"{_n(prm['pass_at'].get(b, float('nan')), '.3f')}"]
        )
    lines += _table(
        [
            "N",
            "majority",
            "weighted (last)",
            "weighted (min)",
            "weighted (prod)",
            "max score (last)",
            "pass@N",
        ],
        rows,
    )
    lines.append("")
    auc = prm["auroc"]
    lines += _table(
        ["fold", "AUROC all samples", "AUROC within a question (mean)", "by oracle bin 1–5"],
        [
            [
                f,
                f"{_n(v['all'], '.3f')}",
                f"{v['within_question_mean'] or 0:.3f} ({v['questions_with_both']} q)",
                ", ".join("–" if x is None else f"{_n(x, '.2f')}" for x in v["by_bin"].values()),
            ]
            for f, v in auc.items()
        ],
    )
    lines.append("")

    return lines


def _difficulty(diff: Mapping[str, Any]) -> list[str]:
    """How good the difficulty estimates are."""
    lines = ["## Difficulty estimates", ""]
    lines.append(
        f"Pools hold {diff['pool_samples']} samples per question"
        + ("" if diff["oracle_ok"] else " (fewer than 64: oracle bins are rough)")
        + ". Spearman correlation of the 4-probe PRM score with pass@1: "
        + f"{diff['spearman_predicted_vs_pass1']}."
    )
    if "predicted_bin_exact_agreement" in diff:
        lines.append(
            " Predicted bin = oracle bin for "
            f"{_n(diff['predicted_bin_exact_agreement'], '.0%')} of questions, "
            f"within one bin for {_n(diff['predicted_bin_within_one'], '.0%')}; "
            f"predicted bin sizes {diff['predicted_bin_sizes']}."
        )
    lines.append("")
    return lines


def _need(need: Mapping[str, Any], budget: int) -> str:
    if not need.get("reached"):
        return f"not reached (best accuracy {need.get('best')})"
    x = float(need["interpolated"])
    return f"{need['cost']:g} (interpolated {x:.1f}; {budget / x:.1f}x)"


def write_report(analysis: Mapping[str, Any], out: Path, *, plots: Sequence[str] = ()) -> Path:
    """Write ``report.md`` into ``out``; returns its path."""
    path = out / "report.md"
    path.write_text(render_markdown(analysis, plots=plots))
    return path
