"""The results table on disk: its columns, their types, and reading/writing CSV + parquet.

``results.csv`` is for people and spreadsheets; ``results.parquet`` is the canonical copy
because it keeps types. Declared column kinds keep the on-disk schema stable from one append
to the next, whatever values the rows happen to hold. :class:`benchmarks.store.results.ResultsStore`
decides *when* to read and write; this module only knows *how*.
"""

from __future__ import annotations

import csv
import io
import json
import math
import numbers
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pandas as pd
import pyarrow.parquet as pq

from graphspec.atomic import atomic_write

__all__ = [
    "RESULT_COLUMNS",
    "CheckedRows",
    "column_order",
    "rows_to_frame",
    "read_csv_checked",
    "read_parquet_checked",
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


@dataclass(frozen=True)
class CheckedRows:
    """The rows of one results file that can be trusted, and what was wrong with the rest.

    ``problems`` are short phrases (the caller names the file); every kept row has a
    non-empty ``job_key`` and no key appears twice (the last row of a key wins, as in append).
    """

    rows: list[dict[str, Any]]
    problems: list[str] = field(default_factory=list)


def _keyed(rows: list[dict[str, Any]], problems: list[str]) -> list[dict[str, Any]]:
    """``rows`` without keyless rows and with one row per key (last wins); notes both."""
    by_key: dict[str, dict[str, Any]] = {}
    keyless = 0
    for row in rows:
        key = row.get("job_key")
        if not isinstance(key, str) or not key:
            keyless += 1
            continue
        if key in by_key:
            problems.append(f"job_key {key} appears more than once (the last row is kept)")
            del by_key[key]
        by_key[key] = row
    if keyless:
        problems.append(f"{keyless} row(s) without a job_key (dropped)")
    return list(by_key.values())


def read_csv_checked(path: Path) -> CheckedRows:
    """Rows of a results CSV, dropping a cut-off last line, lines with the wrong number of
    fields and rows without a job key; a ValueError when the file is no results CSV at all.

    A line cut mid-way (the disk filled up, a copy was interrupted) is the last line of a file
    that does not end in a newline: its row could look valid but hold a truncated value.
    """
    text = path.read_text(encoding="utf-8")
    records = list(csv.reader(io.StringIO(text, newline="")))
    if not records or "job_key" not in records[0]:
        raise ValueError("no header line with a job_key column")
    header, body = records[0], records[1:]
    problems: list[str] = []
    if not text.endswith("\n") and body:
        body = body[:-1]
        problems.append("the last line is cut off (dropped)")
    raw: list[dict[str, str | None]] = []
    for number, record in enumerate(body, start=2):
        if not record:
            continue
        if len(record) != len(header):
            problems.append(f"row {number} has {len(record)} fields, not {len(header)} (dropped)")
            continue
        raw.append({k: (v if v != "" else None) for k, v in zip(header, record, strict=True)})
    parsed = {name: _parse_csv_column(name, [r[name] for r in raw]) for name in header}
    rows = [{name: parsed[name][i] for name in header} for i in range(len(raw))]
    return CheckedRows(_keyed(rows, problems), problems)


def read_parquet_checked(path: Path) -> CheckedRows:
    """Rows of a results parquet file as plain Python values (nulls are None), without rows
    lacking a job key; pyarrow's own error when the file is not readable parquet."""
    table = pq.read_table(path)
    if "job_key" not in table.column_names:
        raise ValueError("no job_key column")
    rows = [{k: (None if _is_null(v) else v) for k, v in row.items()} for row in table.to_pylist()]
    problems: list[str] = []
    return CheckedRows(_keyed(rows, problems), problems)


def write_results(csv_path: Path, parquet_path: Path, rows: Sequence[Mapping[str, Any]]) -> None:
    """Write ``rows`` to both files, CSV first: the parquet replace is the commit point."""
    frame = rows_to_frame(rows)
    atomic_write(csv_path, lambda handle: frame.to_csv(handle, index=False))
    atomic_write(parquet_path, lambda handle: frame.to_parquet(handle, index=False), binary=True)
