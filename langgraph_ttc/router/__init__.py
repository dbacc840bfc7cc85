"""The router: estimate a question's difficulty, then pick a strategy and budget for it.

- :class:`ComputePolicy` (``policy.py``): difficulty-bin thresholds and the
  (bin, budget) → ``StrategyConfig`` table, with JSON ``save``/``load``;
  ``ComputePolicy.default()`` is the shipped ``default_policy.json``.
- :class:`VerifierDifficulty`, :class:`OracleDifficulty` (``difficulty.py``):
  difficulty estimators; ``run_estimate`` runs one outside a graph.
- ``check_policy``, ``generic_policy``, ``model_fingerprint`` (``fitted.py``):
  what a policy was fitted for; the generic policy for other models.
- ``fit_plan``, ``available_plan``, ``default_plan`` (``planning.py``): fit a
  plan into what is left of the budget, and into what the graph can run.
"""

from langgraph_ttc.router.difficulty import (
    DifficultyEstimate,
    DifficultyEstimator,
    OracleDifficulty,
    ProbeSettings,
    VerifierDifficulty,
    arun_estimate,
    run_estimate,
)
from langgraph_ttc.router.fitted import (
    PolicyCheck,
    check_policy,
    generic_policy,
    model_fingerprint,
)
from langgraph_ttc.router.planning import available_plan, default_plan, fit_plan
from langgraph_ttc.router.policy import ComputePolicy, quantile_thresholds
from langgraph_ttc.types import NEEDS_VERIFIER

__all__ = [
    "NEEDS_VERIFIER",
    "ComputePolicy",
    "DifficultyEstimate",
    "DifficultyEstimator",
    "OracleDifficulty",
    "PolicyCheck",
    "ProbeSettings",
    "VerifierDifficulty",
    "arun_estimate",
    "available_plan",
    "check_policy",
    "default_plan",
    "fit_plan",
    "generic_policy",
    "model_fingerprint",
    "quantile_thresholds",
    "run_estimate",
]
