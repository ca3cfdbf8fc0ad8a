"""The per-epoch history of a training run, and its CSV form for a job's folder.

One :class:`EpochSummary` per epoch run is what the convergence rule
(:mod:`benchmarks.train.convergence`) and a reader of ``history.csv`` need: the training loss, the
LR, the validation metric when that epoch was validated, and how long the epoch took.
"""

from __future__ import annotations

import csv
import io
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from graphspec.atomic import atomic_write_text

__all__ = ["HISTORY_COLUMNS", "EpochSummary", "history_csv", "write_history_csv"]

HISTORY_COLUMNS = ("epoch", "train_loss", "lr", "val_metric", "epoch_s")


@dataclass(frozen=True)
class EpochSummary:
    """One epoch of a run.

    ``train_loss`` is the epoch's mean optimised loss (rank mean under DDP), ``lr`` the LR
    the epoch ended on, ``val_metric`` the validation metric after the epoch (``None`` when
    the epoch was not validated) and ``epoch_s`` the wall time of its training steps
    (validation excluded, so it compares across runs that validate differently).
    """

    epoch: int  # 1-based
    train_loss: float
    lr: float
    val_metric: float | None
    epoch_s: float


def _cell(value: float | int | None) -> str:
    """``repr`` keeps every digit of a float; ``None`` (not validated) is an empty cell."""
    return "" if value is None else repr(value)


def history_csv(history: Sequence[EpochSummary]) -> str:
    """The history as CSV text: a header of :data:`HISTORY_COLUMNS`, then one row per epoch."""
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    writer.writerow(HISTORY_COLUMNS)
    for record in history:
        writer.writerow(
            [
                _cell(record.epoch),
                _cell(record.train_loss),
                _cell(record.lr),
                _cell(record.val_metric),
                _cell(record.epoch_s),
            ]
        )
    return buffer.getvalue()


def write_history_csv(path: str | Path, history: Sequence[EpochSummary]) -> None:
    """Atomically write :func:`history_csv` to ``path``, so a reader never sees half a file."""
    atomic_write_text(Path(path), history_csv(history))
