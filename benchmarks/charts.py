"""Accuracy-vs-cost scatter charts with the Pareto frontier drawn as a staircase.

Kept apart from ``report.py`` so the drawing details (markers, label placement, SVG output
that can be inlined into HTML) do not crowd the table and document logic. Charts are written
with the Agg backend so they render on headless machines. What goes on the axes lives in
:mod:`benchmarks.chart_axes` and label placement in :mod:`benchmarks.chart_labels`.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

import matplotlib

matplotlib.use("Agg")

import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402
from matplotlib.axes import Axes  # noqa: E402
from matplotlib.figure import Figure  # noqa: E402
from matplotlib.ticker import FuncFormatter, NullFormatter  # noqa: E402

from benchmarks.chart_axes import COST_AXES, TASK_METRICS, CostAxis, Metric, as_percent  # noqa: E402
from benchmarks.chart_labels import place_labels  # noqa: E402
from benchmarks.pareto import pareto_mask  # noqa: E402

__all__ = [
    "Chart",
    "CostAxis",
    "Metric",
    "COST_AXES",
    "TASK_METRICS",
    "as_percent",
    "plot_tradeoff",
    "slug",
    "task_charts",
]


@dataclass
class Chart:
    """A written chart: its title and PNG/SVG paths."""

    title: str
    png: Path
    svg: Path


_MARKERS = ("o", "s", "^", "D", "v", "P", "X", "<", ">", "h")
_FRONTIER_COLOR = "#d62728"
_POINT_COLOR = "#1f77b4"


def slug(text: str) -> str:
    """File-name-safe form of a label (``cuda:0`` -> ``cuda_0``)."""
    return re.sub(r"[^A-Za-z0-9._-]+", "_", str(text)).strip("_") or "x"


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
    ax.plot(
        xs,
        ys,
        drawstyle="steps-post",
        color=_FRONTIER_COLOR,
        linewidth=1.5,
        alpha=0.8,
        label="Pareto frontier",
        zorder=2,
    )


def _pad_log_limits(ax: Axes, xs: np.ndarray, ys: np.ndarray) -> None:
    """Leave room for labels; also gives a single point a sensible non-degenerate range."""
    x_lo, x_hi = float(xs.min()), float(xs.max())
    ax.set_xlim(x_lo / 1.6, x_hi * 2.2)
    # Plain numbers (0.5, 2, 10) read better than 10^x; label minor ticks on narrow ranges
    # where there may be no major tick at all.
    plain = FuncFormatter(lambda value, _pos: f"{value:g}")
    ax.xaxis.set_major_formatter(plain)
    narrow = np.log10(x_hi * 2.2 / (x_lo / 1.6)) < 1.2
    ax.xaxis.set_minor_formatter(plain if narrow else NullFormatter())
    y_lo, y_hi = float(ys.min()), float(ys.max())
    span = max(y_hi - y_lo, 1.0)
    ax.set_ylim(y_lo - 0.12 * span, y_hi + 0.18 * span)


def _plottable(points: pd.DataFrame, cost: CostAxis) -> pd.DataFrame:
    """Points in display units that a log axis can show, flagged ``frontier`` when Pareto.

    Empty when no row has a positive cost and an accuracy.
    """
    pts = points.copy()
    pts["x"] = pd.to_numeric(pts["x"], errors="coerce") * cost.scale
    pts["y"] = pd.to_numeric(pts["y"], errors="coerce")
    pts = pts[np.isfinite(pts["x"]) & (pts["x"] > 0) & np.isfinite(pts["y"])]
    if pts.empty:
        return pts
    pts = pts.reset_index(drop=True)
    pts["frontier"] = pareto_mask(pts["x"].to_numpy(), pts["y"].to_numpy())
    return pts


def _scatter_settings(ax: Axes, pts: pd.DataFrame) -> None:
    """One hollow marker shape per setting; frontier points drawn again, filled red."""
    settings = list(dict.fromkeys(pts["setting"].astype(str)))
    frontier_in_legend = False
    for k, setting in enumerate(settings):
        group = pts[pts["setting"].astype(str) == setting]
        marker = _MARKERS[k % len(_MARKERS)]
        name = setting if len(settings) > 1 else "runs"
        ax.scatter(
            group["x"],
            group["y"],
            marker=marker,
            s=36,
            facecolors="none",
            edgecolors=_POINT_COLOR,
            linewidths=1.2,
            label=name,
            zorder=3,
        )
        on_front = group[group["frontier"]]
        if on_front.empty:
            continue
        ax.scatter(
            on_front["x"],
            on_front["y"],
            marker=marker,
            s=60,
            color=_FRONTIER_COLOR,
            edgecolors="black",
            linewidths=0.6,
            label=None if frontier_in_legend else "on frontier",
            zorder=4,
        )
        frontier_in_legend = True


def _decorate(ax: Axes, cost: CostAxis, metric: Metric, title: str) -> None:
    """Axis labels, grid and a legend listing the settings before the frontier entries."""
    ax.set_xlabel(cost.axis_label)
    ax.set_ylabel(metric.axis_label)
    ax.set_title(title)
    ax.grid(True, which="major", alpha=0.3)
    ax.grid(True, which="minor", alpha=0.1)
    handles, names = ax.get_legend_handles_labels()
    frontier_last = sorted(range(len(names)), key=lambda i: "frontier" in names[i])
    ax.legend(
        [handles[i] for i in frontier_last],
        [names[i] for i in frontier_last],
        loc="best",
        fontsize=8,
        framealpha=0.8,
    )


def _save(fig: Figure, out_stem: Path) -> list[Path]:
    out_stem.parent.mkdir(parents=True, exist_ok=True)
    png = out_stem.with_suffix(".png")
    svg = out_stem.with_suffix(".svg")
    fig.savefig(png, dpi=120)
    # Text as <text> keeps the SVG small; a per-chart salt keeps element ids unique when
    # several SVGs are inlined into one HTML page.
    with plt.rc_context({"svg.fonttype": "none", "svg.hashsalt": out_stem.name}):
        fig.savefig(svg)
    return [png, svg]


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
    (accuracy in percent). Rows with a non-positive or missing cost, or missing accuracy, are
    left out because they cannot be placed on a log axis. Returns the written paths, or an
    empty list when nothing is left to draw.
    """
    pts = _plottable(points, cost)
    if pts.empty:
        return []
    fig, ax = plt.subplots(figsize=(8.0, 5.5), dpi=100)
    try:
        ax.set_xscale("log")
        _scatter_settings(ax, pts)
        _draw_frontier(ax, pts)
        _pad_log_limits(ax, pts["x"].to_numpy(), pts["y"].to_numpy())
        _decorate(ax, cost, metric, title)
        # Fixed margins instead of tight_layout, and no draw before placing labels: limits are
        # set explicitly so the data transform is already final. Each full layout pass costs
        # about as much as saving the figure.
        fig.subplots_adjust(left=0.09, right=0.98, bottom=0.1, top=0.93)
        place_labels(ax, pts, fig.canvas.get_renderer())
        return _save(fig, out_stem)
    finally:
        plt.close(fig)


def task_charts(
    task: str,
    ok: pd.DataFrame,
    metrics: tuple[Metric, ...],
    primary: CostAxis | None,
    out_dir: Path,
) -> list[Chart]:
    """One chart per metric and cost axis; latency split by device since it is not portable."""
    charts: list[Chart] = []
    for metric in metrics:
        for cost in COST_AXES:
            if metric is not metrics[0] and cost is not primary:
                continue  # secondary metrics only against the primary cost
            by_device = cost.column == "latency_ms" and ok["_device"].nunique() > 1
            groups = ok.groupby("_device", sort=True) if by_device else [("", ok)]
            for device, rows in groups:
                suffix = f" on {device}" if by_device else ""
                title = f"{task.capitalize()}: {metric.name} vs {cost.name}{suffix}"
                stem = f"{slug(task)}_{metric.column}_vs_{cost.column}"
                stem += f"_{slug(str(device))}" if by_device else ""
                points = pd.DataFrame(
                    {
                        "label": rows["label"],
                        "setting": rows["setting"],
                        "x": rows[cost.column],
                        "y": rows[metric.column + "_pct"],
                    }
                )
                written = plot_tradeoff(
                    points, cost=cost, metric=metric, title=title, out_stem=out_dir / stem
                )
                if written:
                    charts.append(Chart(title, written[0], written[1]))
    return charts
