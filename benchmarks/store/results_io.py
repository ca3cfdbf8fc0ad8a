"""The results table on disk: its columns, their types, and reading/writing CSV + parquet.

``results.csv`` is for people and spreadsheets; ``results.parquet`` is the canonical copy
because it keeps types. The declared columns and their kinds (:mod:`benchmarks.store.row`)
keep the on-disk schema stable from one append to the next, whatever values the rows
happen to hold. :class:`benchmarks.store.results.ResultsStore`
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

from benchmarks.store.row import KEY_COLUMN, ColumnKind, column_kinds, result_columns
from graphspec.atomic import atomic_write

__all__ = [
    "CellDifference",
    "CheckedRows",
    "column_order",
    "csv_differences",
    "rows_to_frame",
    "read_csv_checked",
    "read_parquet_checked",
    "upgrade_frame",
    "upgrade_rows",
    "write_results",
]


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


_DTYPES = {"int": "Int64", "float": "float64", "bool": "boolean"}


def _column(name: str, values: list[Any], kind: ColumnKind | None) -> pd.Series:
    """Typed column for ``values``: the declared ``kind`` when the values fit it (a column
    nobody declared is typed by its values), else strings.

    Falling back to strings (instead of raising) means a row with an unexpected value type can
    always be stored: parquet cannot hold an object column mixing ints and strings.
    """
    present = [v for v in values if not _is_null(v)]
    clean = [None if _is_null(v) else v for v in values]
    if kind == "text":
        return pd.Series([None if v is None else _to_text(v) for v in clean], dtype=object)
    if not present:
        return pd.Series(clean, dtype=_DTYPES.get(kind or "", object))
    if all(_is_bool(v) for v in present) and kind in (None, "bool"):
        return pd.Series(clean, dtype="boolean")
    numeric = all(isinstance(v, numbers.Real) and not _is_bool(v) for v in present)
    integral = numeric and all(isinstance(v, numbers.Integral) for v in present)
    if integral and kind in (None, "int"):
        return pd.Series(clean, dtype="Int64")
    if numeric and kind in (None, "float", "int"):
        return pd.Series([math.nan if v is None else float(v) for v in clean], dtype="float64")
    return pd.Series([None if v is None else _to_text(v) for v in clean], dtype=object)


def column_order(rows: Sequence[Mapping[str, Any]]) -> list[str]:
    """The declared columns (:func:`benchmarks.store.row.result_columns`) first, then the
    rows' other keys in order of first appearance."""
    columns = result_columns()
    seen = set(columns)
    for row in rows:
        for key in row:
            if key not in seen:
                seen.add(key)
                columns.append(key)
    return columns


def rows_to_frame(rows: Sequence[Mapping[str, Any]]) -> pd.DataFrame:
    """DataFrame with every declared column (missing values null) plus extra columns."""
    columns, kinds = column_order(rows), column_kinds()
    data = {
        name: _column(name, [row.get(name) for row in rows], kinds.get(name)) for name in columns
    }
    return pd.DataFrame(data, columns=columns)


def upgrade_rows(rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Rows of any schema version as this version reads them: a row from before the
    ``schema_version`` column is version 1 (no ``settings``; the report groups its seeds
    by the legacy columns)."""
    for row in rows:
        if row.get("schema_version") is None:
            row["schema_version"] = 1
    return rows


def upgrade_frame(frame: pd.DataFrame) -> pd.DataFrame:
    """:func:`upgrade_rows` for a table read whole: a sweep's table (it has job keys)
    without ``schema_version`` is version 1; a hand-made table is left as it is."""
    if KEY_COLUMN not in frame.columns:
        return frame
    versions = frame.get("schema_version")
    if versions is None:
        return frame.assign(schema_version=pd.Series(1, index=frame.index, dtype="Int64"))
    return frame.assign(schema_version=versions.fillna(1).astype("Int64"))


def _parse_csv_column(name: str, values: list[str | None]) -> list[Any]:
    """Recover numbers from CSV text column-wise (only used when parquet is missing)."""
    present = [v for v in values if v is not None]
    if column_kinds().get(name) == "text" or not present:
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
        key = row.get(KEY_COLUMN)
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
    if not records or KEY_COLUMN not in records[0]:
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
    return CheckedRows(upgrade_rows(_keyed(rows, problems)), problems)


def read_parquet_checked(path: Path) -> CheckedRows:
    """Rows of a results parquet file as plain Python values (nulls are None), without rows
    lacking a job key; pyarrow's own error when the file is not readable parquet."""
    table = pq.read_table(path)
    if KEY_COLUMN not in table.column_names:
        raise ValueError(f"no {KEY_COLUMN} column")
    rows = [{k: (None if _is_null(v) else v) for k, v in row.items()} for row in table.to_pylist()]
    problems: list[str] = []
    return CheckedRows(upgrade_rows(_keyed(rows, problems)), problems)


@dataclass(frozen=True)
class CellDifference:
    """One value the CSV holds for a job key that the parquet (canonical) holds otherwise."""

    key: str
    column: str
    csv: Any
    parquet: Any


def _cell(text: str) -> Any:
    """A lone CSV cell as :func:`_parse_csv_column` would read a column of such cells."""
    for convert in (int, float):
        try:
            return convert(text)
        except ValueError:
            continue
    return {"True": True, "False": False}.get(text, text)


def _as_csv_reads(value: Any, kind: ColumnKind | None) -> Any:
    """``value`` as it reads back from a CSV cell, so the two copies compare by value: an
    empty cell, "" and NaN are None, and text is a number or a boolean where it parses
    as one (a column falls back to text as a whole when one cell does not parse)."""
    if isinstance(value, str) and value and kind != "text":
        value = _cell(value)
    return None if _is_null(value) or value == "" else value


def _same(csv_value: Any, parquet_value: Any) -> bool:
    """Equal values of the same sort (True is not 1): pandas writes floats repr-exact, so
    a float read back from an untouched CSV equals the parquet's exactly."""
    if _is_bool(csv_value) != _is_bool(parquet_value):
        return False
    return csv_value == parquet_value


def csv_differences(
    csv_rows: Sequence[Mapping[str, Any]], parquet_rows: Sequence[Mapping[str, Any]]
) -> list[CellDifference]:
    """Every (job key, column) the two copies both hold a row for but whose values differ,
    e.g. a hand-edited ``results.csv``; keys only one copy holds are not compared."""
    kinds = column_kinds()
    by_key = {row[KEY_COLUMN]: row for row in parquet_rows}
    found = []
    for row in csv_rows:
        other = by_key.get(row[KEY_COLUMN])
        if other is None:
            continue
        for column in dict.fromkeys([*other, *row]):
            kind = kinds.get(column)
            csv_value = _as_csv_reads(row.get(column), kind)
            parquet_value = _as_csv_reads(other.get(column), kind)
            if not _same(csv_value, parquet_value):
                found.append(CellDifference(row[KEY_COLUMN], column, csv_value, parquet_value))
    return found


def write_results(csv_path: Path, parquet_path: Path, rows: Sequence[Mapping[str, Any]]) -> None:
    """Write ``rows`` to both files, CSV first: the parquet replace is the commit point."""
    frame = rows_to_frame(rows)
    atomic_write(csv_path, lambda handle: frame.to_csv(handle, index=False))
    atomic_write(parquet_path, lambda handle: frame.to_parquet(handle, index=False), binary=True)
