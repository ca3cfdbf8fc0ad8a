"""``graphspec bench --engine ray``: the jobs of a sweep as Ray tasks, the driver alone writing.

Each job runs as one Ray task (:func:`run_remote`) in a scratch folder of whatever node Ray
picks; it sends back its row (or its one-line error and traceback) with the files the job
left, and the driver writes them into the run folder as a plain sweep would: the same
atomic :class:`~benchmarks.store.results.ResultsStore`, the same job keys and folders, the
same resume (finished jobs are skipped, ``--retry-failed`` re-runs failed ones). So the nodes
need the specs and the data at the paths the driver gives, not the run folder.

At most as many jobs are in flight as the cluster has slots for (:func:`job_slots`), so each
``start`` event is a job that really starts and Ctrl-C has little to cancel. A task lost with
its worker or node is run again by Ray up to ``max_retries`` times; after that, or when the
job itself raises, the job is recorded failed and the sweep goes on. Ctrl-C or SIGTERM cancel
the tasks in flight and keep every finished row (exit 130, as a plain sweep).
"""

from __future__ import annotations

import contextlib
import os
import tempfile
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from benchmarks.store.jobs import Job
from benchmarks.store.layout import RunFolder
from benchmarks.store.results import ResultsStore
from benchmarks.store.row import STATUS_OK, ResultRow
from benchmarks.sweep.eta import InFlight
from benchmarks.sweep.interrupts import InterruptGuard
from benchmarks.sweep.ray_cluster import Demand, RayOptions, job_slots, ray_session
from benchmarks.sweep.runner import (
    RunOne,
    SweepEvent,
    SweepSummary,
    build_failed_row,
    build_row,
    format_error,
    open_run,
    skips,
    write_traceback,
)
from graphspec.atomic import atomic_write, ensure_dir, remove_temp_files

__all__ = ["RemoteOutcome", "run_ray_sweep", "run_remote"]


@dataclass
class RemoteOutcome:
    """What a task sends back: the job's row or its one-line error, and its files."""

    row: ResultRow | None
    error: str | None = None
    files: dict[str, bytes] = field(default_factory=dict)


def _default_work(job: Job, job_dir: Path) -> ResultRow:
    from benchmarks.job.run import run_job

    return run_job(job, job_dir, None, progress=False)


def run_remote(job: Job, cwd: str, work: RunOne | None = None) -> RemoteOutcome:
    """The Ray task: run ``job`` (``work``, default the real job) in a scratch folder, in the
    driver's working folder where this node has it (relative data paths), and return what it
    made. A traceback goes with a failure as the job's ``error.txt``, as in a plain sweep."""
    if os.path.isdir(cwd):
        os.chdir(cwd)
    run = work or _default_work
    with tempfile.TemporaryDirectory(prefix="graphspec-job-") as scratch:
        job_dir = Path(scratch) / job.dir_name
        job_dir.mkdir()
        outcome = RemoteOutcome(row=None)
        try:
            outcome.row = run(job, job_dir)
        except Exception as exc:
            outcome.error = format_error(exc)
            write_traceback(job_dir, exc)
        outcome.files = {p.name: p.read_bytes() for p in job_dir.iterdir() if p.is_file()}
    return outcome


def _portable(job: Job) -> Job:
    """``job`` with an absolute spec path (a worker's folder is not the driver's), keeping
    the key the driver planned it under."""
    moved = Job(job.spec_file.resolve(), job.settings)
    moved.__dict__.update(spec_hash=job.spec_hash, key=job.key)
    return moved


def _store_outcome(run_dir: Path, job: Job, outcome: RemoteOutcome) -> ResultRow:
    """Write the job's files into its folder and return its row (the driver's identity)."""
    job_dir = RunFolder(run_dir).job(job.dir_name).path
    ensure_dir(job_dir)
    remove_temp_files(job_dir)
    for name, data in outcome.files.items():
        atomic_write(job_dir / Path(name).name, lambda h, d=data: h.write(d), binary=True)
    if outcome.row is not None:
        return build_row(job, outcome.row)
    return build_failed_row(job, outcome.error or "the task returned no row")


class _Flight:
    """The tasks in flight: which job each runs and since when; the ETA from those done."""

    def __init__(self, slots: int, queued: int) -> None:
        self.slots, self.queued = slots, queued
        self.jobs: dict[Any, tuple[int, Job, float]] = {}
        self.durations: list[float] = []

    def eta(self) -> float | None:
        if not self.durations:
            return None
        mean = sum(self.durations) / len(self.durations)
        left = self.queued + len(self.jobs)
        return mean * -(-left // self.slots)

    def counts(self, summary: SweepSummary) -> InFlight:
        return InFlight(len(self.jobs), summary.done, summary.failed, self.eta())


def run_ray_sweep(
    jobs: Sequence[Job],
    run_dir: Path,
    options: RayOptions,
    demand: Callable[[], Demand],
    *,
    retry_failed: bool = False,
    on_event: Callable[[SweepEvent], None] | None = None,
    planned: Sequence[Job] | None = None,
    work: RunOne | None = None,
    on_ready: Callable[[], None] | None = None,
) -> SweepSummary:
    """Run ``jobs`` as Ray tasks into ``run_dir`` (see the module docstring).

    ``demand`` says what each job asks for; it is called once connected (a CPU job's default
    is the largest node's CPUs). Connecting and the resource check raise
    :class:`~benchmarks.sweep.ray_cluster.ClusterError` before anything is written;
    ``on_ready`` (e.g. writing the run's protocol) is called once they passed.
    ``work`` replaces the real job (tests: a job that kills its worker)."""
    import ray

    with ray_session(options):
        need = demand()
        slots = job_slots(need)
        if on_ready is not None:
            on_ready()
        remote = ray.remote(num_cpus=need.cpus, num_gpus=need.gpus, max_retries=options.max_retries)
        task = remote(run_remote)
        return _drive(jobs, Path(run_dir), task, slots, retry_failed, on_event, planned, work)


def _drive(
    jobs: Sequence[Job],
    run_dir: Path,
    task: Any,
    slots: int,
    retry_failed: bool,
    on_event: Callable[[SweepEvent], None] | None,
    planned: Sequence[Job] | None,
    work: RunOne | None,
) -> SweepSummary:
    """Submit up to ``slots`` jobs at a time, record each as it ends, until none is left."""
    import ray

    store, summary = ResultsStore(run_dir), SweepSummary(total=len(jobs))
    flight = _Flight(slots, 0)

    def emit(kind: Any, job: Job | None, index: int, row: ResultRow | None = None) -> None:
        if on_event is not None:
            counts = flight.counts(summary)
            on_event(
                SweepEvent(kind, job, index, len(jobs), row, eta_s=counts.eta_s, flight=counts)
            )

    guard = InterruptGuard()
    with guard:
        try:
            stored = open_run(run_dir, store, jobs if planned is None else planned)
            queue = _to_run(jobs, stored, retry_failed, summary, emit)
            flight.queued = len(queue)
            cwd = os.getcwd()
            while queue or flight.jobs:
                while queue and len(flight.jobs) < slots:
                    index, job = queue.pop(0)
                    flight.queued = len(queue)
                    ref = task.remote(_portable(job), cwd, work)
                    flight.jobs[ref] = (index, job, time.monotonic())
                    emit("start", job, index)
                ready, _ = ray.wait(list(flight.jobs), num_returns=1, timeout=1.0)
                for ref in ready:
                    index, job, began = flight.jobs.pop(ref)
                    outcome = _fetch(ref, ray)
                    with guard.deferred():
                        row = _store_outcome(run_dir, job, outcome)
                        store.append(row.as_record())
                        summary.count_row(job, row)
                    flight.durations.append(time.monotonic() - began)
                    emit("ok" if row.status == STATUS_OK else "failed", job, index, row)
        except KeyboardInterrupt:
            for ref in flight.jobs:
                with contextlib.suppress(Exception):
                    ray.cancel(ref, force=True)
            flight.jobs.clear()
            summary.interrupted = True
            emit("interrupted", None, 0)
    return summary


def _to_run(
    jobs: Sequence[Job],
    stored: dict[str, str],
    retry_failed: bool,
    summary: SweepSummary,
    emit: Callable[..., None],
) -> list[tuple[int, Job]]:
    """The jobs to run, with their places in the sweep; the others are counted and
    announced as skipped (finished, or failed without ``retry_failed``)."""
    queue = []
    for index, job in enumerate(jobs):
        status = stored.get(job.key)
        if status is not None and skips(status, retry_failed):
            summary.count_skip(status)
            emit("skip", job, index)
        else:
            queue.append((index, job))
    return queue


def _fetch(ref: Any, ray: Any) -> RemoteOutcome:
    """The task's outcome; a task lost for good (its worker or node died more often than
    ``max_retries``) or one whose result cannot be read is a failed job, said in one line."""
    try:
        return ray.get(ref)
    except ray.exceptions.RayError as exc:
        return RemoteOutcome(row=None, error=f"Ray task lost: {format_error(exc, 400)}")
