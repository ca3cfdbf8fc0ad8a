"""Timing records as one table row per subject and mode.

A unit is recorded per kind (training, inference) so that a kill between the two keeps the
first; the table joins them back: a row holds the training step, latency, throughput and
both peaks of one subject in one mode, and a note with whatever went wrong.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from benchmarks.tools.gpu_suite.records import table

__all__ = ["COLUMNS", "joined", "render"]

COLUMNS: tuple[tuple[str, str], ...] = (
    ("subject", "model"),
    ("input", "input"),
    ("batch", "train batch"),
    ("mode", "mode"),
    ("train_ms", "train step ms (median)"),
    ("train_runs", "runs"),
    ("first_step_s", "first step s"),
    ("peak_train_mb", "peak train MiB"),
    ("latency_ms", "latency b1 ms"),
    ("throughput_ips", "throughput img/s"),
    ("infer_batch", "at batch"),
    ("peak_infer_mb", "peak infer MiB"),
    ("note", "note"),
)


def _note(record: dict[str, Any]) -> str | None:
    kind = record.get("kind", "")
    if record.get("error"):
        return f"{kind} failed: {record['error']}"
    if record.get("skipped"):
        return f"{kind} skipped: {record['skipped']}"
    if record.get("loss_finite") is False:
        return "loss not finite"
    return None


def joined(records: Sequence[dict[str, Any]]) -> list[dict[str, Any]]:
    """One row per (subject, mode), in the order first recorded, with the notes of all
    its units joined."""
    rows: dict[tuple[str, str], dict[str, Any]] = {}
    for record in records:
        key = (record.get("subject", "?"), record.get("mode", "-"))
        row = rows.setdefault(key, {"notes": []})
        note = _note(record)
        if note:
            row["notes"].append(note)
        row.update({k: v for k, v in record.items() if k not in ("kind", "error", "skipped")})
    out = []
    for row in rows.values():
        notes = row.pop("notes")
        out.append(row | {"note": "; ".join(notes) or None})
    return out


def render(
    records: Sequence[dict[str, Any]], extra: Sequence[tuple[str, str]] = (), preface: str = ""
) -> str:
    """The Markdown table of ``records`` (``extra`` columns before the note), after
    ``preface``."""
    columns = (*COLUMNS[:-1], *extra, COLUMNS[-1])
    return (preface + "\n\n" if preface else "") + table(joined(records), columns)
