"""Each task's trivial baseline, read from the data its evaluator saw (hand-worked numbers).

The baseline is what a model that learned nothing scores: the majority class everywhere
for segmentation, no detections for a detector, the majority class for a classifier. A
run whose best validation score is not above it by the task's margin learned nothing.
"""

from __future__ import annotations

import math
from typing import Any

import pytest
import torch
from torch import Tensor

from benchmarks.data import Batch
from benchmarks.tasks import TASKS, task_for
from benchmarks.tasks.base import Baseline, Evaluator, Metric, Task
from benchmarks.tasks.classification import ClassificationTask
from benchmarks.tasks.segmentation import SegmentationTask
from compiler import compile_graph
from graphspec import load_spec
from tests import REPO

# Ten counted pixels: class 0 six times, class 1 three times, class 2 once, class 3 never;
# two ignored (255). Predicting class 0 everywhere: IoU(0) = 6 / 10, IoU(1) = IoU(2) = 0,
# class 3 undefined (in neither targets nor predictions), so mIoU = 0.6 / 3 = 0.2.
MASK = torch.tensor([[[0, 0, 0, 1, 255, 0], [1, 0, 2, 1, 0, 255]]])


def _logits(classes: int, mask: Tensor, favourite: int) -> Tensor:
    """Logits of shape [N, classes, H, W] whose argmax is ``favourite`` everywhere."""
    logits = torch.zeros(mask.shape[0], classes, *mask.shape[1:])
    logits[:, favourite] = 1.0
    return logits


def _batch(**items: Any) -> Batch:
    return items  # type: ignore[return-value]


def test_segmentation_baseline_is_the_majority_class_miou() -> None:
    task = SegmentationTask(4)
    evaluator = task.evaluator()
    evaluator.update(_logits(4, MASK, favourite=2), _batch(mask=MASK))
    baseline = task.baseline(evaluator)
    assert baseline is not None and baseline.what == "majority class everywhere"
    assert baseline.value == pytest.approx(0.2, abs=1e-12)
    # It is exactly the mIoU the evaluator gives a model answering class 0 everywhere.
    majority = task.evaluator()
    majority.update(_logits(4, MASK, favourite=0), _batch(mask=MASK))
    assert majority.compute()["miou"] == pytest.approx(0.2, abs=1e-12)


def test_segmentation_baseline_sums_shards_like_the_metric() -> None:
    # Shard A: six pixels of class 1; shard B: two of class 0, two of class 1.
    # Whole set: class 1 has 8 of 10 pixels, classes 0 and 1 present: 0.8 / 2 = 0.4.
    task = SegmentationTask(3)
    first, second = task.evaluator(), task.evaluator()
    shard_a, shard_b = torch.ones(1, 2, 3, dtype=torch.long), torch.tensor([[[0, 1, 0, 1]]])
    first.update(_logits(3, shard_a, 0), _batch(mask=shard_a))
    second.update(_logits(3, shard_b, 0), _batch(mask=shard_b))
    assert task.baseline(first).value == pytest.approx(1.0)  # alone: one class, all of it
    for mine, theirs in zip(first.state_tensors(), second.state_tensors(), strict=True):
        mine += theirs  # what the all-reduce does
    assert task.baseline(first).value == pytest.approx(0.4)
    assert math.isnan(task.baseline(task.evaluator()).value)  # no pixel: nothing to judge


def test_classification_baseline_is_the_majority_label_rate() -> None:
    # Labels 2, 2, 1, 0, 2: label 2 is 3 of 5 images, so always answering 2 scores 0.6.
    task = ClassificationTask(4)
    evaluator = task.evaluator()
    labels = torch.tensor([2, 2, 1, 0, 2])
    evaluator.update(torch.zeros(5, 4), _batch(label=labels))
    assert task.baseline(evaluator) == Baseline(0.6, "majority class")
    # Another rank's 5 images of label 1: 6 of 10 are label 1 now.
    other = task.evaluator()
    other.update(torch.zeros(5, 4), _batch(label=torch.ones(5, dtype=torch.long)))
    for mine, theirs in zip(evaluator.state_tensors(), other.state_tensors(), strict=True):
        mine += theirs
    assert task.baseline(evaluator).value == pytest.approx(0.6)
    assert evaluator.compute()["top1"] == pytest.approx(0.1)  # the label-0 image only
    # Before any image: a uniform guess over the 4 classes.
    assert task.baseline(task.evaluator()) == Baseline(0.25, "1 of 4 classes")


def test_detection_baseline_is_zero_map() -> None:
    spec = load_spec(REPO / "specs" / "ssd-small.yaml")
    task = task_for(spec, compile_graph(spec))
    assert task.baseline(task.evaluator()) == Baseline(0.0, "no detections")


def test_every_built_in_task_declares_a_one_point_margin() -> None:
    assert {task.name: task.learned_margin for task in TASKS} == {
        "segmentation": 0.01,
        "detection": 0.01,
        "classification": 0.01,
        "instance": 0.01,
    }


class _NoBaseline(Task):
    """A task that declares no baseline: its runs are never judged to have learned nothing."""

    name = "toy"
    metrics = (Metric("score", "score", "Score"),)

    def loss(self, model_output: Any, batch: Batch) -> dict[str, Tensor]:
        raise NotImplementedError

    def evaluator(self, device: torch.device | str | None = None) -> Evaluator:
        raise NotImplementedError


def test_a_task_without_a_baseline_is_not_judged() -> None:
    assert _NoBaseline().baseline(SegmentationTask(2).evaluator()) is None
    # A built-in task handed an evaluator that is not its own has no baseline either.
    assert SegmentationTask(2).baseline(ClassificationTask(2).evaluator()) is None
