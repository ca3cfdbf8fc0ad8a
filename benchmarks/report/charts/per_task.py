"""The accuracy-vs-cost charts of one task: which charts, what each point carries, the notes.

The report hands over one row per spec and setting (seeds already folded by
:mod:`benchmarks.report.aggregate`); this module turns those rows into the points of
:func:`benchmarks.report.charts.scatter.plot_tradeoff` (mean accuracy with its std,
median latency with its IQR, convergence, learned and timing flags, and whether the point
may be on the frontier) and writes the note shown under each chart, which names the runs
that learned nothing, did not converge or were timed on a noisy machine (and so, on a
latency chart, were kept off the frontier unless ``allow_noisy``).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

from benchmarks.figures.files import Chart, slug
from benchmarks.report.charts.axes import COST_AXES, CostAxis
from benchmarks.report.charts.scatter import plot_tradeoff
from benchmarks.report.pareto import frontier_eligible
from benchmarks.tasks import Metric

__all__ = ["chart_note", "task_charts"]


def _points(
    rows: pd.DataFrame, metric: Metric, cost: CostAxis, allow_noisy: bool = False
) -> pd.DataFrame:
    """The chart's points: bars of one std over seeds; on a timed axis (latency) the IQR as
    well, and the noisy-timing flag (it says nothing about GFLOPs or parameters); which
    points may be on the frontier (:func:`~benchmarks.report.pareto.frontier_eligible`)."""
    std = rows.get(metric.column + "_std", pd.Series(np.nan, rows.index))
    timed = cost.timed
    iqr = rows["latency_iqr_ms"] if timed and "latency_iqr_ms" in rows else np.nan
    return pd.DataFrame(
        {
            "label": rows["label"],
            "setting": rows["setting"],
            "x": rows[cost.column],
            "y": rows[metric.column],
            "yerr": std,
            "xerr": pd.to_numeric(pd.Series(iqr, rows.index), errors="coerce") / 2,
            "converged": rows.get("converged", None),
            "learned": rows.get("learned", None),
            "noisy": rows.get("timing_noisy", False) if timed else False,
            "eligible": frontier_eligible(rows, cost, allow_noisy),
        },
        index=rows.index,
    )


def _is(values: pd.Series, flag: bool) -> pd.Series:
    """Where a True/False/None column holds ``flag`` (None and NaN hold neither)."""
    return values.map(lambda v: isinstance(v, bool | np.bool_) and bool(v) == flag)


def _noisy_note(noisy: pd.DataFrame, rows: pd.DataFrame) -> str:
    """The runs drawn hollow orange (noisy timing), each with its reason, and whether they
    were kept off the frontier (``eligible`` False) or let on it (``allow_noisy``)."""
    reasons = rows.get("timing_noise_reason", pd.Series("", rows.index))
    reasons = reasons.reindex(noisy.index).fillna("").astype(str)
    named = [
        f"{label} ({reason})" if reason else str(label)
        for label, reason in zip(noisy["label"], reasons, strict=True)
    ]
    kept_off = not _is(noisy.get("eligible", pd.Series(True, noisy.index)), True).all()
    where = (
        "kept off the frontier (a latency measured on a busy machine is no cost to rank by; "
        "--allow-noisy keeps them on)"
        if kept_off
        else "let onto the frontier by --allow-noisy"
    )
    return f"Hollow orange markers, noisy timing, {where}: {', '.join(named)}."


def chart_note(points: pd.DataFrame, rows: pd.DataFrame) -> str:
    """What the bars mean, and the runs drawn as grey crosses (learned nothing), hollow blue
    or red (not converged) or hollow orange (noisy timing, with the reason, kept off
    the frontier unless allowed); only for points the chart can show."""
    x, y = (pd.to_numeric(points[c], errors="coerce") for c in ("x", "y"))
    shown = points[np.isfinite(x) & (x > 0) & np.isfinite(y)]
    parts: list[str] = []
    if (pd.to_numeric(shown["yerr"], errors="coerce") > 0).any():
        parts.append("Vertical bars: ± one sample std over seeds.")
    if (pd.to_numeric(shown["xerr"], errors="coerce") > 0).any():
        parts.append("Horizontal bars: latency IQR, centred on the median.")
    nothing = _is(shown.get("learned", pd.Series(None, shown.index, dtype=object)), False)
    crossed = shown.loc[nothing, "label"].astype(str)
    if len(crossed):
        parts.append(
            f"Grey crosses, learned nothing (best validation score at the task's trivial "
            f"baseline; never on the frontier): {', '.join(crossed)}."
        )
    hollow = shown.loc[_is(shown["converged"], False) & ~nothing, "label"].astype(str)
    if len(hollow):
        parts.append(f"Hollow blue or red markers, not converged: {', '.join(hollow)}.")
    noisy = shown[_is(shown["noisy"], True) & ~nothing]
    if len(noisy):
        parts.append(_noisy_note(noisy, rows))
    return " ".join(parts)


def task_charts(
    task: str,
    rows: pd.DataFrame,
    metrics: tuple[Metric, ...],
    primary: CostAxis | None,
    out_dir: Path,
    *,
    allow_noisy: bool = False,
) -> list[Chart]:
    """One chart per metric and cost axis; latency split by device since it is not portable.

    ``rows`` has one row per spec and setting with columns ``label``, ``setting``,
    ``_device``, the cost columns, each metric's mean and ``<metric>_std``, and optionally
    ``latency_iqr_ms``, ``converged``, ``learned``, ``timing_noisy`` and
    ``timing_noise_reason``. Runs with a noisy timing stay off latency frontiers unless
    ``allow_noisy``.
    """
    charts: list[Chart] = []
    for metric in metrics:
        for cost in COST_AXES:
            if metric is not metrics[0] and cost is not primary:
                continue  # secondary metrics only against the primary cost
            by_device = cost.timed and rows["_device"].nunique() > 1
            groups = rows.groupby("_device", sort=True) if by_device else [("", rows)]
            for device, part in groups:
                suffix = f" on {device}" if by_device else ""
                title = f"{task.capitalize()}: {metric.name} vs {cost.name}{suffix}"
                stem = f"{slug(task)}_{metric.column}_vs_{cost.column}"
                stem += f"_{slug(str(device))}" if by_device else ""
                points = _points(part, metric, cost, allow_noisy)
                written = plot_tradeoff(
                    points, cost=cost, metric=metric, title=title, out_stem=out_dir / stem
                )
                if written:
                    note = chart_note(points, part)
                    charts.append(Chart(title, written[0], written[1], note))
    return charts
