"""Benchmark report: protocol, accuracy-vs-compute charts, training curves, tables, failures.

``write_report`` turns a results table (one row per spec, setting and seed) into Markdown
for the repository and a single self-contained HTML file. Seeds are folded into a mean and
a sample std per spec and setting (:mod:`benchmarks.report.aggregate`); accuracy is a fraction in
[0, 1] throughout. The content is built once (:mod:`benchmarks.report.sections`) and
rendered by :mod:`benchmarks.report.markdown` and :mod:`benchmarks.report.html`, so the
two files cannot drift apart. This module writes the report's files; reading and merging
results is :mod:`benchmarks.store.read`. The report folder must be a real folder: a
``report`` symlink in a run folder someone shared would have the report (and its charts)
written wherever it points, so it is refused in one line.
"""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Sequence
from pathlib import Path

import pandas as pd

from benchmarks.report.aggregate import aggregate_seeds
from benchmarks.report.content import Section
from benchmarks.report.differences import RunProtocol
from benchmarks.report.html import render_html
from benchmarks.report.markdown import render_markdown
from benchmarks.report.sections import build_sections
from benchmarks.store.layout import RunFolder
from benchmarks.store.protocol import read_protocol
from benchmarks.store.read import MergedResults, merge_results, read_results, run_dir_of
from graphspec.atomic import WriteError, atomic_write, atomic_write_text, ensure_dir

__all__ = ["report_is_current", "write_report"]

SUMMARY_NAME = "summary.csv"


def write_report(
    results: pd.DataFrame | MergedResults | str | Path,
    out_dir: Path,
    *,
    title: str | None = None,
    tolerance: float = 0.01,
    run_dirs: Sequence[str | Path] | None = None,
    allow_noisy: bool = False,
    first: Sequence[Section] = (),
) -> dict[str, Path]:
    """Write charts (PNG+SVG), report.md and report.html into ``out_dir``.

    ``first`` are sections a caller made (``graphspec search``: its front and knob
    charts, written into ``out_dir``), shown before the report's own.

    ``results`` is a results table, several runs merged (:func:`merge_results`, whose notes
    the report repeats) or a path to a run directory / results file. ``run_dirs`` are the
    run directories the rows come from: their protocol.json fills the header block (and,
    for several, the settings they differ in) and their ``jobs/*/history.csv`` the training
    curves (default: the run directory of ``results`` when it is a path, else none).
    ``tolerance`` (an accuracy fraction, 0.01 = one point) picks the cheap alternative named
    in the winner line. Runs whose timing was flagged noisy are kept off latency frontiers
    (charts, the Pareto column and the winner line when latency is the cost) unless
    ``allow_noisy``. Returns every written file keyed by its file name. An ``out_dir``
    that is a symlink is refused (:class:`~graphspec.atomic.WriteError`).
    """
    _refuse_symlink(Path(out_dir))
    notes: list[str] = []
    if isinstance(results, MergedResults):
        results, notes = results.rows, results.notes
    if isinstance(results, pd.DataFrame):
        df, default_title = results, "Benchmark report"
        dirs = [Path(d) for d in run_dirs or ()]
    else:
        df, default_title = read_results(results), f"Benchmark report: {Path(results).name}"
        dirs = [Path(d) for d in run_dirs] if run_dirs is not None else [run_dir_of(results)]
    title = title or default_title
    out_dir = ensure_dir(out_dir)
    dirs = list(dict.fromkeys(dirs))  # a run listed twice is one run
    runs = [
        RunProtocol(str(d), protocol)
        for d in dirs
        if (protocol := read_protocol(run_dir_of(d))) is not None
    ]
    folders = [run_dir_of(d) for d in dirs]
    content = build_sections(df, out_dir, tolerance, folders, runs, notes, allow_noisy=allow_noisy)
    content.sections[:0] = list(first)

    written: dict[str, Path] = {}
    for section in content.sections:
        for chart in section.charts:
            written[chart.png.name], written[chart.svg.name] = chart.png, chart.svg
    md_path, html_path = out_dir / "report.md", out_dir / "report.html"
    atomic_write_text(md_path, render_markdown(title, content))
    atomic_write_text(html_path, render_html(title, content))
    written[md_path.name], written[html_path.name] = md_path, html_path
    written[SUMMARY_NAME] = _write_summary(df, out_dir / SUMMARY_NAME)
    return written


def _refuse_symlink(out_dir: Path) -> None:
    """A WriteError when ``out_dir`` is a symlink: the report is written into real folders
    only, never through a link to somewhere else."""
    if out_dir.is_symlink():
        raise WriteError(
            out_dir, "it is a symbolic link; remove it or give a real folder with --out"
        )


def report_is_current(run_dir: str | Path, out_dir: str | Path) -> bool:
    """Whether ``out_dir/report.html`` is newer than every input file of ``run_dir``.

    A resume that ran nothing then skips the report, so it writes no file at all (and works
    in a read-only run folder).
    """
    html = Path(out_dir) / "report.html"
    inputs = RunFolder(Path(run_dir)).inputs
    try:
        written = html.stat().st_mtime_ns
        return all(p.stat().st_mtime_ns <= written for p in inputs if os.path.exists(p))
    except OSError:
        return False


def _write_summary(df: pd.DataFrame, path: Path) -> Path:
    """summary.csv: one row per spec and setting, mean and std of each metric over seeds
    (the per-seed rows stay in results.csv)."""
    ok = df[df["status"] == "ok"] if "status" in df.columns else df
    table = aggregate_seeds(ok) if len(ok) else pd.DataFrame()
    atomic_write(path, lambda handle: table.to_csv(handle, index=False))
    return path


def main(argv: list[str] | None = None) -> int:
    """``python -m benchmarks.report.write RUN_DIR [RUN_DIR ...] --out DIR``: merge and report."""
    parser = argparse.ArgumentParser(description="Write the benchmark report for run results.")
    parser.add_argument("runs", nargs="+", type=Path, help="run directories or results files")
    parser.add_argument("--out", type=Path, required=True, help="output directory")
    parser.add_argument("--title", default=None)
    parser.add_argument(
        "--allow-noisy", action="store_true", help="let noisy timings onto latency frontiers"
    )
    args = parser.parse_args(argv)
    merged = merge_results(args.runs)
    for note in merged.notes:
        print(f"note: {note}", file=sys.stderr)
    written = write_report(
        merged, args.out, title=args.title, run_dirs=args.runs, allow_noisy=args.allow_noisy
    )
    print(written["report.html"])
    return 0


if __name__ == "__main__":
    sys.exit(main())
