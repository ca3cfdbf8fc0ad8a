"""A search's pictures: the trials with their front, and each knob's effect on each objective.

``search_front``: the first two objectives against each other, every complete trial a dot (a
hollow one did not converge, a cross is over budget), the front in red, joined by a line
and labelled with trial numbers. ``search_knobs``: one panel per knob and
objective, the objective's value of every complete trial at the knob's value (choices side
by side, ranges on their axis), front trials in colour, so a reader sees which knob moves
which objective. Both are written as PNG and SVG (:func:`benchmarks.figures.files.save_figure`)
into the report folder, and the report shows them first.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import pandas as pd  # noqa: E402
from matplotlib.axes import Axes  # noqa: E402

from benchmarks.figures.files import Chart, save_figure  # noqa: E402
from benchmarks.search.objectives import Objective  # noqa: E402

__all__ = ["plot_front", "plot_knob_effects"]

FRONT = "#c0392b"
OTHER = "#5d6d7e"


def _label(objective: Objective) -> str:
    better = "higher" if objective.direction == "max" else "lower"
    return f"{objective.column} ({better} is better)"


def _save(fig: plt.Figure, stem: Path, title: str, note: str) -> Chart:
    png, svg = save_figure(fig, stem)
    plt.close(fig)
    return Chart(title, png, svg, note)


def _dots(ax: Axes, rows: pd.DataFrame, x: str, y: str, colour: str) -> None:
    """Dots of ``rows``: hollow when not converged, a cross when over budget."""
    unconverged = rows["converged"].map(lambda v: v is False).astype(bool)
    over = ~rows["feasible"].astype(bool)
    solid = rows[~unconverged & ~over]
    ax.scatter(solid[x], solid[y], s=36, color=colour, zorder=3)
    hollow = rows[unconverged & ~over]
    ax.scatter(hollow[x], hollow[y], s=36, facecolors="none", edgecolors=colour, zorder=3)
    ax.scatter(rows[over][x], rows[over][y], s=36, marker="x", color=colour, zorder=3)


def plot_front(table: pd.DataFrame, objectives: Sequence[Objective], stem: Path) -> Chart | None:
    """``STEM.png`` and ``.svg`` over the first two objectives; None with fewer than two."""
    if len(objectives) < 2:
        return None
    x, y = objectives[1], objectives[0]  # cost across, score up, as the report draws it
    done = table[(table["state"] == "complete") & table["same_as"].isna()]
    fig, ax = plt.subplots(figsize=(7, 4.8))
    _dots(ax, done[~done["on_front"]], x.column, y.column, OTHER)
    front = done[done["on_front"]].sort_values(x.column)
    _dots(ax, front, x.column, y.column, FRONT)
    ax.plot(front[x.column], front[y.column], color=FRONT, drawstyle="steps-post", lw=1.2)
    for k, (_, row) in enumerate(front.iterrows()):  # alternate sides: near points collide
        ax.annotate(f"t{int(row['trial'])}", (row[x.column], row[y.column]),
                    textcoords="offset points", xytext=(5, 5 if k % 2 else -11),
                    fontsize=8)  # fmt: skip
    ax.set_xlabel(_label(x))
    ax.set_ylabel(_label(y))
    ax.set_title(f"{len(done)} trials, {len(front)} on the front (red); hollow: not converged")
    ax.grid(alpha=0.3)
    note = "a cross is over budget; repeats of earlier trials are drawn once"
    return _save(fig, stem, f"The trials and their front: {y.column} against {x.column}", note)


def _positions(values: pd.Series, declared: Sequence[Any] | None) -> pd.Series:
    """Where a knob's values go on the x axis: a range's numbers as they are, a list's
    choices at 0, 1, ... in the order the spec declares them."""
    if declared is None:
        return values.astype(float)
    keys = [repr(choice) for choice in declared]
    return values.map(lambda v: keys.index(repr(v)) if repr(v) in keys else float("nan"))


def plot_knob_effects(
    table: pd.DataFrame,
    knobs: Mapping[str, Sequence[Any] | None],
    objectives: Sequence[Objective],
    stem: Path,
) -> Chart | None:
    """``STEM.png`` and ``.svg``: one panel per (knob, objective); None without complete
    trials.
    ``knobs`` maps each knob to its declared choices (None: a numeric range); a repeat of
    an earlier trial is drawn once."""
    done = table[(table["state"] == "complete") & table["same_as"].isna()]
    if done.empty or not knobs:
        return None
    fig, axes = plt.subplots(
        len(objectives), len(knobs), figsize=(3.2 * len(knobs), 2.6 * len(objectives)),
        squeeze=False,
    )  # fmt: skip
    for col, (knob, choices) in enumerate(knobs.items()):
        where = _positions(done[knob], choices)
        for row, objective in enumerate(objectives):
            ax = axes[row][col]
            colours = done["on_front"].map({True: FRONT, False: OTHER})
            ax.scatter(where, done[objective.column], c=list(colours), s=22)
            if choices is not None:
                ax.set_xticks(range(len(choices)), [str(c) for c in choices])
                ax.set_xlim(-0.5, len(choices) - 0.5)
            ax.set_xlabel(knob if row == len(objectives) - 1 else "")
            ax.set_ylabel(objective.column if col == 0 else "")
            ax.grid(alpha=0.3)
    fig.suptitle("each knob's effect on each objective (red: on the front)")
    fig.tight_layout()
    return _save(fig, stem, "Each knob's effect on each objective", "red: trials on the front")
