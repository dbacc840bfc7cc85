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

This module is also the one place that names things in the cache and the
report: arm names (the table below, :data:`ROUTER`, :data:`LARGE_GREEDY`),
the router's arm per policy (:func:`router_arm`), graph runs
(:func:`config_key`), pools (:func:`sample_pool_kind`,
:func:`revision_pool_kind`), the budget keys of a policy
(:func:`budget_keys`) and an arm at a budget (:func:`choice_name`).
"""

from __future__ import annotations

import hashlib
import json
import math
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Protocol

from langgraph_ttc.types import StrategyConfig

if TYPE_CHECKING:
    from langgraph_ttc.router.policy import ComputePolicy

__all__ = [
    "ARMS",
    "LARGE_GREEDY",
    "ROUTER",
    "ROUTER_META_KEY",
    "Arm",
    "SweepShape",
    "arm_by_name",
    "arm_family",
    "budget_keys",
    "budget_keys_for",
    "choice_arm",
    "choice_budget",
    "choice_name",
    "config_key",
    "is_router_arm",
    "policy_hash",
    "policy_meta_key",
    "revision_pool_kind",
    "router_arm",
    "sample_pool_kind",
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
"""The arm name of the compute-optimal router (suffixed with its policy's hash)."""

ROUTER_META_KEY = "router_arm"
"""The cache meta key naming the router arm the last sweep ran (``router:<hash>``)."""

LARGE_GREEDY = "large_greedy"
"""The arm name of the reference model (``policy-large``) run greedily."""


def arm_by_name(name: str) -> Arm:
    """The arm called ``name``.

    Raises:
        ValueError: For an unknown name (lists the known ones).
    """
    for arm in ARMS:
        if arm.name == name:
            return arm
    raise ValueError(f"unknown arm {name!r}; known arms: {', '.join(a.name for a in ARMS)}")


class SweepShape(Protocol):
    """The fields of a ``SweepConfig`` that name its pools and budget keys."""

    @property
    def budgets(self) -> tuple[int, ...]: ...

    @property
    def tree_budgets(self) -> tuple[int, ...]: ...

    @property
    def pool_size(self) -> int: ...

    @property
    def temperature(self) -> float: ...

    @property
    def max_tokens(self) -> int: ...

    @property
    def revision_chains(self) -> int: ...

    @property
    def revision_length(self) -> int: ...


def sample_pool_kind(config: SweepShape) -> str:
    """The cache kind of a sample pool: its size, temperature and token cap."""
    return f"samples:{config.pool_size}:t{config.temperature:g}:m{config.max_tokens}"


def revision_pool_kind(config: SweepShape) -> str:
    """The cache kind of a revision pool: chains x length, token cap."""
    return f"revisions:{config.revision_chains}x{config.revision_length}:m{config.max_tokens}"


def budget_keys(config: SweepShape) -> list[int]:
    """Every budget the sweep measures (1, the voting and the tree budgets), sorted."""
    return budget_keys_for(config.budgets, config.tree_budgets)


def budget_keys_for(budgets: Iterable[int], tree_budgets: Iterable[int]) -> list[int]:
    """:func:`budget_keys` from the two lists (as in a sweep's plain-data form)."""
    return sorted({1, *budgets, *tree_budgets})


def policy_hash(policy: ComputePolicy) -> str:
    """The first 8 hex digits of the SHA-256 of a policy's JSON form."""
    text = json.dumps(policy.to_dict(), sort_keys=True)
    return hashlib.sha256(text.encode()).hexdigest()[:8]


def router_arm(policy: ComputePolicy) -> str:
    """The cache arm name of the router running ``policy``."""
    return f"{ROUTER}:{policy_hash(policy)}"


def is_router_arm(arm: str) -> bool:
    """Whether ``arm`` names a router run (``router:<policy hash>``)."""
    return arm.startswith(f"{ROUTER}:")


def arm_family(arm: str) -> str:
    """An arm's name without its suffix: ``router`` for every router arm."""
    return arm.split(":")[0]


def policy_meta_key(arm: str) -> str:
    """The cache meta key under which a router arm's policy is stored."""
    return f"policy:{arm}"


def choice_name(arm: str, budget: int) -> str:
    """How the report names an arm measured at a budget: ``arm@budget``."""
    return f"{arm}@{budget}"


def choice_arm(name: str) -> str:
    """The arm of a :func:`choice_name`."""
    return name.split("@")[0]


def choice_budget(name: str) -> int:
    """The budget of a :func:`choice_name`."""
    return int(name.rsplit("@", 1)[1])
