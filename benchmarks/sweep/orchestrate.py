"""A whole benchmark run: plan the jobs, shard them, sweep them (alone or under DDP), report.

This is what ``graphspec bench`` and ``graphspec demo`` do, as one function with typed
options, so the command line only parses arguments and prints progress (through the
``on_event`` / ``on_finished`` callbacks: each job's start, phases and end with the sweep's
ETA, then the report phase). Under ``torchrun`` every rank trains every job,
because each DDP step needs all ranks, but only rank 0 records results and writes the report.

The ranks run in lock-step, and rank 0 leads: it alone decides what runs (resume, shard,
``--retry-failed``) and, before each job, broadcasts the job's key; the other ranks run
exactly the job they are sent and nothing else. Within a job the ranks meet twice on the
control group (:attr:`DistributedContext.control`): once the model is built and once the
job is over (or as soon as a rank failed). Each rank reports its error there, or None; if
any rank failed, every rank drops the job and rank 0 records it as failed with the failing
rank's reason, so one rank's failure (its own out-of-memory, a bad file on one node) never
leaves the others waiting in a collective. A rank that fails between the two meetings
(loading data, training, evaluating) while its peers are inside a collective of the
default group cannot be caught this way: they wait until the process group's timeout
raises there, and then meet it as above.
"""

from __future__ import annotations

import dataclasses
import gc
import tempfile
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

import torch

from benchmarks.job.run import JobPhase, OnPhase, run_job
from benchmarks.report.write import report_is_current, write_report
from benchmarks.runtime.distributed import (
    DistributedContext,
    barrier,
    broadcast_from_main,
    cleanup,
    gather_objects,
    init_distributed,
    launched_with_peers,
)
from benchmarks.store.jobs import Job
from benchmarks.store.layout import RunFolder
from benchmarks.store.protocol import collect_protocol, write_protocol
from benchmarks.store.row import ResultRow
from benchmarks.store.settings import DEFAULT_SETTINGS, JobSettings
from benchmarks.sweep.interrupts import InterruptGuard
from benchmarks.sweep.plan import plan_jobs, select_shard
from benchmarks.sweep.runner import (
    EXIT_OK,
    RunOne,
    SweepEta,
    SweepEvent,
    SweepSummary,
    format_error,
    run_sweep,
)

__all__ = ["SweepOptions", "BenchOutcome", "RankFailed", "release_memory", "run_bench"]

OnEvent = Callable[[SweepEvent], None]
Work = Callable[[Callable[[], None]], ResultRow]
"""One rank's share of a job, given the ``sync`` to call once its model is built."""


@dataclass(frozen=True)
class SweepOptions:
    """How to run a sweep: the settings of every job (part of every job's key, so a changed
    setting is a new job), the seeds to run each spec with, and how to run it (where, which
    shard, retries, report, bars). ``allow_noisy`` lets rows with noisy timings onto the
    report's latency frontiers (:func:`~benchmarks.report.write.write_report`)."""

    out: Path
    settings: JobSettings = DEFAULT_SETTINGS
    seeds: int = 1
    shard: str | None = None
    retry_failed: bool = False
    report: bool = True
    progress: bool = True
    allow_noisy: bool = False


@dataclass(frozen=True)
class BenchOutcome:
    """What :func:`run_bench` did; ``report`` is report.html when a report was written.

    On the non-main ranks of a DDP run ``is_main`` is False: they record nothing, so their
    exit code is 0 and rank 0's says how the sweep went."""

    summary: SweepSummary
    is_main: bool = True
    report: Path | None = None

    @property
    def exit_code(self) -> int:
        return self.summary.exit_code if self.is_main else EXIT_OK


def release_memory() -> None:
    """Free what a failed job left behind (e.g. after CUDA out-of-memory) before the next."""
    gc.collect()
    if torch.cuda.is_available():
        torch.cuda.empty_cache()


def _releasing(on_event: OnEvent | None) -> OnEvent:
    """``on_event`` preceded by :func:`release_memory` after every failed job."""

    def handle(event: SweepEvent) -> None:
        if event.kind == "failed":
            release_memory()
        if on_event is not None:
            on_event(event)

    return handle


class _Phases:
    """Relays a job's phases (``run_job``'s ``on_phase``) to ``on_event`` as ``phase``
    events of the job the runner started last, with the sweep's ETA at that moment."""

    def __init__(self, on_event: OnEvent | None, eta: SweepEta) -> None:
        self.on_event, self.eta = on_event, eta
        self.current: SweepEvent | None = None

    def __call__(self, event: SweepEvent) -> None:
        if event.kind == "start":
            self.current = event
        if self.on_event is not None:
            self.on_event(event)

    def phase(self, phase: JobPhase) -> None:
        if self.current is not None and self.on_event is not None:
            self.on_event(
                dataclasses.replace(
                    self.current, kind="phase", phase=phase, eta_s=self.eta.seconds()
                )
            )


class RankFailed(RuntimeError):
    """Another rank failed this job; the message names that rank and its reason."""


def _agree(ctx: DistributedContext, error: str | None) -> list[tuple[int, str]]:
    """One meeting of all ranks: each says why it failed (None: fine so far); returns the
    failures, (rank, reason), the same list on every rank."""
    return [(rank, e) for rank, e in enumerate(gather_objects(error, ctx)) if e is not None]


def _in_step(work: Work, ctx: DistributedContext) -> ResultRow:
    """Run this rank's share of one job, meeting the others after the build and at the end.

    Raises the rank's own exception when the first failing rank is this one, else
    :class:`RankFailed` naming the failing rank: every rank then drops the job together.
    """

    def sync() -> None:
        failures = _agree(ctx, None)
        if failures:
            raise RankFailed(f"rank {failures[0][0]}: {failures[0][1]}")

    try:
        row = work(sync)
    except RankFailed:
        raise  # learnt at a meeting: the others know already
    except Exception as exc:
        failures = _agree(ctx, format_error(exc))
        if failures[0][0] == ctx.rank:
            raise
        raise RankFailed(f"rank {failures[0][0]}: {failures[0][1]}") from exc
    sync()
    return row


def _lead(ctx: DistributedContext, progress: bool, on_phase: OnPhase) -> RunOne:
    """Rank 0's ``run_one``: tell the others which job runs next, then run it in step."""

    def run_one(job: Job, job_dir: Path) -> ResultRow:
        broadcast_from_main(job.key, ctx)
        return _in_step(lambda sync: run_job(job, job_dir, ctx, progress, sync, on_phase), ctx)

    return run_one


def _alone(progress: bool, on_phase: OnPhase) -> RunOne:
    """The ``run_one`` of a process without peers."""
    return lambda job, job_dir: run_job(job, job_dir, None, progress, on_phase=on_phase)


def _follow(jobs: Sequence[Job], ctx: DistributedContext) -> BenchOutcome:
    """A non-main DDP rank: run, in step with rank 0, each job rank 0 sends, until it sends
    None. Nothing is recorded here; job files would go to a throw-away folder."""
    by_key = {job.key: job for job in jobs}
    summary = SweepSummary(total=len(jobs))

    def work(key: str, scratch: Path) -> Work:
        def run(sync: Callable[[], None]) -> ResultRow:
            job = by_key.get(key)
            if job is None:
                raise LookupError(
                    f"job {key[:8]} is not in this rank's plan (do all ranks see the same "
                    "spec files and options?)"
                )
            return run_job(job, scratch / job.dir_name, ctx, False, sync)

        return run

    with tempfile.TemporaryDirectory() as scratch:
        while (key := broadcast_from_main(None, ctx)) is not None:
            try:
                _in_step(work(key, Path(scratch)), ctx)
                summary.done += 1
            except Exception:
                summary.failed += 1
                release_memory()
    barrier(ctx)
    cleanup()
    return BenchOutcome(summary, is_main=False)


def run_bench(
    files: Sequence[Path],
    options: SweepOptions,
    on_event: OnEvent | None = None,
    on_finished: Callable[[SweepSummary], None] | None = None,
) -> BenchOutcome:
    """Sweep ``files`` under ``options`` into ``options.out`` and write its report there.

    ``on_event`` sees every job's progress on the main rank (the followers of a DDP run
    report none); ``on_finished`` is called there once the sweep is over, before the report
    phase (an interrupted sweep writes no report).
    A bad ``options.shard`` raises ValueError before anything runs. Ctrl-C or SIGTERM while
    the report is written raise :class:`~benchmarks.sweep.interrupts.SweepInterrupted` (a
    KeyboardInterrupt) once the report's temp files are removed; the rows are all kept.
    """
    run_dir = Path(options.out)
    planned = plan_jobs(files, [options.settings.as_json()], seeds=options.seeds)
    jobs = select_shard(planned, options.shard) if options.shard else planned
    ctx = init_distributed() if launched_with_peers() else None
    if ctx is not None and not ctx.is_main:
        return _follow(jobs, ctx)
    eta = SweepEta()
    phases = _Phases(on_event, eta)
    if ctx is not None:
        run_one = _lead(ctx, options.progress, phases.phase)
    else:
        run_one = _alone(options.progress, phases.phase)
    try:
        # Creates run_dir (a one-line WriteError if it cannot: the followers still get their
        # "no more jobs" below); an unchanged protocol is not rewritten.
        write_protocol(run_dir, collect_protocol(options.settings))
        summary = run_sweep(
            jobs,
            run_dir,
            run_one,
            retry_failed=options.retry_failed,
            on_event=_releasing(phases),
            planned=planned,
            eta=eta,
        )
    finally:
        if ctx is not None:
            broadcast_from_main(None, ctx)  # the followers' "no more jobs"
    if ctx is not None:
        barrier(ctx)
        cleanup()
    if on_finished is not None:
        on_finished(summary)
    if summary.interrupted or not options.report:
        return BenchOutcome(summary)
    return BenchOutcome(summary, report=_report(run_dir, options, summary, on_event))


def _report(
    run_dir: Path, options: SweepOptions, summary: SweepSummary, on_event: OnEvent | None
) -> Path:
    """Write the run's report (the report phase), unless it is newer than every input (a
    resume that changed nothing); returns its report.html."""
    report_dir = RunFolder(run_dir).report_dir
    if report_is_current(run_dir, report_dir):
        return report_dir / "report.html"
    if on_event is not None:
        on_event(SweepEvent("phase", None, summary.total, summary.total, phase="report"))
    with InterruptGuard():  # unwinds (temp files removed) instead of dying mid-write
        written = write_report(
            run_dir,
            report_dir,
            title=f"graphspec: {run_dir.name}",
            allow_noisy=options.allow_noisy,
        )
    return written["report.html"]
