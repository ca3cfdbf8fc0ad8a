"""``graphspec bench`` and ``graphspec demo``: parse a sweep's options, print its progress.

The sweep itself (planning, sharding, DDP, results, report) is
:func:`benchmarks.sweep.orchestrate.run_bench`; it is imported inside the command functions so
``graphspec check`` never pays for torch and the harness.
"""

from __future__ import annotations

import argparse
import dataclasses
import sys
from pathlib import Path
from typing import TYPE_CHECKING

from benchmarks.store.layout import RunFolder
from benchmarks.store.settings import DEFAULT_SETTINGS, JobSettings
from graphspec.cli.errors import EXIT_USAGE
from graphspec.cli.options import add_command
from graphspec.cli.run_options import add_run_options, check_run_options
from graphspec.discover import find_specs

if TYPE_CHECKING:
    from benchmarks.store.row import ResultRow
    from benchmarks.sweep.orchestrate import SweepOptions
    from benchmarks.sweep.runner import SweepEvent, SweepSummary

DEMO_SPECS = (
    "segnet-small.yaml",
    "unet-small.yaml",
    "fcn-small.yaml",
    "deconvnet-small.yaml",
    "ssd-small.yaml",
)
DEMO_SETTINGS = dataclasses.replace(DEFAULT_SETTINGS, epochs=30, lr=3e-3)
"""The demo's job settings: longer training at a higher lr than bench's defaults."""
DEMO_SEEDS = 1


def add_bench_command(sub: argparse._SubParsersAction) -> None:
    p = add_command(
        sub,
        "bench",
        help="train, evaluate and time specs; write results and report",
        description="Run a sweep: for each spec train (AdamW, cosine schedule), "
        "evaluate on the held-out split and time it. One row per spec goes to "
        "OUT/results.csv and results.parquet as soon as it finishes; re-running "
        "the same command resumes. Under torchrun each spec trains with DDP: rank 0 "
        "decides which jobs run, and a job that fails on one rank fails on all.\n\n"
        "Every option is checked before the first job starts (exit 2): the device must "
        "exist and every spec must build at --image-size. A job whose estimated training "
        "memory exceeds the device's is recorded failed without being built.",
        examples=[
            "graphspec bench specs/unet-small.yaml --out runs/unet --epochs 2 --limit 64",
            "graphspec bench specs/fcn-small.yaml --out runs/lr --lr auto --seeds 3",
            "graphspec bench specs/ --out runs/sweep-0 --shard 0/2  # one of 2 machines",
            "graphspec bench specs/fcn8s-vgg16.yaml --out runs/voc --data voc:data/VOC2012",
        ],
    )
    p.add_argument("specs", nargs="+", metavar="SPEC", help="spec files or folders")
    p.add_argument("--out", required=True, metavar="runs/NAME", help="run directory")
    add_run_options(p, DEFAULT_SETTINGS)
    p.add_argument(
        "--shard",
        default=None,
        metavar="i/n",
        help="run every n-th job starting at i (0 <= i < n), e.g. for SLURM arrays",
    )
    p.add_argument("--retry-failed", action="store_true", help="re-run jobs recorded as failed")
    p.add_argument("--no-report", action="store_true", help="skip writing the report")
    p.set_defaults(func=cmd_bench)


def add_demo_command(sub: argparse._SubParsersAction) -> None:
    p = add_command(
        sub,
        "demo",
        help="the main job: sweep the small reference specs on the "
        "shapes data and write the report",
        description="Sweep the small reference specs ("
        + ", ".join(DEMO_SPECS)
        + ") on the built-in shapes data on CPU and print the report's path.",
        examples=[
            "graphspec demo",
            "graphspec demo --epochs 2 --limit 32 --out runs/demo-quick  # a smoke test",
            "graphspec demo --seeds 3 --out runs/demo-3seeds",
        ],
    )
    p.add_argument("--out", default="runs/demo", help="run directory")
    p.add_argument(
        "--specs-dir",
        default=None,
        help="folder holding the reference specs (default: ./specs, else the repository's)",
    )
    add_run_options(p, DEMO_SETTINGS, seeds=DEMO_SEEDS)
    p.set_defaults(func=cmd_demo, shard=None, retry_failed=False, no_report=False)


def cmd_bench(args: argparse.Namespace) -> int:
    files, missing = find_specs(args.specs)
    if missing:
        print(f"graphspec bench: no such file or directory: {', '.join(missing)}", file=sys.stderr)
        return EXIT_USAGE
    if not files:
        print("graphspec bench: no .yaml/.yml spec files given", file=sys.stderr)
        return EXIT_USAGE
    return _run(files, args)


def cmd_demo(args: argparse.Namespace) -> int:
    specs_dir = Path(args.specs_dir) if args.specs_dir else _default_specs_dir()
    files = [specs_dir / name for name in DEMO_SPECS]
    missing = [str(f) for f in files if not f.is_file()]
    if missing:
        print(
            f"graphspec demo: reference specs not found: {', '.join(missing)} "
            "(run it from the repository root or pass --specs-dir)",
            file=sys.stderr,
        )
        return EXIT_USAGE
    return _run(files, args)


def _default_specs_dir() -> Path:
    """./specs, else the specs folder of the repository this package lives in."""
    here = Path.cwd() / "specs"
    return here if here.is_dir() else Path(__file__).resolve().parents[2] / "specs"


def _sweep_options(args: argparse.Namespace) -> SweepOptions:
    from benchmarks.sweep.orchestrate import SweepOptions

    settings = JobSettings(
        epochs=args.epochs,
        batch_size=args.batch_size,
        seed=args.seed,
        image_size=args.image_size,
        device=args.device,
        data=args.data,
        compile=args.compile,
        workers=args.workers,
        limit=args.limit,
        lr=args.lr,
        val_every=args.val_every,
        patience=args.patience,
        normalize=args.normalize,
        augment=not args.no_augment,
        threads=args.threads,
    )
    return SweepOptions(
        out=Path(args.out),
        settings=settings,
        seeds=args.seeds,
        shard=args.shard,
        retry_failed=args.retry_failed,
        report=not args.no_report,
        progress=not args.quiet and sys.stdout.isatty(),
    )


def _run(files: list[Path], args: argparse.Namespace) -> int:
    """Check the options against this machine and the specs, then sweep."""
    problem = check_run_options(args, files)
    if problem is not None:
        print(f"graphspec {args.command}: {problem}", file=sys.stderr)
        return EXIT_USAGE
    from benchmarks.sweep.orchestrate import run_bench

    options = _sweep_options(args)
    outcome = run_bench(
        files,
        options,
        on_event=_print_failure if args.quiet else _print_event,
        on_finished=lambda summary: _print_summary(summary, options.out),
    )
    if outcome.report is not None:
        print(f"report: {outcome.report}")
    return outcome.exit_code


def _print_event(event: SweepEvent) -> None:
    if event.job is None:
        return
    head = f"[{event.index + 1}/{event.total}] {event.job.name}"
    if event.kind == "start":
        print(f"{head}: training ...", file=sys.stderr, flush=True)
    elif event.kind == "skip":
        print(f"{head}: already done, skipped", file=sys.stderr)
    elif event.kind in ("ok", "failed"):
        print(f"{head}: {_describe_row(event.row)}", file=sys.stderr, flush=True)


def _print_failure(event: SweepEvent) -> None:
    """``--quiet`` still says which job failed and why: one line each."""
    if event.kind == "failed" and event.job is not None:
        print(f"{event.job.name}: {_describe_row(event.row)}", file=sys.stderr, flush=True)


def _print_summary(summary: SweepSummary, run_dir: Path) -> None:
    if summary.interrupted:
        print(
            f"interrupted: {summary.done} finished rows kept in {run_dir}; re-run the same "
            "command to resume",
            file=sys.stderr,
        )
        return
    print(
        f"{summary.done} ran, {summary.skipped} skipped, {summary.failed} failed "
        f"-> {RunFolder(run_dir).results_csv}",
        file=sys.stderr,
    )


def _describe_row(row: ResultRow | None) -> str:
    """One line per finished job: its shown metrics, costs and flags (not converged; learned
    nothing: its best validation score was at the task's trivial baseline), or why it
    failed."""
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
    if row.converged is False:
        parts.append("NOT CONVERGED")
    if row.learned is False:
        parts.append("LEARNED NOTHING")
    if row.timing_noisy:
        parts.append("timing noisy")
    return "ok: " + ", ".join(parts)
