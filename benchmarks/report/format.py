"""How the report writes values in cells and sentences: numbers, text, marks.

One place, so a fraction has three decimals and a missing value is a dash in every table,
sentence and header line alike.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

__all__ = ["CHECK", "CROSS", "DASH", "number", "text", "with_spread"]

DASH = "–"
CHECK = "✓"
CROSS = "✗"
ACCURACY_DIGITS = 3
"""Accuracy metrics are fractions in [0, 1], written with three decimals."""


def number(value: object, digits: int, scale: float = 1.0) -> str:
    """``value * scale`` with ``digits`` decimals and thousands separators; a dash if none."""
    parsed = pd.to_numeric(value, errors="coerce")
    return DASH if pd.isna(parsed) else f"{float(parsed) * scale:,.{digits}f}"


def text(value: object) -> str:
    """Cell text; whole floats print as ints (a NaN in a parquet int column makes it float)."""
    if value is None or (not isinstance(value, str) and pd.isna(value)):
        return DASH
    if isinstance(value, float | np.floating) and float(value).is_integer():
        return str(int(value))
    return str(value)


def with_spread(mean: object, std: object, digits: int = ACCURACY_DIGITS) -> str:
    """``mean ± std`` (``mean`` alone when the std is unknown, e.g. from one seed)."""
    shown = number(mean, digits)
    spread = number(std, digits)
    return shown if DASH in (shown, spread) else f"{shown} ± {spread}"
