"""Semantic segmentation: per-pixel cross-entropy, scored by mIoU (and pixel accuracy).

Logits ``[N, C, H, W]`` against masks ``[N, H, W]`` (``255`` ignored); ``C`` counts every
class, background (label 0) included, so a spec's ``classes`` is K + 1 for K object
classes. The prediction is the logits themselves: the evaluator, the pictures and
test-time augmentation resize them to whatever size they need before the argmax.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F
from PIL import Image
from torch import Tensor

from benchmarks.data import Batch
from benchmarks.figures.overlay import segmentation_overlay
from benchmarks.metrics import ConfusionMatrix
from benchmarks.metrics.per_class import ClassScore
from benchmarks.tasks.base import (
    Baseline,
    Evaluator,
    ImageResult,
    Metric,
    PerClass,
    Task,
    View,
)
from graphspec import Graph, Spec

__all__ = ["SegmentationEvaluator", "SegmentationTask"]


def _resized(logits: Tensor, size: Sequence[int]) -> Tensor:
    """Logits bilinearly resized to ``size`` (H, W); unchanged when already that size."""
    if tuple(logits.shape[-2:]) == tuple(size):
        return logits
    return F.interpolate(logits, size=tuple(size), mode="bilinear", align_corners=False)


class SegmentationEvaluator:
    """Pixel accuracy and mean IoU from a confusion matrix (a sum, so it all-reduces)."""

    def __init__(
        self, num_classes: int, ignore_index: int, device: torch.device | str | None
    ) -> None:
        self.confusion = ConfusionMatrix(num_classes, ignore_index=ignore_index, device=device)

    def update(self, predictions: Tensor, batch: Batch) -> None:
        target = batch["mask"]
        self.confusion.update(_resized(predictions, target.shape[-2:]).argmax(dim=1), target)

    def state_tensors(self) -> list[Tensor]:
        return [self.confusion.matrix]

    def compute(self) -> dict[str, float]:
        scores = self.confusion.compute()
        return {"pixel_acc": float(scores["pixel_acc"]), "miou": float(scores["miou"])}

    def baseline(self) -> Baseline:
        """The mIoU of the majority class predicted everywhere, exactly, from the matrix's
        true-class totals (its row sums, ignored pixels excluded): that class's IoU is its
        share ``t_max / T`` of the counted pixels, every other class in the targets has IoU
        0, and classes absent from the targets are undefined and left out, as in ``miou``;
        so the mean is ``t_max / T / (classes present)``. NaN without a counted pixel."""
        totals = self.confusion.matrix.sum(dim=1).cpu()
        counted, present = int(totals.sum()), int((totals > 0).sum())
        value = int(totals.max()) / counted / present if counted else math.nan
        return Baseline(value, "majority class everywhere")

    def per_class(self, names: Sequence[str]) -> PerClass:
        """IoU per class (NaN for a class in neither targets nor predictions; the mean over
        the defined ones is ``miou``) and the confusion matrix."""
        iou = self.confusion.iou_per_class().tolist()
        scores = [ClassScore(i, names[i], float(v)) for i, v in enumerate(iou)]
        return PerClass(scores, confusion=self.confusion.matrix.cpu().numpy())


class SegmentationTask(Task):
    """Semantic segmentation (see the module docstring)."""

    name = "segmentation"
    metrics = (
        Metric("miou", "mIoU", "mIoU (fraction)"),
        Metric("pixel_acc", "pixel acc", "Pixel accuracy (fraction)", shown=False),
    )
    per_class_name = "IoU"
    background_in_classes = True

    def __init__(self, num_classes: int, ignore_index: int = 255) -> None:
        if num_classes < 2:
            raise ValueError(f"num_classes must be >= 2 (background + classes), got {num_classes}")
        self.num_classes = num_classes
        self.ignore_index = ignore_index

    @classmethod
    def for_spec(cls, spec: Spec, graph: Graph) -> SegmentationTask:
        return cls(spec.classes)

    def loss(self, model_output: Tensor, batch: Batch) -> dict[str, Tensor]:
        """Mean cross-entropy over labelled pixels, computed in fp32 even under autocast.

        The mean is taken as sum / max(count, 1) rather than ``reduction="mean"`` so a batch
        whose pixels are all ``ignore_index`` gives 0 instead of NaN (which would otherwise
        trip the non-finite-loss guard on a perfectly valid batch).
        """
        target = batch["mask"]
        logits = _resized(model_output, target.shape[-2:]).float()
        total = F.cross_entropy(logits, target, ignore_index=self.ignore_index, reduction="sum")
        labelled = (target != self.ignore_index).sum().clamp_min(1)
        return {"loss": total / labelled}

    def evaluator(self, device: torch.device | str | None = None) -> SegmentationEvaluator:
        return SegmentationEvaluator(self.num_classes, self.ignore_index, device)

    def baseline(self, evaluator: Evaluator) -> Baseline | None:
        """The majority-class mIoU of the pixels ``evaluator`` counted."""
        return evaluator.baseline() if isinstance(evaluator, SegmentationEvaluator) else None

    def unview(self, predictions: Tensor, view: View) -> Tensor:
        """Logits of a view, mirrored back and resized to the input size (in fp32)."""
        logits = predictions.float()
        logits = logits.flip(-1) if view.flipped else logits
        return F.interpolate(logits, size=view.input_size, mode="bilinear", align_corners=False)

    def image_result(
        self, image: Image.Image, prediction: Tensor, names: Sequence[str]
    ) -> ImageResult:
        """The argmax of the logits resized to the image, as a class mask and an overlay."""
        logits = _resized(torch.as_tensor(prediction).float(), (image.height, image.width))
        mask = logits.argmax(dim=1)[0].cpu().numpy()
        return ImageResult(segmentation_overlay(image, mask, names), mask=mask)

    def draw_truth(
        self, image: Image.Image, sample: Mapping[str, Any], names: Sequence[str]
    ) -> Image.Image:
        """The item's mask over ``image``; ignored pixels drawn as background."""
        mask = sample["mask"].numpy().astype(np.int64)
        return segmentation_overlay(image, np.where(mask < len(names), mask, 0), names)
