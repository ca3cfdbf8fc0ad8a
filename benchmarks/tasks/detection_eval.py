"""Scoring detections: COCO and VOC mAP over a whole split, and per class.

Detections are kept per image (on the CPU), so under DDP they are gathered from every
rank with ``all_gather_object`` in :meth:`DetectionEvaluator.compute` rather than summed.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from typing import Any

import torch.distributed as dist
from torch import Tensor

from benchmarks.data import Batch
from benchmarks.metrics import detection_map
from benchmarks.metrics.per_class import ClassScore
from benchmarks.tasks.base import PerClass

__all__ = ["DetectionEvaluator", "gather_images", "per_class_ap", "targets_of"]


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
        result = detection_map(*gather_images(self.predictions, self.targets))  # labels seen
        return {k: float(v) for k, v in result.items() if isinstance(v, int | float)}

    def per_class(self, names: Sequence[str]) -> PerClass:
        """COCO AP of each object class (labels 1..K; NaN without ground truth, so the mean
        over the others is ``map``) and its precision at the 101 COCO recall points at IoU
        0.5, by class name."""
        return per_class_ap(
            detection_map(self.predictions, self.targets, num_classes=len(names)), names
        )


Images = list[dict[str, Tensor]]


def gather_images(predictions: Images, targets: Images) -> tuple[Images, Images]:
    """Every rank's per-image predictions and targets under DDP (in rank order), or this
    process's own: per-image results cannot be summed, only collected."""
    if not (dist.is_available() and dist.is_initialized() and dist.get_world_size() > 1):
        return predictions, targets
    gathered: list[Any] = [None] * dist.get_world_size()
    dist.all_gather_object(gathered, (predictions, targets))
    return [p for part in gathered for p in part[0]], [t for part in gathered for t in part[1]]


def per_class_ap(result: Mapping[str, object], names: Sequence[str]) -> PerClass:
    """The per-class scores of a COCO evaluation (``detection_map``, ``instance_map``):
    AP of each object class (labels 1..K; NaN without ground truth, so the mean over the
    others is ``map``) and its precision at the 101 COCO recall points at IoU 0.5."""
    ap, curves = result["map_per_class"], result["pr_curves_50"]
    assert isinstance(ap, dict) and isinstance(curves, dict)
    labels = range(1, len(names))
    scores = [ClassScore(c, names[c], float(ap[c]) if ap[c] >= 0 else math.nan) for c in labels]
    return PerClass(scores, pr_curves={names[c]: curves[c] for c in labels})
