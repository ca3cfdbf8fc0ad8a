"""``graphspec bench`` and ``graphspec demo``: parse a sweep's options, check them, run it.

What the sweep prints (phases with an ETA, result lines, JSON) is
:mod:`graphspec.cli.sweep_output`.

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

from benchmarks.store.settings import DEFAULT_SETTINGS, JobSettings
from graphspec.cli.engine_options import add_engine_options, ray_options
from graphspec.cli.errors import EXIT_USAGE
from graphspec.cli.inputs import input_dir
from graphspec.cli.options import add_command
from graphspec.cli.run_options import add_run_options, check_run_options
from graphspec.cli.sweep_output import SweepPrinter
from graphspec.discover import find_specs

if TYPE_CHECKING:
    from benchmarks.sweep.orchestrate import SweepOptions

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
        "decides which jobs run, and a job that fails on one rank fails on all. With "
        "--engine ray the jobs run as Ray tasks (several at once where the cluster has the "
        "devices) and this process writes their rows; --shard splits a sweep by hand "
        "(docs/scaling.md says when to use which).\n\n"
        "Every option is checked before the first job starts (exit 2): the device must "
        "exist, the data must open, --out must not be a file and every spec must build at "
        "--image-size. A job whose estimated training memory exceeds the device's is "
        "recorded failed without being built.\n\n"
        "Unless --quiet, each job prints the phase it enters (training, evaluating, timing) "
        "with the sweep's ETA, then its result line (stderr).",
        examples=[
            "graphspec bench specs/unet-small.yaml --out runs/unet --epochs 2 --limit 64",
            "graphspec bench specs/ --out runs/sweep-0 --shard 0/2  # one of 2 machines",
            "graphspec bench specs/ --out runs/all --engine ray  # or RAY_ADDRESS=...",
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
    add_engine_options(p)
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
    if args.specs_dir:
        input_dir(args.specs_dir, "a folder holding the reference specs", "--specs-dir")
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


def sweep_options(args: argparse.Namespace) -> SweepOptions:
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
        allow_noisy=args.allow_noisy,
        ray=ray_options(args) if hasattr(args, "engine") else None,
    )


def _run(files: list[Path], args: argparse.Namespace) -> int:
    """Check the options against this machine and the specs, then sweep."""
    problem = check_run_options(args, files)
    if problem is not None:
        print(f"graphspec {args.command}: {problem}", file=sys.stderr)
        return EXIT_USAGE
    from benchmarks.sweep.orchestrate import run_bench

    options = sweep_options(args)
    printer = SweepPrinter(options.out, quiet=args.quiet, as_json=args.format == "json")
    from benchmarks.sweep.ray_cluster import ClusterError

    try:
        outcome = run_bench(files, options, on_event=printer.event, on_finished=printer.finished)
    except ClusterError as exc:
        print(f"graphspec {args.command}: {exc}", file=sys.stderr)
        return EXIT_USAGE
    printer.outcome(outcome)
    return outcome.exit_code
