"""Seeds folded into one row per spec and setting: mean and spread of accuracy, typical cost.

One seed's accuracy is one draw: with ``--seeds N`` every (spec, settings) is trained N
times, and what the report ranks, charts and puts on the Pareto frontier is the mean over
those seeds, with the sample standard deviation as its spread. The per-seed rows stay in
results.csv; :func:`aggregate_seeds` is a pure function of them.

Conventions (the report header repeats them):

* std is the sample standard deviation (``ddof=1``); with one seed it is NaN, not 0: one
  draw says nothing about the spread, and 0 would claim there is none;
* a metric folds as its task declares (:class:`benchmarks.tasks.Metric`: the mean, or the
  median), every other column as :data:`benchmarks.store.row.SEED_FOLDS` says: params and
  GFLOPs do not depend on the seed (the first seed's value is kept); latency, throughput,
  memory and time are the median over seeds (robust to one noisy run);
* ``converged`` is True when every seed converged, False when any did not, and None
  (unknown) otherwise, e.g. for rows of older runs that did not record it; ``learned``
  folds the same way (a seed that learned nothing makes the group's mean no score);
* ``timing_noisy`` is True when any seed's timing was flagged noisy.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

import numpy as np
import pandas as pd

from benchmarks.store.row import SEED_FOLDS, group_key, metric_columns
from benchmarks.tasks import FALLBACK_METRIC, task_classes

__all__ = ["FLAG_COLUMNS", "LEGACY_GROUP_COLUMNS", "aggregate_seeds", "group_ids", "tri_state"]

LEGACY_GROUP_COLUMNS = (
    "task",
    "spec",
    "spec_hash",
    "data",
    "image_size",
    "epochs",
    "batch_size",
    "device",
    "dtype",
    "limit",
    "compile",
    "encoder_init",
    "threads",
    "patience",
    "val_every",
    "normalize",
    "augment",
    "world_size",
)
"""The columns that say which rows of a version-1 run (no ``settings`` column) are seeds of
one job: everything set per job but the seed. ``lr`` is not among them: it is the rate
actually used, which ``--lr auto`` may pick per seed, and version 1 did not record the
sweep's setting. Rows of version 2 group by :func:`benchmarks.store.row.group_key`."""

_COPIED = (*LEGACY_GROUP_COLUMNS, "settings", "spec_file")

FLAG_COLUMNS = ("converged", "learned", "timing_noisy")
"""The yes/no columns the report reads as True, False or None (:func:`tri_state`)."""
"""Columns a group takes from its first row."""


def _canon(value: Any) -> str:
    """Text that is equal for equal settings whatever the column dtype (10, 10.0, "10")."""
    if value is None or value is pd.NA or (isinstance(value, float) and math.isnan(value)):
        return ""
    if isinstance(value, float | np.floating) and float(value).is_integer():
        return str(int(value))
    return str(value)


def tri_state(values: pd.Series) -> pd.Series:
    """A yes/no column as objects True, False or None (unknown).

    Parquet gives booleans (with NA), CSV gives booleans or the text "True"/"False", and
    rows of older runs have no value at all; everything that is not clearly yes or no is
    unknown.
    """

    def parse(value: Any) -> bool | None:
        if isinstance(value, bool | np.bool_):
            return bool(value)
        text = _canon(value).strip().lower()
        return {"true": True, "1": True, "false": False, "0": False}.get(text)

    return pd.Series([parse(v) for v in values], index=values.index, dtype=object)


def _row_group(record: dict[str, Any], legacy: list[str]) -> tuple[str, ...]:
    """A row's group: its settings but the seed, or (version 1) its legacy columns."""
    key = group_key(record)
    return ("settings", *key) if key else ("legacy", *(_canon(record[c]) for c in legacy))


def group_ids(rows: pd.DataFrame) -> pd.Series:
    """Group number per row (0, 1, ... in order of first appearance); rows that differ only
    in their seed (and in what the run measured) share a number."""
    legacy = [c for c in LEGACY_GROUP_COLUMNS if c in rows.columns]
    seen: dict[tuple[str, ...], int] = {}
    ids = [
        seen.setdefault(_row_group(record, legacy), len(seen)) for record in rows.to_dict("records")
    ]
    return pd.Series(ids, index=rows.index, dtype=int)


def _numbers(group: pd.DataFrame, column: str) -> pd.Series:
    values = pd.to_numeric(group[column], errors="coerce").astype(float)
    return values[np.isfinite(values)]


def _all_true(values: pd.Series) -> bool | None:
    states = list(tri_state(values))
    if any(state is False for state in states):
        return False
    return True if states and all(state is True for state in states) else None


def _reasons(group: pd.DataFrame, column: str) -> str:
    """Distinct non-empty texts of a column, in order, joined by '; '."""
    if column not in group:
        return ""
    texts = dict.fromkeys(_canon(v).strip() for v in group[column])
    return "; ".join(text for text in texts if text)


def _fold(group: pd.DataFrame, column: str, fold: str) -> Any:
    """One column of a group folded as :data:`benchmarks.store.row.SEED_FOLDS` says."""
    values = group.get(column, pd.Series(None, group.index, dtype=object))
    if fold == "all":
        return _all_true(values)
    if fold == "any":
        return any(state is True for state in tri_state(values))
    if fold == "texts":
        return _reasons(group, column)
    numbers = _numbers(group, column)
    if not len(numbers):
        return np.nan
    return numbers.iloc[0] if fold == "first" else numbers.median()


def _metric_fold(group: pd.DataFrame, metric: str) -> tuple[float, float]:
    """A metric's value over the seeds (as its task folds it) and its sample std."""
    values = _numbers(group, metric)
    if not len(values):
        return np.nan, np.nan
    center = values.median() if _seed_fold(metric) == "median" else values.mean()
    return center, values.std(ddof=1) if len(values) > 1 else np.nan


def _aggregate_group(group: pd.DataFrame, metrics: Sequence[str]) -> dict[str, Any]:
    """One group's row; built as a dict only to become a DataFrame row at once."""
    first = group.iloc[0]
    record: dict[str, Any] = {c: first[c] for c in _COPIED if c in group}
    record["seeds"] = len(group)
    seeds = group["seed"] if "seed" in group else pd.Series(dtype=object)
    record["seed_list"] = ", ".join(sorted((_canon(s) for s in seeds if _canon(s)), key=_order))
    for metric in metrics:
        record[metric], record[metric + "_std"] = _metric_fold(group, metric)
    for column, fold in SEED_FOLDS.items():
        if column in group or fold in ("all", "any", "texts"):
            record[column] = _fold(group, column, fold)
    if "lr" in group:  # a range test may pick a different lr per seed: keep the range
        values = _numbers(group, "lr")
        record["lr_min"] = values.min() if len(values) else np.nan
        record["lr_max"] = values.max() if len(values) else np.nan
    return record


def _seed_fold(column: str) -> str:
    """How a metric folds over seeds: as the task that reports it declares (mean if none)."""
    found = (m for task in task_classes() for m in task.metrics if m.column == column)
    return next((m.seeds for m in found), "mean")


def _metric_columns() -> list[str]:
    return [*metric_columns(), FALLBACK_METRIC.column]


def _order(seed: str) -> tuple[int, float, str]:
    """Numeric seeds in numeric order (2 before 10), anything else after them."""
    try:
        return (0, float(seed), seed)
    except ValueError:
        return (1, 0.0, seed)


def aggregate_seeds(rows: pd.DataFrame, metrics: Sequence[str] | None = None) -> pd.DataFrame:
    """One row per spec and setting from per-seed rows (ok rows; see the module docstring).

    Each accuracy column of ``metrics`` that ``rows`` has becomes its mean, next to
    ``<metric>_std``; ``seeds`` counts the rows and ``seed_list`` names their seeds; ``group``
    is the :func:`group_ids` number shared with the per-seed rows. Groups keep the order of
    their first row.
    """
    present = [m for m in (_metric_columns() if metrics is None else metrics) if m in rows]
    ids = group_ids(rows)
    records = []
    for group_id, group in rows.groupby(ids, sort=False):
        records.append({"group": int(group_id), **_aggregate_group(group, present)})
    if not records:
        return pd.DataFrame(columns=["group", "seeds", "seed_list", *present])
    out = pd.DataFrame.from_records(records)
    out.index = pd.Index(out["group"].to_numpy())
    for column in FLAG_COLUMNS:  # Python True/False/None, not numpy bools
        out[column] = tri_state(out[column])
    return out
