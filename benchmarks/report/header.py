"""The report's header block: the protocol behind the numbers, one line per fact.

Values come from the runs' ``protocol.json`` files (:mod:`benchmarks.store.protocol`); where no
run recorded a fact, from the results rows' columns (older runs); where neither has it,
the line says "not recorded" rather than leaving it out, so a reader sees what is unknown.
When several runs are merged, each distinct value is shown, separated by " | ".
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterable, Sequence

import numpy as np
import pandas as pd

from benchmarks.report.aggregate import group_ids
from benchmarks.report.content import ProtocolLine
from benchmarks.report.format import ACCURACY_DIGITS
from benchmarks.store.protocol import Protocol

__all__ = ["UNITS", "protocol_lines"]

MISSING = "not recorded"
UNITS = (
    f"accuracy metrics are fractions in [0, 1] ({ACCURACY_DIGITS} decimals), not percent; "
    "'mean ± s' is the mean over seeds ± one sample std (ddof=1; no ± with one seed); "
    "latency is the median over seeds, ± its IQR"
)


def _fmt(value: object) -> str:
    """Header text of one value ('' for none)."""
    if value is None or value is pd.NA or (isinstance(value, float) and math.isnan(value)):
        return ""
    if isinstance(value, bool | np.bool_):  # a switch such as the rows' augment column
        return "on" if value else "off"
    if isinstance(value, tuple):  # the load average
        return ", ".join(f"{float(v):.2f}" for v in value) + " (1, 5, 15 min)"
    if isinstance(value, float | np.floating):
        return str(int(value)) if float(value).is_integer() else f"{float(value):g}"
    return str(value)


def _distinct(values: Iterable[object]) -> list[str]:
    return [text for text in dict.fromkeys(_fmt(v) for v in values) if text]


def _column(rows: pd.DataFrame, *columns: str) -> list[str]:
    """Distinct values of the first of ``columns`` that the rows have."""
    for column in columns:
        if column in rows:
            return _distinct(rows[column])
    return []


class _Sources:
    """The protocols and rows one report is about, and how to look a fact up in them."""

    def __init__(self, protocols: Sequence[Protocol], rows: pd.DataFrame) -> None:
        self.protocols, self.rows = list(protocols), rows

    def values(self, name: str, *columns: str) -> list[str]:
        """Distinct values of protocol field ``name``, else of the rows' ``columns``."""
        found = _distinct(getattr(p, name) for p in self.protocols)
        return found or _column(self.rows, *(columns or (name,)))

    def line(self, label: str, name: str, *columns: str) -> ProtocolLine:
        return ProtocolLine(label, " | ".join(self.values(name, *columns)) or MISSING)


def _data(src: _Sources) -> ProtocolLine:
    splits = [
        (split, " | ".join(src.values(f"{split}_images", *columns)))
        for split, columns in (
            ("train", ("train_images",)),
            ("val", ("val_images",)),
            ("test", ("test_images", "eval_images")),
        )
    ]
    data = " | ".join(src.values("data")) or MISSING
    sizes = ", ".join(f"{split} {count}" for split, count in splits if count)
    return ProtocolLine("Data", f"{data}; images: {sizes}" if sizes else data)


def _early_stopping(src: _Sources) -> ProtocolLine:
    """Patience in validations; None in a protocol (or an empty row column) means off."""
    if src.protocols:
        found = _distinct(p.patience for p in src.protocols)
    elif "patience" in src.rows:
        found = _column(src.rows, "patience")
    else:
        return ProtocolLine("Early stopping", MISSING)
    text = " | ".join(f"patience {p} validations without improvement" for p in found)
    return ProtocolLine("Early stopping", text or "off")


def _learning_rate(src: _Sources) -> ProtocolLine:
    """The sweep's lr, and the lr each spec used where specs differ (``train.lr``, auto)."""
    sweep = " | ".join(_distinct(p.lr for p in src.protocols))
    per_spec: dict[str, list[str]] = {}
    if "lr" in src.rows and "spec" in src.rows:
        for spec, group in src.rows.groupby("spec", sort=True):
            per_spec[str(spec)] = _distinct(group["lr"])
    used = sorted({v for values in per_spec.values() for v in values})
    if not sweep and len(used) <= 1:
        return ProtocolLine("Learning rate", used[0] if used else MISSING)
    if used and (len(used) > 1 or used != [sweep]):
        listed = ", ".join(f"{spec} {'/'.join(v)}" for spec, v in per_spec.items() if v)
        return ProtocolLine("Learning rate", f"{sweep or MISSING}; used per spec: {listed}")
    return ProtocolLine("Learning rate", sweep)


def _date(src: _Sources) -> ProtocolLine:
    found = _distinct(p.date for p in src.protocols)
    if not found and "finished_at" in src.rows:
        days = sorted(_distinct(str(v)[:10] for v in src.rows["finished_at"].dropna()))
        found = [days[0] if len(days) == 1 else f"{days[0]} to {days[-1]}"] if days else []
    return ProtocolLine("Date", " | ".join(found) or MISSING)


def _load(src: _Sources) -> ProtocolLine:
    found = _distinct(p.load_avg for p in src.protocols)
    if not found and "load_avg" in src.rows:
        loads = pd.to_numeric(src.rows["load_avg"], errors="coerce").dropna()
        found = [f"{loads.min():.2f} to {loads.max():.2f} (1 min, per run)"] if len(loads) else []
    return ProtocolLine("Load average", " | ".join(found) or MISSING)


def _git(src: _Sources) -> ProtocolLine:
    found = src.values("git_commit")
    if not found and src.protocols:
        return ProtocolLine("Git commit", "not run in a git repository")
    return ProtocolLine("Git commit", " | ".join(found) or MISSING)


def _seeds(src: _Sources) -> ProtocolLine:
    if src.rows.empty or "seed" not in src.rows:
        return ProtocolLine("Seeds", MISSING)
    counts = group_ids(src.rows).value_counts()
    low, high = int(counts.min()), int(counts.max())
    span = str(low) if low == high else f"{low} to {high}"
    seeds = sorted(_column(src.rows, "seed"), key=lambda s: (len(s), s))
    named = f" (seeds {', '.join(seeds)})" if seeds else ""
    return ProtocolLine("Seeds", f"{span} per spec and setting{named}")


_LINES: tuple[Callable[[_Sources], ProtocolLine], ...] = (
    _data,
    lambda s: s.line("Epochs (maximum)", "epochs"),
    _early_stopping,
    lambda s: s.line("Validation every (epochs)", "val_every"),
    lambda s: s.line("Image size", "image_size"),
    lambda s: s.line("Batch size", "batch_size"),
    _learning_rate,
    _seeds,
    lambda s: s.line("Augmentation", "augmentation", "augment"),
    lambda s: s.line("Normalisation", "normalisation", "normalize"),
    lambda s: s.line("Device", "device"),
    lambda s: s.line("Dtype", "dtype"),
    lambda s: s.line("Threads", "threads"),
    lambda s: s.line("torch", "torch_version"),
    lambda s: s.line("graphspec", "graphspec_version"),
    _git,
    _date,
    _load,
)


def protocol_lines(protocols: Sequence[Protocol], rows: pd.DataFrame) -> list[ProtocolLine]:
    """Every protocol fact, in a fixed order, then the units line."""
    src = _Sources(protocols, rows)
    return [make(src) for make in _LINES] + [ProtocolLine("Units", UNITS)]
