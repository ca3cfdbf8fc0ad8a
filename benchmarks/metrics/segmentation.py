"""Confusion-matrix based metrics for semantic segmentation.

Pixel accuracy and (mean) IoU are all functions of a single ``[C, C]`` confusion matrix, so the
evaluator only accumulates that matrix. Keeping it as a plain public int64 tensor means a
distributed trainer can ``all_reduce`` it in place and every rank then reports the same numbers
as a single-process run over the whole split; nothing else has to be synchronised.
"""

from __future__ import annotations

import math

import torch

__all__ = ["ConfusionMatrix"]


class ConfusionMatrix:
    """Accumulates a ``[num_classes, num_classes]`` confusion matrix over many batches.

    Rows index the ground-truth class, columns the predicted class, so ``matrix[i, j]`` counts
    pixels of class ``i`` predicted as ``j``. Pixels whose target equals ``ignore_index`` (VOC's
    255 "void" border) or lies outside ``[0, num_classes)`` are skipped entirely: they count
    neither as correct nor as errors.

    The matrix lives on ``device`` (torch's default, normally the CPU, when ``None``); inputs on
    another device are moved there. Keep it on the model's device during evaluation to avoid a
    host copy per batch.
    """

    def __init__(
        self,
        num_classes: int,
        ignore_index: int = 255,
        device: torch.device | str | None = None,
    ) -> None:
        if num_classes < 1:
            raise ValueError(f"num_classes must be >= 1, got {num_classes}")
        self.num_classes = int(num_classes)
        self.ignore_index = int(ignore_index)
        self.matrix = torch.zeros(
            (self.num_classes, self.num_classes),
            dtype=torch.int64,
            device=torch.device(device) if device is not None else None,
        )

    def reset(self) -> None:
        """Zero the counts in place (keeps the tensor, so references to it stay valid)."""
        self.matrix.zero_()

    @torch.no_grad()
    def update(self, pred: torch.Tensor, target: torch.Tensor) -> None:
        """Add one batch of label maps (any matching shapes, e.g. ``[N, H, W]``).

        ``pred`` holds class indices (take the ``argmax`` of the logits first). A prediction
        outside ``[0, num_classes)`` on a counted pixel is a caller bug (it has no column to go
        to), so it raises instead of being silently dropped.
        """
        if pred.shape != target.shape:
            raise ValueError(
                f"pred and target must have the same shape, got {tuple(pred.shape)} "
                f"and {tuple(target.shape)}"
            )
        if pred.is_floating_point() or target.is_floating_point():
            raise TypeError("pred and target must be integer class-index tensors")
        device = self.matrix.device
        num_classes = self.num_classes
        pred = pred.reshape(-1).to(device=device, dtype=torch.int64)
        target = target.reshape(-1).to(device=device, dtype=torch.int64)

        keep = (target != self.ignore_index) & (target >= 0) & (target < num_classes)
        pred = pred[keep]
        target = target[keep]
        if pred.numel() and bool(((pred < 0) | (pred >= num_classes)).any()):
            raise ValueError(f"pred contains class indices outside [0, {num_classes})")

        # One bincount over the flattened (row, col) index is far cheaper than a scatter per class.
        counts = torch.bincount(target * num_classes + pred, minlength=num_classes**2)
        self.matrix += counts.reshape(num_classes, num_classes)

    def pixel_accuracy(self) -> float:
        """Fraction of counted pixels predicted correctly (NaN before any pixel was counted)."""
        total = int(self.matrix.sum())
        if total == 0:
            return math.nan
        return int(self.matrix.diagonal().sum()) / total

    def iou_per_class(self) -> torch.Tensor:
        """IoU ``tp / (tp + fp + fn)`` per class as float64 on the CPU.

        A class that appears in neither the targets nor the predictions has union 0; its IoU is
        undefined, so it is NaN rather than 0 or 1, and :meth:`mean_iou` leaves it out.
        """
        matrix = self.matrix.detach().to("cpu", torch.float64)
        true_positive = matrix.diagonal()
        union = matrix.sum(dim=0) + matrix.sum(dim=1) - true_positive
        iou = torch.full_like(true_positive, math.nan)
        present = union > 0
        iou[present] = true_positive[present] / union[present]
        return iou

    def mean_iou(self) -> float:
        """Mean IoU over classes with a non-zero union (NaN if there is none)."""
        iou = self.iou_per_class()
        present = ~torch.isnan(iou)
        if not bool(present.any()):
            return math.nan
        return float(iou[present].mean())

    def compute(self) -> dict[str, float | list[float]]:
        """All metrics as plain Python values, ready for logging or a results table."""
        return {
            "pixel_acc": self.pixel_accuracy(),
            "miou": self.mean_iou(),
            "iou_per_class": self.iou_per_class().tolist(),
        }
