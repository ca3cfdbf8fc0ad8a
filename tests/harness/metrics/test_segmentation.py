"""ConfusionMatrix on hand-worked label maps."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch

from benchmarks.metrics import ConfusionMatrix

# target / pred (2x3), 255 = ignore:      counted (gt, pred) pairs:
#   0 0 1       0 1 1                     (0,0) (0,1) (1,1)
#   1 2 255     2 2 0                     (1,2) (2,2)   [ignored pixel predicted 0: skipped]
TARGET = torch.tensor([[0, 0, 1], [1, 2, 255]])
PRED = torch.tensor([[0, 1, 1], [2, 2, 0]])
# rows = gt, cols = pred
EXPECTED = [[1, 1, 0], [0, 1, 1], [0, 0, 1]]
# IoU = tp / (row + col - tp): class 0: 1/(2+1-1) = 1/2, class 1: 1/(2+2-1) = 1/3,
# class 2: 1/(1+2-1) = 1/2; mIoU = (1/2 + 1/3 + 1/2) / 3 = 4/9; pixel acc = 3 correct / 5.


def test_hand_worked_matrix_with_ignore_label():
    cm = ConfusionMatrix(3)
    cm.update(PRED, TARGET)
    assert cm.matrix.dtype == torch.int64
    assert cm.matrix.tolist() == EXPECTED
    assert cm.pixel_accuracy() == pytest.approx(3 / 5)
    assert cm.iou_per_class().tolist() == pytest.approx([1 / 2, 1 / 3, 1 / 2])
    assert cm.mean_iou() == pytest.approx(4 / 9)
    result = cm.compute()
    assert result["pixel_acc"] == pytest.approx(3 / 5)
    assert result["miou"] == pytest.approx(4 / 9)
    assert result["iou_per_class"] == pytest.approx([1 / 2, 1 / 3, 1 / 2])


def test_class_absent_from_pred_and_target_is_nan_and_left_out_of_the_mean():
    cm = ConfusionMatrix(4)
    cm.update(PRED, TARGET)
    iou = cm.iou_per_class()
    assert math.isnan(iou[3])
    assert iou[:3].tolist() == pytest.approx([1 / 2, 1 / 3, 1 / 2])
    assert cm.mean_iou() == pytest.approx(4 / 9)  # not (4/3) / 4
    assert math.isnan(cm.compute()["iou_per_class"][3])


def test_class_only_predicted_counts_as_zero_iou():
    # gt is all class 0; one pixel wrongly predicted as class 1: union of class 1 is 1 -> IoU 0,
    # and it does count in the mean: class 0 IoU = 3/4, mIoU = (3/4 + 0) / 2.
    cm = ConfusionMatrix(2)
    cm.update(torch.tensor([0, 0, 0, 1]), torch.tensor([0, 0, 0, 0]))
    assert cm.iou_per_class().tolist() == pytest.approx([3 / 4, 0.0])
    assert cm.mean_iou() == pytest.approx(3 / 8)
    assert cm.pixel_accuracy() == pytest.approx(3 / 4)


def test_all_correct():
    target = torch.tensor([[[0, 1], [2, 2]], [[2, 0], [1, 255]]])
    cm = ConfusionMatrix(4)
    cm.update(target.clone(), target)
    assert cm.matrix.tolist() == [[2, 0, 0, 0], [0, 2, 0, 0], [0, 0, 3, 0], [0, 0, 0, 0]]
    assert cm.pixel_accuracy() == 1.0
    assert cm.iou_per_class()[:3].tolist() == [1.0, 1.0, 1.0]
    assert cm.mean_iou() == 1.0


def test_all_wrong():
    # Every pixel of gt class 0 predicted 1 and vice versa: no diagonal, every IoU is 0.
    target = torch.tensor([0, 0, 1, 1, 1])
    cm = ConfusionMatrix(2)
    cm.update(1 - target, target)
    assert cm.matrix.tolist() == [[0, 2], [3, 0]]
    assert cm.pixel_accuracy() == 0.0
    assert cm.iou_per_class().tolist() == [0.0, 0.0]
    assert cm.mean_iou() == 0.0


def test_targets_outside_class_range_are_skipped():
    # -1, 3 and 7 are not classes of a 3-class problem (and not the ignore index): skipped, so
    # the predictions at those pixels (even the out-of-range 9) do not matter.
    target = torch.tensor([0, -1, 3, 7, 1, 200])
    pred = torch.tensor([0, 2, 9, 1, 0, 1])
    cm = ConfusionMatrix(3, ignore_index=200)
    cm.update(pred, target)
    assert cm.matrix.tolist() == [[1, 0, 0], [1, 0, 0], [0, 0, 0]]


def test_custom_ignore_index_and_uint8_targets():
    target = torch.tensor([[0, 1, 255], [1, 1, 0]], dtype=torch.uint8)
    pred = torch.tensor([[0, 1, 1], [0, 1, 0]])
    cm = ConfusionMatrix(2)  # 255 is the default ignore index and a valid uint8
    cm.update(pred, target)
    assert cm.matrix.tolist() == [[2, 0], [1, 2]]

    cm = ConfusionMatrix(2, ignore_index=0)  # now class 0 pixels are ignored, 255 out of range
    cm.update(pred, target)
    assert cm.matrix.tolist() == [[0, 0], [1, 2]]


def test_accumulates_over_batches_like_an_independent_count():
    gen = torch.Generator().manual_seed(0)
    cm = ConfusionMatrix(5)
    expected = np.zeros((5, 5), np.int64)
    for _ in range(3):
        target = torch.randint(0, 6, (2, 7, 9), generator=gen)  # 5 -> stands in for void below
        target[target == 5] = 255
        pred = torch.randint(0, 5, (2, 7, 9), generator=gen)
        cm.update(pred, target)
        keep = target.numpy() != 255
        np.add.at(expected, (target.numpy()[keep], pred.numpy()[keep]), 1)
    assert cm.matrix.numpy().tolist() == expected.tolist()
    assert cm.pixel_accuracy() == pytest.approx(np.trace(expected) / expected.sum())


def test_empty_matrix_gives_nan_and_reset_keeps_the_tensor():
    cm = ConfusionMatrix(3)
    assert math.isnan(cm.pixel_accuracy())
    assert math.isnan(cm.mean_iou())
    matrix = cm.matrix
    cm.update(PRED, TARGET)
    cm.reset()
    assert cm.matrix is matrix and int(matrix.sum()) == 0
    # All pixels ignored: still nothing counted.
    cm.update(torch.zeros(4, dtype=torch.int64), torch.full((4,), 255))
    assert math.isnan(cm.compute()["miou"])


def test_invalid_inputs_raise():
    cm = ConfusionMatrix(3)
    with pytest.raises(ValueError, match="same shape"):
        cm.update(torch.zeros(2, 3, dtype=torch.int64), torch.zeros(3, 2, dtype=torch.int64))
    with pytest.raises(ValueError, match="outside"):
        cm.update(torch.tensor([0, 3]), torch.tensor([0, 1]))
    with pytest.raises(TypeError):
        cm.update(torch.zeros(2, 3), torch.zeros(2, 3, dtype=torch.int64))
    with pytest.raises(ValueError):
        ConfusionMatrix(0)
