"""What a sweep measures: questions, budgets, seeds, arms, pool sizes.

``SweepConfig.preset(name)`` gives the three standard sweeps:

* ``smoke``: a minute's check that everything runs (not for conclusions).
* ``reduced``: what fits in under 30 minutes on a 2-core CPU (see
  ``docs/benchmark/README.md`` for the command and the measured time).
* ``full``: the issue's sweep (budgets 1 to 256 for every arm, three seeds
  for the graph arms); hours on a CPU, a GPU job.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field, fields, replace
from typing import Any

from langgraph_ttc.bench.arms import ARMS, arm_by_name

__all__ = ["PRESETS", "SweepConfig"]

_ALL_ARMS = tuple(a.name for a in ARMS)


@dataclass(frozen=True)
class SweepConfig:
    """One sweep.

    Attributes:
        name: The preset it came from (or ``custom``).
        questions: Questions per split (the bundled suite; a user's file is used whole).
        splits: Suite splits to run; ``("data",)`` for a user's file.
        fit_split: The split ``fit-policy`` chooses on (``None``: no fit, the
            router runs the given or default policy).
        eval_split: The split the router and the reference model run on.
        data_seed: Seed of the suite's question draw.
        budgets: Budgets (generations) of the voting and revision arms.
        tree_budgets: Budgets of the graph arms (tree search); greedy runs at 1.
        router_budgets: Budgets the router runs at on ``eval_split``.
        seeds: Subsets per budget for the pool arms.
        graph_seeds: Runs per budget for the graph arms and the router.
        pool_size: Samples per question in the sample pool (>= the largest budget).
        revision_chains: Chains per question in the revision pool.
        revision_length: Attempts per chain in the revision pool.
        arms: Arms to run (names from ``bench.arms.ARMS``).
        temperature: Sampling temperature.
        max_tokens: Token cap per solution.
        router: Run the router on ``eval_split``.
        large: Run the reference model (``policy-large``) greedily on ``eval_split``.
    """

    name: str = "custom"
    questions: int = 90
    splits: tuple[str, ...] = ("validation", "test")
    fit_split: str | None = "validation"
    eval_split: str = "test"
    data_seed: int = 0
    budgets: tuple[int, ...] = (1, 2, 4, 8, 16, 32, 64, 128, 256)
    tree_budgets: tuple[int, ...] = (4, 16, 64)
    router_budgets: tuple[int, ...] = (4, 8, 16, 32, 64, 256)
    seeds: int = 4
    graph_seeds: int = 1
    pool_size: int = 256
    revision_chains: int = 8
    revision_length: int = 8
    arms: tuple[str, ...] = field(default=_ALL_ARMS)
    temperature: float = 0.8
    max_tokens: int = 256
    router: bool = True
    large: bool = True

    def __post_init__(self) -> None:
        for name in (
            "questions",
            "seeds",
            "graph_seeds",
            "pool_size",
            "revision_chains",
            "revision_length",
            "max_tokens",
        ):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, int) or value < 1:
                raise ValueError(f"{name} must be a positive int, got {value!r}")
        for name in ("budgets", "tree_budgets", "router_budgets"):
            values = getattr(self, name)
            if any(isinstance(b, bool) or not isinstance(b, int) or b < 1 for b in values):
                raise ValueError(f"{name} must hold positive ints, got {values!r}")
            object.__setattr__(self, name, tuple(sorted(set(values))))
        if not self.budgets:
            raise ValueError("budgets must not be empty")
        if max(self.budgets) > self.pool_size:
            raise ValueError(
                f"pool_size ({self.pool_size}) must be at least the largest budget "
                f"({max(self.budgets)}): best-of-N subsamples the pool"
            )
        if not self.splits:
            raise ValueError("splits must not be empty")
        if self.fit_split is not None and self.fit_split not in self.splits:
            raise ValueError(f"fit_split {self.fit_split!r} is not among splits {self.splits}")
        if self.eval_split not in self.splits:
            raise ValueError(f"eval_split {self.eval_split!r} is not among splits {self.splits}")
        for a in self.arms:
            arm_by_name(a)
        if not self.temperature > 0:
            raise ValueError(f"temperature must be > 0 for sampling, got {self.temperature!r}")

    @classmethod
    def preset(cls, name: str, **overrides: Any) -> SweepConfig:
        """A standard sweep, with fields overridden.

        Raises:
            ValueError: For an unknown preset or field.
        """
        if name not in PRESETS:
            raise ValueError(f"preset must be one of {', '.join(PRESETS)}, got {name!r}")
        known = {f.name for f in fields(cls)}
        unknown = sorted(set(overrides) - known)
        if unknown:
            raise ValueError(f"unknown sweep fields: {unknown}")
        return replace(PRESETS[name], **overrides)

    def to_dict(self) -> dict[str, Any]:
        """Plain data, for the report."""
        return asdict(self)

    @property
    def arm_list(self) -> list[Any]:
        """The arms, in report order."""
        return [a for a in ARMS if a.name in self.arms]


PRESETS: dict[str, SweepConfig] = {
    "smoke": SweepConfig(
        name="smoke",
        questions=10,
        budgets=(1, 2, 4, 8, 16),
        tree_budgets=(4,),
        router_budgets=(4, 16),
        seeds=2,
        pool_size=64,
        revision_chains=4,
        revision_length=4,
    ),
    "reduced": SweepConfig(name="reduced", questions=60),
    "full": SweepConfig(
        name="full",
        questions=300,
        tree_budgets=(4, 8, 16, 32, 64, 128, 256),
        router_budgets=(1, 2, 4, 8, 16, 32, 64, 128, 256),
        graph_seeds=3,
        revision_chains=16,
        revision_length=16,
    ),
}
"""The standard sweeps (``reduced`` is tuned to the CPU time limit)."""
