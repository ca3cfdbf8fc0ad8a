"""Point labels for the scatter charts, placed so they avoid each other and the markers.

Greedy in order of x: good enough for the tens of points a sweep produces, and keeps the
chart readable without an extra dependency such as adjustText. A spec's name may be as long
as a YAML string, so a long label is shortened in the middle (:func:`shortened`): its start
and its settings suffix stay, the tables keep the whole name.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
from matplotlib.axes import Axes
from matplotlib.backend_bases import RendererBase
from matplotlib.text import Annotation
from matplotlib.transforms import Bbox

__all__ = ["LABEL_CHARS", "place_labels", "shortened"]

LABEL_CHARS = 40
"""The longest label a chart shows: about a third of a chart's width at its label size."""

# Candidate label offsets in points, tried in order until one does not overlap.
_LABEL_OFFSETS = (
    (6, 5),
    (6, -12),
    (-6, 5),
    (-6, -12),
    (0, 12),
    (0, -18),
    (10, 16),
    (-10, 16),
    (10, -24),
    (-10, -24),
)


_NOTHING_COLOR = "#7f7f7f"
"""Label colour of a run that learned nothing (its marker is a grey cross)."""


def shortened(label: str, limit: int = LABEL_CHARS) -> str:
    """``label``, or its first and last characters around an ellipsis when it is longer
    than ``limit`` (the end keeps a setting such as ``lr=0.01 128px`` readable)."""
    if len(label) <= limit:
        return label
    tail = (limit - 1) // 2
    return label[: limit - 1 - tail] + "…" + label[len(label) - tail :]


def _overlaps(box: Bbox, others: list[Bbox]) -> bool:
    return any(box.overlaps(other) for other in others)


def _annotate(ax: Axes, row: pd.Series, offset: tuple[int, int], weight: str) -> Annotation:
    dx, dy = offset
    nothing = row.get("learned") is False  # drawn apart: a grey cross, a grey label
    return ax.annotate(
        shortened(str(row["label"])),
        (row["x"], row["y"]),
        xytext=(dx, dy),
        textcoords="offset points",
        ha="left" if dx >= 0 else "right",
        fontsize=7,
        fontweight=weight,
        color=_NOTHING_COLOR if nothing else "black",
    )


def _place_label(
    ax: Axes, row: pd.Series, renderer: RendererBase, axes_box: Bbox, taken: list[Bbox]
) -> Bbox:
    """Annotate one point at the first offset that fits; returns the label's extent."""
    weight = "bold" if row["frontier"] else "normal"
    for offset in _LABEL_OFFSETS:
        ann = _annotate(ax, row, offset, weight)
        box = ann.get_window_extent(renderer)
        inside = axes_box.contains(box.x0, box.y0) and axes_box.contains(box.x1, box.y1)
        if inside and not _overlaps(box, taken):
            return box
        ann.remove()
    # Everything collides: fall back to the first offset.
    return _annotate(ax, row, _LABEL_OFFSETS[0], weight).get_window_extent(renderer)


def place_labels(ax: Axes, points: pd.DataFrame, renderer: RendererBase) -> None:
    """Label every point (columns ``label``, ``x``, ``y``, ``frontier``, optionally
    ``learned``); frontier in bold, runs that learned nothing in grey.

    Each label tries a few offsets to avoid earlier labels and every marker; the axes
    limits must be final, since placement works in display coordinates.
    """
    taken: list[Bbox] = []
    xy_display = ax.transData.transform(points[["x", "y"]].to_numpy(dtype=float))
    for px, py in xy_display:  # marker footprints, ~4 pt radius at 100 dpi
        taken.append(Bbox.from_extents(px - 5, py - 5, px + 5, py + 5))
    order = np.argsort(points["x"].to_numpy(dtype=float), kind="stable")
    axes_box = ax.get_window_extent(renderer)
    for i in order:
        taken.append(_place_label(ax, points.iloc[i], renderer, axes_box, taken))
