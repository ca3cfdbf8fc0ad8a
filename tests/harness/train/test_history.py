"""The per-epoch history CSV: exact text, round trip through pandas, atomic replacement."""

from __future__ import annotations

import math
from pathlib import Path

import pandas as pd

from benchmarks.train.history import HISTORY_COLUMNS, EpochSummary, history_csv, write_history_csv

HISTORY = [
    EpochSummary(epoch=1, train_loss=1.25, lr=0.002, val_metric=None, epoch_s=3.5),
    EpochSummary(epoch=2, train_loss=0.1 + 0.2, lr=1e-05, val_metric=0.625, epoch_s=2.0),
]


def test_csv_text() -> None:
    assert history_csv(HISTORY) == (
        "epoch,train_loss,lr,val_metric,epoch_s\n"
        "1,1.25,0.002,,3.5\n"
        "2,0.30000000000000004,1e-05,0.625,2.0\n"  # every digit of the float is kept
    )
    assert history_csv([]) == "epoch,train_loss,lr,val_metric,epoch_s\n"


def test_write_replaces_the_file_and_reads_back(tmp_path: Path) -> None:
    path = tmp_path / "history.csv"
    path.write_text("old content\n")
    write_history_csv(path, HISTORY)
    frame = pd.read_csv(path)
    assert tuple(frame.columns) == HISTORY_COLUMNS
    assert frame["epoch"].tolist() == [1, 2]
    assert frame["train_loss"].tolist() == [1.25, 0.1 + 0.2]
    assert math.isnan(frame["val_metric"][0]) and frame["val_metric"][1] == 0.625
    assert sorted(p.name for p in tmp_path.iterdir()) == ["history.csv"]  # no temp file left
