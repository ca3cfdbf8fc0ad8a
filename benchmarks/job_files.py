"""What a finished job leaves in its folder, written only after the job succeeded.

* ``best.pt``: the weights of the best validation epoch (the test metrics are theirs);
* ``last.pt``: the weights after the last epoch run;
* ``history.csv``: one line per epoch (train loss, lr, val metric, seconds);
* ``config.json``: the settings, the resolved recipe, the lr range test, normalisation
  and augmentation, the encoder_init load report, the row and the training logs;
* ``predictions.png``: the first validation images, their ground truth and the best
  weights' predictions (:mod:`benchmarks.prediction_strip`);
* ``per_class.json``: the best weights' per-class test numbers, a list of
  ``{"index", "name", "value"}`` (IoU or COCO AP; ``null`` where undefined).

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
from typing import TYPE_CHECKING, Any

import torch
from PIL import Image

from benchmarks.atomic import atomic_write, atomic_write_text
from benchmarks.history import write_history_csv
from benchmarks.train import TrainResult

if TYPE_CHECKING:  # model_val imports inference, which imports this module
    from benchmarks.model_val import ClassScore

__all__ = [
    "BEST_WEIGHTS",
    "LAST_WEIGHTS",
    "PER_CLASS",
    "PREDICTIONS",
    "save_job_files",
    "save_predictions",
    "save_state",
]

BEST_WEIGHTS = "best.pt"
LAST_WEIGHTS = "last.pt"
PREDICTIONS = "predictions.png"
PER_CLASS = "per_class.json"


def save_state(path: Path, state: Mapping[str, torch.Tensor]) -> None:
    """``torch.save`` of a state_dict through a temp file, so no partial file is left."""
    buffer = io.BytesIO()
    torch.save(dict(state), buffer)
    atomic_write(path, lambda handle: handle.write(buffer.getvalue()), binary=True)


def save_job_files(
    job_dir: Path,
    *,
    best: Mapping[str, torch.Tensor],
    last: Mapping[str, torch.Tensor],
    result: TrainResult,
    config: Mapping[str, Any],
) -> None:
    """Write the job's weights, history and config.json (see the module docstring)."""
    save_state(job_dir / BEST_WEIGHTS, best)
    save_state(job_dir / LAST_WEIGHTS, last)
    write_history_csv(job_dir / "history.csv", result.history)
    document = {**config, "loss_history": result.loss_history, "logs": result.logs}
    atomic_write_text(job_dir / "config.json", json.dumps(document, indent=2, default=str))


def save_predictions(job_dir: Path, strip: Image.Image, per_class: list[ClassScore]) -> None:
    """Write ``predictions.png`` and ``per_class.json`` (NaN as null, valid JSON)."""
    buffer = io.BytesIO()
    strip.save(buffer, format="PNG")
    atomic_write(job_dir / PREDICTIONS, lambda handle: handle.write(buffer.getvalue()), binary=True)
    entries = [
        {"index": c.index, "name": c.name, "value": None if math.isnan(c.value) else c.value}
        for c in per_class
    ]
    atomic_write_text(job_dir / PER_CLASS, json.dumps(entries, indent=1))
