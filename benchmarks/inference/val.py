"""``graphspec val``: score a trained model on a data split, as bench scored its test row.

The split is opened as :mod:`benchmarks.data.splits` opens it (same source, size, seed,
class count and normalisation) and scored by the same :func:`benchmarks.train.evaluate.evaluate`
through :class:`~benchmarks.inference.tta.TTATask`, so scale 1 without flip reproduces the bench
row's metrics exactly. Beside them it keeps the per-class numbers: IoU and the confusion
matrix for segmentation, COCO AP and the precision-recall curve per class for detection.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import torch
from torch.utils.data import DataLoader

from benchmarks.data import collate, make_dataset
from benchmarks.data.holdout import DEFAULT_HOLDOUT
from benchmarks.data.names import class_names
from benchmarks.data.normalize import NormalizedDataset
from benchmarks.inference.model import LoadedModel
from benchmarks.inference.tta import TTATask
from benchmarks.metrics import detection_map
from benchmarks.metrics.coco_map import RECALL_THRESHOLDS
from benchmarks.metrics.per_class import ClassScore
from benchmarks.tasks import data_classes
from benchmarks.train.evaluate import evaluate

__all__ = ["ValResult", "validate_model"]


@dataclass
class ValResult:
    """Whole-split metrics (bench's keys), per-class numbers and, for segmentation, the
    confusion matrix (rows: true class, columns: predicted class)."""

    task: str
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


def _per_class(
    model: LoadedModel, tta: TTATask, names: list[str]
) -> tuple[list[ClassScore], dict[str, list[float]] | None]:
    """Per-class scores and, for detection, the per-class precision-recall curves."""
    evaluator = tta.last_evaluator
    if model.spec.task == "segmentation":
        iou = evaluator.confusion.iou_per_class().tolist()
        return [ClassScore(i, names[i], float(v)) for i, v in enumerate(iou)], None
    labels = list(range(1, len(names)))
    result = detection_map(evaluator.predictions, evaluator.targets, num_classes=len(names))
    ap, curves = result["map_per_class"], result["pr_curves_50"]
    assert isinstance(ap, dict) and isinstance(curves, dict)
    scores = [ClassScore(c, names[c], float(ap[c]) if ap[c] >= 0 else math.nan) for c in labels]
    return scores, {names[c]: curves[c] for c in labels}


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
    """Score ``model`` on ``split`` of ``data`` (default: the data it was trained on)."""
    source = data or model.data
    holdout = 0.0 if source == "shapes" else DEFAULT_HOLDOUT
    classes = data_classes(model.spec)
    dataset = make_dataset(
        source, split, model.size, seed=model.seed, num_classes=classes, holdout=holdout
    )
    loader = DataLoader(
        NormalizedDataset(dataset, model.normalization), batch_size=batch_size, collate_fn=collate
    )
    tta = TTATask(model, scales, flip)
    metrics = evaluate(model.net, tta, loader, torch.device(device))
    names = list(getattr(dataset, "class_names", None) or class_names(source, classes))
    confusion = None
    if model.spec.task == "segmentation":
        confusion = tta.last_evaluator.confusion.matrix.cpu().numpy()
    per_class, curves = _per_class(model, tta, names)
    return ValResult(
        model.spec.task, source, split, len(dataset), metrics, per_class, confusion, curves
    )
