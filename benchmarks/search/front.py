"""The trials of a study as a table, and their Pareto front.

One row per trial: its number and state, each knob's value, each objective's value, the
flags a reader must see (not converged, learned nothing, timing noisy, over budget), why it
was pruned or failed, and its spec file. The front is computed here rather than taken from
Optuna's ``best_trials``, because who may be on it is the report's rule, not Optuna's: a
trial that learned nothing, one over the budget, or (on a timed objective) one whose timing
was noisy is kept off; a repeat of an earlier trial is not listed twice. A trial that did
not converge may be on the front, and its ``flags`` say so in pareto.csv and the console.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from benchmarks.figures.files import Chart
from benchmarks.report.content import Section
from benchmarks.search.driver import REASON_ATTR, SAME_AS_ATTR, trial_flags
from benchmarks.search.objectives import Objective
from benchmarks.search.study import CONSTRAINTS_ATTR
from graphspec.atomic import atomic_write_text

__all__ = ["front_mask", "search_section", "trials_table", "write_tables"]

PARETO_FILE = "pareto.csv"
TRIALS_FILE = "trials.csv"


def trials_table(study: Any, knobs: Sequence[str], objectives: Sequence[Objective]) -> pd.DataFrame:
    """One row per trial of ``study`` (see the module docstring), with ``on_front``."""
    records = []
    for trial in study.get_trials(deepcopy=False):
        attrs = trial.user_attrs
        record: dict[str, Any] = {"trial": trial.number, "state": trial.state.name.lower()}
        record.update({knob: trial.params.get(knob) for knob in knobs})
        values = trial.values if trial.values is not None else [None] * len(objectives)
        record.update({o.column: v for o, v in zip(objectives, values, strict=True)})
        record["flags"] = "; ".join(trial_flags(attrs, objectives))
        excess = attrs.get(CONSTRAINTS_ATTR, {}).values()
        record["feasible"] = all(value <= 0 for value in excess)
        record["converged"] = attrs.get("converged")
        record["learned"] = attrs.get("learned")
        record["timing_noisy"] = attrs.get("timing_noisy")
        record["same_as"] = attrs.get(SAME_AS_ATTR)
        record["reason"] = attrs.get(REASON_ATTR)
        record["spec_file"] = attrs.get("spec_file")
        records.append(record)
    columns = ["trial", "state", *knobs, *(o.column for o in objectives), "flags", "feasible"]
    columns += ["converged", "learned", "timing_noisy", "same_as", "reason", "spec_file"]
    table = pd.DataFrame.from_records(records, columns=columns)
    table["on_front"] = front_mask(table, objectives)
    return table


def _eligible(table: pd.DataFrame, objectives: Sequence[Objective]) -> np.ndarray:
    """Complete, feasible, learned, not a repeat, not noisy where a timing is an objective."""
    ok = (table["state"] == "complete") & table["feasible"].astype(bool)
    ok &= table["learned"].map(lambda v: v is not False).astype(bool)
    ok &= table["same_as"].isna()
    if any(o.timed for o in objectives):
        ok &= table["timing_noisy"].map(lambda v: v is not True).astype(bool)
    return ok.to_numpy(bool)


def front_mask(table: pd.DataFrame, objectives: Sequence[Objective]) -> np.ndarray:
    """Which trials no eligible trial dominates (at least as good on every objective and
    better on one); only eligible trials are on it or dominate."""
    eligible = _eligible(table, objectives)
    if not len(table):
        return eligible
    signs = np.array([-1.0 if o.direction == "max" else 1.0 for o in objectives])
    points = table[[o.column for o in objectives]].to_numpy(float) * signs  # all minimised
    on = np.zeros(len(table), dtype=bool)
    for i in np.flatnonzero(eligible):
        others = points[eligible]
        dominated = np.any(np.all(others <= points[i], axis=1) & np.any(others < points[i], axis=1))
        on[i] = not dominated
    return on


def write_tables(run_dir: Path, table: pd.DataFrame, objectives: Sequence[Objective]) -> Path:
    """Write trials.csv (every trial) and pareto.csv (the front, best first objective
    first), atomically; returns pareto.csv."""
    atomic_write_text(run_dir / TRIALS_FILE, table.to_csv(index=False))
    first = objectives[0]
    front = table[table["on_front"]].sort_values(first.column, ascending=first.direction == "min")
    path = run_dir / PARETO_FILE
    atomic_write_text(path, front.drop(columns=["on_front"]).to_csv(index=False))
    return path


def _cell(value: Any) -> str:
    if isinstance(value, float):
        return "" if value != value else f"{value:.4g}"
    return "" if value is None else str(value)


def search_section(
    spec: str, table: pd.DataFrame, objectives: Sequence[Objective], charts: Sequence[Chart]
) -> Section:
    """The report's first section for a search: the counts, the charts and the front."""
    counts = table["state"].value_counts()
    repeats = int(table["same_as"].notna().sum())
    front = table[table["on_front"]]
    knobs = [c for c in table.columns[2 : table.columns.get_loc(objectives[0].column)]]
    headers = ["trial", *knobs, *(o.column for o in objectives), "flags"]
    return Section(
        heading=f"Search over {spec}'s knobs",
        summary=(
            f"{len(table)} trials: {int(counts.get('complete', 0))} complete ({repeats} of "
            f"them repeats of an earlier trial's values), {int(counts.get('pruned', 0))} "
            f"pruned, {int(counts.get('fail', 0))} failed; **{len(front)} on the front** "
            f"of {', '.join(str(o) for o in objectives)} (pareto.csv)."
        ),
        charts=list(charts),
        headers=headers,
        rows=[[_cell(row[h]) for h in headers] for _, row in front.iterrows()],
        notes=[
            "Kept off the front: trials that learned nothing, trials over the spec's budget, "
            "repeats and, where an objective is a timing, noisy timings. A front trial that "
            "did not converge says so under flags. Every trial is one training run: bench "
            "the front's specs (OUT/trials/) with --seeds before trusting a small difference."
        ],
    )
