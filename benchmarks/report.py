"""Benchmark report: protocol, accuracy-vs-compute charts, training curves, tables, failures.

``write_report`` turns a results table (one row per spec, setting and seed) into Markdown
for the repository and a single self-contained HTML file. Seeds are folded into a mean and
a sample std per spec and setting (:mod:`benchmarks.aggregate`); accuracy is a fraction in
[0, 1] throughout. The content is built once (:mod:`benchmarks.report_sections`) and
rendered by :mod:`benchmarks.report_markdown` and :mod:`benchmarks.report_html`, so the
two files cannot drift apart. This module reads and merges results files, reads the runs'
protocol.json, and writes the report's files.
"""

from __future__ import annotations

import argparse
import os
import sys
import warnings
from collections.abc import Sequence
from pathlib import Path

import pandas as pd

from benchmarks.aggregate import aggregate_seeds
from benchmarks.atomic import atomic_write, atomic_write_text, ensure_dir
from benchmarks.protocol import read_protocol
from benchmarks.report_html import render_html
from benchmarks.report_markdown import render_markdown
from benchmarks.report_sections import build_sections
from benchmarks.results import ResultsFileError, ResultsRepairWarning, ResultsStore
from benchmarks.results_io import read_csv_checked, read_parquet_checked, rows_to_frame

__all__ = [
    "KEY_COLUMNS",
    "read_results",
    "merge_results",
    "report_is_current",
    "run_dir_of",
    "write_report",
]

KEY_COLUMNS = ("spec", "spec_hash", "image_size", "epochs", "seed", "device")
"""Columns identifying one run; rows repeating them across shards are duplicates."""

RESULT_FILES = ("results.parquet", "results.csv")
SUMMARY_NAME = "summary.csv"


def _warn(problems: Sequence[str]) -> None:
    """One warning per damaged-file problem; the report leaves the run's files as they are."""
    for problem in problems:
        warnings.warn(
            f"{problem} (the report uses the good rows; the next bench run repairs the file)",
            ResultsRepairWarning,
            stacklevel=3,
        )


def _read_plain(target: Path) -> pd.DataFrame:
    """A results file as pandas reads it (for tables without job keys, e.g. hand-made)."""
    return pd.read_parquet(target) if target.suffix == ".parquet" else pd.read_csv(target)


def _read_checked(target: Path) -> pd.DataFrame | None:
    """Rows cross-checked like the sweep's store (:meth:`ResultsStore.check`) when damaged,
    None when intact; a ResultsFileError (naming the file) when it cannot be read."""
    if target.is_dir():
        found = ResultsStore(target).check()
        problems = found.problems
    else:
        reader = read_parquet_checked if target.suffix == ".parquet" else read_csv_checked
        try:
            found = reader(target)
        except Exception as exc:
            reason = " ".join(f"{type(exc).__name__}: {exc}".split())
            raise ResultsFileError(f"cannot read results file {target}: {reason}") from exc
        problems = [f"{target}: {problem}" for problem in found.problems]
    _warn(problems)
    return rows_to_frame(found.rows) if problems else None


def read_results(path: str | Path) -> pd.DataFrame:
    """Read a results file, or a run directory's results.parquet (preferred) / results.csv.

    Files written by the sweep are cross-checked: a damaged one warns and yields its good
    rows, one beyond repair is a ResultsFileError naming it, never a pyarrow traceback.
    A table without a ``job_key`` column (not the sweep's) is read as it is.
    """
    target = Path(path)
    plain = target
    if target.is_dir():
        found = [target / name for name in RESULT_FILES if (target / name).is_file()]
        if not found:
            raise FileNotFoundError(f"no {' or '.join(RESULT_FILES)} in {target}")
        plain = found[0]
    elif target.suffix not in (".parquet", ".csv"):
        raise ValueError(f"unsupported results file {target} (expected .parquet or .csv)")
    try:
        checked = _read_checked(target)
    except ResultsFileError as exc:
        try:
            return _read_plain(plain)
        except Exception:
            raise exc from None
    return checked if checked is not None else _read_plain(plain)


def merge_results(paths: list[Path]) -> pd.DataFrame:
    """Concatenate results from run directories or shards, dropping repeated runs.

    A run repeated across sources (same ``KEY_COLUMNS`` values, NaN equal to NaN) keeps its
    last occurrence, so a re-run shard listed later replaces the earlier failure or result.
    """
    frames = [frame for frame in (read_results(p) for p in paths) if not frame.empty]
    if not frames:
        return pd.DataFrame()
    merged = pd.concat(frames, ignore_index=True, sort=False)
    keys = [c for c in KEY_COLUMNS if c in merged.columns]
    return merged.drop_duplicates(subset=keys or None, keep="last").reset_index(drop=True)


def run_dir_of(path: str | Path) -> Path:
    """The run directory of a run directory or of a results file inside one."""
    target = Path(path)
    return target if target.is_dir() else target.parent


def write_report(
    results: pd.DataFrame | str | Path,
    out_dir: Path,
    *,
    title: str | None = None,
    tolerance: float = 0.01,
    run_dirs: Sequence[str | Path] | None = None,
) -> dict[str, Path]:
    """Write charts (PNG+SVG), report.md and report.html into ``out_dir``.

    ``results`` is a results table or a path to a run directory / results file.
    ``run_dirs`` are the run directories the rows come from: their protocol.json fills the
    header block and their ``jobs/*/history.csv`` the training curves (default: the run
    directory of ``results`` when it is a path, else none). ``tolerance`` (an accuracy
    fraction, 0.01 = one point) picks the cheap alternative named in the winner line.
    Returns every written file keyed by its file name.
    """
    if isinstance(results, pd.DataFrame):
        df, default_title = results, "Benchmark report"
        dirs = [Path(d) for d in run_dirs or ()]
    else:
        df, default_title = read_results(results), f"Benchmark report: {Path(results).name}"
        dirs = [Path(d) for d in run_dirs] if run_dirs is not None else [run_dir_of(results)]
    title = title or default_title
    out_dir = ensure_dir(out_dir)
    protocols = [p for p in (read_protocol(run_dir_of(d)) for d in dirs) if p is not None]
    content = build_sections(df, out_dir, tolerance, [run_dir_of(d) for d in dirs], protocols)

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


def report_is_current(run_dir: str | Path, out_dir: str | Path) -> bool:
    """Whether ``out_dir/report.html`` is newer than every input file of ``run_dir``.

    A resume that ran nothing then skips the report, so it writes no file at all (and works
    in a read-only run folder).
    """
    html = Path(out_dir) / "report.html"
    inputs = [Path(run_dir) / name for name in (*RESULT_FILES, "protocol.json", "sweep.json")]
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
    """``python -m benchmarks.report RUN_DIR [RUN_DIR ...] --out DIR``: merge and report."""
    parser = argparse.ArgumentParser(description="Write the benchmark report for run results.")
    parser.add_argument("runs", nargs="+", type=Path, help="run directories or results files")
    parser.add_argument("--out", type=Path, required=True, help="output directory")
    parser.add_argument("--title", default=None)
    args = parser.parse_args(argv)
    merged = merge_results(args.runs)
    written = write_report(merged, args.out, title=args.title, run_dirs=args.runs)
    print(written["report.html"])
    return 0


if __name__ == "__main__":
    sys.exit(main())
