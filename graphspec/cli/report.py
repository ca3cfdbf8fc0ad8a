"""``graphspec report``: merge run directories (or shards) and write their report."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from graphspec.cli.errors import EXIT_OK, EXIT_USAGE
from graphspec.cli.options import add_command


def cmd_report(args: argparse.Namespace) -> int:
    from benchmarks.report.write import write_report
    from benchmarks.store.layout import RunFolder
    from benchmarks.store.read import merge_results

    runs = [Path(r) for r in args.runs]
    missing = [str(r) for r in runs if not r.exists()]
    if missing:
        print(f"graphspec report: no such run directory: {', '.join(missing)}", file=sys.stderr)
        return EXIT_USAGE
    merged = merge_results(runs)
    for note in merged.notes:
        print(f"note: {note}", file=sys.stderr)
    out = Path(args.out) if args.out else RunFolder(runs[0]).report_dir
    title = args.title or f"graphspec: {runs[0].name}"
    written = write_report(merged, out, title=title, run_dirs=runs)
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
    p.set_defaults(func=cmd_report)
