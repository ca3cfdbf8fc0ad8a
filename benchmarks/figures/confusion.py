"""The confusion matrix of a segmentation model as a PNG heat map (``graphspec val``).

Rows are normalised to sum to 1 (each true class's pixels, split by predicted class), so
a rare class reads as clearly as background; the raw pixel counts are in ``--json``.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import matplotlib

matplotlib.use("Agg")

import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402

from benchmarks.figures.files import save_atomic  # noqa: E402

__all__ = ["row_normalised", "save_confusion_png"]


def row_normalised(matrix: np.ndarray) -> np.ndarray:
    """Each row divided by its sum; a class with no pixels keeps a row of zeros."""
    totals = matrix.sum(axis=1, keepdims=True).astype(np.float64)
    return np.divide(matrix, totals, out=np.zeros(matrix.shape), where=totals > 0)


def save_confusion_png(matrix: np.ndarray, names: Sequence[str], path: Path) -> None:
    """Write the row-normalised matrix with class names on both axes and each share."""
    shares = row_normalised(matrix)
    side = 1.2 + 0.6 * len(names)
    fig, ax = plt.subplots(figsize=(side + 1, side))
    image = ax.imshow(shares, vmin=0, vmax=1, cmap="Blues")
    ax.set_xticks(range(len(names)), names, rotation=45, ha="right")
    ax.set_yticks(range(len(names)), names)
    ax.set_xlabel("predicted class")
    ax.set_ylabel("true class")
    for (row, col), share in np.ndenumerate(shares):
        colour = "white" if share > 0.5 else "black"
        ax.text(col, row, f"{share:.2f}", ha="center", va="center", color=colour, fontsize=7)
    fig.colorbar(image, ax=ax, fraction=0.046)
    fig.tight_layout()
    save_atomic(fig, path, dpi=100)
    plt.close(fig)
