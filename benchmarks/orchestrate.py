"""A whole benchmark run: plan the jobs, shard them, sweep them (alone or under DDP), report.

This is what ``graphspec bench`` and ``graphspec demo`` do, as one function with typed
options, so the command line only parses arguments and prints progress (through the
``on_event`` / ``on_finished`` callbacks). Under ``torchrun`` every rank trains every job,
because each DDP step needs all ranks, but only rank 0 records results and writes the report;
the other ranks write their job files into a throw-away folder.
"""

from __future__ import annotations

import gc
import tempfile
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch

from benchmarks.bench import DEFAULTS, run_job
from benchmarks.distributed import (
    DistributedContext,
    barrier,
    cleanup,
    init_distributed,
    launched_with_peers,
)
from benchmarks.plan import Job, plan_jobs, select_shard
from benchmarks.protocol import collect_protocol, write_protocol
from benchmarks.report import write_report
from benchmarks.results import ResultsStore
from benchmarks.sweep import EXIT_OK, SweepEvent, SweepSummary, run_sweep

__all__ = ["SweepOptions", "BenchOutcome", "release_memory", "run_bench"]

OnEvent = Callable[[SweepEvent], None]


@dataclass(frozen=True)
class SweepOptions:
    """How to run a sweep: the job settings (they are part of every job's key, so a changed
    setting is a new job) and how to run it (where, which shard, retries, report, bars)."""

    out: Path
    epochs: int = DEFAULTS["epochs"]
    batch_size: int = DEFAULTS["batch_size"]
    seed: int = DEFAULTS["seed"]
    image_size: tuple[int, int] | None = DEFAULTS["image_size"]
    device: str = DEFAULTS["device"]
    data: str = DEFAULTS["data"]
    compile: bool = DEFAULTS["compile"]
    workers: int = DEFAULTS["workers"]
    limit: int | None = DEFAULTS["limit"]
    lr: float | str = DEFAULTS["lr"]
    seeds: int = 1
    val_every: int = DEFAULTS["val_every"]
    patience: int | None = DEFAULTS["patience"]
    normalize: str = DEFAULTS["normalize"]
    augment: bool = DEFAULTS["augment"]
    threads: int | None = DEFAULTS["threads"]
    shard: str | None = None
    retry_failed: bool = False
    report: bool = True
    progress: bool = True

    def settings(self) -> dict[str, Any]:
        """The settings dict of every job; its keys and values make up the job keys, so
        they must not change from one release to the next or resumes would re-run all."""
        return {
            "epochs": self.epochs,
            "batch_size": self.batch_size,
            "seed": self.seed,
            "image_size": list(self.image_size) if self.image_size else None,
            "device": self.device,
            "data": self.data,
            "compile": self.compile,
            "workers": self.workers,
            "limit": self.limit,
            "lr": self.lr,
            "val_every": self.val_every,
            "patience": self.patience,
            "normalize": self.normalize,
            "augment": self.augment,
            "threads": self.threads,
        }


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


def _follow(jobs: Sequence[Job], run_dir: Path, ctx: DistributedContext) -> BenchOutcome:
    """A non-main DDP rank: train, in step with rank 0, exactly the jobs rank 0 will run
    (those without a stored row), writing into a throw-away folder."""
    done = ResultsStore(run_dir).statuses()
    pending = [job for job in jobs if done.get(job.key) is None]
    with tempfile.TemporaryDirectory() as scratch:
        summary = run_sweep(
            pending,
            scratch,
            lambda job, job_dir: run_job(job, job_dir, ctx, progress=False),
            on_event=_releasing(None),
        )
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

    ``on_event`` sees every job's progress on the main rank; ``on_finished`` is called there
    once the sweep is over, before the report is written (an interrupted sweep writes none).
    A bad ``options.shard`` raises ValueError before anything runs.
    """
    run_dir = Path(options.out)
    planned = plan_jobs(files, [options.settings()], seeds=options.seeds)
    jobs = select_shard(planned, options.shard) if options.shard else planned
    ctx = init_distributed() if launched_with_peers() else None
    if ctx is not None and not ctx.is_main:
        return _follow(jobs, run_dir, ctx)
    run_dir.mkdir(parents=True, exist_ok=True)
    write_protocol(run_dir, collect_protocol(options.settings()))
    summary = run_sweep(
        jobs,
        run_dir,
        lambda job, job_dir: run_job(job, job_dir, ctx, progress=options.progress),
        retry_failed=options.retry_failed,
        on_event=_releasing(on_event),
        planned=planned,
    )
    if ctx is not None:
        barrier(ctx)
        cleanup()
    if on_finished is not None:
        on_finished(summary)
    if summary.interrupted or not options.report:
        return BenchOutcome(summary)
    written = write_report(
        run_dir, run_dir / "report", title=f"graphspec: {run_dir.name}", run_dirs=[run_dir]
    )
    return BenchOutcome(summary, report=written["report.html"])
