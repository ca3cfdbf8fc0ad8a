"""CLI commands of the benchmark harness: ``bench``, ``report`` and ``demo``.

Imported by :mod:`graphspec.cli` only; the harness itself is imported inside the command
functions so ``graphspec check`` never pays for it.
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
from pathlib import Path

DEMO_SPECS = (
    "segnet-small.yaml",
    "unet-small.yaml",
    "fcn-small.yaml",
    "deconvnet-small.yaml",
    "ssd-small.yaml",
)


def _image_size(text: str) -> tuple[int, int]:
    try:
        parts = [int(p) for p in text.lower().split("x")]
    except ValueError:
        parts = []
    if len(parts) == 1:
        parts = parts * 2
    if len(parts) != 2 or min(parts) < 1:
        raise argparse.ArgumentTypeError(f"expected SIZE or HxW, e.g. 64 or 96x128, got {text!r}")
    return parts[0], parts[1]


def _positive(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        value = 0
    if value < 1:
        raise argparse.ArgumentTypeError(f"expected a positive integer, got {text!r}")
    return value


def _add_run_options(p: argparse.ArgumentParser, epochs: int, batch: int, lr: float = 2e-3) -> None:
    p.add_argument(
        "--data",
        default="shapes",
        help="shapes | voc:PATH | coco:PATH (default: the built-in synthetic shapes)",
    )
    p.add_argument("--epochs", type=_positive, default=epochs, help=f"default {epochs}")
    p.add_argument("--batch-size", type=_positive, default=batch, help=f"default {batch}")
    p.add_argument(
        "--image-size",
        type=_image_size,
        default=None,
        metavar="HxW",
        help="train/evaluate at this size (default: the spec's input size)",
    )
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--device", default="cuda" if _cuda() else "cpu", choices=("cpu", "cuda"))
    p.add_argument("--compile", action="store_true", help="torch.compile each model")
    p.add_argument("--workers", type=int, default=0, help="DataLoader worker processes")
    p.add_argument(
        "--limit",
        type=_positive,
        default=None,
        metavar="N",
        help="use at most N training images (quick checks)",
    )
    p.add_argument(
        "--lr", type=float, default=lr, help=f"AdamW peak learning rate (default {lr:g})"
    )
    p.add_argument("--quiet", action="store_true", help="no progress bars or per-job lines")


def _cuda() -> bool:
    try:
        import torch

        return torch.cuda.is_available()
    except Exception:  # pragma: no cover - torch import problems surface elsewhere
        return False


def add_bench_commands(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "bench",
        help="train, evaluate and time specs; write results and report",
        description="Run a sweep: for each spec train (AdamW, cosine schedule), "
        "evaluate on the held-out split and time it. One row per spec goes to "
        "OUT/results.csv and results.parquet as soon as it finishes; re-running "
        "the same command resumes. Under torchrun each spec trains with DDP.",
    )
    p.add_argument("specs", nargs="+", metavar="SPEC", help="spec files or folders")
    p.add_argument("--out", required=True, metavar="runs/NAME", help="run directory")
    _add_run_options(p, epochs=10, batch=16)
    p.add_argument(
        "--shard",
        default=None,
        metavar="i/n",
        help="run every n-th job starting at i (0-based), e.g. for SLURM arrays",
    )
    p.add_argument("--retry-failed", action="store_true", help="re-run jobs recorded as failed")
    p.add_argument("--no-report", action="store_true", help="skip writing the report")
    p.set_defaults(func=cmd_bench)

    p = sub.add_parser(
        "report",
        help="charts + HTML/Markdown report of one or more runs",
        description="Merge the results of run directories (or shards) and write "
        "accuracy-vs-cost charts with the Pareto frontier, report.html and "
        "report.md.",
    )
    p.add_argument("runs", nargs="+", metavar="RUN_DIR")
    p.add_argument("--out", default=None, help="output folder (default: FIRST_RUN/report)")
    p.add_argument("--title", default=None)
    p.set_defaults(func=cmd_report)

    p = sub.add_parser(
        "demo",
        help="the main job: sweep the small reference specs on the "
        "shapes data and write the report",
        description="Sweep the small reference specs ("
        + ", ".join(DEMO_SPECS)
        + ") on the built-in shapes data on CPU and print the report's path.",
    )
    p.add_argument("--out", default="runs/demo", help="run directory (default runs/demo)")
    p.add_argument("--specs-dir", default=None, help="folder holding the reference specs")
    _add_run_options(p, epochs=18, batch=16, lr=1e-2)
    p.set_defaults(func=cmd_demo, shard=None, retry_failed=False, no_report=False)


def cmd_bench(args: argparse.Namespace) -> int:
    from graphspec.discover import find_specs

    files, missing = find_specs(args.specs)
    if missing:
        print(f"graphspec bench: no such file or directory: {', '.join(missing)}", file=sys.stderr)
        return 2
    if not files:
        print("graphspec bench: no .yaml/.yml spec files given", file=sys.stderr)
        return 2
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
        return 2
    return _run(files, args)


def _default_specs_dir() -> Path:
    here = Path.cwd() / "specs"
    return here if here.is_dir() else Path(__file__).resolve().parent.parent / "specs"


def _run(files: list[Path], args: argparse.Namespace) -> int:
    from benchmarks.bench import run_job
    from benchmarks.distributed import barrier, cleanup, init_distributed
    from benchmarks.results import ResultsStore
    from benchmarks.sweep import plan_jobs, run_sweep, select_shard

    settings = {
        "epochs": args.epochs,
        "batch_size": args.batch_size,
        "seed": args.seed,
        "image_size": list(args.image_size) if args.image_size else None,
        "device": args.device,
        "data": args.data,
        "compile": args.compile,
        "workers": args.workers,
        "limit": args.limit,
        "lr": args.lr,
    }
    planned = plan_jobs(files, [settings])
    jobs = select_shard(planned, args.shard) if args.shard else planned
    run_dir = Path(args.out)
    distributed = int(os.environ.get("WORLD_SIZE", "1")) > 1
    ctx = init_distributed() if distributed else None
    progress = not args.quiet and sys.stdout.isatty()
    if ctx is not None and not ctx.is_main:
        # Other ranks train the same jobs but never write results: they skip exactly the
        # jobs rank 0 will skip, and write into a throw-away folder.
        done = ResultsStore(run_dir).statuses()
        jobs = [j for j in jobs if done.get(j.key) is None]
        with tempfile.TemporaryDirectory() as scratch:
            run_sweep(jobs, scratch, lambda job, d: run_job(job, d, ctx, progress=False))
        barrier(ctx)
        cleanup()
        return 0

    def on_event(event) -> None:
        if event.kind == "failed":
            _release_memory()  # e.g. after CUDA out-of-memory, before the next spec
        if args.quiet or event.job is None:
            return
        head = f"[{event.index + 1}/{event.total}] {event.job.name}"
        if event.kind == "start":
            print(f"{head}: training ...", file=sys.stderr, flush=True)
        elif event.kind == "skip":
            print(f"{head}: already done, skipped", file=sys.stderr)
        elif event.kind in ("ok", "failed"):
            print(f"{head}: {_describe_row(event.row)}", file=sys.stderr, flush=True)

    summary = run_sweep(
        jobs,
        run_dir,
        lambda job, d: run_job(job, d, ctx, progress=progress),
        retry_failed=args.retry_failed,
        on_event=on_event,
        planned=planned,
    )
    if ctx is not None:
        barrier(ctx)
        cleanup()
    if summary.interrupted:
        print(
            f"interrupted: {summary.done} finished rows kept in {run_dir}; re-run the same "
            "command to resume",
            file=sys.stderr,
        )
        return summary.exit_code
    print(
        f"{summary.done} ran, {summary.skipped} skipped, {summary.failed} failed "
        f"-> {run_dir / 'results.csv'}",
        file=sys.stderr,
    )
    if not args.no_report:
        from benchmarks.report import write_report

        written = write_report(run_dir, run_dir / "report", title=f"graphspec: {run_dir.name}")
        print(f"report: {written['report.html']}")
    return summary.exit_code


def _release_memory() -> None:
    import gc

    import torch

    gc.collect()
    if torch.cuda.is_available():
        torch.cuda.empty_cache()


def _describe_row(row: dict | None) -> str:
    if not row:
        return "?"
    if row.get("status") != "ok":
        return f"FAILED ({row.get('error')})"
    parts = []
    for key, label in (("miou", "mIoU"), ("map", "mAP"), ("map50", "mAP50")):
        value = row.get(key)
        if isinstance(value, float) and value == value:
            parts.append(f"{label} {value:.3f}")
    parts.append(f"{row.get('gflops', 0):.3f} GFLOPs")
    parts.append(f"{row.get('latency_ms', 0):.2f} ms")
    parts.append(f"train {row.get('train_s', 0):.0f} s")
    return "ok: " + ", ".join(parts)


def cmd_report(args: argparse.Namespace) -> int:
    from benchmarks.report import merge_results, write_report

    runs = [Path(r) for r in args.runs]
    missing = [str(r) for r in runs if not r.exists()]
    if missing:
        print(f"graphspec report: no such run directory: {', '.join(missing)}", file=sys.stderr)
        return 2
    merged = merge_results(runs)
    out = Path(args.out) if args.out else runs[0] / "report"
    written = write_report(merged, out, title=args.title or f"graphspec: {runs[0].name}")
    print(f"report: {written['report.html']}")
    return 0


def describe_error(exc: BaseException) -> str | None:
    """A one-line message for known user-facing errors (bad data, bad options), or None."""
    from benchmarks.data import DataError
    from benchmarks.results import ResultsFileError

    if isinstance(exc, DataError | ResultsFileError):
        return f"error: {exc}"
    if isinstance(exc, ValueError) and str(exc).startswith("bad shard"):
        return f"error: {exc}"
    if isinstance(exc, FileNotFoundError | NotADirectoryError | PermissionError):
        return f"error: {exc}"
    return None
