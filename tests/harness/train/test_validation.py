"""Validation while training: best epoch, early stopping, and the kept best weights."""

from __future__ import annotations

import math
from collections.abc import Iterator
from typing import Any

import numpy as np
import pytest
import torch
from torch import Tensor, nn
from torch.utils.data import DataLoader

from benchmarks.data import ShapesDataset, collate
from benchmarks.tasks.segmentation import SegmentationTask
from benchmarks.train.loop import TrainConfig, Validation, train
from benchmarks.train.validation import BestTracker, cpu_state, plain_module

SIZE, CLASSES = (24, 24), 3


pytestmark = pytest.mark.usefixtures("one_thread")


def feed(tracker: BestTracker, metrics: list[float]) -> list[tuple[bool, int, bool]]:
    """(is best, stale count, should stop) after each metric, epochs numbered from 1."""
    steps = []
    for epoch, metric in enumerate(metrics, start=1):
        best = tracker.observe(epoch, metric)
        steps.append((best, tracker.stale, tracker.should_stop))
    return steps


def test_best_epoch_and_patience_without_min_delta() -> None:
    tracker = BestTracker(patience=2)
    steps = feed(tracker, [0.3, 0.5, 0.4, 0.45])
    assert steps == [(True, 0, False), (True, 0, False), (False, 1, False), (False, 2, True)]
    assert (tracker.best_epoch, tracker.best_metric) == (2, 0.5)


def test_min_delta_resets_patience_only_on_a_real_rise() -> None:
    # Reference 0.3; 0.33 is a new best but not 0.05 above 0.3; 0.36 is; 0.40 and 0.39 are
    # not 0.05 above 0.36.
    tracker = BestTracker(patience=2, min_delta=0.05)
    steps = feed(tracker, [0.3, 0.33, 0.36, 0.40, 0.39])
    assert steps == [
        (True, 0, False),
        (True, 1, False),
        (True, 0, False),
        (True, 1, False),
        (False, 2, True),
    ]
    assert (tracker.best_epoch, tracker.best_metric) == (4, 0.40)


def test_ties_nan_and_no_patience() -> None:
    tracker = BestTracker()
    assert feed(tracker, [math.nan, 0.5, 0.5, math.nan]) == [
        (False, 1, False),
        (True, 0, False),
        (False, 1, False),  # a tie is not better: the first epoch keeps the title
        (False, 2, False),  # patience None never stops
    ]
    assert tracker.best_epoch == 2


def test_validation_schedule_and_bad_arguments() -> None:
    every3 = Validation(loader=[], every=3)
    assert [e for e in range(1, 11) if every3.due(e, 10)] == [3, 6, 9, 10]
    for kwargs, message in (
        ({"every": 0}, "every must be an integer >= 1"),
        ({"patience": 0}, "patience must be an integer >= 1 or None"),
        ({"min_delta": -1.0}, "min_delta must be a finite number >= 0"),
        ({"metric": ""}, "validation metric must be a metric name"),
    ):
        with pytest.raises(ValueError, match=message):
            Validation(loader=[], **kwargs)


class Snapshots:
    """A validation loader that also copies the model's weights each time it is read."""

    def __init__(self, loader: DataLoader, model: nn.Module) -> None:
        self.loader, self.model = loader, model
        self.states: list[dict[str, Tensor]] = []

    def __iter__(self) -> Iterator[Any]:
        self.states.append({k: v.detach().clone() for k, v in self.model.state_dict().items()})
        return iter(self.loader)


def shapes_net() -> nn.Module:
    torch.manual_seed(0)
    return nn.Sequential(
        nn.Conv2d(3, 8, 3, padding=1),
        nn.ReLU(),
        nn.Conv2d(8, 8, 3, padding=1),
        nn.ReLU(),
        nn.Conv2d(8, CLASSES, 1),
    )


def shapes_run(**validation: Any) -> tuple[nn.Module, Any, Snapshots]:
    """20 epochs on a 2-image shapes train set, validated on 2 other shapes images."""
    model = shapes_net()
    train_set = ShapesDataset("train", SIZE, num_classes=CLASSES, length=2)
    val_set = ShapesDataset("val", SIZE, num_classes=CLASSES, length=2)
    snapshots = Snapshots(DataLoader(val_set, batch_size=2, collate_fn=collate), model)
    config = TrainConfig(
        epochs=20, lr=0.05, warmup_steps=0, weight_decay=0.0, device="cpu", progress=False
    )
    loader = DataLoader(train_set, batch_size=1, collate_fn=collate)
    result = train(
        model, SegmentationTask(CLASSES), loader, config, Validation(snapshots, **validation)
    )
    return model, result, snapshots


def hand_miou(model: nn.Module, dataset: ShapesDataset) -> float:
    """Mean IoU over the classes present in predictions or targets, from numpy counts."""
    images = torch.stack([dataset[i]["image"] for i in range(len(dataset))])
    target = torch.stack([dataset[i]["mask"] for i in range(len(dataset))]).numpy()
    with torch.no_grad():
        pred = model(images).argmax(dim=1).numpy()
    ious = []
    for c in range(CLASSES):
        union = np.sum((pred == c) | (target == c))
        if union:
            ious.append(np.sum((pred == c) & (target == c)) / union)
    return float(np.mean(ious))


def test_best_state_is_the_weights_of_the_best_epoch() -> None:
    model, result, snapshots = shapes_run()
    metrics = [record.val_metric for record in result.history]
    assert [record.epoch for record in result.history] == list(range(1, 21))
    assert result.epochs_run == 20 and not result.stopped_early
    assert len(snapshots.states) == 20  # validated after every epoch
    best_epoch = metrics.index(max(metrics)) + 1  # the first epoch with the highest metric
    assert (result.best_epoch, result.best_metric) == (best_epoch, max(metrics))
    assert best_epoch < 20, "this run peaks before its last epoch, so the check below bites"

    at_best = snapshots.states[best_epoch - 1]
    assert result.best_state is not None and result.best_state.keys() == at_best.keys()
    for key, value in result.best_state.items():
        assert value.device.type == "cpu"
        assert torch.equal(value, at_best[key]), key
    final = model.state_dict()
    assert any(not torch.equal(result.best_state[k], final[k]) for k in final)

    # The kept weights score the best metric, recomputed by hand.
    fresh = shapes_net()
    fresh.load_state_dict(result.best_state)
    val_set = ShapesDataset("val", SIZE, num_classes=CLASSES, length=2)
    assert hand_miou(fresh, val_set) == pytest.approx(result.best_metric, abs=1e-12)
    assert result.val_s > 0 and all(record.epoch_s > 0 for record in result.history)


def test_early_stopping_after_patience_evaluations_without_a_rise() -> None:
    _, result, _ = shapes_run(patience=3)
    metrics = [record.val_metric for record in result.history]
    # The stop epoch by hand: the first epoch ending 3 validations in a row below the best.
    best, stale, stop = -math.inf, 0, None
    for epoch, metric in enumerate(metrics, start=1):
        best, stale = (metric, 0) if metric > best else (best, stale + 1)
        if stale == 3:
            stop = epoch
            break
    assert stop is not None and result.stopped_early
    assert result.epochs_run == stop == len(result.history) < 20
    # Patience ran out on a plateau at the trivial answer: every validation scored the
    # majority class everywhere. Early stopping alone used to call that converged.
    baseline = hand_majority_miou(ShapesDataset("val", SIZE, num_classes=CLASSES, length=2))
    assert result.baseline == pytest.approx(baseline, abs=1e-12)
    assert metrics == pytest.approx([baseline] * len(metrics), abs=1e-12)
    assert result.learned is False and not result.converged
    reason = (
        f"best miou {baseline:.4f} <= {baseline + 0.01:.4f} = baseline {baseline:.4f} "
        "(majority class everywhere) + margin 0.01"
    )
    assert result.learned_reason == reason
    assert result.convergence_reason == f"learned nothing: {reason}"


def hand_majority_miou(dataset: ShapesDataset) -> float:
    """The mIoU of predicting the most frequent mask class everywhere, from pixel counts:
    that class's IoU is its share, the other classes present score 0."""
    masks = torch.stack([dataset[i]["mask"] for i in range(len(dataset))]).numpy()
    counts = np.bincount(masks.reshape(-1), minlength=CLASSES)
    return counts.max() / counts.sum() / np.count_nonzero(counts)


def test_a_run_that_left_the_baseline_learned() -> None:
    # The 20-epoch run climbs off the majority-class plateau after epoch 12.
    _, result, _ = shapes_run()
    baseline = hand_majority_miou(ShapesDataset("val", SIZE, num_classes=CLASSES, length=2))
    assert result.baseline == pytest.approx(baseline, abs=1e-12)
    assert result.best_metric is not None and result.best_metric > baseline + 0.01
    assert result.learned is True
    assert result.learned_reason.startswith(f"best miou {result.best_metric:.4f} > ")


def test_unknown_metric_names_the_known_ones() -> None:
    with pytest.raises(ValueError) as err:
        shapes_run(metric="map")
    assert str(err.value) == (
        "validation metric 'map' is not reported by the segmentation task "
        "(it reports: miou, pixel_acc)"
    )


def test_plain_module_and_cpu_state_see_through_compile() -> None:
    pytest.importorskip("torch._dynamo")
    net = nn.Sequential(nn.Linear(2, 2))
    compiled = torch.compile(net, backend="eager")
    assert plain_module(compiled) is net
    state = cpu_state(compiled)
    assert list(state) == ["0.weight", "0.bias"]  # no "_orig_mod." prefix
    with torch.no_grad():
        net[0].weight.add_(1.0)
    assert not torch.equal(state["0.weight"], net[0].weight)  # a copy, not a view
