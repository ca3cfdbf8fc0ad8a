"""Results store for benchmark sweeps: one row per (spec, setting), kept on disk as CSV + parquet.

A sweep can run for hours and be killed at any moment (Ctrl-C, SIGTERM from a scheduler, OOM
killer). The store is built so that whatever happens, the results files on disk are always a
complete, parseable snapshot:

* every write is atomic (:mod:`graphspec.atomic`), so a reader never sees half a file;
* ``results.csv`` is written first and ``results.parquet`` last: the parquet file is the
  canonical copy (it keeps types), so its replace is the commit point of an append
  (:func:`benchmarks.store.results_io.write_results`);
* appends take an exclusive ``fcntl.flock`` on ``.results.lock`` and re-read, merge and write
  under it, so several processes (shards pointed at one run dir) never lose each other's rows;
* rows are keyed by ``job_key``: appending a row whose key exists replaces the old row, so a
  retried job never shows up twice; a row without a key never counts.

Files damaged behind the store's back (a full disk, a cut copy, a deleted file) are checked on
every read (:meth:`ResultsStore.check`): the CSV and the parquet are read, damaged rows are
dropped (a cut-off last line, wrong field counts, rows without a job key), and the copies are
compared by job key and, for the keys both hold, value by value (a CSV cell read back as the
CSV reader reads it must equal the parquet's value; pandas writes floats repr-exact, so an
untouched CSV always does). A readable parquet is the truth (its replace is the commit
point, so CSV rows it lacks belong to an append that never finished, whose job a resume
re-runs, and a CSV value it disagrees with was edited by hand); an unreadable or missing
parquet is rebuilt from the CSV. :meth:`ResultsStore.repair`
(run at sweep start) rewrites both files from that merge with one warning per problem; when
neither copy can be read a :class:`ResultsFileError` names both files and what is wrong.
"""

from __future__ import annotations

import contextlib
import fcntl
import os
import warnings
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pandas as pd

from benchmarks.store.layout import RunFolder
from benchmarks.store.results_io import (
    CheckedRows,
    csv_differences,
    read_csv_checked,
    read_parquet_checked,
    rows_to_frame,
    write_results,
)
from benchmarks.store.row import KEY_COLUMN, STATUS_FAILED, STATUS_OK
from graphspec.atomic import WriteError, ensure_dir, remove_stale_temp_files


class ResultsFileError(RuntimeError):
    """The results files exist but cannot be read; appending would silently drop old rows."""


class ResultsRepairWarning(UserWarning):
    """A results file was damaged; its good rows were kept (the CLI prints it as one line)."""


@dataclass(frozen=True)
class ResultsCheck:
    """What :meth:`ResultsStore.check` found: the rows to trust and one line per problem
    (``PATH: what is wrong``); no problems means both files agree and are intact."""

    rows: list[dict[str, Any]]
    problems: list[str] = field(default_factory=list)


Reader = Callable[[Path], CheckedRows]


def _one_line(exc: BaseException) -> str:
    return " ".join(f"{type(exc).__name__}: {exc}".split())


def _read_copy(path: Path, reader: Reader) -> tuple[CheckedRows | None, str | None]:
    """(rows, None) for a readable file, (None, reason) for a damaged one, (None, None) if
    there is no file."""
    if not path.exists():
        return None, None
    try:
        return reader(path), None
    except Exception as exc:  # a foreign or damaged file: the other copy may still be good
        return None, _one_line(exc)


def _disagreement(csv_path: Path, pq_path: Path, csv: CheckedRows, pq: CheckedRows) -> list[str]:
    """Problems of two readable copies holding different job keys."""
    csv_keys = {row[KEY_COLUMN] for row in csv.rows}
    pq_keys = {row[KEY_COLUMN] for row in pq.rows}
    problems = []
    if pq_keys - csv_keys:
        problems.append(f"{csv_path}: lacks {len(pq_keys - csv_keys)} row(s) of {pq_path.name}")
    if csv_keys - pq_keys:  # the parquet replace is an append's commit point
        extra = len(csv_keys - pq_keys)
        problems.append(f"{csv_path}: {extra} row(s) of an unfinished append (dropped)")
    return problems


_CELLS_LISTED = 10
"""Differing cells named one per line; the rest are counted in one more line."""


def _edited(csv_path: Path, pq_path: Path, csv: CheckedRows, pq: CheckedRows) -> list[str]:
    """One problem per cell the CSV holds otherwise than the parquet (a hand edit): the
    parquet's value is the one kept."""
    cells = csv_differences(csv.rows, pq.rows)
    problems = [
        f"{csv_path}: job_key {cell.key}, column {cell.column}: {cell.csv!r} differs from "
        f"{pq_path.name}'s {cell.parquet!r}"
        for cell in cells[:_CELLS_LISTED]
    ]
    if len(cells) > _CELLS_LISTED:
        more = len(cells) - _CELLS_LISTED
        problems.append(f"{csv_path}: {more} more cell(s) differ from {pq_path.name}")
    return problems


class ResultsStore:
    """Results of one run directory: ``results.csv`` (for people) + ``results.parquet``."""

    def __init__(self, run_dir: str | os.PathLike[str]) -> None:
        folder = RunFolder(Path(run_dir))
        self.run_dir = folder.path
        self.csv_path = folder.results_csv
        self.parquet_path = folder.results_parquet
        self.lock_path = folder.results_lock

    def check(self) -> ResultsCheck:
        """Read and cross-check both files (writes nothing; see the module docstring).

        A ResultsFileError when a file exists but neither copy can be read.
        """
        csv, csv_error = _read_copy(self.csv_path, read_csv_checked)
        pq, pq_error = _read_copy(self.parquet_path, read_parquet_checked)
        if csv is None and pq is None:
            errors = [
                f"{path.name}: {error}"
                for path, error in ((self.parquet_path, pq_error), (self.csv_path, csv_error))
                if error
            ]
            if errors:
                raise ResultsFileError(
                    f"cannot read results in {self.run_dir}: " + "; ".join(errors)
                )
            return ResultsCheck([])
        problems = [f"{self.csv_path}: {p}" for p in (csv.problems if csv else [])]
        problems += [f"{self.parquet_path}: {p}" for p in (pq.problems if pq else [])]
        for path, copy, error, other in (
            (self.parquet_path, pq, pq_error, self.csv_path),
            (self.csv_path, csv, csv_error, self.parquet_path),
        ):
            if copy is None:
                what = f"unreadable ({error})" if error else "missing"
                problems.append(f"{path}: {what}; its rows come from {other.name}")
        if csv is not None and pq is not None:
            problems += _disagreement(self.csv_path, self.parquet_path, csv, pq)
            problems += _edited(self.csv_path, self.parquet_path, csv, pq)
        return ResultsCheck(pq.rows if pq is not None else csv.rows if csv else [], problems)

    def rows(self) -> list[dict[str, Any]]:
        """All trusted rows (see :meth:`check`); [] if nothing written yet."""
        return self.check().rows

    def repair(self) -> list[str]:
        """Rewrite both files from :meth:`check`'s rows if it found problems; returns them.

        Each problem is also a :class:`ResultsRepairWarning`. Intact files are not touched,
        so this writes nothing (and needs no write access) on an undamaged run.
        """
        if not self.check().problems:
            return []
        with self.locked():
            found = self.check()  # again under the lock: another shard may have repaired it
            if found.problems:
                write_results(self.csv_path, self.parquet_path, found.rows)
        for problem in found.problems:
            warnings.warn(f"{problem} (repaired)", ResultsRepairWarning, stacklevel=2)
        return found.problems

    def load(self) -> pd.DataFrame:
        """Rows as a DataFrame; empty but with RESULT_COLUMNS when nothing was written yet."""
        return rows_to_frame(self.rows())

    def statuses(self) -> dict[str, str]:
        """job_key -> status of every stored row."""
        return {
            str(row[KEY_COLUMN]): str(row.get("status") or STATUS_FAILED) for row in self.rows()
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
        ensure_dir(self.run_dir)
        try:
            handle = self.lock_path.open("a")
        except OSError as exc:
            raise WriteError.wrap(self.lock_path, exc) from exc
        with handle:
            fcntl.flock(handle.fileno(), fcntl.LOCK_EX)
            try:
                yield
            finally:
                fcntl.flock(handle.fileno(), fcntl.LOCK_UN)

    def append(self, row: Mapping[str, Any]) -> None:
        """Add ``row`` (replacing any row with the same job_key) and rewrite both files."""
        key = row.get(KEY_COLUMN)
        if not isinstance(key, str) or not key:
            raise ValueError("a results row needs a non-empty string 'job_key'")
        with self.locked():
            # Temp files left by a writer killed with SIGKILL; safe to remove under the lock.
            remove_stale_temp_files(self.csv_path)
            remove_stale_temp_files(self.parquet_path)
            rows = [old for old in self.rows() if old.get(KEY_COLUMN) != key]
            rows.append(dict(row))
            write_results(self.csv_path, self.parquet_path, rows)
