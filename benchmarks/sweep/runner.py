"""Generic sweep runner: a list of (spec file, settings) jobs, run robustly and resumably.

The runner knows nothing about what a job does; ``run_one(job, job_dir) -> row`` does the work.
What it guarantees:

* every finished job's row is written to the run dir's :class:`ResultsStore` right away
  (atomically), so a killed sweep loses at most the job that was running;
* re-running the same sweep skips jobs whose key is already stored (``retry_failed=True``
  re-runs failed ones); a job's key hashes the spec bytes and settings, so an edited spec or
  changed setting is a new job (:mod:`benchmarks.sweep.plan`);
* an exception in one job (CUDA OOM, non-finite loss, a bug) is recorded as a ``failed`` row
  and the sweep goes on;
* Ctrl-C / SIGTERM stop the sweep cleanly: the interrupted job records nothing, finished rows
  stay, and :attr:`SweepSummary.exit_code` is 130. A signal that arrives while a finished job's
  row is being written is held until the write is done, so a finished job is never lost
  (:mod:`benchmarks.sweep.interrupts`);
* a disk fault (full disk, read-only folder: :func:`graphspec.atomic.is_disk_fault`) is not
  a job failure: it stops the sweep with a :class:`~graphspec.atomic.WriteError` and records
  nothing for the job it hit, so finished rows stay and a resume re-runs that job once the
  disk is fixed. A job's files are all written atomically, so it leaves no partial file;
* resuming a finished run writes nothing: ``sweep.json`` is rewritten only when the plan
  changes and damaged results files are repaired only when damaged
  (:meth:`ResultsStore.repair`);
* ``select_shard`` splits one plan over processes or machines (one run dir is fine);
* every event carries the sweep's ETA (:class:`SweepEta`, from the jobs finished so far);
* temp files a writer killed by SIGKILL left (:func:`graphspec.atomic.remove_temp_files`)
  are swept: at the start, in the run, report and job folders, those unchanged for
  :data:`STALE_TEMP_S` (younger ones may be another shard's writes in progress), and a
  job's own folder entirely just before the job runs (no other process writes there).
"""

from __future__ import annotations

import contextlib
import dataclasses
import traceback
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import TYPE_CHECKING, Literal

from benchmarks.store.jobs import Job
from benchmarks.store.layout import JobFolder, RunFolder
from benchmarks.store.plan_file import write_plan
from benchmarks.store.results import ResultsStore
from benchmarks.store.row import STATUS_FAILED, STATUS_OK, ResultRow
from benchmarks.sweep.eta import InFlight, SweepEta
from benchmarks.sweep.interrupts import InterruptGuard
from graphspec.atomic import (
    WriteError,
    atomic_write_text,
    ensure_dir,
    is_disk_fault,
    remove_temp_files,
)

ERROR_MAX_CHARS = 500
STALE_TEMP_S = 600.0
"""Seconds a temp file must have been left unchanged before a sweep start removes it from a
folder another shard may be writing to (its writes take seconds, not minutes)."""
EXIT_OK = 0
EXIT_FAILED = 1
EXIT_INTERRUPTED = 130


@dataclass
class SweepSummary:
    """What one ``run_sweep`` call did. ``failed`` counts jobs that failed in this call;
    ``skipped_failed`` counts skipped jobs whose stored row is a failure (resume without
    ``retry_failed``) — both make the exit code 1 so a failure is never hidden by a resume."""

    total: int = 0
    done: int = 0
    skipped: int = 0
    failed: int = 0
    skipped_failed: int = 0
    interrupted: bool = False
    failed_jobs: list[str] = field(default_factory=list)

    @property
    def exit_code(self) -> int:
        if self.interrupted:
            return EXIT_INTERRUPTED
        if self.failed or self.skipped_failed:
            return EXIT_FAILED
        return EXIT_OK

    def count_skip(self, status: str) -> None:
        """A job skipped because ``status`` is stored for it."""
        self.skipped += 1
        if status != STATUS_OK:
            self.skipped_failed += 1

    def count_row(self, job: Job, row: ResultRow) -> None:
        """A job that ran in this call and wrote ``row``."""
        if row.status == STATUS_OK:
            self.done += 1
        else:
            self.failed += 1
            self.failed_jobs.append(job.dir_name)


EventKind = Literal["skip", "start", "phase", "ok", "failed", "interrupted"]
if TYPE_CHECKING:  # the runner runs any job; only the phases' names are the job room's
    from benchmarks.job.run import JobPhase

    SweepPhase = Literal[JobPhase, "report"]  # a job's phases, then the sweep's report


@dataclass(frozen=True)
class SweepEvent:
    """Progress notification for ``on_event`` (e.g. to print a progress line).

    ``phase``: on ``phase`` events, what the job (None: the sweep) is entering. ``eta_s``: the
    sweep's remaining time at the event (:class:`SweepEta`), None before a job ended.
    ``flight``: jobs running, done and failed, when several run at once (``--engine ray``)."""

    kind: EventKind
    job: Job | None
    index: int
    total: int
    row: ResultRow | None = None
    phase: SweepPhase | None = None
    eta_s: float | None = None
    flight: InFlight | None = None


RunOne = Callable[[Job, Path], ResultRow]


def _now() -> str:
    return datetime.now(timezone.utc).isoformat(timespec="milliseconds")


def format_error(exc: BaseException, limit: int = ERROR_MAX_CHARS) -> str:
    """``Type: message`` on one line, at most ``limit`` chars, for the ``error`` column."""
    message = " ".join(str(exc).split())
    text = f"{type(exc).__name__}: {message}" if message else type(exc).__name__
    return text if len(text) <= limit else text[: limit - 3] + "..."


def _identified(job: Job, row: ResultRow, status: str) -> ResultRow:
    """``row`` with the runner-owned identity (spec, key, status, time) and the job's
    settings (:meth:`ResultRow.with_settings`)."""
    row = dataclasses.replace(
        row,
        spec=row.spec or job.name,
        status=status,
        spec_file=str(job.spec_file),
        spec_hash=job.spec_hash,
        job_key=job.key,
        finished_at=_now(),
    )
    return row.with_settings(job.settings)


def build_row(job: Job, result: ResultRow) -> ResultRow:
    """Row for a finished job: run_one's values, the job's settings where it reported
    none (run_one wins, as it knows effective values such as the device it ran on), then
    the runner-owned identity fields."""
    return _identified(job, result, STATUS_OK)


def build_failed_row(job: Job, exc: BaseException | str) -> ResultRow:
    """Row for a job whose run_one raised (or that failed elsewhere, said in one line):
    settings, identity and the one-line error."""
    error = exc if isinstance(exc, str) else format_error(exc)
    return _identified(job, ResultRow(error=error), STATUS_FAILED)


def write_traceback(job_dir: Path, exc: BaseException) -> None:
    """Full traceback next to the job's files; the results row only has one line.

    Written atomically, so it is complete or absent (never empty); a failure to write it is
    ignored so that it cannot mask the job's own error, which the row records.
    """
    text = "".join(traceback.format_exception(type(exc), exc, exc.__traceback__))
    if text.strip():
        with contextlib.suppress(OSError):
            atomic_write_text(JobFolder(job_dir).error, text)


def _attempt(job: Job, job_dir: Path, run_one: RunOne) -> ResultRow:
    """Run one job; its row, a failed row if it raised (interrupts and disk faults propagate)."""
    ensure_dir(job_dir)
    remove_temp_files(job_dir)  # an earlier attempt killed mid-write; this job owns the folder
    try:
        result = run_one(job, job_dir)
        if not isinstance(result, ResultRow):
            raise TypeError(f"run_one returned {type(result).__name__}, not a ResultRow")
        return build_row(job, result)
    except Exception as exc:
        if isinstance(exc, WriteError):
            raise  # the disk, not the job, failed: stop the sweep (see the module docstring)
        if is_disk_fault(exc):
            assert isinstance(exc, OSError)
            raise WriteError.wrap(exc.filename or job_dir, exc) from exc
        write_traceback(job_dir, exc)
        return build_failed_row(job, exc)


def sweep_stale_temp_files(run_dir: Path) -> list[Path]:
    """Sweep the run folder, its report folder and every job folder of temp files left
    unchanged for :data:`STALE_TEMP_S`; returns those removed."""
    run = RunFolder(run_dir)
    report = [] if run.report_dir.is_symlink() else [run.report_dir]  # not the run's own
    folders = [run.path, *report, *(job.path for job in run.job_folders())]
    return [path for folder in folders for path in remove_temp_files(folder, STALE_TEMP_S)]


def skips(status: str | None, retry_failed: bool) -> bool:
    """Whether a job with ``status`` stored is skipped: if ok, or failed without a retry."""
    return status is not None and (status == STATUS_OK or not retry_failed)


def open_run(run_dir: Path, store: ResultsStore, planned: Sequence[Job]) -> dict[str, str]:
    """Make the run folder ready for a sweep of the ``planned`` jobs: created, damaged
    results repaired, stale temp files swept, the plan recorded; returns the stored status
    of each finished job key (what a resume skips)."""
    ensure_dir(run_dir)
    store.repair()
    sweep_stale_temp_files(run_dir)
    write_plan(run_dir, list(planned))
    return store.statuses()


def run_sweep(
    jobs: Sequence[Job],
    run_dir: str | Path,
    run_one: RunOne,
    *,
    retry_failed: bool = False,
    on_event: Callable[[SweepEvent], None] | None = None,
    planned: Sequence[Job] | None = None,
    eta: SweepEta | None = None,
) -> SweepSummary:
    """Run ``jobs`` in order into ``run_dir``, skipping finished ones; see module docstring.

    ``planned`` is the full plan recorded in sweep.json when ``jobs`` is one shard of it (pass
    the same full plan from every shard so they all write the same file); default ``jobs``.
    ``eta`` times the jobs for the events' ``eta_s`` (pass one to read it between events).
    Exceptions from ``on_event``, from writing results and disk faults inside a job propagate
    (a disk fault as :class:`~graphspec.atomic.WriteError`): they are bugs or a broken disk,
    not job failures.
    """
    run_dir = Path(run_dir)
    jobs = list(jobs)
    store = ResultsStore(run_dir)
    summary = SweepSummary(total=len(jobs))
    eta = SweepEta() if eta is None else eta

    def emit(kind: EventKind, job: Job | None, index: int, row: ResultRow | None) -> None:
        if on_event is not None:
            on_event(SweepEvent(kind, job, index, len(jobs), row, eta_s=eta.seconds()))

    guard = InterruptGuard()
    with guard:
        index = 0
        try:
            stored = open_run(run_dir, store, jobs if planned is None else planned)
            eta.left = sum(not skips(stored.get(job.key), retry_failed) for job in jobs)
            for index, job in enumerate(jobs):
                status = stored.get(job.key)
                if status is not None and skips(status, retry_failed):
                    summary.count_skip(status)
                    emit("skip", job, index, None)
                    continue
                eta.start()
                emit("start", job, index, None)
                row = _attempt(job, RunFolder(run_dir).job(job.dir_name).path, run_one)
                with guard.deferred():
                    store.append(row.as_record())
                    summary.count_row(job, row)
                eta.finish()
                emit("ok" if row.status == STATUS_OK else "failed", job, index, row)
        except KeyboardInterrupt:
            summary.interrupted = True
            emit("interrupted", None, index, None)
    return summary
