"""What a finished job leaves in its folder, written only after the job succeeded.

* ``best.pt``: the weights of the best validation epoch (the test metrics are theirs);
* ``last.pt``: the weights after the last epoch run;
* ``history.csv``: one line per epoch (train loss, lr, val metric, seconds);
* ``config.json``: the settings, the resolved recipe, the lr range test, normalisation
  and augmentation, the encoder_init load report, the class names the job trained with
  (``class_names``, background first: :func:`benchmarks.data.names.job_class_names`, so
  ``val`` and ``predict`` label the model as the job did), the row and the training logs;
* ``predictions.png``: the first validation images, their ground truth and the best
  weights' predictions (:mod:`benchmarks.job.predictions`);
* ``per_class.json``: the best weights' per-class test numbers, a list of
  ``{"index", "name", "value"}`` (IoU or COCO AP; ``null`` where undefined), named with
  the same class names.

Both weight files are plain ``state_dict``s, so either can be named as another spec's
``encoder_init``. A job that failed (divergence included) writes none of them, so a broken
model is never kept as a result. Every file is written atomically.
"""

from __future__ import annotations

import io
import json
import math
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import pandas as pd
import torch
from PIL import Image

from benchmarks.metrics.per_class import ClassScore
from benchmarks.store.layout import JobFolder
from benchmarks.train.history import write_history_csv
from benchmarks.train.loop import TrainResult
from compiler.emit.weights import save_state
from graphspec.atomic import atomic_write, atomic_write_text

__all__ = ["HistoryError", "read_history", "save_job_files", "save_predictions"]

_CURVE_COLUMNS = ("epoch", "train_loss", "val_metric")


class HistoryError(ValueError):
    """A history.csv that cannot be read or lacks the columns a curve needs."""


def save_job_files(
    job_dir: Path,
    *,
    best: Mapping[str, torch.Tensor],
    last: Mapping[str, torch.Tensor],
    result: TrainResult,
    config: Mapping[str, Any],
) -> None:
    """Write the job's weights, history and config.json (see the module docstring)."""
    folder = JobFolder(job_dir)
    save_state(folder.best_weights, best)
    save_state(folder.last_weights, last)
    write_history_csv(folder.history, result.history)
    document = {**config, "loss_history": result.loss_history, "logs": result.logs}
    atomic_write_text(folder.config, json.dumps(document, indent=2, default=str))


def save_predictions(job_dir: Path, strip: Image.Image, per_class: list[ClassScore]) -> None:
    """Write ``predictions.png`` and ``per_class.json`` (NaN as null, valid JSON)."""
    buffer = io.BytesIO()
    strip.save(buffer, format="PNG")
    folder = JobFolder(job_dir)
    atomic_write(folder.predictions, lambda handle: handle.write(buffer.getvalue()), binary=True)
    entries = [
        {"index": c.index, "name": c.name, "value": None if math.isnan(c.value) else c.value}
        for c in per_class
    ]
    atomic_write_text(folder.per_class, json.dumps(entries, indent=1))


def read_history(path: Path) -> pd.DataFrame:
    """A job's history as float columns epoch, train_loss, val_metric (NaN where empty)."""
    try:
        frame = pd.read_csv(path)
    except (OSError, ValueError) as exc:
        raise HistoryError(f"{path}: cannot read ({type(exc).__name__}: {exc})") from exc
    missing = [c for c in _CURVE_COLUMNS if c not in frame.columns]
    if missing:
        raise HistoryError(f"{path}: no column {', '.join(missing)}")
    return pd.DataFrame({c: pd.to_numeric(frame[c], errors="coerce") for c in _CURVE_COLUMNS})
