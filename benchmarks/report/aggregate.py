"""Seeds folded into one row per spec and setting: mean and spread of accuracy, typical cost.

One seed's accuracy is one draw: with ``--seeds N`` every (spec, settings) is trained N
times, and what the report ranks, charts and puts on the Pareto frontier is the mean over
those seeds, with the sample standard deviation as its spread. The per-seed rows stay in
results.csv; :func:`aggregate_seeds` is a pure function of them.

Conventions (the report header repeats them):

* std is the sample standard deviation (``ddof=1``); with one seed it is NaN, not 0: one
  draw says nothing about the spread, and 0 would claim there is none;
* params and GFLOPs do not depend on the seed: the first seed's value is kept;
* latency, throughput, memory and time are the median over seeds (robust to one noisy run);
* ``converged`` is True when every seed converged, False when any did not, and None
  (unknown) otherwise, e.g. for rows of older runs that did not record it;
* ``timing_noisy`` is True when any seed's timing was flagged noisy.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

import numpy as np
import pandas as pd

__all__ = [
    "ACCURACY_COLUMNS",
    "GROUP_COLUMNS",
    "aggregate_seeds",
    "group_ids",
    "tri_state",
]

GROUP_COLUMNS = (
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
"""Columns that say which rows are seeds of one job: everything set per job except the seed.

``lr`` is left out on purpose: it is the learning rate actually used, which a range test
(``--lr auto``) may pick per seed; the aggregated row gives its range instead.
"""

ACCURACY_COLUMNS = ("miou", "pixel_acc", "map", "map50", "map_voc07", "top1", "accuracy")
"""Accuracy metrics (fractions in [0, 1]) averaged over seeds."""

_FIRST_COLUMNS = ("params", "gflops", "gflops_counted")
_MEDIAN_COLUMNS = (
    "latency_ms",
    "latency_iqr_ms",
    "latency_p90_ms",
    "fps",
    "throughput_ips",
    "peak_mem_mb",
    "train_s",
    "epochs_run",
    "best_epoch",
    "lr",
)


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


def group_ids(rows: pd.DataFrame) -> pd.Series:
    """Group number per row (0, 1, ... in order of first appearance); rows that differ only
    in their seed (and in what the run measured) share a number."""
    columns = [c for c in GROUP_COLUMNS if c in rows.columns]
    seen: dict[tuple[str, ...], int] = {}
    ids = [
        seen.setdefault(tuple(_canon(v) for v in values), len(seen))
        for values in rows[columns].itertuples(index=False, name=None)
    ]
    return pd.Series(ids, index=rows.index, dtype=int)


def _numbers(group: pd.DataFrame, column: str) -> pd.Series:
    values = pd.to_numeric(group[column], errors="coerce").astype(float)
    return values[np.isfinite(values)]


def _all_converged(values: pd.Series) -> bool | None:
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


def _aggregate_group(group: pd.DataFrame, metrics: Sequence[str]) -> dict[str, Any]:
    """One group's row; built as a dict only to become a DataFrame row at once."""
    first = group.iloc[0]
    record: dict[str, Any] = {c: first[c] for c in GROUP_COLUMNS if c in group}
    record["seeds"] = len(group)
    seeds = group["seed"] if "seed" in group else pd.Series(dtype=object)
    record["seed_list"] = ", ".join(sorted((_canon(s) for s in seeds if _canon(s)), key=_order))
    for metric in metrics:
        values = _numbers(group, metric)
        record[metric] = values.mean() if len(values) else np.nan
        record[metric + "_std"] = values.std(ddof=1) if len(values) > 1 else np.nan
    for column in (c for c in _FIRST_COLUMNS if c in group):
        values = _numbers(group, column)
        record[column] = values.iloc[0] if len(values) else np.nan
    for column in (c for c in _MEDIAN_COLUMNS if c in group):
        values = _numbers(group, column)
        record[column] = values.median() if len(values) else np.nan
    if "lr" in group:
        values = _numbers(group, "lr")
        record["lr_min"] = values.min() if len(values) else np.nan
        record["lr_max"] = values.max() if len(values) else np.nan
    record["converged"] = _all_converged(group.get("converged", pd.Series(None, group.index)))
    record["convergence_reason"] = _reasons(group, "convergence_reason")
    noisy = tri_state(group.get("timing_noisy", pd.Series(None, group.index)))
    record["timing_noisy"] = any(state is True for state in noisy)
    record["timing_noise_reason"] = _reasons(group, "timing_noise_reason")
    return record


def _order(seed: str) -> tuple[int, float, str]:
    """Numeric seeds in numeric order (2 before 10), anything else after them."""
    try:
        return (0, float(seed), seed)
    except ValueError:
        return (1, 0.0, seed)


def aggregate_seeds(rows: pd.DataFrame, metrics: Sequence[str] = ACCURACY_COLUMNS) -> pd.DataFrame:
    """One row per spec and setting from per-seed rows (ok rows; see the module docstring).

    Each accuracy column of ``metrics`` that ``rows`` has becomes its mean, next to
    ``<metric>_std``; ``seeds`` counts the rows and ``seed_list`` names their seeds; ``group``
    is the :func:`group_ids` number shared with the per-seed rows. Groups keep the order of
    their first row.
    """
    present = [m for m in metrics if m in rows.columns]
    ids = group_ids(rows)
    records = []
    for group_id, group in rows.groupby(ids, sort=False):
        records.append({"group": int(group_id), **_aggregate_group(group, present)})
    if not records:
        return pd.DataFrame(columns=["group", "seeds", "seed_list", *present])
    out = pd.DataFrame.from_records(records)
    out.index = pd.Index(out["group"].to_numpy())
    for column in ("converged", "timing_noisy"):  # Python True/False/None, not numpy bools
        out[column] = tri_state(out[column])
    return out
