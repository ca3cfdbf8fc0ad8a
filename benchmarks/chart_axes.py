"""What the report's charts put on their axes: accuracy metrics (y) and cost columns (x).

Shared by the chart drawing and the report tables, so a metric is named, scaled and
labelled the same way in both.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

__all__ = ["COST_AXES", "TASK_METRICS", "CostAxis", "Metric", "as_percent"]


@dataclass(frozen=True)
class Metric:
    """An accuracy column, shown in percent points."""

    column: str
    name: str  # short name used in sentences and table headers
    axis_label: str


@dataclass(frozen=True)
class CostAxis:
    """A cost column and how to show it (``scale`` converts raw values to display units)."""

    column: str
    name: str
    axis_label: str
    scale: float = 1.0


TASK_METRICS: dict[str, tuple[Metric, ...]] = {
    "segmentation": (Metric("miou", "mIoU", "mIoU (%)"),),
    "detection": (
        Metric("map", "mAP@[.5:.95]", "mAP@[.5:.95] (%)"),
        Metric("map50", "mAP@.5", "mAP@.5 (%)"),
    ),
    "classification": (Metric("top1", "Top-1", "Top-1 accuracy (%)"),),
}
"""Accuracy metrics per task; the first one is the primary metric (table sort, Pareto column)."""

COST_AXES: tuple[CostAxis, ...] = (
    CostAxis("gflops", "GFLOPs", "Compute per image (GFLOPs, log scale)"),
    CostAxis("latency_ms", "latency", "Latency, batch 1 (ms, log scale)"),
    CostAxis("params", "params", "Parameters (millions, log scale)", scale=1e-6),
)


def as_percent(values: pd.Series) -> pd.Series:
    """Accuracy in percent points: fractions (all |v| <= 1) are scaled by 100."""
    numeric = pd.to_numeric(values, errors="coerce").astype(float)
    finite = numeric[np.isfinite(numeric)]
    if not finite.empty and finite.abs().max() <= 1.0:
        return numeric * 100.0
    return numeric
