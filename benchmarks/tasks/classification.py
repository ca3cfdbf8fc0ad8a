"""Image classification as a benchmark task: logits ``[N, classes]`` against one label each.

The data's ``label`` is the class of an image's largest object (see
:mod:`benchmarks.data.shapes`). The evaluator keeps integer sums, correct and seen and the
count of each true label, so all-reducing them across DDP ranks gives exactly the top-1
accuracy (and the majority-class baseline) of one process seeing the whole split, as the
segmentation evaluator does with its confusion matrix.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor

from benchmarks.data import Batch
from benchmarks.tasks.base import Baseline, Evaluator, Metric, Task
from graphspec import Graph, Spec

__all__ = ["ClassificationEvaluator", "ClassificationTask"]


def _logits_and_labels(
    model_output: Tensor, batch: Batch, num_classes: int
) -> tuple[Tensor, Tensor]:
    """The ``[N, classes]`` logits and ``[N]`` labels, or a one-line error saying which is off."""
    if "label" not in batch:
        raise ValueError(
            "classification needs an image-level 'label' per item (expected the shapes "
            "data, got a dataset without one)"
        )
    if model_output.dim() != 2 or model_output.shape[1] != num_classes:
        raise ValueError(
            f"classification logits must be [N, {num_classes}], got {list(model_output.shape)}"
        )
    return model_output, batch["label"]


class ClassificationEvaluator:
    """Top-1 accuracy from ``counts = [correct, seen]`` and, for the baseline, how many
    images of each true label were seen (``labels``); sums, so they all-reduce."""

    def __init__(self, num_classes: int, device: torch.device | str | None) -> None:
        self.num_classes = num_classes
        self.counts = torch.zeros(2, dtype=torch.int64, device=device)
        self.labels = torch.zeros(num_classes, dtype=torch.int64, device=device)

    def update(self, predictions: Tensor, batch: Batch) -> None:
        logits, labels = _logits_and_labels(predictions, batch, self.num_classes)
        correct = (logits.argmax(dim=1) == labels.to(logits.device)).sum()
        self.counts[0] += correct.to(self.counts.device)
        self.counts[1] += labels.numel()
        known = labels.reshape(-1).cpu()
        known = known[(known >= 0) & (known < self.num_classes)]
        self.labels += torch.bincount(known, minlength=self.num_classes).to(self.labels.device)

    def state_tensors(self) -> list[Tensor]:
        return [self.counts, self.labels]

    def baseline(self) -> Baseline:
        """The top-1 of always answering the most frequent true label: its share of the
        images seen; 1 / classes (a uniform guess) before any image was seen."""
        seen = int(self.labels.sum())
        if not seen:
            return Baseline(1 / self.num_classes, f"1 of {self.num_classes} classes")
        return Baseline(int(self.labels.max()) / seen, "majority class")

    def compute(self) -> dict[str, float]:
        """``top1`` in [0, 1]; NaN when nothing was evaluated (an empty split is no score)."""
        correct, seen = (int(v) for v in self.counts.tolist())
        return {"top1": correct / seen if seen else float("nan")}


class ClassificationTask(Task):
    """Classification: mean cross-entropy of ``[N, classes]`` logits, scored by top-1."""

    name = "classification"
    metrics = (Metric("top1", "Top-1", "Top-1 accuracy (fraction)"),)

    def __init__(self, num_classes: int) -> None:
        if num_classes < 2:
            raise ValueError(f"num_classes must be >= 2, got {num_classes}")
        self.num_classes = num_classes

    @classmethod
    def for_spec(cls, spec: Spec, graph: Graph) -> ClassificationTask:
        return cls(spec.classes)

    def loss(self, model_output: Tensor, batch: Batch) -> dict[str, Tensor]:
        """Cross-entropy in fp32 even under autocast, like the segmentation loss."""
        logits, labels = _logits_and_labels(model_output, batch, self.num_classes)
        return {"loss": F.cross_entropy(logits.float(), labels)}

    def evaluator(self, device: torch.device | str | None = None) -> ClassificationEvaluator:
        return ClassificationEvaluator(self.num_classes, device)

    def baseline(self, evaluator: Evaluator) -> Baseline | None:
        """The majority-class top-1 of the labels ``evaluator`` counted."""
        return evaluator.baseline() if isinstance(evaluator, ClassificationEvaluator) else None
