"""Benchmark report: accuracy-vs-compute charts, a results table and failed runs.

``write_report`` turns a results table (one row per spec and setting) into Markdown for the
repository and a single self-contained HTML file (inline SVG charts, inline CSS, no scripts)
that can be mailed or attached to CI artifacts. Both are rendered from the same
``_Section`` data so their content cannot drift apart.
"""

from __future__ import annotations

import argparse
import html
import re
import sys
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd

from benchmarks.charts import (
    COST_AXES,
    TASK_METRICS,
    Chart,
    CostAxis,
    Metric,
    as_percent,
    task_charts,
)
from benchmarks.pareto import pareto_mask

__all__ = ["KEY_COLUMNS", "read_results", "merge_results", "write_report"]

KEY_COLUMNS = ("spec", "spec_hash", "image_size", "epochs", "seed", "device")
"""Columns identifying one run; rows repeating them across shards are duplicates."""

RESULT_FILES = ("results.parquet", "results.csv")
SETTING_COLUMNS = ("image_size", "device", "dtype")
TASK_ORDER = ("segmentation", "detection", "classification")
DASH = "–"
CHECK = "✓"


def read_results(path: str | Path) -> pd.DataFrame:
    """Read a results file, or a run directory's results.parquet (preferred) / results.csv."""
    target = Path(path)
    if target.is_dir():
        found = [target / name for name in RESULT_FILES if (target / name).is_file()]
        if not found:
            raise FileNotFoundError(f"no {' or '.join(RESULT_FILES)} in {target}")
        target = found[0]
    if target.suffix == ".parquet":
        return pd.read_parquet(target)
    if target.suffix == ".csv":
        return pd.read_csv(target)
    raise ValueError(f"unsupported results file {target} (expected .parquet or .csv)")


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


def _normalise(df: pd.DataFrame) -> pd.DataFrame:
    """Fill in the columns the report relies on so partial tables still render."""
    out = df.copy().reset_index(drop=True)
    if "spec" not in out.columns:
        out["spec"] = [f"run{i}" for i in range(len(out))]
    out["spec"] = out["spec"].astype(str)
    out["task"] = out["task"].fillna("unknown").astype(str) if "task" in out else "unknown"
    status = out["status"] if "status" in out else pd.Series("ok", index=out.index)
    out["status"] = status.fillna("ok").astype(str).str.strip().str.lower()
    if "error" not in out.columns:
        out["error"] = ""
    for column in ("params", "gflops", "latency_ms", "latency_iqr_ms"):
        out[column] = pd.to_numeric(out.get(column, np.nan), errors="coerce")
    return out


def _num(value: object, digits: int, scale: float = 1.0) -> str:
    number = pd.to_numeric(value, errors="coerce")
    return DASH if pd.isna(number) else f"{float(number) * scale:,.{digits}f}"


def _text(value: object) -> str:
    """Cell text; whole floats print as ints (a NaN in a parquet int column makes it float)."""
    if value is None or (not isinstance(value, str) and pd.isna(value)):
        return DASH
    if isinstance(value, float | np.floating) and float(value).is_integer():
        return str(int(value))
    return str(value)


def _short_error(error: object) -> str:
    """Last non-empty line of an error (a traceback ends with the exception), truncated."""
    lines = [line.strip() for line in _text(error).splitlines() if line.strip()]
    message = lines[-1] if lines else DASH
    return message if len(message) <= 240 else message[:237] + "..."


@dataclass
class _Section:
    heading: str
    summary: str = ""
    charts: list[Chart] = field(default_factory=list)
    headers: list[str] = field(default_factory=list)
    rows: list[list[str]] = field(default_factory=list)
    note: str = ""


def _settings(ok: pd.DataFrame) -> pd.Series:
    """Setting text from the setting columns that vary in this task ('' when none vary)."""
    varying = [c for c in SETTING_COLUMNS if c in ok and ok[c].nunique(dropna=False) > 1]

    def describe(row: pd.Series) -> str:
        parts = [(_text(row[c]), "px" if c == "image_size" else "") for c in varying]
        return " ".join(text + unit for text, unit in parts if text != DASH)

    if not varying:
        return pd.Series("", index=ok.index)
    return ok.apply(describe, axis=1).astype(str)


def _primary_cost(ok: pd.DataFrame) -> CostAxis | None:
    """First cost axis with usable values: GFLOPs, else latency, else parameters."""
    for axis in COST_AXES:
        values = ok[axis.column]
        if np.isfinite(values).any():
            return axis
    return None


def _winner_sentence(
    task: str, ok: pd.DataFrame, metric: Metric, cost: CostAxis | None, tolerance: float
) -> str:
    scored = ok[np.isfinite(ok["acc"])]
    if scored.empty:
        return f"{task.capitalize()}: no {metric.name} values among successful runs."
    best = scored.loc[scored["acc"].idxmax()]
    text = f"{task.capitalize()}: best {metric.name} is **{best['label']}** at {best['acc']:.2f}"
    if cost is None:
        return text + "."
    text += f" ({_num(best[cost.column], 2, cost.scale)} {cost.name})"
    near = scored[scored["pareto"] & (scored["acc"] >= best["acc"] - tolerance)]
    near = near[np.isfinite(near[cost.column])]
    if near.empty:
        return text + "."
    cheap = near.sort_values([cost.column, "acc"], ascending=[True, False]).iloc[0]
    if cheap.name == best.name:
        return text + f"; it is also the cheapest frontier run within {tolerance:g} point."
    ratio = best[cost.column] / cheap[cost.column] if cheap[cost.column] > 0 else np.nan
    saving = f" ({ratio:.1f}x less)" if np.isfinite(ratio) else ""
    return text + (
        f"; cheapest frontier run within {tolerance:g} point: **{cheap['label']}** at "
        f"{cheap['acc']:.2f} with {_num(cheap[cost.column], 2, cost.scale)} {cost.name}{saving}."
    )


def _task_section(
    task: str, ok: pd.DataFrame, out_dir: Path, tolerance: float
) -> tuple[_Section, str]:
    metrics = TASK_METRICS.get(task, (Metric("accuracy", "accuracy", "Accuracy (%)"),))
    ok = ok.copy()
    settings = [c for c in ("image_size", "device") if c in ok]
    ok["_device"] = ok["device"].fillna("unknown").astype(str) if "device" in ok else ""
    for metric in metrics:
        ok[metric.column + "_pct"] = as_percent(ok.get(metric.column, pd.Series(np.nan, ok.index)))
    present = [m for m in metrics[1:] if np.isfinite(ok[m.column + "_pct"]).any()]
    metrics = (metrics[0], *present)
    primary_metric = metrics[0]
    ok["acc"] = ok[primary_metric.column + "_pct"]
    ok["setting"] = _settings(ok)
    ok["label"] = (ok["spec"] + " " + ok["setting"]).str.strip()
    cost = _primary_cost(ok)
    costs = ok[cost.column].to_numpy(float) if cost else np.full(len(ok), np.nan)
    ok["pareto"] = pareto_mask(costs, ok["acc"].to_numpy(float))
    winner = _winner_sentence(task, ok, primary_metric, cost, tolerance)

    section = _Section(heading=f"{task.capitalize()} ({primary_metric.name})")
    section.charts = task_charts(task, ok, metrics, cost, out_dir)
    if not section.charts:
        section.summary = f"No charts: no run has both a {primary_metric.name} and a cost value."
    optional = [
        ("throughput_ips", "Throughput (img/s)", 1),
        ("peak_mem_mb", "Peak mem (MB)", 0),
        ("train_s", "Train (s)", 0),
        ("epochs", "Epochs", 0),
    ]
    optional = [
        o for o in optional if o[0] in ok and pd.to_numeric(ok[o[0]], "coerce").notna().any()
    ]
    section.headers = (
        ["Spec"]
        + [{"image_size": "Size", "device": "Device"}[c] for c in settings]
        + [f"{m.name} (%)" for m in metrics]
        + ["Params (M)", "GFLOPs", "Latency (ms ± IQR)"]
        + [o[1] for o in optional]
        + ["Pareto"]
    )
    ordered = ok.sort_values(["acc", "gflops"], ascending=[False, True], na_position="last")
    for _, row in ordered.iterrows():
        latency = _num(row["latency_ms"], 2)
        if latency != DASH and pd.notna(row["latency_iqr_ms"]):
            latency += f" ± {row['latency_iqr_ms']:.2f}"
        section.rows.append(
            [row["spec"]]
            + [_text(row[c]) for c in settings]
            + [_num(row[m.column + "_pct"], 2) for m in metrics]
            + [_num(row["params"], 2, 1e-6), _num(row["gflops"], 2), latency]
            + [_num(row[col], digits) for col, _, digits in optional]
            + [CHECK if row["pareto"] else ""]
        )
    if cost is not None and ok["pareto"].any():
        section.note = (
            f"{CHECK} = on the {primary_metric.name}-vs-{cost.name} Pareto frontier: "
            "no other run is at least as cheap and at least as accurate."
        )
    return section, winner


def _failed_section(failed: pd.DataFrame) -> _Section:
    section = _Section(heading=f"Failed runs ({len(failed)})")
    section.headers = ["Spec", "Task", "Size", "Device", "Status", "Error"]
    for _, row in failed.iterrows():
        section.rows.append(
            [
                row["spec"],
                row["task"],
                _text(row.get("image_size")),
                _text(row.get("device")),
                row["status"],
                _short_error(row["error"]),
            ]
        )
    return section


def _md_cell(text: str) -> str:
    return text.replace("|", "\\|").replace("\n", " ")


def _render_markdown(title: str, intro: list[str], sections: list[_Section]) -> str:
    lines = [f"# {title}", ""]
    lines += [f"{line}  " for line in intro] + [""]
    for section in sections:
        lines += [f"## {section.heading}", ""]
        if section.summary:
            lines += [section.summary, ""]
        for chart in section.charts:
            lines += [f"![{chart.title}]({chart.png.name})", ""]
        if section.rows:
            lines.append("| " + " | ".join(section.headers) + " |")
            lines.append("|" + "|".join("---" for _ in section.headers) + "|")
            lines += ["| " + " | ".join(_md_cell(c) for c in r) + " |" for r in section.rows]
            lines.append("")
        if section.note:
            lines += [section.note, ""]
    return "\n".join(lines)


_CSS = """
body{font-family:system-ui,-apple-system,Segoe UI,Roboto,sans-serif;margin:2em auto;
max-width:1100px;padding:0 1em;color:#222}
table{border-collapse:collapse;font-size:0.9em;margin:1em 0}
th,td{border:1px solid #ccc;padding:0.25em 0.6em;text-align:right}
th{background:#f2f2f2}td:first-child,th:first-child{text-align:left}
tbody tr:nth-child(even){background:#fafafa}
.charts{display:grid;grid-template-columns:repeat(auto-fit,minmax(460px,1fr));gap:1em}
figure{margin:0}figure svg{max-width:100%;height:auto}
figcaption{font-size:0.85em;color:#555}.note{font-size:0.85em;color:#555}
"""


def _html_inline(text: str) -> str:
    """Escape, then turn the Markdown **bold** used in summaries into <strong>."""
    return re.sub(r"\*\*(.+?)\*\*", r"<strong>\1</strong>", html.escape(text))


def _inline_svg(path: Path) -> str:
    """SVG markup without the XML prolog/doctype, which are not allowed inside HTML."""
    text = path.read_text(encoding="utf-8")
    return text[text.index("<svg") :]


def _render_html(title: str, intro: list[str], sections: list[_Section]) -> str:
    esc = html.escape
    parts = [
        "<!DOCTYPE html>",
        '<html lang="en"><head><meta charset="utf-8">',
        f"<title>{esc(title)}</title><style>{_CSS}</style></head><body>",
        f"<h1>{esc(title)}</h1>",
    ]
    parts += [f"<p>{_html_inline(line)}</p>" for line in intro]
    for section in sections:
        parts.append(f"<section><h2>{esc(section.heading)}</h2>")
        if section.summary:
            parts.append(f"<p>{_html_inline(section.summary)}</p>")
        parts.append('<div class="charts">' if section.charts else "")
        for chart in section.charts:
            parts.append(
                f'<figure data-chart="{esc(chart.svg.name)}">{_inline_svg(chart.svg)}'
                f"<figcaption>{esc(chart.title)}</figcaption></figure>"
            )
        parts.append("</div>" if section.charts else "")
        if section.rows:
            head = "".join(f"<th>{esc(h)}</th>" for h in section.headers)
            body = "".join(
                "<tr>" + "".join(f"<td>{esc(c)}</td>" for c in r) + "</tr>" for r in section.rows
            )
            parts.append(f"<table><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>")
        if section.note:
            parts.append(f'<p class="note">{esc(section.note)}</p>')
        parts.append("</section>")
    parts.append("</body></html>")
    return "\n".join(parts)


def write_report(
    results: pd.DataFrame | str | Path,
    out_dir: Path,
    *,
    title: str | None = None,
    tolerance: float = 1.0,
) -> dict[str, Path]:
    """Write charts (PNG+SVG), report.md and report.html into ``out_dir``.

    ``results`` is a results table or a path to a run directory / results file.
    ``tolerance`` (accuracy points) picks the cheap alternative named in the winner line.
    Returns every written file keyed by its file name.
    """
    if isinstance(results, pd.DataFrame):
        df, default_title = results, "Benchmark report"
    else:
        df, default_title = read_results(results), f"Benchmark report: {Path(results).name}"
    title = title or default_title
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    df = _normalise(df)
    ok_rows, failed = df[df["status"] == "ok"], df[df["status"] != "ok"]

    intro = [
        f"{len(df)} run{'' if len(df) == 1 else 's'}: {len(ok_rows)} ok, {len(failed)} failed."
    ]
    sections: list[_Section] = []
    tasks = [t for t in TASK_ORDER if t in set(ok_rows["task"])]
    tasks += sorted(set(ok_rows["task"]) - set(TASK_ORDER))
    for task in tasks:
        section, winner = _task_section(task, ok_rows[ok_rows["task"] == task], out_dir, tolerance)
        sections.append(section)
        intro.append(f"**Winner** – {winner}")
    if ok_rows.empty:
        intro.append("No successful runs: nothing to chart or rank.")
    if not failed.empty:
        sections.append(_failed_section(failed))

    written: dict[str, Path] = {}
    for section in sections:
        for chart in section.charts:
            written[chart.png.name], written[chart.svg.name] = chart.png, chart.svg
    md_path, html_path = out_dir / "report.md", out_dir / "report.html"
    md_path.write_text(_render_markdown(title, intro, sections), encoding="utf-8")
    html_path.write_text(_render_html(title, intro, sections), encoding="utf-8")
    written[md_path.name], written[html_path.name] = md_path, html_path
    return written


def main(argv: list[str] | None = None) -> int:
    """``python -m benchmarks.report RUN_DIR [RUN_DIR ...] --out DIR``: merge and report."""
    parser = argparse.ArgumentParser(description="Write the benchmark report for run results.")
    parser.add_argument("runs", nargs="+", type=Path, help="run directories or results files")
    parser.add_argument("--out", type=Path, required=True, help="output directory")
    parser.add_argument("--title", default=None)
    args = parser.parse_args(argv)
    written = write_report(merge_results(args.runs), args.out, title=args.title)
    print(written["report.html"])
    return 0


if __name__ == "__main__":
    sys.exit(main())
