"""Every number of the report, computed from the cache alone.

:func:`analyse` reads the cached pools and results of a sweep and returns
one plain-data dict (rounded floats, sorted keys): accuracy curves with
Wilson intervals, accuracy per difficulty bin, the PRM diagnosis, the
compute-optimal policies (oracle and predicted bins) against best-of-N, the
router's own runs, the FLOPs-matched comparison with the larger model (two ledgers),
the simulations beyond the paper, and the machine-readable ``headline``.
The same cache gives the same dict, byte for byte once serialised: nothing
here samples, times or reads a clock.

Each section is computed by its module in ``bench.sections``; this module
only assembles them.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from langgraph_ttc.bench.arms import budget_keys
from langgraph_ttc.bench.cache import BenchCache
from langgraph_ttc.bench.data import BenchItem
from langgraph_ttc.bench.estimate import estimate_sweep_seconds
from langgraph_ttc.bench.fit import PolicyFit
from langgraph_ttc.bench.sections.accuracy import BIN_BUDGETS, accuracy_by_bin, accuracy_curves
from langgraph_ttc.bench.sections.compute_optimal import compute_optimal
from langgraph_ttc.bench.sections.costs import compute_seconds
from langgraph_ttc.bench.sections.estimates import difficulty_estimates
from langgraph_ttc.bench.sections.flops import flops_matched
from langgraph_ttc.bench.sections.headline import headline
from langgraph_ttc.bench.sections.prm import prm_diagnosis
from langgraph_ttc.bench.split_data import SplitData, load_split
from langgraph_ttc.bench.subsample import memoized_answers
from langgraph_ttc.bench.sweep import SweepConfig
from langgraph_ttc.router.policy import ComputePolicy

__all__ = ["analyse"]


def analyse(
    cache: BenchCache,
    config: SweepConfig,
    items: Mapping[str, Sequence[BenchItem]],
    *,
    policy: ComputePolicy | None = None,
    policy_fit: PolicyFit | None = None,
) -> dict[str, Any]:
    """Compute every number of the report from the cache.

    Args:
        cache: The sweep's cache.
        config: The sweep.
        items: Questions per split.
        policy: The policy the router ran (its runs are looked up by its hash).
        policy_fit: The fit behind ``policy``, if it was fitted here.

    Returns:
        Plain data (see the module docstring).
    """
    with memoized_answers():
        splits = {s: load_split(cache, config, s, items[s]) for s in config.splits}
        result: dict[str, Any] = {
            "sweep": config.to_dict(),
            "questions": {s: len(v) for s, v in items.items()},
            "sessions": cache.get_meta("sessions") or [],
            "compute_seconds": compute_seconds(cache, config, splits),
            "splits": {s: _split_sections(data, config, policy) for s, data in splits.items()},
        }
        eval_curves = result["splits"][config.eval_split]["curves"]
        result["compute_optimal"] = compute_optimal(
            cache, config, splits, eval_curves, policy=policy, policy_fit=policy_fit
        )
        result["flops_matched"] = flops_matched(
            splits[config.eval_split], policy, config.router_budgets
        )
        if config.fit_split is not None:
            full = SweepConfig.preset("full")
            result["full_sweep_estimate"] = estimate_sweep_seconds(cache, config, full)
        # Last: it reads the sections above (and so can never disagree with them).
        result["headline"] = headline(result)
        return result


def _split_sections(
    data: SplitData, config: SweepConfig, policy: ComputePolicy | None
) -> dict[str, Any]:
    """One split's sections: difficulty, accuracy curves and per bin, the PRM."""
    budgets = budget_keys(config)
    arm_names = [a.name for a in config.arm_list]
    return {
        "difficulty": difficulty_estimates(data, policy.thresholds if policy is not None else None),
        "curves": accuracy_curves(data, arm_names, budgets),
        "by_oracle_bin": accuracy_by_bin(
            data, data.oracle_bins, arm_names, [b for b in BIN_BUDGETS if b in budgets]
        ),
        "prm": prm_diagnosis(data, budgets),
    }
