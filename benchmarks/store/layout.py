"""The run folder: every file a bench run writes or reads, named here and nowhere else.

::

    RUN/
      results.csv, results.parquet   one row per job (the parquet is the canonical copy)
      .results.lock                  the lock around appends (shards share a folder)
      protocol.json                  how the sweep was run (benchmarks.store.protocol)
      sweep.json                     the planned jobs (benchmarks.store.plan_file)
      report/                        report.html, report.md, summary.csv, charts
      jobs/<spec stem>-<key8>/       one folder per job:
        config.json                  settings, recipe, normalisation, the row, logs
        history.csv                  one line per epoch
        best.pt, last.pt             weights of the best validation epoch, of the last one
        predictions.png              the best weights on the first validation images
        per_class.json               the best weights' per-class test numbers
        error.txt                    a failed job's traceback

A job's folder name is readable (the spec file's stem) and unique per job key (its first
eight hex digits), so every seed and setting of a spec has a folder of its own.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

__all__ = ["JobFolder", "RunFolder", "find_job_folder", "job_folder_name"]

RESULTS_CSV = "results.csv"
RESULTS_PARQUET = "results.parquet"
RESULTS_LOCK = ".results.lock"
PROTOCOL = "protocol.json"
PLAN = "sweep.json"
REPORT_DIR = "report"
JOBS_DIR = "jobs"


def job_folder_name(spec_stem: str, key: str) -> str:
    """``<spec stem>-<key[:8]>``: readable, and unique per job key."""
    return f"{spec_stem}-{key[:8]}"


@dataclass(frozen=True)
class JobFolder:
    """The files of one job's folder."""

    path: Path

    @property
    def name(self) -> str:
        return self.path.name

    @property
    def config(self) -> Path:
        return self.path / "config.json"

    @property
    def history(self) -> Path:
        return self.path / "history.csv"

    @property
    def best_weights(self) -> Path:
        return self.path / "best.pt"

    @property
    def last_weights(self) -> Path:
        return self.path / "last.pt"

    @property
    def predictions(self) -> Path:
        return self.path / "predictions.png"

    @property
    def per_class(self) -> Path:
        return self.path / "per_class.json"

    @property
    def error(self) -> Path:
        return self.path / "error.txt"


@dataclass(frozen=True)
class RunFolder:
    """The files of one run folder (``graphspec bench --out RUN``)."""

    path: Path

    def __post_init__(self) -> None:
        object.__setattr__(self, "path", Path(self.path))

    @property
    def results_csv(self) -> Path:
        return self.path / RESULTS_CSV

    @property
    def results_parquet(self) -> Path:
        return self.path / RESULTS_PARQUET

    @property
    def results_files(self) -> tuple[Path, Path]:
        """The two results copies, the canonical parquet first."""
        return (self.results_parquet, self.results_csv)

    @property
    def results_lock(self) -> Path:
        return self.path / RESULTS_LOCK

    @property
    def protocol(self) -> Path:
        return self.path / PROTOCOL

    @property
    def plan(self) -> Path:
        return self.path / PLAN

    @property
    def report_dir(self) -> Path:
        return self.path / REPORT_DIR

    @property
    def inputs(self) -> tuple[Path, ...]:
        """The files a report of this run is made from (to tell whether it is current)."""
        return (*self.results_files, self.protocol, self.plan)

    def job(self, folder_name: str) -> JobFolder:
        """The folder of the job named ``folder_name`` (see :func:`job_folder_name`)."""
        return JobFolder(self.path / JOBS_DIR / folder_name)

    def job_of(self, spec_stem: str, key: str) -> JobFolder:
        return self.job(job_folder_name(spec_stem, key))


def find_job_folder(run_dirs: Sequence[Path], spec_file: object, key: object) -> JobFolder | None:
    """The existing folder of the job with ``key`` in any of ``run_dirs``; None if none.

    Later run folders win, as rows from later sources win when runs are merged. Without a
    recorded spec file the stem is matched by any name.
    """
    if not isinstance(key, str) or not key:
        return None
    stem = Path(spec_file).stem if isinstance(spec_file, str) and spec_file else "*"
    for run_dir in reversed(list(run_dirs)):
        jobs = Path(run_dir) / JOBS_DIR
        found = sorted(jobs.glob(job_folder_name(stem, key)))
        if found:
            return JobFolder(found[0])
    return None
