"""Precision-recall curves of a detector, one line per class (``graphspec val --out``).

The curves are COCOeval's interpolated precision (the running maximum from the right) at
its 101 recall thresholds, at IoU 0.5 over all areas with 100 detections per image: the
area under each line is that class's AP50. Beyond the highest recall reached the
precision is 0, so each line drops to the axis there; a class without ground truth (all
-1) is listed in the legend without a line.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path

import matplotlib

matplotlib.use("Agg")

import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402

from benchmarks.figures.files import save_atomic  # noqa: E402

__all__ = ["average_precision", "save_pr_png"]


def average_precision(precision: Sequence[float]) -> float:
    """COCO AP of one curve: the mean over the recall thresholds; NaN for a class without
    ground truth (COCOeval's all -1)."""
    values = np.asarray(precision, dtype=np.float64)
    if values.size == 0 or (values < 0).any():
        return float("nan")
    return float(values.mean())


def save_pr_png(
    recall: Sequence[float], curves: Mapping[str, Sequence[float]], path: Path, iou: float = 0.5
) -> None:
    """Write one precision-recall line per class, its AP in the legend."""
    fig, ax = plt.subplots(figsize=(5.5, 4.5))
    r = np.asarray(recall, dtype=np.float64)
    for name, precision in curves.items():
        p = np.asarray(precision, dtype=np.float64)
        reached = p >= 0
        ap = average_precision(precision)
        label = f"{name} (AP{round(iou * 100)} {ap:.3f})" if ap == ap else f"{name} (no truth)"
        ax.plot(r[reached], p[reached], label=label)
    ax.set_xlim(0, 1)
    ax.set_ylim(0, 1.02)
    ax.set_xlabel("recall")
    ax.set_ylabel("precision (interpolated)")
    ax.set_title(f"precision-recall at IoU {iou:g}")
    ax.grid(alpha=0.3)
    ax.legend(fontsize=8, loc="lower left")
    fig.tight_layout()
    save_atomic(fig, path, dpi=100)
    plt.close(fig)
