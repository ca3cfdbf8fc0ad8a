"""Semantic segmentation as a benchmark task: per-pixel cross-entropy, pixel accuracy and mIoU."""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor

from benchmarks.data import Batch
from benchmarks.metrics import ConfusionMatrix
from benchmarks.tasks.base import Task

__all__ = ["SegmentationEvaluator", "SegmentationTask"]


def _match_spatial(logits: Tensor, size: torch.Size) -> Tensor:
    """Upsample logits to the mask size when a model predicts at a coarser stride."""
    if logits.shape[-2:] == size:
        return logits
    return F.interpolate(logits, size=size, mode="bilinear", align_corners=False)


class SegmentationEvaluator:
    """Pixel accuracy and mean IoU from a confusion matrix (a sum, so it all-reduces)."""

    def __init__(
        self, num_classes: int, ignore_index: int, device: torch.device | str | None
    ) -> None:
        self.confusion = ConfusionMatrix(num_classes, ignore_index=ignore_index, device=device)

    def update(self, model_output: Tensor, batch: Batch) -> None:
        target = batch["mask"]
        pred = _match_spatial(model_output, target.shape[-2:]).argmax(dim=1)
        self.confusion.update(pred, target)

    def state_tensors(self) -> list[Tensor]:
        return [self.confusion.matrix]

    def compute(self) -> dict[str, float]:
        scores = self.confusion.compute()
        return {"pixel_acc": float(scores["pixel_acc"]), "miou": float(scores["miou"])}


class SegmentationTask(Task):
    """Semantic segmentation: logits ``[N, C, H, W]`` against masks ``[N, H, W]``.

    ``num_classes`` counts every logit channel, background (label 0) included, so a dataset
    with K foreground classes uses ``num_classes = K + 1``.
    """

    name = "segmentation"
    metric = "miou"

    def __init__(self, num_classes: int, ignore_index: int = 255) -> None:
        if num_classes < 2:
            raise ValueError(f"num_classes must be >= 2 (background + classes), got {num_classes}")
        self.num_classes = num_classes
        self.ignore_index = ignore_index

    def loss(self, model_output: Tensor, batch: Batch) -> dict[str, Tensor]:
        """Mean cross-entropy over labelled pixels, computed in fp32 even under autocast.

        The mean is taken as sum / max(count, 1) rather than ``reduction="mean"`` so a batch
        whose pixels are all ``ignore_index`` gives 0 instead of NaN (which would otherwise
        trip the non-finite-loss guard on a perfectly valid batch).
        """
        target = batch["mask"]
        logits = _match_spatial(model_output, target.shape[-2:]).float()
        total = F.cross_entropy(logits, target, ignore_index=self.ignore_index, reduction="sum")
        labelled = (target != self.ignore_index).sum().clamp_min(1)
        return {"loss": total / labelled}

    def evaluator(self, device: torch.device | str | None = None) -> SegmentationEvaluator:
        return SegmentationEvaluator(self.num_classes, self.ignore_index, device)
