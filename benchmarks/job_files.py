"""What a finished job leaves in its folder, written only after the job succeeded.

* ``best.pt``: the weights of the best validation epoch (the test metrics are theirs);
* ``last.pt``: the weights after the last epoch run;
* ``history.csv``: one line per epoch (train loss, lr, val metric, seconds);
* ``config.json``: the settings, the resolved recipe, the lr range test, normalisation
  and augmentation, the encoder_init load report, the row and the training logs.

Both weight files are plain ``state_dict``s, so either can be named as another spec's
``encoder_init``. A job that failed (divergence included) writes none of them, so a broken
model is never kept as a result. Every file is written atomically.
"""

from __future__ import annotations

import io
import json
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import torch

from benchmarks.atomic import atomic_write, atomic_write_text
from benchmarks.history import write_history_csv
from benchmarks.train import TrainResult

__all__ = ["BEST_WEIGHTS", "LAST_WEIGHTS", "save_job_files", "save_state"]

BEST_WEIGHTS = "best.pt"
LAST_WEIGHTS = "last.pt"


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
