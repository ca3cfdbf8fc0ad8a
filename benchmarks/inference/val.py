"""``graphspec val``: score a trained model on a data split, as bench scored its test row.

The split is opened as :mod:`benchmarks.data.splits` opens it (same source, size, seed,
class count and normalisation) and scored by the same :func:`benchmarks.train.evaluate.evaluate`
through :class:`~benchmarks.inference.tta.TTATask`, so scale 1 without flip reproduces the bench
row's metrics exactly. Beside them it keeps the per-class numbers: IoU and the confusion
matrix for segmentation, COCO AP and the precision-recall curve per class for detection.
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
from torch.utils.data import DataLoader

from benchmarks.data import collate, make_dataset
from benchmarks.data.holdout import DEFAULT_HOLDOUT
from benchmarks.data.normalize import NormalizedDataset
from benchmarks.figures.confusion import save_confusion_png
from benchmarks.figures.pr_curves import save_pr_png
from benchmarks.inference.model import LoadedModel
from benchmarks.inference.tta import TTATask
from benchmarks.metrics.coco_map import RECALL_THRESHOLDS
from benchmarks.metrics.per_class import ClassScore
from benchmarks.tasks.base import PerClassEvaluator
from benchmarks.train.evaluate import score
from graphspec.atomic import atomic_write_text

__all__ = ["ValResult", "validate_model", "write_val_files"]


@dataclass
class ValResult:
    """Whole-split metrics (bench's keys), per-class numbers and, for segmentation, the
    confusion matrix (rows: true class, columns: predicted class)."""

    task: str
    score_name: str
    """What the per-class number is (the task's ``per_class_name``: IoU, AP)."""
    data: str
    split: str
    images: int
    metrics: dict[str, float]
    per_class: list[ClassScore]
    confusion: np.ndarray | None
    pr_curves: dict[str, list[float]] | None = None
    """Detection: each class's precision at the 101 COCO recall thresholds (IoU 0.5, all
    areas, 100 detections; 0 beyond the highest recall, all -1 without ground truth), by
    class name."""

    def as_json(self) -> dict[str, object]:
        """Plain JSON values (NaN as null) for ``--json``."""

        def clean(value: float) -> float | None:
            return None if math.isnan(value) else value

        return {
            "task": self.task,
            "data": self.data,
            "split": self.split,
            "images": self.images,
            "metrics": {k: clean(v) for k, v in self.metrics.items()},
            "per_class": [
                {"index": c.index, "name": c.name, "value": clean(c.value)} for c in self.per_class
            ],
            "confusion": None if self.confusion is None else self.confusion.tolist(),
            "pr_curves": None
            if self.pr_curves is None
            else {"iou": 0.5, "recall": RECALL_THRESHOLDS.tolist(), "precision": self.pr_curves},
        }


def validate_model(
    model: LoadedModel,
    *,
    data: str | None = None,
    split: str = "test",
    scales: tuple[float, ...] = (1.0,),
    flip: bool = False,
    batch_size: int = 16,
    device: str = "cpu",
) -> ValResult:
    """Score ``model`` on ``split`` of ``data`` (default: the data it was trained on).
    The per-class numbers carry the model's class names on its own data, ``data``'s own
    names on other data (:meth:`LoadedModel.class_names`)."""
    source = data or model.data
    holdout = 0.0 if source == "shapes" else DEFAULT_HOLDOUT
    classes = model.task.data_classes(model.spec)
    dataset = model.task.with_inputs(
        make_dataset(
            source, split, model.size, seed=model.seed, num_classes=classes, holdout=holdout
        )
    )
    loader = DataLoader(
        NormalizedDataset(dataset, model.normalization), batch_size=batch_size, collate_fn=collate
    )
    tta = TTATask(model, scales, flip)
    scored = score(model.net, tta, loader, torch.device(device))
    names = model.class_names(source, getattr(dataset, "class_names", None))
    metrics, evaluator = scored.metrics, scored.evaluator
    assert isinstance(evaluator, PerClassEvaluator)  # load_model admits such tasks only
    found = evaluator.per_class(names)
    return ValResult(
        model.task.name,
        model.task.per_class_name or "score",
        source,
        split,
        len(dataset),
        metrics,
        found.scores,
        found.confusion,
        found.pr_curves,
    )


def write_val_files(result: ValResult, out: Path) -> list[Path]:
    """``--out``: ``val.json`` (:meth:`ValResult.as_json`), and the confusion matrix
    (``confusion.png``) or the precision-recall curves (``pr_curves.png``) when the task
    has them; each written atomically. Returns the paths written."""
    out.mkdir(parents=True, exist_ok=True)
    written = [out / "val.json"]
    atomic_write_text(written[0], json.dumps(result.as_json(), indent=1))
    if result.confusion is not None:
        names = [c.name for c in result.per_class]
        written.append(out / "confusion.png")
        save_confusion_png(result.confusion, names, written[-1])
    if result.pr_curves is not None:
        recall = RECALL_THRESHOLDS.tolist()
        written.append(out / "pr_curves.png")
        save_pr_png(recall, result.pr_curves, written[-1])
    return written
