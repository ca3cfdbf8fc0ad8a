"""Results store for benchmark sweeps: one row per (spec, setting), kept on disk as CSV + parquet.

A sweep can run for hours and be killed at any moment (Ctrl-C, SIGTERM from a scheduler, OOM
killer). The store is built so that whatever happens, the results files on disk are always a
complete, parseable snapshot:

* every write is atomic (:mod:`benchmarks.atomic`), so a reader never sees half a file;
* ``results.csv`` is written first and ``results.parquet`` last: the parquet file is the
  canonical copy (it keeps types), so its replace is the commit point of an append
  (:func:`benchmarks.results_io.write_results`);
* appends take an exclusive ``fcntl.flock`` on ``.results.lock`` and re-read, merge and write
  under it, so several processes (shards pointed at one run dir) never lose each other's rows;
* rows are keyed by ``job_key``: appending a row whose key exists replaces the old row, so a
  retried job never shows up twice.
"""

from __future__ import annotations

import contextlib
import fcntl
import hashlib
import json
import os
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any

import pandas as pd

from benchmarks.atomic import remove_stale_temp_files
from benchmarks.results_io import read_csv_rows, read_parquet_rows, rows_to_frame, write_results

STATUS_OK = "ok"
STATUS_FAILED = "failed"

CSV_NAME = "results.csv"
PARQUET_NAME = "results.parquet"
LOCK_NAME = ".results.lock"


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
            # Temp files left by a writer killed with SIGKILL; safe to remove under the lock.
            remove_stale_temp_files(self.csv_path)
            remove_stale_temp_files(self.parquet_path)
            rows = [old for old in self.rows() if old.get("job_key") != key]
            rows.append(dict(row))
            write_results(self.csv_path, self.parquet_path, rows)
