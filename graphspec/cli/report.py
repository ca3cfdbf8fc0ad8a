"""``graphspec report``: merge run directories (or shards) and write their report.

Each RUN_DIR is checked before anything is read: a missing one, or one that is neither a
run folder with results nor a results file, is a usage error (exit 2).
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from graphspec.cli.errors import EXIT_OK, UsageError
from graphspec.cli.inputs import existing, output_dir
from graphspec.cli.options import add_command, add_format_option


def _check_runs(runs: list[Path]) -> None:
    """Each RUN_DIR must be a run folder with a results table, or a results file: a
    UsageError (exit 2) names the first that is not, before anything is read."""
    from benchmarks.store.layout import RunFolder

    for run in runs:
        existing(run)
        files = RunFolder(run).results_files  # a run folder's tables, by suffix a results file
        if run.is_dir() and not any(path.is_file() for path in files):
            names = " or ".join(path.name for path in files)
            raise UsageError(f"no {names} in {run} (expected a run folder)")
        suffixes = [path.suffix for path in files]
        if not run.is_dir() and run.suffix not in suffixes:
            raise UsageError(
                f"{run} is not a run folder or a results file (expected a folder, or a "
                f"{' or '.join(suffixes)} file)"
            )


def cmd_report(args: argparse.Namespace) -> int:
    from benchmarks.report.write import write_report
    from benchmarks.store.layout import RunFolder
    from benchmarks.store.read import merge_results, run_dir_of

    runs = [Path(r) for r in args.runs]
    _check_runs(runs)
    out = output_dir(args.out) if args.out else RunFolder(run_dir_of(runs[0])).report_dir
    merged = merge_results(runs)
    for note in merged.notes:
        print(f"note: {note}", file=sys.stderr)
    title = args.title or f"graphspec: {run_dir_of(runs[0]).name}"
    written = write_report(merged, out, title=title, run_dirs=runs, allow_noisy=args.allow_noisy)
    if args.format == "json":
        files = [str(path) for _, path in sorted(written.items())]
        print(json.dumps({"report": str(written["report.html"]), "written": files}, indent=1))
    else:
        print(f"report: {written['report.html']}")
    return EXIT_OK


def add_report_command(sub: argparse._SubParsersAction) -> None:
    p = add_command(
        sub,
        "report",
        help="charts + HTML/Markdown report of one or more runs",
        description="Merge the results of run directories (or shards) and write "
        "accuracy-vs-cost charts with the Pareto frontier, report.html and "
        "report.md.",
        examples=[
            "graphspec report runs/demo",
            "graphspec report runs/sweep-0 runs/sweep-1 --out runs/sweep-report  # shards",
            'graphspec report runs/demo --title "small specs on shapes"',
        ],
    )
    p.add_argument("runs", nargs="+", metavar="RUN_DIR", help="run directories or shards")
    p.add_argument("--out", default=None, help="output folder (default: FIRST_RUN/report)")
    p.add_argument(
        "--title", default=None, help="the report's title (default: graphspec: FIRST_RUN's name)"
    )
    p.add_argument(
        "--allow-noisy",
        action="store_true",
        help="let rows whose timing was flagged noisy onto the latency frontiers",
    )
    add_format_option(p, "the report's path and every file written")
    p.set_defaults(func=cmd_report)
