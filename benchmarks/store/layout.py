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
eight hex digits), so every seed and setting of a spec has a folder of its own. A stem of
more than :data:`STEM_MAX_BYTES` bytes is cut, with a hash of the whole stem
(:func:`graphspec.atomic.bounded_name`), so the folder name and every name made from it
stay far below the 255-byte file-name limit; shorter stems, i.e. every folder name that
existed before the cut, are kept as they are, and a folder named in full by an older
version is still found (:func:`find_job_folder`, :meth:`RunFolder.job_of`).

The report copies files out of job folders, and a run folder may come from anyone, so
:meth:`JobFolder.own_file` tells a regular file of the run from a symlink or a path that
leads out of it.
"""

from __future__ import annotations

import glob
import stat
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from graphspec.atomic import bounded_name

__all__ = ["STEM_MAX_BYTES", "JobFolder", "RunFolder", "find_job_folder", "job_folder_name"]

RESULTS_CSV = "results.csv"
RESULTS_PARQUET = "results.parquet"
RESULTS_LOCK = ".results.lock"
PROTOCOL = "protocol.json"
PLAN = "sweep.json"
REPORT_DIR = "report"
JOBS_DIR = "jobs"
STEM_MAX_BYTES = 100
"""The longest spec stem kept whole in a job folder name (UTF-8 bytes)."""
NAME_MAX_BYTES = 255
"""The longest file name of the usual file systems (ext4, XFS, btrfs, APFS, NTFS)."""


def job_folder_name(spec_stem: str, key: str) -> str:
    """``<spec stem>-<key[:8]>``: readable, and unique per job key; a stem longer than
    :data:`STEM_MAX_BYTES` is cut with a hash of it."""
    return f"{bounded_name(spec_stem, STEM_MAX_BYTES)}-{key[:8]}"


def _job_folder_names(spec_stem: str, key: str) -> list[str]:
    """The names the folder of a job may have: today's, then the whole-stem name an older
    version gave a long stem (when it fits a file name at all)."""
    names = [job_folder_name(spec_stem, key), f"{spec_stem}-{key[:8]}"]
    fits = [n for n in names if len(n.encode("utf-8", "surrogatepass")) <= NAME_MAX_BYTES]
    return list(dict.fromkeys(fits))


@dataclass(frozen=True)
class JobFolder:
    """The files of one job's folder."""

    path: Path

    @property
    def name(self) -> str:
        return self.path.name

    @property
    def run_dir(self) -> Path:
        """The run folder this job folder is in (``RUN/jobs/NAME``)."""
        return self.path.parent.parent

    def own_file(self, path: Path) -> bool:
        """Whether ``path`` is a regular file, not a symlink, whose real path lies inside
        the run folder: the only kind of job file the report may copy or embed."""
        try:
            if not stat.S_ISREG(path.lstat().st_mode):
                return False
            return path.resolve(strict=True).is_relative_to(self.run_dir.resolve(strict=True))
        except (OSError, RuntimeError):
            return False

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
        """The folder of a job: the one that exists (a long stem's folder may have its
        whole-stem name from an older version), else the name it gets now."""
        folders = [self.job(name) for name in _job_folder_names(spec_stem, key)]
        return next((f for f in folders if f.path.is_dir()), folders[0])

    def job_folders(self) -> list[JobFolder]:
        """Every job folder present (real folders only, not symlinks), sorted by name."""
        try:
            entries = sorted(p for p in (self.path / JOBS_DIR).iterdir())
        except OSError:
            return []
        return [JobFolder(p) for p in entries if p.is_dir() and not p.is_symlink()]


def find_job_folder(run_dirs: Sequence[Path], spec_file: object, key: object) -> JobFolder | None:
    """The existing folder of the job with ``key`` in any of ``run_dirs``; None if none.

    Later run folders win, as rows from later sources win when runs are merged. Without a
    recorded spec file the stem is matched by any name. A job folder that is a symlink or
    leads out of its run folder is not the run's, and is never returned.
    """
    if not isinstance(key, str) or not key:
        return None
    stem = Path(spec_file).stem if isinstance(spec_file, str) and spec_file else None
    if stem is None:
        patterns = [f"*-{glob.escape(key[:8])}"]
    else:
        patterns = [glob.escape(name) for name in _job_folder_names(stem, key)]
    for run_dir in reversed(list(run_dirs)):
        jobs = Path(run_dir) / JOBS_DIR
        for pattern in patterns:
            try:
                found = [p for p in sorted(jobs.glob(pattern)) if _inside(p, Path(run_dir))]
            except OSError:  # an unreadable jobs folder has no job of the run to give
                found = []
            if found:
                return JobFolder(found[0])
    return None


def _inside(folder: Path, run_dir: Path) -> bool:
    """Whether ``folder`` is a real folder (not a symlink) inside ``run_dir``."""
    try:
        real = folder.resolve(strict=True).is_relative_to(run_dir.resolve(strict=True))
        return real and folder.is_dir() and not folder.is_symlink()
    except (OSError, RuntimeError):
        return False
