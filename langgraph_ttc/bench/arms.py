"""The sweep's arms: each strategy and setting, and how it is measured.

An *arm* is a strategy with its settings (the paper's θ), measured at every
budget (in generations) where it exists. How it is measured is its *kind*:

* ``pool``: best-of-N and majority voting **subsample** a cached pool of
  samples of the question (as search-and-learn does) and select with the
  library's ``select_answer``; each seed is another subset.
* ``revision_pool``: revisions subsample a cached pool of revision chains
  (``chains`` chains of ``length`` attempts, made by the library's revision
  graph): ``budget / sequential`` chains cut to ``sequential`` attempts. A
  chain cut short is exactly a shorter chain, since attempt *t* depends only
  on the attempts before it.
* ``graph``: greedy decoding and the tree searches run the library's graph
  for every budget and seed.
* ``router``: the compute-optimal graph (``create_ttc_graph``) with a policy.
* ``reference``: a reference model (``policy-large``) run greedily.

Arms with the same config at a budget (beam search with M = 4 and with
M = sqrt(N) at N = 16) share one run.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

from langgraph_ttc.types import StrategyConfig

__all__ = [
    "ARMS",
    "Arm",
    "arm_by_name",
    "config_key",
    "sqrt_width",
]


def sqrt_width(n: int) -> int:
    """The paper's M = sqrt(N), as the largest power of two <= sqrt(N) (at least 2)."""
    return max(2, 2 ** math.floor(math.log2(math.sqrt(n)) + 1e-9))


def config_key(config: StrategyConfig) -> str:
    """A short, stable name for a config (the cache key of graph runs)."""
    c = config
    parts = [c.strategy, f"n{c.n}"]
    if c.strategy in ("beam", "lookahead", "dvts"):
        parts.append(f"m{c.beam_width}")
    if c.strategy == "lookahead":
        parts.append(f"k{c.lookahead}")
    if c.strategy == "revise":
        parts.append(f"s{c.sequential}")
    if c.strategy not in ("greedy", "majority"):
        parts.append(f"{c.selection}-{c.fold}")
    if c.temperature != 0.8 and c.strategy != "greedy":
        parts.append(f"t{c.temperature:g}")
    return ":".join(parts)


@dataclass(frozen=True)
class Arm:
    """A strategy and its settings.

    Attributes:
        name: The arm's name in the cache and the report.
        kind: ``pool``, ``revision_pool``, ``graph``, ``router`` or ``reference``.
        strategy: The library strategy it runs.
        label: How the report names it.
        selection: Selection rule (pool arms).
        fold: Step-score fold (pool arms).
        beam_width: M, or 0 for M = sqrt(N) (tree arms).
        lookahead: k (lookahead arms).
        sequential: Chain length (revision arms).
        policy_candidate: Whether ``fit-policy`` may choose it.
    """

    name: str
    kind: str
    strategy: str
    label: str
    selection: str = "weighted"
    fold: str = "last"
    beam_width: int = 4
    lookahead: int = 0
    sequential: int = 1
    policy_candidate: bool = True

    def config(self, budget: int) -> StrategyConfig | None:
        """The arm's config at ``budget`` generations, or ``None`` where it does not exist.

        Greedy exists at budget 1 only; voting arms at every budget; a tree
        search where N (= budget, or budget / (k + 1) for lookahead) is a
        multiple of M >= 2; revisions where ``sequential`` divides the budget.
        """
        if budget < 1:
            return None
        s = self.strategy
        if s == "greedy":
            return StrategyConfig("greedy", n=1, temperature=0.0) if budget == 1 else None
        if s == "majority":
            return StrategyConfig("majority", n=budget, selection="majority")
        if s == "best_of_n":
            return StrategyConfig("best_of_n", n=budget, selection=self.selection, fold=self.fold)
        if s == "revise":
            if budget % self.sequential or budget < self.sequential:
                return None
            return StrategyConfig("revise", n=budget, sequential=self.sequential)
        if s in ("beam", "dvts", "lookahead"):
            per_path = self.lookahead + 1
            if budget % per_path:
                return None
            n = budget // per_path
            width = sqrt_width(n) if self.beam_width == 0 else min(self.beam_width, n)
            if n < 2 or width < 2 or n % width:
                return None
            return StrategyConfig(
                s, n=n, beam_width=width, lookahead=self.lookahead, fold=self.fold
            )
        raise ValueError(f"arm {self.name!r}: no config for strategy {s!r}")

    def budgets(self, candidates: Sequence[int]) -> list[int]:
        """The budgets among ``candidates`` where the arm exists."""
        return [b for b in candidates if self.config(b) is not None]


ARMS: tuple[Arm, ...] = (
    Arm("greedy", "graph", "greedy", "greedy"),
    Arm("majority", "pool", "majority", "majority vote", selection="majority"),
    Arm("bon_weighted", "pool", "best_of_n", "best-of-N weighted (last)"),
    Arm("bon_weighted_min", "pool", "best_of_n", "best-of-N weighted (min)", fold="min"),
    Arm("bon_weighted_prod", "pool", "best_of_n", "best-of-N weighted (prod)", fold="prod"),
    Arm("bon_max", "pool", "best_of_n", "best-of-N max score (last)", selection="max"),
    Arm("beam_m4", "graph", "beam", "beam search M=4", beam_width=4),
    Arm("beam_sqrt", "graph", "beam", "beam search M=sqrt(N)", beam_width=0),
    Arm("lookahead_k1", "graph", "lookahead", "lookahead k=1", lookahead=1),
    Arm("lookahead_k3", "graph", "lookahead", "lookahead k=3", lookahead=3),
    Arm("dvts_m4", "graph", "dvts", "DVTS M=4", beam_width=4),
    Arm("revise_s2", "revision_pool", "revise", "revisions 2 sequential", sequential=2),
    Arm("revise_s4", "revision_pool", "revise", "revisions 4 sequential", sequential=4),
    Arm("revise_s8", "revision_pool", "revise", "revisions 8 sequential", sequential=8),
    Arm("revise_s16", "revision_pool", "revise", "revisions 16 sequential", sequential=16),
)
"""Every arm the sweep knows, in report order."""

ROUTER = "router"
LARGE_GREEDY = "large_greedy"


def arm_by_name(name: str) -> Arm:
    """The arm called ``name``.

    Raises:
        ValueError: For an unknown name (lists the known ones).
    """
    for arm in ARMS:
        if arm.name == name:
            return arm
    raise ValueError(f"unknown arm {name!r}; known arms: {', '.join(a.name for a in ARMS)}")
