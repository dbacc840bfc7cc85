"""``ComputePolicy``: which strategy, with which settings, for a difficulty bin and a budget.

The paper's compute-optimal rule, ``θ*(q, N)``, is chosen per difficulty bin
and per budget on held-out questions. A policy stores that choice as a table:

* ``thresholds``: four cut points on the predicted score (an estimate of the
  base model's pass@1, such as the mean verifier score of a few probes),
  strictly decreasing. A score ``>= thresholds[0]`` is bin 1 (the easiest),
  ``>= thresholds[1]`` bin 2, and so on; below ``thresholds[3]`` is bin 5.
* ``table``: for each bin 1..5, budgets (in generations) mapped to a
  ``StrategyConfig``. A lookup for budget ``N`` takes the entry with the
  largest budget ``<= N`` (or the smallest entry when ``N`` is below them all).
* ``default_bin``: the bin used when no difficulty was estimated (a budget too
  small to pay for probes).

The JSON form (``save``/``load``/``to_dict``/``from_dict``)::

    {
      "format": "langgraph-ttc/compute-policy",
      "version": 1,
      "description": "free text",
      "thresholds": [0.6, 0.4, 0.2, 0.1],
      "default_bin": 3,
      "table": {
        "1": {
          "1": {"strategy": "greedy", "n": 1},
          "16": {"strategy": "revise", "n": 16, "sequential": 16}
        },
        "2": {...}, "3": {...}, "4": {...}, "5": {...}
      },
      "unprobed": {"1": {"strategy": "greedy", "n": 1}, "8": null},
      "fitted_for": {"generator": "TransformersGenerator:policy-small@1770a4ce11c0",
                     "verifier": "TransformersLikelihoodVerifier:policy-large@45f29758199b"}
    }

A config entry lists ``StrategyConfig`` fields; omitted fields take their
defaults. ``to_dict`` writes only the fields that differ from the defaults
(plus ``strategy`` and ``n``), so a saved policy stays short and hand-editable.

``fitted_for`` (optional) names the models the policy was fitted on, by
fingerprint (``langgraph_ttc.router.fitted.model_fingerprint``); the router
runs the generic policy for other models (see ``router/fitted.py``). A
policy without it runs with any models.
"""

from __future__ import annotations

import json
import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from itertools import pairwise
from pathlib import Path
from typing import Any

from langgraph_ttc.types import StrategyConfig

NUM_BINS = 5
FORMAT = "langgraph-ttc/compute-policy"
VERSION = 1
DEFAULT_POLICY_PATH = Path(__file__).with_name("default_policy.json")
_CONFIG_DEFAULTS = StrategyConfig().to_dict()


@dataclass(frozen=True)
class ComputePolicy:
    """A compute-optimal policy: difficulty-bin thresholds and a (bin, budget) → config table.

    Attributes:
        thresholds: Four strictly decreasing cut points in [0, 1] on the
            predicted score; bin 1 is ``score >= thresholds[0]``.
        table: ``{bin: {budget: StrategyConfig}}`` for every bin 1..5, each
            with at least one budget.
        default_bin: Bin used when difficulty was not estimated.
        description: Free text: how the policy was made.
        unprobed: ``{budget: StrategyConfig or None}``: where a plan runs
            without probes (see :meth:`unprobed_plan`); empty by default.
        fitted_for: The fingerprints of the models the policy was fitted on,
            ``{"generator": ..., "verifier": ... or None}``; ``None`` when
            unknown (a hand-written policy: it runs with any models).
    """

    thresholds: tuple[float, ...]
    table: Mapping[int, Mapping[int, StrategyConfig]]
    default_bin: int = 3
    description: str = ""
    unprobed: Mapping[int, StrategyConfig | None] = field(default_factory=dict)
    fitted_for: Mapping[str, str | None] | None = None
    _sorted: dict[int, list[int]] = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        th = tuple(self.thresholds)
        if len(th) != NUM_BINS - 1:
            raise ValueError(f"thresholds must hold {NUM_BINS - 1} cut points, got {len(th)}")
        for t in th:
            if isinstance(t, bool) or not isinstance(t, int | float) or not math.isfinite(t):
                raise ValueError(f"thresholds must be finite numbers, got {t!r}")
            if not 0.0 <= t <= 1.0:
                raise ValueError(f"thresholds must lie in [0, 1], got {t!r}")
        if any(a <= b for a, b in pairwise(th)):
            raise ValueError(
                f"thresholds must be strictly decreasing (bin 1 easiest), got {list(th)}"
            )
        object.__setattr__(self, "thresholds", tuple(float(t) for t in th))
        if not isinstance(self.table, Mapping):
            raise TypeError(
                f"table must be a mapping bin -> budget -> config, got {type(self.table).__name__}"
            )
        missing = [b for b in range(1, NUM_BINS + 1) if b not in self.table]
        extra = [b for b in self.table if b not in range(1, NUM_BINS + 1)]
        if missing or extra:
            raise ValueError(
                f"table must hold the bins 1..{NUM_BINS}: missing {missing}, unexpected {extra}"
            )
        sorted_budgets: dict[int, list[int]] = {}
        for b, row in self.table.items():
            if not isinstance(row, Mapping) or not row:
                raise ValueError(
                    f"table[{b}] must be a non-empty mapping of budget -> StrategyConfig"
                )
            for budget, cfg in row.items():
                if isinstance(budget, bool) or not isinstance(budget, int) or budget < 1:
                    raise ValueError(
                        f"table[{b}] budget keys must be positive ints, got {budget!r}"
                    )
                if not isinstance(cfg, StrategyConfig):
                    raise TypeError(
                        f"table[{b}][{budget}] must be a StrategyConfig, got {type(cfg).__name__}"
                    )
                if cfg.generations > budget:
                    raise ValueError(
                        f"table[{b}][{budget}] costs {cfg.generations} generations, "
                        f"more than its budget {budget}"
                    )
            sorted_budgets[b] = sorted(row)
        object.__setattr__(self, "_sorted", sorted_budgets)
        if not isinstance(self.unprobed, Mapping):
            raise TypeError(
                f"unprobed must be a mapping budget -> config, got {type(self.unprobed).__name__}"
            )
        for budget, entry in self.unprobed.items():
            if isinstance(budget, bool) or not isinstance(budget, int) or budget < 1:
                raise ValueError(f"unprobed budget keys must be positive ints, got {budget!r}")
            if entry is not None and not isinstance(entry, StrategyConfig):
                raise TypeError(
                    f"unprobed[{budget}] must be a StrategyConfig or None, "
                    f"got {type(entry).__name__}"
                )
            if entry is not None and entry.generations > budget:
                raise ValueError(
                    f"unprobed[{budget}] costs {entry.generations} generations, "
                    f"more than its budget {budget}"
                )
        _check_fitted_for(self.fitted_for)
        if self.default_bin not in range(1, NUM_BINS + 1) or isinstance(self.default_bin, bool):
            raise ValueError(
                f"default_bin must be an int in 1..{NUM_BINS}, got {self.default_bin!r}"
            )

    # ------------------------------------------------------------------ lookup

    def bin(self, score: float) -> int:
        """The difficulty bin (1 = easiest) of a predicted score in [0, 1].

        Raises:
            ValueError: If ``score`` is not a finite number.
        """
        if (
            isinstance(score, bool)
            or not isinstance(score, int | float)
            or not math.isfinite(score)
        ):
            raise ValueError(f"score must be a finite number, got {score!r}")
        return 1 + sum(score < t for t in self.thresholds)

    def lookup(self, difficulty: int | None, budget: int) -> StrategyConfig:
        """The config for a bin and a budget in generations.

        Takes the table entry with the largest budget ``<= budget``, or the
        smallest entry when ``budget`` is below them all (the caller shrinks it
        to fit, see ``langgraph_ttc.router.fit_plan``).

        Args:
            difficulty: Bin 1..5, or ``None`` for ``default_bin``.
            budget: Total budget in generations.

        Raises:
            ValueError: For a bin outside 1..5 or a budget < 1.
        """
        b = self.default_bin if difficulty is None else difficulty
        if isinstance(b, bool) or b not in self.table:
            raise ValueError(
                f"difficulty must be a bin in 1..{NUM_BINS} or None, got {difficulty!r}"
            )
        if isinstance(budget, bool) or not isinstance(budget, int) or budget < 1:
            raise ValueError(f"budget must be a positive int (generations), got {budget!r}")
        keys = self._sorted[b]
        fitting = [k for k in keys if k <= budget]
        return self.table[b][fitting[-1] if fitting else keys[0]]

    def unprobed_plan(self, budget: int) -> StrategyConfig | None:
        """The plan to run without probes at ``budget``, or ``None`` to probe.

        Takes the ``unprobed`` entry with the largest budget ``<= budget``.
        """
        fitting = [k for k in self.unprobed if k <= budget]
        return self.unprobed[max(fitting)] if fitting else None

    # ------------------------------------------------------------------ serialisation

    def to_dict(self) -> dict[str, Any]:
        """The JSON-ready form described in the module docstring."""
        out: dict[str, Any] = {
            "format": FORMAT,
            "version": VERSION,
            "description": self.description,
            "thresholds": list(self.thresholds),
            "default_bin": self.default_bin,
            "table": {
                str(b): {str(k): _compact(self.table[b][k]) for k in self._sorted[b]}
                for b in range(1, NUM_BINS + 1)
            },
        }
        if self.unprobed:
            out["unprobed"] = {
                str(k): None if cfg is None else _compact(cfg)
                for k, cfg in sorted(self.unprobed.items())
            }
        if self.fitted_for is not None:
            out["fitted_for"] = dict(self.fitted_for)
        return out

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> ComputePolicy:
        """Build a policy from ``to_dict``'s form.

        Raises:
            TypeError: If ``data`` or a part of it has the wrong type.
            ValueError: For a wrong format/version, unknown keys, or any
                invalid threshold, bin, budget or strategy config (the message
                names the field).
        """
        if not isinstance(data, Mapping):
            raise TypeError(f"policy must be a JSON object, got {type(data).__name__}")
        known = {
            "format",
            "version",
            "description",
            "thresholds",
            "default_bin",
            "table",
            "unprobed",
            "fitted_for",
        }
        unknown = sorted(set(data) - known)
        if unknown:
            raise ValueError(f"unknown policy fields: {unknown}")
        if data.get("format", FORMAT) != FORMAT:
            raise ValueError(f"policy format must be {FORMAT!r}, got {data.get('format')!r}")
        if data.get("version", VERSION) != VERSION:
            raise ValueError(
                f"policy version {data.get('version')!r} is not supported (expected {VERSION})"
            )
        for key in ("thresholds", "table"):
            if key not in data:
                raise ValueError(f"policy is missing the field {key!r}")
        if not isinstance(data["thresholds"], Sequence) or isinstance(data["thresholds"], str):
            raise TypeError("policy.thresholds must be a list of numbers")
        raw_table = data["table"]
        if not isinstance(raw_table, Mapping):
            raise TypeError("policy.table must be an object {bin: {budget: config}}")
        table: dict[int, dict[int, StrategyConfig]] = {}
        for b_key, row in raw_table.items():
            b = _int_key(b_key, "table bin")
            if not isinstance(row, Mapping):
                raise TypeError(f"policy.table[{b_key!r}] must be an object {{budget: config}}")
            table[b] = {}
            for n_key, cfg in row.items():
                budget = _int_key(n_key, f"table[{b_key}] budget")
                if not isinstance(cfg, Mapping):
                    raise TypeError(
                        f"policy.table[{b_key}][{n_key}] must be an object of StrategyConfig fields"
                    )
                try:
                    table[b][budget] = StrategyConfig.from_dict(dict(cfg))
                except (TypeError, ValueError) as exc:
                    raise ValueError(f"policy.table[{b_key}][{n_key}]: {exc}") from exc
        return cls(
            thresholds=tuple(data["thresholds"]),
            table=table,
            default_bin=data.get("default_bin", 3),
            description=str(data.get("description", "")),
            unprobed=_unprobed(data.get("unprobed") or {}),
            fitted_for=data.get("fitted_for"),
        )

    def save(self, path: str | Path) -> Path:
        """Write the policy as JSON; returns the path."""
        out = Path(path)
        out.write_text(_dumps(self.to_dict()))
        return out

    @classmethod
    def load(cls, path: str | Path) -> ComputePolicy:
        """Read a policy written by ``save`` (or by hand).

        Raises:
            FileNotFoundError: If ``path`` does not exist.
            ValueError: If it is not valid JSON or not a valid policy; the
                message names the file and the field.
        """
        p = Path(path)
        try:
            data = json.loads(p.read_text())
        except json.JSONDecodeError as exc:
            raise ValueError(f"{p}: not valid JSON: {exc}") from exc
        try:
            return cls.from_dict(data)
        except (TypeError, ValueError) as exc:
            raise ValueError(f"{p}: {exc}") from exc

    @classmethod
    def default(cls) -> ComputePolicy:
        """The shipped policy, ``router/default_policy.json``: fitted for the bundled models.

        Its ``fitted_for`` names them; other models get the generic policy
        (``router/fitted.py``).
        """
        return cls.load(DEFAULT_POLICY_PATH)


def quantile_thresholds(scores: Sequence[float]) -> tuple[float, ...]:
    """Cut points that split ``scores`` into 5 equal bins (the paper's quantile bins).

    Args:
        scores: Predicted scores (or true pass rates) of held-out questions.

    Returns:
        Four strictly decreasing thresholds for ``ComputePolicy``. Ties are
        nudged apart so the result stays strictly decreasing.

    Raises:
        ValueError: With fewer than 5 scores, or a score outside [0, 1].
    """
    values = sorted(float(s) for s in scores)
    if len(values) < NUM_BINS:
        raise ValueError(
            f"need at least {NUM_BINS} scores to place quantile bins, got {len(values)}"
        )
    if any(not (0.0 <= v <= 1.0) for v in values):
        raise ValueError("scores must lie in [0, 1]")
    cuts: list[float] = []
    for q in (0.8, 0.6, 0.4, 0.2):
        pos = q * (len(values) - 1)
        lo = math.floor(pos)
        hi = min(lo + 1, len(values) - 1)
        t = values[lo] + (values[hi] - values[lo]) * (pos - lo)
        if cuts and t >= cuts[-1]:
            t = cuts[-1] - 1e-6
        cuts.append(min(max(t, 0.0), 1.0))
    if any(a <= b for a, b in pairwise(cuts)):
        raise ValueError("scores are too concentrated to split into 5 bins")
    return tuple(cuts)


def _compact(cfg: StrategyConfig) -> dict[str, Any]:
    full = cfg.to_dict()
    return {k: v for k, v in full.items() if k in ("strategy", "n") or v != _CONFIG_DEFAULTS[k]}


def _dumps(data: dict[str, Any]) -> str:
    # One config per line: a policy file is read and edited by people.
    head = {k: v for k, v in data.items() if k != "table"}
    lines = ["{"] + [f"  {json.dumps(k)}: {json.dumps(v)}," for k, v in head.items()]
    lines.append('  "table": {')
    rows = list(data["table"].items())
    for i, (b, row) in enumerate(rows):
        lines.append(f"    {json.dumps(b)}: {{")
        entries = list(row.items())
        for j, (n, cfg) in enumerate(entries):
            comma = "," if j < len(entries) - 1 else ""
            lines.append(f"      {json.dumps(n)}: {json.dumps(cfg)}{comma}")
        lines.append("    }" + ("," if i < len(rows) - 1 else ""))
    lines += ["  }", "}"]
    return "\n".join(lines) + "\n"


def _unprobed(raw: object) -> dict[int, StrategyConfig | None]:
    if not isinstance(raw, Mapping):
        raise TypeError("policy.unprobed must be an object {budget: config or null}")
    out: dict[int, StrategyConfig | None] = {}
    for key, cfg in raw.items():
        budget = _int_key(key, "unprobed budget")
        if cfg is None:
            out[budget] = None
            continue
        if not isinstance(cfg, Mapping):
            raise TypeError(f"policy.unprobed[{key}] must be an object of StrategyConfig fields")
        try:
            out[budget] = StrategyConfig.from_dict(dict(cfg))
        except (TypeError, ValueError) as exc:
            raise ValueError(f"policy.unprobed[{key}]: {exc}") from exc
    return out


def _check_fitted_for(fitted_for: object) -> None:
    if fitted_for is None:
        return
    if not isinstance(fitted_for, Mapping):
        raise TypeError(
            "policy.fitted_for must be an object {role: model fingerprint}, "
            f"got {type(fitted_for).__name__}"
        )
    roles = ("generator", "verifier")
    unknown = sorted(str(k) for k in fitted_for if k not in roles)
    if unknown:
        raise ValueError(f"policy.fitted_for names unknown roles {unknown}; use {list(roles)}")
    if "generator" not in fitted_for:
        raise ValueError("policy.fitted_for must name the generator it was fitted on")
    for role, name in fitted_for.items():
        if name is not None and (not isinstance(name, str) or not name.strip()):
            raise ValueError(
                f"policy.fitted_for[{role!r}] must be a model fingerprint (a non-empty "
                f"string) or null, got {name!r}"
            )


def _int_key(key: object, what: str) -> int:
    if isinstance(key, bool):
        raise ValueError(f"policy {what} must be a positive integer, got {key!r}")
    try:
        value = int(str(key))
    except ValueError:
        raise ValueError(f"policy {what} must be a positive integer, got {key!r}") from None
    if value < 1:
        raise ValueError(f"policy {what} must be a positive integer, got {key!r}")
    return value
