"""The results table on disk: its columns, their types, and reading/writing CSV + parquet.

``results.csv`` is for people and spreadsheets; ``results.parquet`` is the canonical copy
because it keeps types. Declared column kinds keep the on-disk schema stable from one append
to the next, whatever values the rows happen to hold. :class:`benchmarks.results.ResultsStore`
decides *when* to read and write; this module only knows *how*.
"""

from __future__ import annotations

import csv
import json
import math
import numbers
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import pandas as pd
import pyarrow.parquet as pq

from benchmarks.atomic import atomic_write

__all__ = [
    "RESULT_COLUMNS",
    "column_order",
    "rows_to_frame",
    "read_csv_rows",
    "read_parquet_rows",
    "write_results",
]

RESULT_COLUMNS: list[str] = [
    "spec",
    "task",
    "status",
    "error",
    "params",
    "gflops",
    "latency_ms",
    "latency_iqr_ms",
    "latency_p90_ms",
    "fps",
    "throughput_ips",
    "peak_mem_mb",
    "threads",
    "load_avg",
    "timing_noisy",
    "timing_noise_reason",
    "train_s",
    "epochs",
    "epochs_run",
    "best_epoch",
    "converged",
    "convergence_reason",
    "stopped_early",
    "lr",
    "lr_source",
    "image_size",
    "batch_size",
    "device",
    "dtype",
    "seed",
    "data",
    "encoder_init",
    "pixel_acc",
    "miou",
    "map",
    "map50",
    "map_voc07",
    "top1",
    "spec_file",
    "spec_hash",
    "job_key",
    "finished_at",
]

# Declared column kinds keep the on-disk schema stable (e.g. a hex spec_hash that happens to be
# all digits must stay a string; params stays an integer even when a failed row has none).
STRING_COLUMNS = frozenset(
    {
        "spec",
        "task",
        "status",
        "error",
        "device",
        "dtype",
        "data",
        "spec_file",
        "spec_hash",
        "job_key",
        "finished_at",
        "timing_noise_reason",
        "convergence_reason",
        "lr_source",
        "encoder_init",
    }
)
INT_COLUMNS = frozenset(
    {"params", "epochs", "image_size", "batch_size", "seed", "threads", "epochs_run", "best_epoch"}
)
BOOL_COLUMNS = frozenset({"timing_noisy", "converged", "stopped_early"})
FLOAT_COLUMNS = frozenset(set(RESULT_COLUMNS) - STRING_COLUMNS - INT_COLUMNS - BOOL_COLUMNS)


def _is_null(value: Any) -> bool:
    if value is None or value is pd.NA:
        return True
    return isinstance(value, float) and math.isnan(value)


def _to_text(value: Any) -> str:
    if isinstance(value, str):
        return value
    if isinstance(value, (dict, list, tuple)):
        return json.dumps(value, sort_keys=True, default=str)
    return str(value)


def _is_bool(value: Any) -> bool:
    return isinstance(value, bool) or type(value).__name__ == "bool_"


def _column(name: str, values: list[Any]) -> pd.Series:
    """Typed column for ``values``: declared kind when the values fit it, else strings.

    Falling back to strings (instead of raising) means a row with an unexpected value type can
    always be stored: parquet cannot hold an object column mixing ints and strings.
    """
    present = [v for v in values if not _is_null(v)]
    clean = [None if _is_null(v) else v for v in values]
    if name in STRING_COLUMNS:
        return pd.Series([None if v is None else _to_text(v) for v in clean], dtype=object)
    if not present:
        dtype = (
            "Int64"
            if name in INT_COLUMNS
            else "float64"
            if name in FLOAT_COLUMNS
            else "boolean"
            if name in BOOL_COLUMNS
            else object
        )
        return pd.Series(clean, dtype=dtype)
    if all(_is_bool(v) for v in present) and name not in FLOAT_COLUMNS | INT_COLUMNS:
        return pd.Series(clean, dtype="boolean")
    numeric = all(isinstance(v, numbers.Real) and not _is_bool(v) for v in present)
    integral = numeric and all(isinstance(v, numbers.Integral) for v in present)
    if integral and name not in FLOAT_COLUMNS:
        return pd.Series(clean, dtype="Int64")
    if numeric:
        return pd.Series([math.nan if v is None else float(v) for v in clean], dtype="float64")
    return pd.Series([None if v is None else _to_text(v) for v in clean], dtype=object)


def column_order(rows: Sequence[Mapping[str, Any]]) -> list[str]:
    """RESULT_COLUMNS first, then extra keys in order of first appearance."""
    columns = list(RESULT_COLUMNS)
    seen = set(columns)
    for row in rows:
        for key in row:
            if key not in seen:
                seen.add(key)
                columns.append(key)
    return columns


def rows_to_frame(rows: Sequence[Mapping[str, Any]]) -> pd.DataFrame:
    """DataFrame with every RESULT_COLUMN (missing values null) plus extra columns."""
    columns = column_order(rows)
    data = {name: _column(name, [row.get(name) for row in rows]) for name in columns}
    return pd.DataFrame(data, columns=columns)


def _parse_csv_column(name: str, values: list[str | None]) -> list[Any]:
    """Recover numbers from CSV text column-wise (only used when parquet is missing)."""
    present = [v for v in values if v is not None]
    if name in STRING_COLUMNS or not present:
        return values
    for convert in (int, float):
        try:
            return [None if v is None else convert(v) for v in values]
        except ValueError:
            continue
    if all(v in ("True", "False") for v in present):
        return [None if v is None else v == "True" for v in values]
    return values


def read_csv_rows(path: Path) -> list[dict[str, Any]]:
    """Rows of a results CSV; empty cells are None and numeric columns become numbers."""
    with path.open(newline="", encoding="utf-8") as handle:
        raw = [{k: (v if v != "" else None) for k, v in r.items()} for r in csv.DictReader(handle)]
    if not raw:
        return []
    names = list(raw[0])
    parsed = {name: _parse_csv_column(name, [r.get(name) for r in raw]) for name in names}
    return [{name: parsed[name][i] for name in names} for i in range(len(raw))]


def read_parquet_rows(path: Path) -> list[dict[str, Any]]:
    """Rows of a results parquet file as plain Python values (nulls are None)."""
    rows = pq.read_table(path).to_pylist()
    return [{k: (None if _is_null(v) else v) for k, v in row.items()} for row in rows]


def write_results(csv_path: Path, parquet_path: Path, rows: Sequence[Mapping[str, Any]]) -> None:
    """Write ``rows`` to both files, CSV first: the parquet replace is the commit point."""
    frame = rows_to_frame(rows)
    atomic_write(csv_path, lambda handle: frame.to_csv(handle, index=False))
    atomic_write(parquet_path, lambda handle: frame.to_parquet(handle, index=False), binary=True)
