"""The report's prose headline and its FLOPs-matched tables (both ledgers).

The headline's sentences are written from ``results.json["headline"]``
(``sections.headline``) and nothing else, so the prose and the record
cannot drift apart.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

__all__ = ["flops_lines", "headline_lines"]


def _f(x: Any, spec: str = ".3f") -> str:
    return "–" if x is None else format(x, spec)


def _won(bins: Mapping[str, list[int]]) -> str:
    return "; ".join(f"R = {r}: {', '.join(map(str, v)) if v else 'none'}" for r, v in bins.items())


def headline_lines(head: Mapping[str, Any] | None) -> list[str]:
    """The ``## Headline`` section: each claim of the record in one sentence."""
    if not head:
        return []
    fixed = head.get("best_fixed_arm_at_64") or {}
    gens = head.get("router_generations_to_match_bon64")
    lines = ["## Headline", ""]
    lines.append(
        f'Machine-readable in `results.json` under `"headline"`; '
        f"{head['questions_per_split']} questions per split."
    )
    lines.append("")
    lines.append(
        f"- Greedy {_f(head.get('greedy'))}; majority@64 {_f(head.get('majority_at_64'))}; "
        f"best-of-N weighted@64 {_f(head.get('bon_weighted_at_64'))}."
    )
    if gens is None:
        lines.append("- The router (its own runs, probes counted) never reached best-of-N@64.")
    else:
        lines.append(
            f"- The router (its own graph runs, probes counted) matches best-of-N weighted@64 "
            f"at {gens:.1f} generations: efficiency "
            f"**{_f(head.get('router_efficiency_vs_bon64'), '.1f')}x** (target ≥ 4x)."
        )
    eff = head.get("router_efficiency_vs_best_fixed64")
    lines.append(
        f"- The best fixed arm at 64 is {fixed.get('arm')} ({_f(fixed.get('accuracy'))}); "
        + (
            "the router never reached it."
            if eff is None
            else f"the router matches it at {64 / eff:.1f} generations: efficiency "
            f"**{eff:.1f}x** (target ≥ 2x)."
        )
    )
    lines.append(
        "- FLOPs-matched against policy-large, bins (1 = easiest) where the router at least "
        f"ties it: generator FLOPs only (the paper's ledger) {_won(head['flops_matched_bins_won'])}"
        "; with the verifier's FLOPs added "
        f"{_won(head['flops_matched_bins_won_with_verifier'])}."
    )
    lines.append("")
    return lines


def flops_lines(fm: Mapping[str, Any]) -> list[str]:
    """The FLOPs-matched comparison with the larger model, one table per ledger."""
    if not fm.get("available"):
        return []
    lines = ["## FLOPs-matched: policy-small + router vs policy-large greedy", ""]
    lines.append(
        f"M = {fm['M']:.2f} ({fm['params_large']:,} / {fm['params_small']:,} parameters). "
        f"policy-large greedy: {_cell(fm['large_greedy'])}; "
        f"policy-small greedy: {_cell(fm['small_greedy'])}. "
        "A small model may spend X = M + 3(M-1)/R greedy inferences; the router runs at "
        "its largest budget whose mean FLOPs stay within X greedy passes of policy-small "
        "(revisions read long contexts, so generations undercount their FLOPs). Two ledgers: "
        "the generator's FLOPs only (the paper's accounting), and with the verifier's FLOPs "
        "added to the router's side."
    )
    lines.append("")
    for key, title in (
        ("ratios", "Generator FLOPs only (the paper's ledger)"),
        ("ratios_with_verifier", "Generator + verifier FLOPs"),
    ):
        entries = fm.get(key) or []
        if not entries:
            continue
        rows = []
        for e in entries:
            if "by_bin" not in e:
                rows.append([f"{e['R']:g}", f"{e['X']:.0f}", "–", e.get("missing", ""), "", "none"])
                continue
            rows.append(
                [
                    f"{e['R']:g}",
                    f"{e['X']:.0f}",
                    str(e["budget"]),
                    "; ".join(
                        f"bin {b}: {_f(v['router'], '.2f')} vs {_f(v['large'], '.2f')}"
                        for b, v in e["by_bin"].items()
                    ),
                    f"{e.get('flops_used_vs_small_greedy') or 0:.1f}x small greedy",
                    ", ".join(map(str, e.get("bins_won", []))) or "none",
                ]
            )
        lines += [f"{title}:", ""]
        header = ["R", "X", "router budget", "router vs large, per oracle bin", "FLOPs spent"]
        lines.append("| " + " | ".join([*header, "bins tied or won"]) + " |")
        lines.append("|" + "---|" * (len(header) + 1))
        lines += ["| " + " | ".join(row) + " |" for row in rows]
        lines.append("")
    return lines


def _cell(p: Mapping[str, Any] | None) -> str:
    if not p or p.get("accuracy") is None:
        return ""
    return f"{p['accuracy']:.3f} [{p['low']:.2f}, {p['high']:.2f}]"
