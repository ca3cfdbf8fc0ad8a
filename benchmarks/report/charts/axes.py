"""What the report's charts put on their axes: accuracy metrics (y) and cost columns (x).

Shared by the chart drawing and the report tables, so a metric is named, scaled and
labelled the same way in both.
"""

from __future__ import annotations

from dataclasses import dataclass

__all__ = ["COST_AXES", "TASK_METRICS", "CostAxis", "Metric"]


@dataclass(frozen=True)
class Metric:
    """An accuracy column: a fraction in [0, 1] in the rows, the tables and the charts."""

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
    "segmentation": (Metric("miou", "mIoU", "mIoU (fraction)"),),
    "detection": (
        Metric("map", "mAP@[.5:.95]", "mAP@[.5:.95] (fraction)"),
        Metric("map50", "mAP@.5", "mAP@.5 (fraction)"),
    ),
    "classification": (Metric("top1", "Top-1", "Top-1 accuracy (fraction)"),),
}
"""Accuracy metrics per task; the first one is the primary metric (table sort, Pareto column)."""

COST_AXES: tuple[CostAxis, ...] = (
    CostAxis("gflops", "GFLOPs", "Compute per image (GFLOPs, log scale)"),
    CostAxis("latency_ms", "latency", "Latency, batch 1 (ms, log scale)"),
    CostAxis("params", "params", "Parameters (millions, log scale)", scale=1e-6),
)
