"""Accuracy-vs-cost scatter charts with the Pareto frontier drawn as a staircase.

Kept apart from ``report.py`` so the drawing details (markers, error bars, label placement,
SVG output that can be inlined into HTML) do not crowd the table and document logic. A
point is one spec and setting: its accuracy is the mean over seeds with a bar of one
sample std, its latency the median with a bar spanning the IQR. Filled markers are runs
that converged (or older runs that did not say); hollow markers in the point's colour (blue,
red on the frontier) did not converge; hollow orange markers were timed on a noisy machine
(the caller keeps them off a latency frontier: ``eligible``); a grey cross learned nothing
(its best validation score was at the task's trivial baseline) and is kept off the
frontier. What goes on the axes lives in
:mod:`benchmarks.report.charts.axes`, label placement in :mod:`benchmarks.report.charts.labels`.
"""

from __future__ import annotations

from pathlib import Path

import matplotlib

matplotlib.use("Agg")

import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402
from matplotlib.axes import Axes  # noqa: E402
from matplotlib.lines import Line2D  # noqa: E402
from matplotlib.ticker import FuncFormatter, NullFormatter  # noqa: E402

from benchmarks.figures.files import save_figure  # noqa: E402
from benchmarks.report.aggregate import tri_state  # noqa: E402
from benchmarks.report.charts.axes import CostAxis  # noqa: E402
from benchmarks.report.charts.labels import place_labels  # noqa: E402
from benchmarks.report.pareto import pareto_mask  # noqa: E402
from benchmarks.tasks import Metric  # noqa: E402

__all__ = ["draw_tradeoff", "plot_tradeoff"]

_MARKERS = ("o", "s", "^", "D", "v", "P", "X", "<", ">", "h")
_FRONTIER_COLOR = "#d62728"
_POINT_COLOR = "#1f77b4"
_NOISY_COLOR = "#ff7f0e"
_BAR_COLOR = "#7f7f7f"
_NOTHING_COLOR = "#7f7f7f"
_NOTHING_MARKER = "x"


def _draw_frontier(ax: Axes, points: pd.DataFrame) -> None:
    """Staircase through the frontier: the best score reachable at each cost budget."""
    front = points[points["frontier"]].sort_values(["x", "y"], ascending=[True, True])
    if front.empty:
        return
    xs = front["x"].to_list()
    ys = front["y"].to_list()
    x_max = float(points["x"].max())
    if x_max > xs[-1]:  # carry the last step across to the most expensive point
        xs.append(x_max)
        ys.append(ys[-1])
    if len(xs) < 2:  # a lone point has no staircase; its marker already says "frontier"
        return
    ax.plot(xs, ys, drawstyle="steps-post", color=_FRONTIER_COLOR, linewidth=1.5, alpha=0.8)
    ax.plot([], [], color=_FRONTIER_COLOR, label="Pareto frontier")


def _arms(pts: pd.DataFrame) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Bar arms per point: left and right (cost) and up/down (accuracy); 0 without a bar.

    On a log axis a bar cannot reach zero, so a left arm longer than half the point's cost is
    cut there.
    """
    x = pts["x"].to_numpy(float)
    right = pts["xerr"].fillna(0.0).to_numpy(float)
    return np.minimum(right, x / 2), right, pts["yerr"].fillna(0.0).to_numpy(float)


def _pad_limits(ax: Axes, pts: pd.DataFrame) -> None:
    """Leave room for labels and bars; also gives a single point a non-degenerate range."""
    left, right, vertical = _arms(pts)
    x, y = pts["x"].to_numpy(float), pts["y"].to_numpy(float)
    x_lo, x_hi = float((x - left).min()), float((x + right).max())
    ax.set_xlim(x_lo / 1.6, x_hi * 2.2)
    # Plain numbers (0.5, 2, 10) read better than 10^x; label minor ticks on narrow ranges
    # where there may be no major tick at all.
    plain = FuncFormatter(lambda value, _pos: f"{value:g}")
    ax.xaxis.set_major_formatter(plain)
    narrow = np.log10(x_hi * 2.2 / (x_lo / 1.6)) < 1.2
    ax.xaxis.set_minor_formatter(plain if narrow else NullFormatter())
    y_lo, y_hi = float((y - vertical).min()), float((y + vertical).max())
    span = max(y_hi - y_lo, 0.02)  # accuracy is a fraction: 0.02 is two points
    ax.set_ylim(y_lo - 0.12 * span, y_hi + 0.18 * span)


def _plottable(points: pd.DataFrame, cost: CostAxis, metric: Metric) -> pd.DataFrame:
    """Points in display units that a log axis can show, flagged ``frontier`` when Pareto.

    Missing optional columns get their neutral value (no bars, converged and learned
    unknown, timing not noisy, eligible). Empty when no row has a positive cost and an
    accuracy. Points that learned nothing, or that are not ``eligible``, are never on the
    frontier.
    """
    pts = points.copy()
    for column, neutral in (
        ("yerr", np.nan),
        ("xerr", np.nan),
        ("converged", None),
        ("learned", None),
        ("eligible", True),
    ):
        if column not in pts:
            pts[column] = neutral
    pts["converged"] = tri_state(pts["converged"])
    pts["learned"] = tri_state(pts["learned"])
    pts["eligible"] = tri_state(pts["eligible"]).map(lambda state: state is not False)
    pts["noisy"] = tri_state(pts.get("noisy", pd.Series(None, pts.index))).map(bool)
    pts["x"] = pd.to_numeric(pts["x"], errors="coerce") * cost.scale
    pts["xerr"] = pd.to_numeric(pts["xerr"], errors="coerce") * cost.scale
    for column in ("y", "yerr"):
        pts[column] = pd.to_numeric(pts[column], errors="coerce")
    pts = pts[np.isfinite(pts["x"]) & (pts["x"] > 0) & np.isfinite(pts["y"])]
    if pts.empty:
        return pts
    pts = pts.reset_index(drop=True)
    sign = 1.0 if metric.higher_is_better else -1.0
    eligible = (~_nothing(pts) & pts["eligible"].astype(bool)).to_numpy(bool)
    pts["frontier"] = pareto_mask(pts["x"].to_numpy(), sign * pts["y"].to_numpy(), eligible)
    return pts


def _nothing(pts: pd.DataFrame) -> pd.Series:
    """Where a point learned nothing (False in ``learned``; None is unknown)."""
    return pts["learned"].map(lambda state: state is False).astype(bool)


def _draw_bars(ax: Axes, pts: pd.DataFrame) -> None:
    """Error bars: accuracy ± std (vertical), latency IQR around the median (horizontal)."""
    left, right, vertical = _arms(pts)
    barred = (vertical > 0) | (right > 0)
    if not barred.any():
        return
    ax.errorbar(
        pts["x"].to_numpy(float)[barred],
        pts["y"].to_numpy(float)[barred],
        yerr=vertical[barred],
        xerr=np.vstack([left[barred], right[barred]]),
        fmt="none",
        ecolor=_BAR_COLOR,
        elinewidth=0.9,
        capsize=2.5,
        zorder=2,
    )


def _point_styles(group: pd.DataFrame) -> tuple[list[str], list[str], list[float]]:
    """Face colours, edge colours and edge widths: red for frontier points; hollow when
    not converged (edged in that colour) or when the timing is noisy (edged in orange, so
    the two reasons for a hollow marker read apart)."""
    faces, edges, widths = [], [], []
    for _, row in group.iterrows():
        colour = _FRONTIER_COLOR if row["frontier"] else _POINT_COLOR
        hollow = row["noisy"] or row["converged"] is False
        faces.append("none" if hollow else colour)
        if row["noisy"]:
            edges.append(_NOISY_COLOR)
            widths.append(1.8)
        elif hollow:  # the edge is all there is to see
            edges.append(colour)
            widths.append(1.5)
        else:
            edges.append("black" if row["frontier"] else colour)
            widths.append(0.6 if row["frontier"] else 1.2)
    return faces, edges, widths


def _scatter_settings(ax: Axes, pts: pd.DataFrame) -> list[Line2D]:
    """One marker shape per setting; returns the legend handles for the shapes used."""
    settings = list(dict.fromkeys(pts["setting"].astype(str)))
    handles: list[Line2D] = []
    nothing = _nothing(pts)
    for k, setting in enumerate(settings):
        marker = _MARKERS[k % len(_MARKERS)]
        group = pts[(pts["setting"].astype(str) == setting) & ~nothing]
        for on_front, part in group.groupby("frontier", sort=True):
            faces, edges, widths = _point_styles(part)
            ax.scatter(
                part["x"],
                part["y"],
                marker=marker,
                s=60 if on_front else 40,
                facecolors=faces,
                edgecolors=edges,
                linewidths=widths,
                zorder=4 if on_front else 3,
                gid="frontier" if on_front else "points",
            )
        name = setting if len(settings) > 1 else "runs"
        if len(group):  # a setting whose every run learned nothing has only crosses
            handles.append(_proxy(marker, _POINT_COLOR, _POINT_COLOR, name))
    if nothing.any():  # apart from every setting's shape: a cross, grey, under the others
        apart = pts[nothing]
        ax.scatter(
            apart["x"],
            apart["y"],
            marker=_NOTHING_MARKER,
            s=45,
            c=_NOTHING_COLOR,
            linewidths=1.5,
            zorder=2.5,
            gid="learned-nothing",
        )
    return handles


def _proxy(marker: str, face: str, edge: str, name: str) -> Line2D:
    return Line2D(
        [],
        [],
        marker=marker,
        linestyle="none",
        markersize=7,
        label=name,
        markerfacecolor=face,
        markeredgecolor=edge,
    )


def _legend(ax: Axes, pts: pd.DataFrame, handles: list[Line2D]) -> None:
    """Settings, then what filled/hollow/edge colours mean, then the frontier."""
    handles = list(handles)
    if pts["frontier"].any():
        handles.append(_proxy("o", _FRONTIER_COLOR, "black", "on frontier"))
    if (pts["converged"].map(lambda state: state is False) & ~_nothing(pts)).any():
        handles.append(_proxy("o", "none", _POINT_COLOR, "not converged"))
    if _nothing(pts).any():
        handles.append(_proxy(_NOTHING_MARKER, _NOTHING_COLOR, _NOTHING_COLOR, "learned nothing"))
    noisy = pts["noisy"] & ~_nothing(pts)
    if noisy.any():
        kept_off = not pts.loc[noisy, "eligible"].astype(bool).all()
        name = "noisy timing, off frontier" if kept_off else "noisy timing"
        handles.append(_proxy("o", "none", _NOISY_COLOR, name))
    line_handles, _ = ax.get_legend_handles_labels()
    ax.legend(handles=handles + line_handles, loc="best", fontsize=8, framealpha=0.8)


def draw_tradeoff(ax: Axes, points: pd.DataFrame, cost: CostAxis, metric: Metric) -> pd.DataFrame:
    """Draw the chart into ``ax`` (see :func:`plot_tradeoff`); returns the points drawn."""
    pts = _plottable(points, cost, metric)
    if pts.empty:
        return pts
    ax.set_xscale("log")
    _draw_bars(ax, pts)
    handles = _scatter_settings(ax, pts)
    _draw_frontier(ax, pts)
    _pad_limits(ax, pts)
    ax.set_xlabel(cost.axis_label)
    ax.set_ylabel(metric.axis_label)
    ax.grid(True, which="major", alpha=0.3)
    ax.grid(True, which="minor", alpha=0.1)
    _legend(ax, pts, handles)
    return pts


def plot_tradeoff(
    points: pd.DataFrame,
    *,
    cost: CostAxis,
    metric: Metric,
    title: str,
    out_stem: Path,
) -> list[Path]:
    """Draw one accuracy-vs-cost chart and save it as ``out_stem``.png and .svg.

    ``points`` needs columns ``label`` (text beside the point), ``setting`` (marker group,
    e.g. image size / device; one group means one marker), ``x`` (raw cost) and ``y``
    (accuracy, a fraction); optional ``yerr`` (std of y), ``xerr`` (half the bar width, in
    raw cost units), ``converged`` and ``learned`` (True/False/None), ``noisy`` (bool) and
    ``eligible`` (False: never on the frontier, e.g. a noisy timing on a latency chart).
    Rows with a non-positive or missing cost, or missing accuracy, are left out because
    they cannot be placed on a log axis. Returns the written paths, or [] when nothing is
    left to draw.
    """
    fig, ax = plt.subplots(figsize=(8.0, 5.5), dpi=100)
    try:
        pts = draw_tradeoff(ax, points, cost, metric)
        if pts.empty:
            return []
        ax.set_title(title)
        # Fixed margins instead of tight_layout, and no draw before placing labels: limits are
        # set explicitly so the data transform is already final. Each full layout pass costs
        # about as much as saving the figure; save_figure crops to what is drawn instead.
        fig.subplots_adjust(left=0.09, right=0.98, bottom=0.1, top=0.93)
        place_labels(ax, pts, fig.canvas.get_renderer())
        return list(save_figure(fig, out_stem))
    finally:
        plt.close(fig)
