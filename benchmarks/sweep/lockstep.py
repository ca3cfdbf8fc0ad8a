"""DDP sweeps: the ranks run each job in lock-step, rank 0 leading.

Rank 0 alone decides what runs (resume, shard, ``--retry-failed``) and, before each job,
broadcasts the job's key; the other ranks (:func:`follow`) run exactly the job they are
sent and nothing else. Within a job the ranks meet twice on the control group
(:attr:`DistributedContext.control`): once the model is built and once the job is over (or
as soon as a rank failed). Each rank reports its error there, or None; if any rank failed,
every rank drops the job and rank 0 records it as failed with the failing rank's reason
(:class:`RankFailed`), so one rank's failure never leaves the others waiting in a
collective.
"""

from __future__ import annotations

import gc
import tempfile
from collections.abc import Callable, Sequence
from pathlib import Path

import torch

from benchmarks.job.run import OnPhase, run_job
from benchmarks.runtime.distributed import (
    DistributedContext,
    barrier,
    broadcast_from_main,
    cleanup,
    gather_objects,
)
from benchmarks.store.jobs import Job
from benchmarks.store.row import ResultRow
from benchmarks.sweep.runner import RunOne, SweepSummary, format_error

__all__ = ["RankFailed", "follow", "lead", "release_memory"]

Work = Callable[[Callable[[], None]], ResultRow]
"""One rank's share of a job, given the ``sync`` to call once its model is built."""


def release_memory() -> None:
    """Free what a failed job left behind (e.g. after CUDA out-of-memory) before the next."""
    gc.collect()
    if torch.cuda.is_available():
        torch.cuda.empty_cache()


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


def lead(ctx: DistributedContext, progress: bool, on_phase: OnPhase) -> RunOne:
    """Rank 0's ``run_one``: tell the others which job runs next, then run it in step."""

    def run_one(job: Job, job_dir: Path) -> ResultRow:
        broadcast_from_main(job.key, ctx)
        return _in_step(lambda sync: run_job(job, job_dir, ctx, progress, sync, on_phase), ctx)

    return run_one


def follow(jobs: Sequence[Job], ctx: DistributedContext) -> SweepSummary:
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
    return summary
