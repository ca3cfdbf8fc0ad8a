"""Results files of the suite's parts: one JSON line per result, and Markdown tables.

A part appends each result the moment it exists and rewrites its table after every line,
because the suite kills a part at its time limit: whatever was measured before the kill must
already be on disk for the summary (and for the archive that comes back from the device).
"""

from __future__ import annotations

import json
import math
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

__all__ = ["append", "cell", "read", "table", "write_fragment"]


def append(path: Path, record: Mapping[str, Any]) -> None:
    """Add ``record`` as one JSON line to ``path`` (created with its folder)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("a") as handle:
        handle.write(json.dumps(dict(record), default=str) + "\n")


def read(path: Path) -> list[dict[str, Any]]:
    """The records of ``path``; none when it does not exist. A torn last line (the writer
    was killed mid-write) is dropped rather than failing the summary."""
    if not path.is_file():
        return []
    records = []
    for line in path.read_text().splitlines():
        try:
            records.append(json.loads(line))
        except json.JSONDecodeError:
            continue
    return records


def cell(value: Any, digits: int = 3) -> str:
    """A table cell: floats to ``digits`` significant figures, None as a dash, and pipes
    escaped so a message cannot break the row."""
    if value is None:
        return "-"
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, float):
        if not math.isfinite(value):
            return str(value)
        return f"{value:.{digits}g}" if abs(value) < 10**digits else f"{value:.0f}"
    return str(value).replace("|", "\\|").replace("\n", " ")


def table(rows: Sequence[Mapping[str, Any]], columns: Sequence[tuple[str, str]]) -> str:
    """A Markdown table of ``rows`` with ``columns`` as (key, header) pairs."""
    lines = [
        "| " + " | ".join(header for _, header in columns) + " |",
        "|" + "---|" * len(columns),
    ]
    lines += ["| " + " | ".join(cell(row.get(key)) for key, _ in columns) + " |" for row in rows]
    return "\n".join(lines) + "\n"


def write_fragment(path: Path, title: str, body: str) -> None:
    """Write a part's Markdown section (``## title`` and ``body``), which the summary
    appends below its table of parts."""
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(f"## {title}\n\n{body.rstrip()}\n")
