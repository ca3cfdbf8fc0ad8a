"""The header line of a merged report: which settings differ between the runs.

``graphspec report A B`` keeps every job of both runs apart (rows merge on the job key);
this line says what makes the runs differ, from each run's ``protocol.json``: every job
setting when the protocols record them (version 2), else the settings the older protocols
have. The seed is never named: seeds are what a run repeats.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from benchmarks.report.content import ProtocolLine
from benchmarks.store.protocol import Protocol

__all__ = ["RunProtocol", "differing_settings"]

LABEL = "Settings that differ between runs"
_V1_FIELDS = (
    "data",
    "epochs",
    "patience",
    "val_every",
    "image_size",
    "batch_size",
    "lr",
    "augmentation",
    "normalisation",
    "device",
    "threads",
)
"""Protocol fields that are job settings (all a version-1 protocol records of them)."""


@dataclass(frozen=True)
class RunProtocol:
    """A merged run's name (its folder) and the protocol it recorded."""

    name: str
    protocol: Protocol


def _values(run: RunProtocol, full: bool) -> dict[str, Any]:
    if full and run.protocol.settings is not None:
        values = run.protocol.settings.as_json()
        values.pop("seed")
        return values
    return {name: getattr(run.protocol, name) for name in _V1_FIELDS}


def _shown(value: Any) -> str:
    if value is None or value == "":
        return "none"
    if isinstance(value, bool):
        return "on" if value else "off"
    if isinstance(value, list):
        return "x".join(map(str, value))
    return f"{value:g}" if isinstance(value, float) else str(value)


def differing_settings(runs: Sequence[RunProtocol]) -> ProtocolLine | None:
    """``name: value (run), value (run); ...`` for each setting that differs; ``none`` when
    the runs agree on every setting; None for a report of fewer than two runs."""
    if len(runs) < 2:
        return None
    full = all(run.protocol.settings is not None for run in runs)
    values = [_values(run, full) for run in runs]
    names = [n for n in values[0] if len({repr(v.get(n)) for v in values}) > 1]
    if not names:
        return ProtocolLine(LABEL, "none (the runs were run alike)")
    pairs = list(zip(runs, values, strict=True))
    parts = [
        f"{name}: " + ", ".join(f"{_shown(v.get(name))} ({run.name})" for run, v in pairs)
        for name in names
    ]
    return ProtocolLine(LABEL, "; ".join(parts))
