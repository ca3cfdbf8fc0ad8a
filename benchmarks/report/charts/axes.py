"""What the report's charts put on their x axis: the cost columns.

The y axis is a task's metric (:class:`benchmarks.tasks.Metric`, declared by the task), so
a metric is named and labelled the same way in charts, tables and sentences.
"""

from __future__ import annotations

from dataclasses import dataclass

__all__ = ["COST_AXES", "CostAxis"]


@dataclass(frozen=True)
class CostAxis:
    """A cost column and how to show it (``scale`` converts raw values to display units).

    ``timed``: the cost is a timing measurement, which a busy machine can spoil (a row's
    ``timing_noisy``); counted costs (GFLOPs, parameters) are the same on any machine. Only
    on a timed axis do the latency IQR bars and the noisy-timing marks mean anything.
    """

    column: str
    name: str
    axis_label: str
    scale: float = 1.0
    timed: bool = False


COST_AXES: tuple[CostAxis, ...] = (
    CostAxis("gflops", "GFLOPs", "Compute per image (GFLOPs, log scale)"),
    CostAxis("latency_ms", "latency", "Latency, batch 1 (ms, log scale)", timed=True),
    CostAxis("params", "params", "Parameters (millions, log scale)", scale=1e-6),
)
