"""What a benchmark task means to the training loop: how to run, score and evaluate a model.

``train.py`` knows nothing about segmentation or detection; it only calls the four hooks of
:class:`Task` (``forward``, ``loss``, ``evaluator`` and, through the evaluator, ``update`` /
``state_tensors`` / ``compute``). A detection task therefore plugs in by subclassing
:class:`Task`, without touching the loop: its ``forward`` can pass targets to the model and
its evaluator can expose whatever count tensors its metric needs summed across ranks.

Evaluators keep their statistics in tensors that are *sums over samples* so that evaluating
shards on several ranks and all-reducing with ``SUM`` gives exactly the single-process
result.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Mapping
from typing import Any, Protocol, runtime_checkable

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from benchmarks.data import Batch
from benchmarks.metrics import ConfusionMatrix

__all__ = [
    "Batch",
    "Evaluator",
    "Task",
    "SegmentationTask",
    "SegmentationEvaluator",
    "move_batch",
]


@runtime_checkable
class Evaluator(Protocol):
    """Accumulates evaluation statistics over batches.

    ``state_tensors`` returns the live accumulator tensors (not copies): the caller sums them
    in place across ranks, then calls ``compute``, which must read them back.
    """

    def update(self, model_output: Any, batch: Batch) -> None: ...

    def state_tensors(self) -> list[Tensor]: ...

    def compute(self) -> dict[str, float]: ...


class Task(ABC):
    """The per-task interface used by :func:`benchmarks.train.train` and ``evaluate``.

    ``metric`` is the key of :meth:`Evaluator.compute` that validation follows to pick the
    best epoch and decide early stopping (higher is better)."""

    name: str
    metric: str

    def forward(self, model: nn.Module, batch: Batch) -> Any:
        """Run the model on a batch; overridden by tasks whose models also take targets."""
        return model(batch["image"])

    @abstractmethod
    def loss(self, model_output: Any, batch: Batch) -> dict[str, Tensor]:
        """Return scalar losses; ``"loss"`` is optimised, any other key is only logged."""

    @abstractmethod
    def evaluator(self, device: torch.device | str | None = None) -> Evaluator:
        """A fresh evaluator whose state tensors live on ``device`` (needed for NCCL)."""


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


def move_batch(batch: Mapping[str, Any], device: torch.device | str, channels_last: bool) -> Batch:
    """Copy a batch's tensors (and lists of tensors) to ``device``.

    Only ``image`` is converted to channels_last: it is the one 4-D input convolutions see;
    masks and boxes keep their layout. ``non_blocking`` lets pinned host memory overlap the
    copy with compute on CUDA and is a no-op elsewhere.
    """
    device = torch.device(device)
    non_blocking = device.type == "cuda"
    moved: Batch = {}
    for key, value in batch.items():
        if isinstance(value, Tensor):
            moved[key] = value.to(device, non_blocking=non_blocking)
        elif isinstance(value, (list, tuple)) and value and isinstance(value[0], Tensor):
            moved[key] = [v.to(device, non_blocking=non_blocking) for v in value]
        else:
            moved[key] = value
    image = moved.get("image")
    if channels_last and isinstance(image, Tensor) and image.dim() == 4:
        moved["image"] = image.contiguous(memory_format=torch.channels_last)
    return moved
