"""Training curves: the validation metric and training loss per epoch, one line per spec.

Every job folder ``RUN_DIR/jobs/<job dir>/`` holds a ``history.csv`` (columns epoch,
train_loss, lr, val_metric, epoch_s). A final accuracy says nothing about whether a run
had settled or was still climbing when it stopped; the curves do. One line is one spec and
setting: the mean over its seeds, taken at each epoch over the seeds that ran it (early
stopping ends seeds at different epochs) and, for the validation metric, that were
validated at it (``--val-every``). A run that did not converge is drawn dashed. The
validation axis is named after the task's primary metric, the one validation follows, and
epochs are whole numbers on both axes; the legend sits under the panels so that it never
hides a line, with long labels shortened (the tables have them in full).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import matplotlib

matplotlib.use("Agg")

import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402
from matplotlib.ticker import MaxNLocator  # noqa: E402

from benchmarks.figures.files import Chart, save_figure, slug  # noqa: E402
from benchmarks.report.charts.labels import shortened  # noqa: E402
from benchmarks.store.job_files import HistoryError, read_history  # noqa: E402
from benchmarks.store.layout import find_job_folder  # noqa: E402
from benchmarks.tasks import Metric  # noqa: E402

__all__ = ["Curve", "group_curves", "task_curves"]


@dataclass(frozen=True)
class Curve:
    """One line pair: a spec and setting's mean validation metric and training loss."""

    label: str
    epochs: np.ndarray
    train_loss: np.ndarray
    val_metric: np.ndarray
    seeds: int
    converged: bool | None = None


def _mean_curve(histories: list[pd.DataFrame]) -> pd.DataFrame:
    """Per-epoch mean over the histories, each value over the seeds that have it."""
    per_epoch = pd.concat(histories, ignore_index=True).dropna(subset=["epoch"])
    return per_epoch.groupby("epoch", sort=True)[["train_loss", "val_metric"]].mean()


def _group_curve(
    group: pd.Series, seeds: pd.DataFrame, run_dirs: Sequence[Path], problems: list[str]
) -> Curve | None:
    """The mean curve of one group (a row with ``label`` and maybe ``converged``) over its
    seed rows; unreadable histories are noted in ``problems``."""
    histories = []
    for _, row in seeds.iterrows():
        folder = find_job_folder(run_dirs, row.get("spec_file"), row.get("job_key"))
        if folder is None or not folder.own_file(folder.history):
            continue  # a run from before histories existed
        try:
            histories.append(read_history(folder.history))
        except HistoryError as exc:
            problems.append(str(exc))
    if not histories:
        return None
    mean = _mean_curve(histories)
    converged = group.get("converged")
    return Curve(
        str(group["label"]),
        mean.index.to_numpy(float),
        mean["train_loss"].to_numpy(float),
        mean["val_metric"].to_numpy(float),
        len(histories),
        converged if isinstance(converged, bool) else None,
    )


def _plot(curves: list[Curve], metric: Metric, title: str, out_stem: Path) -> tuple[Path, Path]:
    """Both panels, the legend under them; the validation axis says which metric it is."""
    fig, (val_ax, loss_ax) = plt.subplots(1, 2, figsize=(10.0, 4.2), dpi=100)
    try:
        for k, curve in enumerate(curves):
            style = {"color": f"C{k % 10}", "linestyle": "--" if curve.converged is False else "-"}
            validated = np.isfinite(curve.val_metric)
            val_ax.plot(
                curve.epochs[validated],
                curve.val_metric[validated],
                marker="o",
                markersize=3,
                label=shortened(curve.label),
                **style,
            )
            trained = np.isfinite(curve.train_loss)
            loss_ax.plot(curve.epochs[trained], curve.train_loss[trained], **style)
        # val_metric is the task's primary metric: validation and early stopping follow it.
        val_ax.set(xlabel="epoch", ylabel=f"validation {metric.axis_label}")
        loss_ax.set(xlabel="epoch", ylabel="training loss")
        for ax in (val_ax, loss_ax):
            ax.grid(True, alpha=0.3)
            ax.xaxis.set_major_locator(MaxNLocator(integer=True))  # no epoch 2.5
        fig.suptitle(title)
        fig.subplots_adjust(left=0.07, right=0.98, bottom=0.13, top=0.88, wspace=0.22)
        handles, labels = val_ax.get_legend_handles_labels()
        fig.legend(
            handles,
            labels,
            loc="upper center",
            bbox_to_anchor=(0.5, 0.0),
            ncols=min(len(labels), 4),
            fontsize=8,
            frameon=False,
        )
        return save_figure(fig, out_stem)
    finally:
        plt.close(fig)


def group_curves(
    groups: pd.DataFrame, seed_rows: pd.DataFrame, run_dirs: Sequence[Path]
) -> tuple[list[Curve], list[str]]:
    """The mean curve of each row of ``groups`` that has histories, and the problems met
    (unreadable history files, one line each).

    ``groups`` has columns ``group`` and ``label`` (one row per spec and setting) and
    optionally ``converged``; ``seed_rows`` has ``group``, ``job_key`` and ``spec_file``.
    """
    problems: list[str] = []
    curves = []
    for _, group in groups.iterrows():
        seeds = seed_rows[seed_rows["group"] == group["group"]]
        curve = _group_curve(group, seeds, run_dirs, problems)
        if curve is not None:
            curves.append(curve)
    return curves, problems


def task_curves(
    task: str,
    groups: pd.DataFrame,
    seed_rows: pd.DataFrame,
    run_dirs: Sequence[Path],
    out_dir: Path,
    metric: Metric,
) -> Chart | None:
    """``<task>_training_curves``.png/.svg with the :func:`group_curves` of the task, its
    validation axis named after ``metric`` (the task's primary one); None when no job of
    the task left a history."""
    curves, problems = group_curves(groups, seed_rows, run_dirs)
    if not curves:
        return None
    title = f"{task.capitalize()}: training curves"
    png, svg = _plot(curves, metric, title, out_dir / f"{slug(task)}_training_curves")
    notes = []
    if any(curve.seeds > 1 for curve in curves):
        notes.append("Lines: mean over the seeds that reached each epoch.")
    if any(curve.converged is False for curve in curves):
        notes.append("Dashed: not converged.")
    notes += [f"Left out: {problem}." for problem in problems]
    return Chart(title, png, svg, " ".join(notes))
