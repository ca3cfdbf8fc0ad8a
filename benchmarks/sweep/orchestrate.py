"""A whole benchmark run: plan the jobs, shard them, sweep them (alone or under DDP), report.

This is what ``graphspec bench`` and ``graphspec demo`` do, as one function with typed
options, so the command line only parses arguments and prints progress (through the
``on_event`` / ``on_finished`` callbacks: each job's start, phases and end with the sweep's
ETA, then the report phase). Under ``torchrun`` every rank trains every job,
because each DDP step needs all ranks, but only rank 0 records results and writes the report.

The DDP lock-step (rank 0 leading, each job's failures agreed by all ranks) is
:mod:`benchmarks.sweep.lockstep`; ``--engine ray`` (jobs as Ray tasks, the driver writing
their rows) is :mod:`benchmarks.sweep.ray_engine`.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

from benchmarks.job.run import JobPhase, OnPhase, run_job
from benchmarks.report.write import report_is_current, write_report
from benchmarks.runtime.distributed import (
    DistributedContext,
    barrier,
    broadcast_from_main,
    cleanup,
    init_distributed,
    launched_with_peers,
)
from benchmarks.store.jobs import Job
from benchmarks.store.layout import RunFolder
from benchmarks.store.protocol import collect_protocol, write_protocol
from benchmarks.store.settings import DEFAULT_SETTINGS, JobSettings
from benchmarks.sweep.interrupts import InterruptGuard
from benchmarks.sweep.lockstep import RankFailed, follow, lead, release_memory
from benchmarks.sweep.plan import plan_jobs, select_shard
from benchmarks.sweep.ray_cluster import RayOptions
from benchmarks.sweep.runner import (
    EXIT_OK,
    RunOne,
    SweepEta,
    SweepEvent,
    SweepSummary,
    run_sweep,
)

__all__ = ["SweepOptions", "BenchOutcome", "RankFailed", "release_memory", "run_bench"]

OnEvent = Callable[[SweepEvent], None]


@dataclass(frozen=True)
class SweepOptions:
    """How to run a sweep: the settings of every job (part of every job's key, so a changed
    setting is a new job), the seeds to run each spec with, and how to run it (where, which
    shard, retries, report, bars; ``ray``: run the jobs as Ray tasks, None: here, one after
    the other). ``allow_noisy`` lets rows with noisy timings onto the
    report's latency frontiers (:func:`~benchmarks.report.write.write_report`)."""

    out: Path
    settings: JobSettings = DEFAULT_SETTINGS
    seeds: int = 1
    shard: str | None = None
    retry_failed: bool = False
    report: bool = True
    progress: bool = True
    allow_noisy: bool = False
    ray: RayOptions | None = None


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


def _alone(progress: bool, on_phase: OnPhase) -> RunOne:
    """The ``run_one`` of a process without peers."""
    return lambda job, job_dir: run_job(job, job_dir, None, progress, on_phase=on_phase)


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
    A bad ``options.shard`` raises ValueError before anything runs, and so does a Ray
    cluster that cannot run the jobs (:class:`~benchmarks.sweep.ray_cluster.ClusterError`).
    Ctrl-C or SIGTERM while the report is written raise
    :class:`~benchmarks.sweep.interrupts.SweepInterrupted` (a KeyboardInterrupt) once the
    report's temp files are removed; the rows are all kept.
    """
    run_dir = Path(options.out)
    planned = plan_jobs(files, [options.settings.as_json()], seeds=options.seeds)
    jobs = select_shard(planned, options.shard) if options.shard else planned
    if options.ray is not None:
        summary = _sweep_on_ray(jobs, planned, options, options.ray, on_event)
    else:
        ctx = init_distributed() if launched_with_peers() else None
        if ctx is not None and not ctx.is_main:
            return BenchOutcome(follow(jobs, ctx), is_main=False)
        summary = _sweep_here(jobs, planned, options, on_event, ctx)
    if on_finished is not None:
        on_finished(summary)
    if summary.interrupted or not options.report:
        return BenchOutcome(summary)
    return BenchOutcome(summary, report=_report(run_dir, options, summary, on_event))


def _sweep_on_ray(
    jobs: Sequence[Job],
    planned: Sequence[Job],
    options: SweepOptions,
    ray_options: RayOptions,
    on_event: OnEvent | None,
) -> SweepSummary:
    """The jobs as Ray tasks (:mod:`benchmarks.sweep.ray_engine`); never under torchrun."""
    from benchmarks.sweep.ray_cluster import job_demand
    from benchmarks.sweep.ray_engine import run_ray_sweep

    if launched_with_peers():
        raise ValueError("--engine ray runs its own workers: do not launch it with torchrun")
    return run_ray_sweep(
        jobs,
        Path(options.out),
        ray_options,
        lambda: job_demand(options.settings, ray_options),
        retry_failed=options.retry_failed,
        on_event=on_event,
        planned=planned,
        on_ready=lambda: write_protocol(Path(options.out), collect_protocol(options.settings)),
    )


def _sweep_here(
    jobs: Sequence[Job],
    planned: Sequence[Job],
    options: SweepOptions,
    on_event: OnEvent | None,
    ctx: DistributedContext | None,
) -> SweepSummary:
    """The jobs one after the other in this process (rank 0 leading the others under DDP)."""
    run_dir = Path(options.out)
    eta = SweepEta()
    phases = _Phases(on_event, eta)
    if ctx is not None:
        run_one = lead(ctx, options.progress, phases.phase)
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
    return summary


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
