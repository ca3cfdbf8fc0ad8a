"""The report's tables: one row per spec and setting (seeds folded), and one row per seed.

Accuracy cells are fractions with three decimals, ``mean ± std`` where there are several
seeds. Columns that no run has a value for are left out, so older runs without the
convergence, learned or timing-noise columns render as before. Runs that learned nothing
come after the others, whatever their score.
"""

from __future__ import annotations

import pandas as pd

from benchmarks.report.format import ACCURACY_DIGITS, CHECK, CROSS, DASH, number, text, with_spread
from benchmarks.tasks import Metric

__all__ = ["group_table", "seed_table"]

SETTING_HEADERS = {"image_size": "Size", "device": "Device"}
OPTIONAL_COLUMNS = (
    ("throughput_ips", "Throughput (img/s)", 1),
    ("peak_mem_mb", "Peak mem (MB)", 0),
    ("train_s", "Train (s)", 0),
    ("epochs", "Epochs", 0),
)
"""Table columns (column, header, digits) shown only when some run has a value."""
SEED_COLUMNS = (("best_epoch", "Best epoch", 0), ("epochs_run", "Epochs run", 0))

Table = tuple[list[str], list[list[str]]]


def _spec_cell(row: pd.Series) -> str:
    """The spec's name and the job settings that set its row apart (``lr=0.01``); the
    size and device have columns of their own."""
    return f"{row['spec']} {row.get('variant') or ''}".strip()


def _has_values(rows: pd.DataFrame, column: str) -> bool:
    return column in rows and pd.to_numeric(rows[column], errors="coerce").notna().any()


def _latency(row: pd.Series) -> str:
    """Median latency ± IQR, marked when the timing was flagged noisy."""
    cell = number(row["latency_ms"], 2)
    if cell != DASH and pd.notna(row["latency_iqr_ms"]):
        cell += f" ± {row['latency_iqr_ms']:.2f}"
    return cell + (" (noisy)" if cell != DASH and row.get("timing_noisy") is True else "")


def _converged(state: object, reason: object = "") -> str:
    """✓, ✗ (with the reason when there is one) or a dash for unknown."""
    if state is True:
        return CHECK
    if state is False:
        return f"{CROSS} {reason}".strip() if isinstance(reason, str) else CROSS
    return DASH


def _flags(rows: pd.DataFrame, column: str) -> pd.Series:
    """A True/False/None column, all None when the table has no such column."""
    return rows[column] if column in rows else pd.Series(None, rows.index, dtype=object)


def _learned(state: object) -> str:
    """✓ learned, ✗ learned nothing (the Converged cell says why), dash for unknown."""
    if state is True:
        return CHECK
    return CROSS if state is False else DASH


def _ordered(rows: pd.DataFrame, by: list[str], ascending: list[bool]) -> pd.DataFrame:
    """``rows`` sorted by ``by``, those that learned nothing after the others."""
    nothing = _flags(rows, "learned").map(lambda state: state is False)
    return rows.assign(_nothing=nothing).sort_values(
        ["_nothing", *by], ascending=[True, *ascending], na_position="last", kind="mergesort"
    )


def _lr_varies(rows: pd.DataFrame) -> bool:
    """Whether an lr column is worth showing: the runs did not all use one learning rate."""
    return "lr" in rows and pd.to_numeric(rows["lr"], errors="coerce").nunique() > 1


def _lr(row: pd.Series) -> str:
    low, high = row.get("lr_min", row.get("lr")), row.get("lr_max", row.get("lr"))
    if pd.isna(low):
        return DASH
    return f"{low:g}" if low == high else f"{low:g} to {high:g}"


def group_table(groups: pd.DataFrame, metrics: tuple[Metric, ...]) -> Table:
    """One row per spec and setting, best (by mean; ``score`` is the primary metric signed
    so that higher is better) first."""
    settings = [c for c in SETTING_HEADERS if c in groups]
    optional = [o for o in OPTIONAL_COLUMNS if _has_values(groups, o[0])]
    converged = groups["converged"].map(lambda s: s is not None).any()
    learned = _flags(groups, "learned").map(lambda s: s is not None).any()
    show_lr = _lr_varies(groups) or (
        "lr_min" in groups and (groups["lr_min"] != groups["lr_max"]).any()
    )
    headers = (
        ["Spec"]
        + [SETTING_HEADERS[c] for c in settings]
        + [m.name for m in metrics]
        + ["Seeds", "Params (M)", "GFLOPs", "Latency (ms ± IQR)"]
        + [o[1] for o in optional]
        + (["lr"] if show_lr else [])
        + (["Converged"] if converged else [])
        + (["Learned"] if learned else [])
        + ["Pareto"]
    )
    rows: list[list[str]] = []
    for _, row in _ordered(groups, ["score", "gflops"], [False, True]).iterrows():
        rows.append(
            [_spec_cell(row)]
            + [text(row[c]) for c in settings]
            + [with_spread(row[m.column], row.get(m.column + "_std")) for m in metrics]
            + [text(row["seeds"]), number(row["params"], 2, 1e-6), number(row["gflops"], 2)]
            + [_latency(row)]
            + [number(row[col], digits) for col, _, digits in optional]
            + ([_lr(row)] if show_lr else [])
            + ([_converged(row["converged"], row.get("convergence_reason"))] if converged else [])
            + ([_learned(row.get("learned"))] if learned else [])
            + [CHECK if row["pareto"] else ""]
        )
    return headers, rows


def seed_table(rows: pd.DataFrame, metrics: tuple[Metric, ...]) -> Table:
    """One row per seed (as stored in results.csv), grouped by spec and setting."""
    settings = [c for c in SETTING_HEADERS if c in rows]
    extra = [o for o in SEED_COLUMNS if _has_values(rows, o[0])]
    converged = rows["converged"].map(lambda s: s is not None).any()
    learned = _flags(rows, "learned").map(lambda s: s is not None).any()
    noisy = rows["timing_noisy"].map(lambda s: s is True).any()
    show_lr = _lr_varies(rows)
    headers = (
        ["Spec"]
        + [SETTING_HEADERS[c] for c in settings]
        + ["Seed"]
        + [m.name for m in metrics]
        + [o[1] for o in extra]
        + (["Converged"] if converged else [])
        + (["Learned"] if learned else [])
        + ["Latency (ms ± IQR)"]
        + (["Timing"] if noisy else [])
        + (["lr"] if show_lr else [])
    )
    seed_order = pd.to_numeric(rows.get("seed", pd.Series(None, rows.index)), errors="coerce")
    ordered = rows.assign(_seed=seed_order).sort_values(["group", "_seed"], kind="mergesort")
    table: list[list[str]] = []
    for _, row in ordered.iterrows():
        reason = row.get("timing_noise_reason")
        table.append(
            [_spec_cell(row)]
            + [text(row[c]) for c in settings]
            + [text(row.get("seed"))]
            + [number(row[m.column], ACCURACY_DIGITS) for m in metrics]
            + [number(row[col], digits) for col, _, digits in extra]
            + ([_converged(row["converged"], row.get("convergence_reason"))] if converged else [])
            + ([_learned(row.get("learned"))] if learned else [])
            + [_latency(row)]
            + ([f"noisy: {text(reason)}" if row["timing_noisy"] is True else ""] if noisy else [])
            + ([_lr(row)] if show_lr else [])
        )
    return headers, table
