"""What the benchmark report says, independent of format: intro lines and sections.

Each task gets a section (charts, a results table, a Pareto note) and a winner line; failed
runs get a section of their own. The Markdown and HTML writers (:mod:`benchmarks.report_markdown`,
:mod:`benchmarks.report_html`) render the same :class:`Section` objects, so their content
cannot drift apart.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd

from benchmarks.charts import (
    COST_AXES,
    TASK_METRICS,
    Chart,
    CostAxis,
    Metric,
    as_percent,
    task_charts,
)
from benchmarks.pareto import pareto_mask

__all__ = ["Section", "build_sections"]

SETTING_COLUMNS = ("image_size", "device", "dtype")
TASK_ORDER = ("segmentation", "detection", "classification")
OPTIONAL_COLUMNS = (
    ("throughput_ips", "Throughput (img/s)", 1),
    ("peak_mem_mb", "Peak mem (MB)", 0),
    ("train_s", "Train (s)", 0),
    ("epochs", "Epochs", 0),
)
"""Table columns (column, header, digits) shown only when some run has a value."""
DASH = "–"
CHECK = "✓"


@dataclass
class Section:
    """One report section; ``summary`` and ``note`` may use Markdown **bold**."""

    heading: str
    summary: str = ""
    charts: list[Chart] = field(default_factory=list)
    headers: list[str] = field(default_factory=list)
    rows: list[list[str]] = field(default_factory=list)
    note: str = ""


def _normalise(df: pd.DataFrame) -> pd.DataFrame:
    """Fill in the columns the report relies on so partial tables still render."""
    out = df.copy().reset_index(drop=True)
    if "spec" not in out.columns:
        out["spec"] = [f"run{i}" for i in range(len(out))]
    out["spec"] = out["spec"].astype(str)
    out["task"] = out["task"].fillna("unknown").astype(str) if "task" in out else "unknown"
    status = out["status"] if "status" in out else pd.Series("ok", index=out.index)
    out["status"] = status.fillna("ok").astype(str).str.strip().str.lower()
    if "error" not in out.columns:
        out["error"] = ""
    for column in ("params", "gflops", "latency_ms", "latency_iqr_ms"):
        out[column] = pd.to_numeric(out.get(column, np.nan), errors="coerce")
    return out


def _num(value: object, digits: int, scale: float = 1.0) -> str:
    number = pd.to_numeric(value, errors="coerce")
    return DASH if pd.isna(number) else f"{float(number) * scale:,.{digits}f}"


def _text(value: object) -> str:
    """Cell text; whole floats print as ints (a NaN in a parquet int column makes it float)."""
    if value is None or (not isinstance(value, str) and pd.isna(value)):
        return DASH
    if isinstance(value, float | np.floating) and float(value).is_integer():
        return str(int(value))
    return str(value)


def _short_error(error: object) -> str:
    """Last non-empty line of an error (a traceback ends with the exception), truncated."""
    lines = [line.strip() for line in _text(error).splitlines() if line.strip()]
    message = lines[-1] if lines else DASH
    return message if len(message) <= 240 else message[:237] + "..."


def _settings(ok: pd.DataFrame) -> pd.Series:
    """Setting text from the setting columns that vary in this task ('' when none vary)."""
    varying = [c for c in SETTING_COLUMNS if c in ok and ok[c].nunique(dropna=False) > 1]

    def describe(row: pd.Series) -> str:
        parts = [(_text(row[c]), "px" if c == "image_size" else "") for c in varying]
        return " ".join(text + unit for text, unit in parts if text != DASH)

    if not varying:
        return pd.Series("", index=ok.index)
    return ok.apply(describe, axis=1).astype(str)


def _primary_cost(ok: pd.DataFrame) -> CostAxis | None:
    """First cost axis with usable values: GFLOPs, else latency, else parameters."""
    for axis in COST_AXES:
        values = ok[axis.column]
        if np.isfinite(values).any():
            return axis
    return None


def _winner_sentence(
    task: str, ok: pd.DataFrame, metric: Metric, cost: CostAxis | None, tolerance: float
) -> str:
    scored = ok[np.isfinite(ok["acc"])]
    if scored.empty:
        return f"{task.capitalize()}: no {metric.name} values among successful runs."
    best = scored.loc[scored["acc"].idxmax()]
    text = f"{task.capitalize()}: best {metric.name} is **{best['label']}** at {best['acc']:.2f}"
    if cost is None:
        return text + "."
    text += f" ({_num(best[cost.column], 2, cost.scale)} {cost.name})"
    near = scored[scored["pareto"] & (scored["acc"] >= best["acc"] - tolerance)]
    near = near[np.isfinite(near[cost.column])]
    if near.empty:
        return text + "."
    cheap = near.sort_values([cost.column, "acc"], ascending=[True, False]).iloc[0]
    if cheap.name == best.name:
        return text + f"; it is also the cheapest frontier run within {tolerance:g} point."
    ratio = best[cost.column] / cheap[cost.column] if cheap[cost.column] > 0 else np.nan
    saving = f" ({ratio:.1f}x less)" if np.isfinite(ratio) else ""
    return text + (
        f"; cheapest frontier run within {tolerance:g} point: **{cheap['label']}** at "
        f"{cheap['acc']:.2f} with {_num(cheap[cost.column], 2, cost.scale)} {cost.name}{saving}."
    )


def _scored(
    task: str, ok: pd.DataFrame
) -> tuple[pd.DataFrame, tuple[Metric, ...], CostAxis | None]:
    """A task's ok rows plus what charts and tables read: metric percentages (``acc`` is the
    primary one), a ``label``, the ``pareto`` flag; the metrics that have values; the cost."""
    metrics = TASK_METRICS.get(task, (Metric("accuracy", "accuracy", "Accuracy (%)"),))
    ok = ok.copy()
    ok["_device"] = ok["device"].fillna("unknown").astype(str) if "device" in ok else ""
    for metric in metrics:
        ok[metric.column + "_pct"] = as_percent(ok.get(metric.column, pd.Series(np.nan, ok.index)))
    present = [m for m in metrics[1:] if np.isfinite(ok[m.column + "_pct"]).any()]
    metrics = (metrics[0], *present)
    ok["acc"] = ok[metrics[0].column + "_pct"]
    ok["setting"] = _settings(ok)
    ok["label"] = (ok["spec"] + " " + ok["setting"]).str.strip()
    cost = _primary_cost(ok)
    costs = ok[cost.column].to_numpy(float) if cost else np.full(len(ok), np.nan)
    ok["pareto"] = pareto_mask(costs, ok["acc"].to_numpy(float))
    return ok, metrics, cost


def _table(ok: pd.DataFrame, metrics: tuple[Metric, ...]) -> tuple[list[str], list[list[str]]]:
    """Headers and rows of a task's results table, most accurate run first."""
    settings = [c for c in ("image_size", "device") if c in ok]
    optional = [
        o
        for o in OPTIONAL_COLUMNS
        if o[0] in ok and pd.to_numeric(ok[o[0]], "coerce").notna().any()
    ]
    headers = (
        ["Spec"]
        + [{"image_size": "Size", "device": "Device"}[c] for c in settings]
        + [f"{m.name} (%)" for m in metrics]
        + ["Params (M)", "GFLOPs", "Latency (ms ± IQR)"]
        + [o[1] for o in optional]
        + ["Pareto"]
    )
    rows: list[list[str]] = []
    ordered = ok.sort_values(["acc", "gflops"], ascending=[False, True], na_position="last")
    for _, row in ordered.iterrows():
        latency = _num(row["latency_ms"], 2)
        if latency != DASH and pd.notna(row["latency_iqr_ms"]):
            latency += f" ± {row['latency_iqr_ms']:.2f}"
        rows.append(
            [row["spec"]]
            + [_text(row[c]) for c in settings]
            + [_num(row[m.column + "_pct"], 2) for m in metrics]
            + [_num(row["params"], 2, 1e-6), _num(row["gflops"], 2), latency]
            + [_num(row[col], digits) for col, _, digits in optional]
            + [CHECK if row["pareto"] else ""]
        )
    return headers, rows


def _task_section(
    task: str, ok: pd.DataFrame, out_dir: Path, tolerance: float
) -> tuple[Section, str]:
    """A task's section (charts written into ``out_dir``) and its winner line."""
    ok, metrics, cost = _scored(task, ok)
    primary = metrics[0]
    winner = _winner_sentence(task, ok, primary, cost, tolerance)
    section = Section(heading=f"{task.capitalize()} ({primary.name})")
    section.charts = task_charts(task, ok, metrics, cost, out_dir)
    if not section.charts:
        section.summary = f"No charts: no run has both a {primary.name} and a cost value."
    section.headers, section.rows = _table(ok, metrics)
    if cost is not None and ok["pareto"].any():
        section.note = (
            f"{CHECK} = on the {primary.name}-vs-{cost.name} Pareto frontier: "
            "no other run is at least as cheap and at least as accurate."
        )
    return section, winner


def _failed_section(failed: pd.DataFrame) -> Section:
    section = Section(heading=f"Failed runs ({len(failed)})")
    section.headers = ["Spec", "Task", "Size", "Device", "Status", "Error"]
    for _, row in failed.iterrows():
        section.rows.append(
            [
                row["spec"],
                row["task"],
                _text(row.get("image_size")),
                _text(row.get("device")),
                row["status"],
                _short_error(row["error"]),
            ]
        )
    return section


def build_sections(
    results: pd.DataFrame, out_dir: Path, tolerance: float
) -> tuple[list[str], list[Section]]:
    """Intro lines (counts, one winner line per task) and sections; writes charts to out_dir.

    Tasks come in ``TASK_ORDER``, unknown ones after them alphabetically; failed runs last.
    """
    df = _normalise(results)
    ok_rows, failed = df[df["status"] == "ok"], df[df["status"] != "ok"]
    intro = [
        f"{len(df)} run{'' if len(df) == 1 else 's'}: {len(ok_rows)} ok, {len(failed)} failed."
    ]
    sections: list[Section] = []
    tasks = [t for t in TASK_ORDER if t in set(ok_rows["task"])]
    tasks += sorted(set(ok_rows["task"]) - set(TASK_ORDER))
    for task in tasks:
        section, winner = _task_section(task, ok_rows[ok_rows["task"] == task], out_dir, tolerance)
        sections.append(section)
        intro.append(f"**Winner** – {winner}")
    if ok_rows.empty:
        intro.append("No successful runs: nothing to chart or rank.")
    if not failed.empty:
        sections.append(_failed_section(failed))
    return intro, sections
