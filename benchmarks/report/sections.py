"""What the benchmark report says: the protocol header, intro lines and sections.

Each task gets a section (charts, training curves, a table with one row per spec and
setting, a Pareto note), a per-seed section when some spec has several seeds, a prediction
section per run that left a strip (:mod:`benchmarks.report.predictions`) and a winner
line; failed runs get a section of their own. Everything ranked, charted or put on the
Pareto frontier is the mean over seeds (:mod:`benchmarks.report.aggregate`). The Markdown and HTML
writers render the same :class:`benchmarks.report.content.ReportContent`.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from benchmarks.report.aggregate import FLAG_COLUMNS, aggregate_seeds, group_ids, tri_state
from benchmarks.report.charts.axes import COST_AXES, CostAxis
from benchmarks.report.charts.curves import task_curves
from benchmarks.report.charts.per_task import task_charts
from benchmarks.report.content import ReportContent, Section
from benchmarks.report.differences import RunProtocol, differing_settings
from benchmarks.report.format import CHECK, CROSS, DASH, text
from benchmarks.report.header import protocol_lines
from benchmarks.report.pareto import frontier_eligible, noisy_off_frontier, pareto_mask
from benchmarks.report.predictions import prediction_sections
from benchmarks.report.setting_text import setting_texts, variant_texts
from benchmarks.report.tables import group_table, seed_table
from benchmarks.report.winner import winner_sentence
from benchmarks.tasks import FALLBACK_METRIC, Metric, task_class, task_classes

__all__ = ["Section", "build_sections"]


def _normalise(df: pd.DataFrame) -> pd.DataFrame:
    """Fill in the columns the report relies on so partial and older tables still render."""
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
    for column in FLAG_COLUMNS:  # unknown for rows of older runs
        out[column] = tri_state(out.get(column, pd.Series(None, out.index, dtype=object)))
    return out


def _short_error(error: object) -> str:
    """Last non-empty line of an error (a traceback ends with the exception), truncated."""
    lines = [line.strip() for line in text(error).splitlines() if line.strip()]
    message = lines[-1] if lines else DASH
    return message if len(message) <= 240 else message[:237] + "..."


def _primary_cost(groups: pd.DataFrame) -> CostAxis | None:
    """First cost axis with usable values: GFLOPs, else latency, else parameters."""
    for axis in COST_AXES:
        if np.isfinite(pd.to_numeric(groups[axis.column], errors="coerce")).any():
            return axis
    return None


@dataclass
class _TaskData:
    """A task's metrics with values, its per-seed rows and its groups (one row per spec and
    setting: mean ``acc`` of the primary metric, ``label``, ``pareto``), the cost axis, and
    whether runs with a noisy timing may be on a latency frontier."""

    metrics: tuple[Metric, ...]
    rows: pd.DataFrame
    groups: pd.DataFrame
    cost: CostAxis | None
    allow_noisy: bool = False


def _shown_metrics(task: str) -> tuple[Metric, ...]:
    """The metrics the report shows for a task, primary first (a fallback for unknown tasks)."""
    known = task_class(task)
    return tuple(m for m in known.metrics if m.shown) if known else (FALLBACK_METRIC,)


def _task_data(task: str, ok: pd.DataFrame, allow_noisy: bool) -> _TaskData:
    metrics = _shown_metrics(task)
    rows = ok.copy()
    for metric in metrics:
        rows[metric.column] = pd.to_numeric(
            rows.get(metric.column, pd.Series(np.nan, rows.index)), errors="coerce"
        )
    rows["group"] = group_ids(rows)
    groups = aggregate_seeds(rows, [m.column for m in metrics])
    present = [m for m in metrics[1:] if np.isfinite(groups[m.column]).any()]
    metrics = (metrics[0], *present)
    groups["acc"] = groups[metrics[0].column]
    groups["score"] = groups["acc"] * (1.0 if metrics[0].higher_is_better else -1.0)
    groups["acc_std"] = groups[metrics[0].column + "_std"]
    groups["_device"] = groups["device"].fillna("unknown").astype(str) if "device" in groups else ""
    groups["setting"] = setting_texts(groups)
    groups["variant"] = variant_texts(groups)
    groups["label"] = (groups["spec"] + " " + groups["setting"]).str.strip()
    rows["label"] = rows["group"].map(groups["label"])
    rows["variant"] = rows["group"].map(groups["variant"])
    cost = _primary_cost(groups)
    costs = groups[cost.column].to_numpy(float) if cost else np.full(len(groups), np.nan)
    eligible = frontier_eligible(groups, cost, allow_noisy)
    groups["pareto"] = pareto_mask(costs, groups["score"].to_numpy(float), eligible)
    return _TaskData(metrics, rows, groups, cost, allow_noisy)


def _notes(data: _TaskData) -> list[str]:
    primary, notes = data.metrics[0], []
    if data.cost is not None and data.groups["pareto"].any():
        notes.append(
            f"{CHECK} = on the {primary.name}-vs-{data.cost.name} Pareto frontier of the mean "
            "over seeds: no other run is at least as cheap and at least as accurate."
        )
    kept_off = data.groups.loc[noisy_off_frontier(data.groups, data.cost, data.allow_noisy)]
    if data.cost is not None and len(kept_off):
        notes.append(
            f"Noisy timing, kept off the {primary.name}-vs-{data.cost.name} Pareto frontier "
            "(a latency measured on a busy machine is no cost to rank by; --allow-noisy "
            f"keeps them on): {', '.join(kept_off['label'].astype(str))}."
        )
    if data.groups["converged"].map(lambda state: state is not None).any():
        notes.append(
            f"Converged: {CHECK} every seed converged, {CROSS} at least one did not "
            f"(its mean is not a settled score), {DASH} not recorded."
        )
    if data.groups["learned"].map(lambda state: state is False).any():
        notes.append(
            f"Learned: {CROSS} at least one seed learned nothing (its best validation "
            f"{primary.name} was not better than the task's trivial baseline by its margin): "
            "drawn as a grey cross, never on the Pareto frontier, never the winner."
        )
    return notes


@dataclass(frozen=True)
class _Options:
    """What the caller asked of every task's sections: the winner line's tolerance, the
    run folders holding the jobs' files, whether noisy timings may be on a frontier."""

    tolerance: float
    run_dirs: tuple[Path, ...]
    allow_noisy: bool


def _task_sections(
    task: str, ok: pd.DataFrame, out_dir: Path, options: _Options
) -> tuple[list[Section], str]:
    """A task's sections (charts written into ``out_dir``) and its winner line."""
    data = _task_data(task, ok, options.allow_noisy)
    primary = data.metrics[0]
    winner = winner_sentence(
        task, data.groups, primary, data.cost, options.tolerance, allow_noisy=options.allow_noisy
    )
    section = Section(heading=f"{task.capitalize()} ({primary.name})")
    section.charts = task_charts(
        task, data.groups, data.metrics, data.cost, out_dir, allow_noisy=options.allow_noisy
    )
    if not section.charts:
        section.summary = f"No charts: no run has both a {primary.name} and a cost value."
    curves = task_curves(task, data.groups, data.rows, options.run_dirs, out_dir, primary)
    if curves is not None:
        section.charts.append(curves)
    section.headers, section.rows = group_table(data.groups, data.metrics)
    section.notes = _notes(data)
    predictions = prediction_sections(task, data.rows, options.run_dirs, out_dir)
    if int(data.groups["seeds"].max()) <= 1:
        return [section, *predictions], winner
    section.summary = (
        section.summary + " Each row is the mean over its seeds ± one sample std; the "
        "per-seed rows follow (and are in results.csv)."
    ).strip()
    per_seed = Section(heading=f"{task.capitalize()}: per-seed runs")
    per_seed.headers, per_seed.rows = seed_table(data.rows, data.metrics)
    return [section, per_seed, *predictions], winner


def _failed_section(failed: pd.DataFrame) -> Section:
    section = Section(heading=f"Failed runs ({len(failed)})")
    section.headers = ["Spec", "Task", "Size", "Device", "Status", "Error"]
    for _, row in failed.iterrows():
        section.rows.append(
            [
                row["spec"],
                row["task"],
                text(row.get("image_size")),
                text(row.get("device")),
                row["status"],
                _short_error(row["error"]),
            ]
        )
    return section


def build_sections(
    results: pd.DataFrame,
    out_dir: Path,
    tolerance: float,
    run_dirs: Sequence[Path] = (),
    runs: Sequence[RunProtocol] = (),
    notes: Sequence[str] = (),
    *,
    allow_noisy: bool = False,
) -> ReportContent:
    """The protocol header, intro lines (counts, merge notes, one winner line per task) and
    sections; writes charts to ``out_dir``. ``run_dirs`` are searched for the jobs'
    history.csv; ``runs`` are the merged runs' protocols (the header says how they differ).
    ``allow_noisy`` lets runs whose timing was flagged noisy onto latency frontiers.

    Tasks come in the order of :data:`benchmarks.tasks.TASKS`, unknown ones after them
    alphabetically; failed runs last.
    """
    df = _normalise(results)
    ok_rows, failed = df[df["status"] == "ok"], df[df["status"] != "ok"]
    protocols = [run.protocol for run in runs]
    content = ReportContent(protocol=protocol_lines(protocols, ok_rows if len(ok_rows) else df))
    difference = differing_settings(runs)
    if difference is not None:
        content.protocol.insert(0, difference)
    plural = "" if len(df) == 1 else "s"
    content.intro.append(f"{len(df)} run{plural}: {len(ok_rows)} ok, {len(failed)} failed.")
    content.intro += list(notes)
    order = list(dict.fromkeys(task.name for task in task_classes()))
    tasks = [t for t in order if t in set(ok_rows["task"])]
    tasks += sorted(set(ok_rows["task"]) - set(order))
    options = _Options(tolerance, tuple(run_dirs), allow_noisy)
    for task in tasks:
        task_rows = ok_rows[ok_rows["task"] == task]
        sections, winner = _task_sections(task, task_rows, out_dir, options)
        content.sections += sections
        content.intro.append(f"**Winner** – {winner}")
    if ok_rows.empty:
        content.intro.append("No successful runs: nothing to chart or rank.")
    if not failed.empty:
        content.sections.append(_failed_section(failed))
    return content
