"""Generic sweep runner: a list of (spec file, settings) jobs, run robustly and resumably.

The runner knows nothing about what a job does; ``run_one(job, job_dir) -> row`` does the work.
What it guarantees:

* every finished job's row is written to the run dir's :class:`ResultsStore` right away
  (atomically), so a killed sweep loses at most the job that was running;
* re-running the same sweep skips jobs whose key is already stored (``retry_failed=True``
  re-runs failed ones); a job's key hashes the spec bytes and settings, so an edited spec or
  changed setting is a new job;
* an exception in one job (CUDA OOM, non-finite loss, a bug) is recorded as a ``failed`` row
  and the sweep goes on;
* Ctrl-C / SIGTERM stop the sweep cleanly: the interrupted job records nothing, finished rows
  stay, and :attr:`SweepSummary.exit_code` is 130. A signal that arrives while a finished job's
  row is being written is held until the write is done, so a finished job is never lost;
* ``select_shard`` splits one plan over several processes or machines (same run dir is fine:
  the store locks around appends).
"""

from __future__ import annotations

import contextlib
import functools
import itertools
import json
import re
import signal
import threading
import traceback
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from types import FrameType
from typing import Any, Literal

from benchmarks.results import (
    STATUS_FAILED,
    STATUS_OK,
    ResultsStore,
    atomic_write_text,
    file_hash,
    job_key,
)

PLAN_NAME = "sweep.json"
JOBS_DIR = "jobs"
ERROR_MAX_CHARS = 500
EXIT_OK = 0
EXIT_FAILED = 1
EXIT_INTERRUPTED = 130


@dataclass
class Job:
    """One unit of a sweep: a spec file trained/evaluated/timed under one settings dict.

    ``spec_hash`` (and so ``key``) is read from the file once and cached, so the key a job is
    planned under is the key its row is stored under even if the file is edited mid-sweep.
    """

    spec_file: Path
    settings: dict[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        self.spec_file = Path(self.spec_file)
        self.settings = dict(self.settings)

    @property
    def name(self) -> str:
        """Spec file stem, used in job directory names and as the default ``spec`` column."""
        return self.spec_file.stem

    @functools.cached_property
    def spec_hash(self) -> str:
        return file_hash(self.spec_file)

    @functools.cached_property
    def key(self) -> str:
        return job_key(self.spec_hash, self.settings, spec_name=self.name)

    @property
    def dir_name(self) -> str:
        """Job directory name: readable and unique per key."""
        return f"{self.name}-{self.key[:8]}"

    def describe(self) -> dict[str, Any]:
        """JSON-ready summary for sweep.json."""
        return {
            "name": self.name,
            "spec_file": str(self.spec_file),
            "spec_hash": self.spec_hash,
            "key": self.key,
            "job_dir": f"{JOBS_DIR}/{self.dir_name}",
            "settings": self.settings,
        }


def plan_jobs(
    spec_files: Iterable[str | Path], settings_list: Iterable[Mapping[str, Any]]
) -> list[Job]:
    """Cartesian product spec x settings, spec-major, in the given order.

    Exact duplicates (same key: same file bytes, name and settings) are dropped, keeping the
    first, because they would write the same results row.
    """
    settings_seq = [dict(s) for s in settings_list]
    jobs: list[Job] = []
    seen: set[str] = set()
    for spec_file, settings in itertools.product(list(spec_files), settings_seq):
        job = Job(Path(spec_file), settings)
        if job.key not in seen:
            seen.add(job.key)
            jobs.append(job)
    return jobs


_SHARD_RE = re.compile(r"^\s*(\d+)\s*/\s*(\d+)\s*$")


def parse_shard(shard: str) -> tuple[int, int]:
    """``"i/n"`` -> (i, n) with 0 <= i < n; ValueError that says what is wrong otherwise."""
    match = _SHARD_RE.match(shard)
    if match is None:
        raise ValueError(f"bad shard {shard!r}: expected 'i/n' with integers, e.g. '0/4'")
    index, count = int(match.group(1)), int(match.group(2))
    if count < 1:
        raise ValueError(f"bad shard {shard!r}: the shard count n must be at least 1")
    if index >= count:
        raise ValueError(
            f"bad shard {shard!r}: the index i is 0-based and must be below n={count} "
            f"(valid: 0/{count} .. {count - 1}/{count})"
        )
    return index, count


def select_shard(jobs: Sequence[Job], shard: str) -> list[Job]:
    """Every n-th job starting at i: shards 0..n-1 partition the plan (round-robin, so each
    shard gets a mix of specs rather than one shard getting all the big ones)."""
    index, count = parse_shard(shard)
    return list(jobs[index::count])


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


EventKind = Literal["skip", "start", "ok", "failed", "interrupted"]


@dataclass(frozen=True)
class SweepEvent:
    """Progress notification for ``on_event`` (e.g. to print a progress line)."""

    kind: EventKind
    job: Job | None
    index: int
    total: int
    row: dict[str, Any] | None = None


RunOne = Callable[[Job, Path], Mapping[str, Any]]


class SweepInterrupted(KeyboardInterrupt):
    """Raised in the main thread on SIGINT/SIGTERM during a sweep.

    A KeyboardInterrupt subclass (a BaseException), so ``except Exception`` in job code does
    not swallow it.
    """

    def __init__(self, signum: int) -> None:
        super().__init__(f"interrupted by {signal.Signals(signum).name}")
        self.signum = signum


class _InterruptGuard:
    """SIGINT/SIGTERM -> SweepInterrupted, with a deferral window around results writes."""

    SIGNALS = (signal.SIGINT, signal.SIGTERM)

    def __init__(self) -> None:
        self._previous: dict[int, Any] = {}
        self._deferring = False
        self._pending: int | None = None

    def __enter__(self) -> _InterruptGuard:
        # signal.signal only works in the main thread; elsewhere the caller keeps its handlers.
        if threading.current_thread() is threading.main_thread():
            for sig in self.SIGNALS:
                self._previous[sig] = signal.signal(sig, self._handle)
        return self

    def __exit__(self, *exc: object) -> None:
        for sig, previous in self._previous.items():
            signal.signal(sig, previous if previous is not None else signal.SIG_DFL)
        self._previous.clear()

    def _handle(self, signum: int, frame: FrameType | None) -> None:
        if self._deferring:
            self._pending = signum
            return
        raise SweepInterrupted(signum)

    @contextlib.contextmanager
    def deferred(self) -> Iterator[None]:
        """Hold signals until the block is done, then raise for one that arrived meanwhile."""
        self._deferring = True
        try:
            yield
        finally:
            self._deferring = False
        if self._pending is not None:
            signum, self._pending = self._pending, None
            raise SweepInterrupted(signum)


def _now() -> str:
    return datetime.now(timezone.utc).isoformat(timespec="milliseconds")


def format_error(exc: BaseException, limit: int = ERROR_MAX_CHARS) -> str:
    """``Type: message`` on one line, at most ``limit`` chars, for the ``error`` column."""
    message = " ".join(str(exc).split())
    text = f"{type(exc).__name__}: {message}" if message else type(exc).__name__
    return text if len(text) <= limit else text[: limit - 3] + "..."


def _identity(job: Job, status: str) -> dict[str, Any]:
    return {
        "spec_file": str(job.spec_file),
        "spec_hash": job.spec_hash,
        "job_key": job.key,
        "status": status,
        "finished_at": _now(),
    }


def build_row(job: Job, result: Mapping[str, Any]) -> dict[str, Any]:
    """Row for a finished job: run_one's values, settings for keys it did not report (run_one
    wins, as it knows effective values such as the device "auto" resolved to), then the
    runner-owned identity fields."""
    row = dict(result)
    for name, value in job.settings.items():
        row.setdefault(name, value)
    row.setdefault("spec", job.name)
    row.update(_identity(job, STATUS_OK))
    return row


def build_failed_row(job: Job, exc: BaseException) -> dict[str, Any]:
    """Row for a job whose run_one raised: settings, identity and the one-line error."""
    row: dict[str, Any] = dict(job.settings)
    row["spec"] = job.name
    row.update(_identity(job, STATUS_FAILED))
    row["error"] = format_error(exc)
    return row


def write_plan(run_dir: Path, jobs: Sequence[Job]) -> None:
    """Atomically write ``sweep.json``: the planned jobs, so a report can say what is missing."""
    plan = {"version": 1, "created_at": _now(), "jobs": [job.describe() for job in jobs]}
    atomic_write_text(run_dir / PLAN_NAME, json.dumps(plan, indent=2, default=str) + "\n")


def read_plan(run_dir: str | Path) -> list[dict[str, Any]]:
    """Planned jobs recorded by ``write_plan`` ([] when there is no plan yet)."""
    path = Path(run_dir) / PLAN_NAME
    if not path.exists():
        return []
    return list(json.loads(path.read_text(encoding="utf-8"))["jobs"])


def _write_traceback(job_dir: Path, exc: BaseException) -> None:
    """Full traceback next to the job's files; the results row only has one line."""
    with contextlib.suppress(OSError):
        text = "".join(traceback.format_exception(type(exc), exc, exc.__traceback__))
        (job_dir / "error.txt").write_text(text, encoding="utf-8")


def run_sweep(
    jobs: Sequence[Job],
    run_dir: str | Path,
    run_one: RunOne,
    *,
    retry_failed: bool = False,
    on_event: Callable[[SweepEvent], None] | None = None,
    planned: Sequence[Job] | None = None,
) -> SweepSummary:
    """Run ``jobs`` in order into ``run_dir``, skipping finished ones; see module docstring.

    ``planned`` is the full plan recorded in sweep.json when ``jobs`` is one shard of it (pass
    the same full plan from every shard so they all write the same file); default ``jobs``.
    Exceptions from ``on_event`` and from writing results propagate: they are bugs or a broken
    disk, not job failures.
    """
    run_dir = Path(run_dir)
    jobs = list(jobs)
    store = ResultsStore(run_dir)
    summary = SweepSummary(total=len(jobs))

    def emit(kind: EventKind, job: Job | None, index: int, row: dict[str, Any] | None) -> None:
        if on_event is not None:
            on_event(SweepEvent(kind, job, index, len(jobs), row))

    guard = _InterruptGuard()
    with guard:
        index = 0
        try:
            run_dir.mkdir(parents=True, exist_ok=True)
            write_plan(run_dir, jobs if planned is None else list(planned))
            stored = store.statuses()
            for index, job in enumerate(jobs):
                status = stored.get(job.key)
                if status == STATUS_OK or (status is not None and not retry_failed):
                    summary.skipped += 1
                    if status != STATUS_OK:
                        summary.skipped_failed += 1
                    emit("skip", job, index, None)
                    continue
                emit("start", job, index, None)
                job_dir = run_dir / JOBS_DIR / job.dir_name
                job_dir.mkdir(parents=True, exist_ok=True)
                try:
                    result = run_one(job, job_dir)
                    if not isinstance(result, Mapping):
                        raise TypeError(f"run_one returned {type(result).__name__}, not a dict")
                    row = build_row(job, result)
                except Exception as exc:
                    _write_traceback(job_dir, exc)
                    row = build_failed_row(job, exc)
                with guard.deferred():
                    store.append(row)
                    if row["status"] == STATUS_OK:
                        summary.done += 1
                    else:
                        summary.failed += 1
                        summary.failed_jobs.append(job.dir_name)
                emit(row["status"], job, index, row)
        except KeyboardInterrupt:
            summary.interrupted = True
            emit("interrupted", None, index, None)
    return summary
