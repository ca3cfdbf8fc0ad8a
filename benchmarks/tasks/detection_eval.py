"""Scoring detections: COCO and VOC mAP over a whole split, and per class.

Detections are kept per image (on the CPU), so under DDP they are gathered from every
rank with ``all_gather_object`` in :meth:`DetectionEvaluator.compute` rather than summed.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

import torch.distributed as dist
from torch import Tensor

from benchmarks.data import Batch
from benchmarks.metrics import detection_map
from benchmarks.metrics.per_class import ClassScore
from benchmarks.tasks.base import PerClass

__all__ = ["DetectionEvaluator", "targets_of"]


def targets_of(batch: Batch) -> list[dict[str, Tensor]]:
    """A batch's ground truth as one ``{"boxes", "labels"}`` dict per image."""
    pairs = zip(batch["boxes"], batch["labels"], strict=True)
    return [{"boxes": boxes, "labels": labels} for boxes, labels in pairs]


class DetectionEvaluator:
    """COCO mAP (pycocotools-exact) and VOC07 mAP of decoded detections."""

    def __init__(self) -> None:
        self.predictions: list[dict[str, Tensor]] = []
        self.targets: list[dict[str, Tensor]] = []

    def update(self, predictions: list[dict[str, Tensor]], batch: Batch) -> None:
        for pred in predictions:
            self.predictions.append(
                {
                    k: v.detach().float().cpu() if k != "labels" else v.detach().cpu()
                    for k, v in pred.items()
                }
            )
        for target in targets_of(batch):
            self.targets.append({k: v.detach().cpu() for k, v in target.items()})

    def state_tensors(self) -> list[Tensor]:
        return []

    def compute(self) -> dict[str, float]:
        predictions, targets = self.predictions, self.targets
        if dist.is_available() and dist.is_initialized() and dist.get_world_size() > 1:
            gathered: list[Any] = [None] * dist.get_world_size()
            dist.all_gather_object(gathered, (predictions, targets))
            predictions = [p for part in gathered for p in part[0]]
            targets = [t for part in gathered for t in part[1]]
        result = detection_map(predictions, targets)  # classes: labels seen (1..K)
        return {k: float(v) for k, v in result.items() if isinstance(v, int | float)}

    def per_class(self, names: Sequence[str]) -> PerClass:
        """COCO AP of each object class (labels 1..K; NaN without ground truth, so the mean
        over the others is ``map``) and its precision at the 101 COCO recall points at IoU
        0.5, by class name."""
        result = detection_map(self.predictions, self.targets, num_classes=len(names))
        ap, curves = result["map_per_class"], result["pr_curves_50"]
        assert isinstance(ap, dict) and isinstance(curves, dict)
        labels = range(1, len(names))
        scores = [ClassScore(c, names[c], float(ap[c]) if ap[c] >= 0 else math.nan) for c in labels]
        return PerClass(scores, pr_curves={names[c]: curves[c] for c in labels})
