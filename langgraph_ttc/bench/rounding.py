"""How the report rounds its numbers (JSON has no NaN: a missing number is ``None``)."""

from __future__ import annotations

import math

__all__ = ["rounded", "significant"]


def rounded(x: float | None, digits: int = 4) -> float | None:
    """Round for the report; NaN becomes ``None`` (JSON has no NaN)."""
    if x is None or (isinstance(x, float) and not math.isfinite(x)):
        return None
    return round(float(x), digits)


def significant(x: float | None) -> float | None:
    """Round a large number to 4 significant digits."""
    if x is None or not math.isfinite(x):
        return None
    return float(f"{x:.4g}")
