"""Results store for benchmark sweeps: one row per (spec, setting), kept on disk as CSV + parquet.

A sweep can run for hours and be killed at any moment (Ctrl-C, SIGTERM from a scheduler, OOM
killer). The store is built so that whatever happens, the results files on disk are always a
complete, parseable snapshot:

* every write goes to a temp file in the same directory, is flushed and fsync'ed, then
  ``os.replace``'d over the old file (atomic on POSIX), so a reader never sees half a file;
* ``results.csv`` is written first and ``results.parquet`` last: the parquet file is the
  canonical copy (it keeps types), so its replace is the commit point of an append;
* appends take an exclusive ``fcntl.flock`` on ``.results.lock`` and re-read, merge and write
  under it, so several processes (shards pointed at one run dir) never lose each other's rows;
* rows are keyed by ``job_key``: appending a row whose key exists replaces the old row, so a
  retried job never shows up twice.
"""

from __future__ import annotations

import contextlib
import csv
import fcntl
import hashlib
import json
import math
import numbers
import os
import tempfile
from collections.abc import Iterator, Mapping, Sequence
from pathlib import Path
from typing import Any

import pandas as pd
import pyarrow.parquet as pq

RESULT_COLUMNS: list[str] = [
    "spec",
    "task",
    "status",
    "error",
    "params",
    "gflops",
    "latency_ms",
    "latency_iqr_ms",
    "throughput_ips",
    "peak_mem_mb",
    "train_s",
    "epochs",
    "image_size",
    "batch_size",
    "device",
    "dtype",
    "seed",
    "data",
    "pixel_acc",
    "miou",
    "map",
    "map50",
    "map_voc07",
    "spec_file",
    "spec_hash",
    "job_key",
    "finished_at",
]

STATUS_OK = "ok"
STATUS_FAILED = "failed"

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
    }
)
INT_COLUMNS = frozenset({"params", "epochs", "image_size", "batch_size", "seed"})
FLOAT_COLUMNS = frozenset(set(RESULT_COLUMNS) - STRING_COLUMNS - INT_COLUMNS)

CSV_NAME = "results.csv"
PARQUET_NAME = "results.parquet"
LOCK_NAME = ".results.lock"
_TMP_SUFFIX = ".tmp"


class ResultsFileError(RuntimeError):
    """The results files exist but cannot be read; appending would silently drop old rows."""


def file_hash(path: str | os.PathLike[str]) -> str:
    """sha256 of the file bytes (first 16 hex chars): an edited spec is a different job."""
    return hashlib.sha256(Path(path).read_bytes()).hexdigest()[:16]


def settings_json(settings: Mapping[str, Any]) -> str:
    """Canonical JSON of a settings dict (sorted keys, no whitespace) used for hashing."""
    return json.dumps(dict(settings), sort_keys=True, separators=(",", ":"), default=str)


def job_key(spec_hash: str, settings: Mapping[str, Any], spec_name: str | None = None) -> str:
    """Stable identity of one (spec, settings) job: 16 hex chars of sha256.

    Any change of spec content or of any setting gives a new key, so resume re-runs it. The
    optional ``spec_name`` keeps two spec files with identical bytes apart (otherwise their rows
    would replace each other); it is left out of the hash when None.
    """
    parts = [spec_hash, settings_json(settings)]
    if spec_name is not None:
        parts.append(spec_name)
    return hashlib.sha256("\n".join(parts).encode("utf-8")).hexdigest()[:16]


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
        dtype = "Int64" if name in INT_COLUMNS else "float64" if name in FLOAT_COLUMNS else object
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


def _fsync_dir(directory: Path) -> None:
    """Make the rename itself durable (best effort: not every filesystem allows it)."""
    with contextlib.suppress(OSError):
        fd = os.open(directory, os.O_RDONLY)
        try:
            os.fsync(fd)
        finally:
            os.close(fd)


def _target_mode(path: Path) -> int:
    """Permissions for the new file: the old file's, else the usual umask-derived default.

    mkstemp creates files 0600, which would make results unreadable to other users.
    """
    with contextlib.suppress(FileNotFoundError):
        return path.stat().st_mode & 0o777
    umask = os.umask(0o022)
    os.umask(umask)
    return 0o666 & ~umask


def atomic_write(path: Path, write: Any, *, binary: bool = False) -> None:
    """Write ``path`` via temp file + fsync + os.replace; ``write(handle)`` fills the file.

    On any error (including KeyboardInterrupt) the temp file is removed and ``path`` keeps its
    old content, so readers only ever see the old or the new complete file.
    """
    path = Path(path)
    fd, tmp_name = tempfile.mkstemp(prefix=f".{path.name}.", suffix=_TMP_SUFFIX, dir=path.parent)
    try:
        os.fchmod(fd, _target_mode(path))
        mode = "wb" if binary else "w"
        kwargs: dict[str, Any] = {} if binary else {"encoding": "utf-8", "newline": ""}
        with os.fdopen(fd, mode, **kwargs) as handle:
            write(handle)
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(tmp_name, path)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(tmp_name)
        raise
    _fsync_dir(path.parent)


def atomic_write_text(path: Path, text: str) -> None:
    """Atomically replace ``path`` with ``text`` (UTF-8)."""
    atomic_write(path, lambda handle: handle.write(text))


class ResultsStore:
    """Results of one run directory: ``results.csv`` (for people) + ``results.parquet``."""

    def __init__(self, run_dir: str | os.PathLike[str]) -> None:
        self.run_dir = Path(run_dir)
        self.csv_path = self.run_dir / CSV_NAME
        self.parquet_path = self.run_dir / PARQUET_NAME
        self.lock_path = self.run_dir / LOCK_NAME

    def rows(self) -> list[dict[str, Any]]:
        """All stored rows (parquet preferred, CSV as fallback); [] if nothing written yet."""
        errors: list[str] = []
        sources = ((self.parquet_path, read_parquet_rows), (self.csv_path, read_csv_rows))
        for path, reader in sources:
            if not path.exists():
                continue
            try:
                return reader(path)
            except Exception as exc:  # a foreign or damaged file: try the other copy
                errors.append(f"{path.name}: {type(exc).__name__}: {exc}")
        if errors:
            raise ResultsFileError(f"cannot read results in {self.run_dir}: " + "; ".join(errors))
        return []

    def load(self) -> pd.DataFrame:
        """Rows as a DataFrame; empty but with RESULT_COLUMNS when nothing was written yet."""
        return rows_to_frame(self.rows())

    def statuses(self) -> dict[str, str]:
        """job_key -> status of every stored row."""
        return {
            str(row["job_key"]): str(row.get("status") or STATUS_FAILED)
            for row in self.rows()
            if row.get("job_key")
        }

    def done_keys(self, *, include_failed: bool = True) -> set[str]:
        """Keys that resume skips: finished rows of either status by default.

        With ``include_failed=False`` (the CLI's ``--retry-failed``) only ok rows count as done,
        so failed jobs are run again and their row is replaced.
        """
        return {
            key for key, status in self.statuses().items() if include_failed or status == STATUS_OK
        }

    @contextlib.contextmanager
    def locked(self) -> Iterator[None]:
        """Exclusive inter-process lock on this run dir's results (blocks until free)."""
        self.run_dir.mkdir(parents=True, exist_ok=True)
        with self.lock_path.open("a") as handle:
            fcntl.flock(handle.fileno(), fcntl.LOCK_EX)
            try:
                yield
            finally:
                fcntl.flock(handle.fileno(), fcntl.LOCK_UN)

    def append(self, row: Mapping[str, Any]) -> None:
        """Add ``row`` (replacing any row with the same job_key) and rewrite both files."""
        key = row.get("job_key")
        if not isinstance(key, str) or not key:
            raise ValueError("a results row needs a non-empty string 'job_key'")
        with self.locked():
            self._remove_stale_temp_files()
            rows = [old for old in self.rows() if old.get("job_key") != key]
            rows.append(dict(row))
            self._write(rows)

    def _remove_stale_temp_files(self) -> None:
        """Temp files left by a writer killed with SIGKILL (only called under the lock)."""
        for name in (CSV_NAME, PARQUET_NAME):
            for stale in self.run_dir.glob(f".{name}.*{_TMP_SUFFIX}"):
                with contextlib.suppress(FileNotFoundError):
                    stale.unlink()

    def _write(self, rows: Sequence[Mapping[str, Any]]) -> None:
        frame = rows_to_frame(rows)
        atomic_write(self.csv_path, lambda handle: frame.to_csv(handle, index=False))
        atomic_write(
            self.parquet_path, lambda handle: frame.to_parquet(handle, index=False), binary=True
        )
