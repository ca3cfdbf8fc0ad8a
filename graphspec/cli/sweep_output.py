"""What ``graphspec bench`` and ``demo`` print while a sweep runs and when it ends.

On stderr, unless ``--quiet``: each job's phase as it enters it, with the sweep's ETA
(``[2/5] unet-small: evaluating (ETA 3m 10s)``), then its result line; a skipped job's
line; the report phase. ``--quiet`` keeps only what a log needs: a failed job's line, the
closing counts and the report's path. With ``--format json`` standard output holds one JSON
object at the end (the finished rows' key facts, the counts, the results file and the
report) instead of the ``report:`` line, so a script reads it whole.
"""

from __future__ import annotations

import json
import math
import sys
from pathlib import Path
from typing import TYPE_CHECKING, Any

from benchmarks.store.layout import RunFolder

if TYPE_CHECKING:
    from benchmarks.store.row import ResultRow
    from benchmarks.sweep.orchestrate import BenchOutcome
    from benchmarks.sweep.runner import SweepEvent, SweepSummary

PHASE_WORDS = {
    "train": "training",
    "evaluate": "evaluating",
    "time": "timing",
    "report": "writing the report",
}
"""How each phase of :data:`benchmarks.sweep.runner.SweepPhase` reads in a line."""


def format_eta(seconds: float | None) -> str:
    """``ETA 3m 10s`` (``45s``, ``1h 05m``), or ``ETA unknown`` before any job has ended."""
    if seconds is None:
        return "ETA unknown"
    total = round(seconds)
    hours, rest = divmod(total, 3600)
    minutes, secs = divmod(rest, 60)
    if hours:
        return f"ETA {hours}h {minutes:02d}m"
    if minutes:
        return f"ETA {minutes}m {secs:02d}s"
    return f"ETA {secs}s"


class SweepPrinter:
    """The ``on_event`` / ``on_finished`` callbacks of one sweep, and its closing output."""

    def __init__(self, run_dir: Path, *, quiet: bool, as_json: bool) -> None:
        self.run_dir, self.quiet, self.as_json = run_dir, quiet, as_json
        self.rows: list[dict[str, Any]] = []
        self.summary: SweepSummary | None = None

    def event(self, event: SweepEvent) -> None:
        """One line on stderr for the event (``--quiet``: failures only); rows kept."""
        if event.kind in ("ok", "failed") and event.job is not None and event.row is not None:
            self.rows.append(row_facts(event.row, event.job.dir_name))
        line = _failure_line(event) if self.quiet else _event_line(event)
        if line is not None:
            print(line, file=sys.stderr, flush=True)

    def finished(self, summary: SweepSummary) -> None:
        """The closing counts (or how to resume an interrupted sweep), on stderr."""
        self.summary = summary
        if summary.interrupted:
            print(
                f"interrupted: {summary.done} finished rows kept in {self.run_dir}; re-run the "
                "same command to resume",
                file=sys.stderr,
            )
            return
        print(
            f"{summary.done} ran, {summary.skipped} skipped, {summary.failed} failed "
            f"-> {RunFolder(self.run_dir).results_csv}",
            file=sys.stderr,
        )

    def outcome(self, outcome: BenchOutcome) -> None:
        """The report's path (text), or the whole result as one JSON object (json)."""
        if not self.as_json:
            if outcome.report is not None:
                print(f"report: {outcome.report}")
            return
        summary = outcome.summary
        print(
            json.dumps(
                {
                    "run": str(self.run_dir),
                    "results": str(RunFolder(self.run_dir).results_csv),
                    "report": None if outcome.report is None else str(outcome.report),
                    "ran": summary.done,
                    "skipped": summary.skipped,
                    "failed": summary.failed,
                    "interrupted": summary.interrupted,
                    "rows": self.rows,
                },
                indent=1,
            )
        )


def _event_line(event: SweepEvent) -> str | None:
    if event.job is None:
        phase = PHASE_WORDS.get(event.phase or "")
        return f"{phase} ..." if event.kind == "phase" and phase else None
    head = f"[{event.index + 1}/{event.total}] {event.job.name}"
    if event.flight is not None:
        return _flight_line(head, event)
    if event.kind == "phase" and event.phase is not None:
        return f"{head}: {PHASE_WORDS[event.phase]} ({format_eta(event.eta_s)})"
    if event.kind == "skip":
        return f"{head}: already done, skipped"
    if event.kind in ("ok", "failed"):
        return f"{head}: {describe_row(event.row)}"
    return None


def _flight_line(head: str, event: SweepEvent) -> str | None:
    """A line of a sweep that runs several jobs at once (``--engine ray``): what happened
    to the job, then how many run, are done and failed, and the ETA."""
    flight = event.flight
    assert flight is not None
    counts = (
        f"[{flight.running} running, {flight.done} done, {flight.failed} failed, "
        f"{format_eta(flight.eta_s)}]"
    )
    if event.kind == "start":
        return f"{head}: started {counts}"
    if event.kind == "skip":
        return f"{head}: already done, skipped"
    if event.kind in ("ok", "failed"):
        return f"{head}: {describe_row(event.row)} {counts}"
    return None


def _failure_line(event: SweepEvent) -> str | None:
    """``--quiet`` still says which job failed and why: one line each."""
    if event.kind == "failed" and event.job is not None:
        return f"{event.job.name}: {describe_row(event.row)}"
    return None


def _number(value: float | int | None) -> float | int | None:
    """JSON has no NaN or infinity: those are null, as in ``val --format json``."""
    if isinstance(value, float) and not math.isfinite(value):
        return None
    return value


def row_facts(row: ResultRow, job: str) -> dict[str, Any]:
    """A finished row's key facts for ``--format json``: what the result line says, as
    values (every column is in the run's results.csv)."""
    return {
        "spec": row.spec,
        "job": job,
        "status": row.status,
        "error": row.error,
        "metrics": {name: _number(value) for name, value in row.metrics.items()},
        "params": row.params,
        "gflops": _number(row.gflops),
        "latency_ms": _number(row.latency_ms),
        "train_s": _number(row.train_s),
        "best_epoch": row.best_epoch,
        "epochs_run": row.epochs_run,
        "converged": row.converged,
        "learned": row.learned,
        "timing_noisy": row.timing_noisy,
    }


def describe_row(row: ResultRow | None) -> str:
    """One line per finished job: its shown metrics, costs and flags (not converged; learned
    nothing: its best validation score was at the task's trivial baseline), or why it
    failed."""
    from benchmarks.store.row import verdict_flags
    from benchmarks.tasks import task_class

    if row is None:
        return "?"
    if row.status != "ok":
        return f"FAILED ({row.error})"
    task = task_class(row.task or "")
    shown = [m for m in task.metrics if m.shown] if task else []
    parts = [f"{m.name} {row.metrics[m.column]:.3f}" for m in shown if m.column in row.metrics]
    parts.append(f"{row.gflops or 0:.3f} GFLOPs")
    parts.append(f"{row.latency_ms or 0:.2f} ms")
    parts.append(f"train {row.train_s or 0:.0f} s")
    if row.best_epoch is not None:
        parts.append(f"best epoch {row.best_epoch}/{row.epochs_run}")
    parts += verdict_flags(row.converged, row.learned, bool(row.timing_noisy))
    return "ok: " + ", ".join(parts)
