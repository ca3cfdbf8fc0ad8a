"""Reading results back: one results file or run folder, or several merged.

Files the sweep wrote are cross-checked as the store checks them
(:meth:`~benchmarks.store.results.ResultsStore.check`): a damaged file warns and yields its
good rows, one beyond repair is a :class:`~benchmarks.store.results.ResultsFileError`
naming it, never a pyarrow traceback.
"""

from __future__ import annotations

import warnings
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

import pandas as pd

from benchmarks.store.layout import RunFolder
from benchmarks.store.results import ResultsFileError, ResultsRepairWarning, ResultsStore
from benchmarks.store.results_io import (
    read_csv_checked,
    read_parquet_checked,
    rows_to_frame,
    upgrade_frame,
)
from benchmarks.store.row import KEY_COLUMN

__all__ = ["MergedResults", "merge_results", "read_results", "run_dir_of"]


def _warn(problems: Sequence[str]) -> None:
    """One warning per damaged-file problem; the report leaves the run's files as they are."""
    for problem in problems:
        warnings.warn(
            f"{problem} (the report uses the good rows; the next bench run repairs the file)",
            ResultsRepairWarning,
            stacklevel=3,
        )


def _read_plain(target: Path) -> pd.DataFrame:
    """A results file as pandas reads it (for tables without job keys, e.g. hand-made)."""
    return pd.read_parquet(target) if target.suffix == ".parquet" else pd.read_csv(target)


def _read_checked(target: Path) -> pd.DataFrame | None:
    """Rows cross-checked like the sweep's store (:meth:`ResultsStore.check`) when damaged,
    None when intact; a ResultsFileError (naming the file) when it cannot be read."""
    if target.is_dir():
        found = ResultsStore(target).check()
        problems = found.problems
    else:
        reader = read_parquet_checked if target.suffix == ".parquet" else read_csv_checked
        try:
            found = reader(target)
        except Exception as exc:
            reason = " ".join(f"{type(exc).__name__}: {exc}".split())
            raise ResultsFileError(f"cannot read results file {target}: {reason}") from exc
        problems = [f"{target}: {problem}" for problem in found.problems]
    _warn(problems)
    return rows_to_frame(found.rows) if problems else None


def read_results(path: str | Path) -> pd.DataFrame:
    """Read a results file, or a run directory's results.parquet (preferred) / results.csv.

    Files written by the sweep are cross-checked: a damaged one warns and yields its good
    rows, one beyond repair is a ResultsFileError naming it, never a pyarrow traceback.
    A table without a ``job_key`` column (not the sweep's) is read as it is; a sweep's
    table of an older schema is read as this version reads it
    (:func:`~benchmarks.store.results_io.upgrade_frame`).
    """
    target = Path(path)
    plain = target
    if target.is_dir():
        files = RunFolder(target).results_files
        found = [path for path in files if path.is_file()]
        if not found:
            names = " or ".join(path.name for path in files)
            raise FileNotFoundError(f"no {names} in {target}")
        plain = found[0]
    elif target.suffix not in (".parquet", ".csv"):
        raise ValueError(f"unsupported results file {target} (expected .parquet or .csv)")
    try:
        checked = _read_checked(target)
    except ResultsFileError as exc:
        try:
            return _read_plain(plain)
        except Exception:
            raise exc from None
    return upgrade_frame(checked if checked is not None else _read_plain(plain))


@dataclass
class MergedResults:
    """The rows of several runs or shards, and a line for each thing a reader should know
    about how they were merged."""

    rows: pd.DataFrame
    notes: list[str] = field(default_factory=list)


def merge_results(paths: Sequence[Path]) -> MergedResults:
    """Concatenate results from run directories or shards, one row per job.

    Rows are told apart by their job key (spec bytes, name and every setting), so runs
    that differ in any setting (``--lr``, ``--data``, ``--limit``, ...) keep all their rows.
    A job found in more than one source (the same key: a re-run shard, a run listed twice)
    is reported once, from the source listed last, and a note says so. Rows without a key
    (a hand-made table) are kept as they are.
    """
    frames = [frame for frame in (read_results(p) for p in paths) if not frame.empty]
    if not frames:
        return MergedResults(pd.DataFrame())
    merged = pd.concat(frames, ignore_index=True, sort=False)
    if KEY_COLUMN not in merged.columns:
        return MergedResults(merged)
    keys = merged[KEY_COLUMN]
    keyed = keys.notna() & (keys.astype(str) != "")
    repeated = keyed & keys.duplicated(keep="last")
    notes = []
    if repeated.any():
        count = keys[repeated].nunique()
        notes.append(
            f"{count} job(s) appear in more than one of the merged runs (same spec and "
            "settings): each is reported once, from the run listed last."
        )
    return MergedResults(merged[~repeated].reset_index(drop=True), notes)


def run_dir_of(path: str | Path) -> Path:
    """The run directory of a run directory or of a results file inside one."""
    target = Path(path)
    return target if target.is_dir() else target.parent
