"""SSD multibox loss and YOLOv1 loss against values worked out by hand."""

from __future__ import annotations

import math

import pytest
import torch

from compiler.detection.ssd_loss import hard_negative_mask, multibox_loss
from compiler.detection.yolo_loss import yolo_v1_loss


def cross_entropy(logits: list[float], target: int) -> float:
    return math.log(sum(math.exp(v) for v in logits)) - logits[target]


def smooth_l1(x: float) -> float:
    return 0.5 * x * x if abs(x) < 1 else abs(x) - 0.5


# Two anchors: A0 covers the top-left quarter, A1 the bottom-right one.
TWO_ANCHORS = torch.tensor([[0.25, 0.25, 0.5, 0.5], [0.75, 0.75, 0.5, 0.5]])
LOGITS = [[0.5, 1.0, -1.0], [2.0, 0.0, 1.0]]
BOX_PREDS = [[-0.5, 0.3, -1.0, 2.0], [5.0, 5.0, 5.0, 5.0]]
# Ground truth (pixels of a 100 x 100 image): normalised [0, 0, 0.4, 0.5], IoU 0.8 with A0.
ONE_GT = {"boxes": torch.tensor([[0.0, 0.0, 40.0, 50.0]]), "labels": torch.tensor([1])}
# Encoded against A0: centre (0.2, 0.25), size (0.4, 0.5) vs anchor (0.25, 0.25, 0.5, 0.5).
TARGET_OFFSETS = [(0.2 - 0.25) / (0.5 * 0.1), 0.0, math.log(0.4 / 0.5) / 0.2, 0.0]


def run_two_anchor_case(**kwargs):
    cls_logits = torch.tensor([LOGITS], requires_grad=True)
    box_preds = torch.tensor([BOX_PREDS], requires_grad=True)
    out = multibox_loss(
        cls_logits, box_preds, TWO_ANCHORS, [ONE_GT], image_size=(100, 100), **kwargs
    )
    return out, cls_logits, box_preds


def test_multibox_two_anchor_hand_value():
    out, cls_logits, box_preds = run_two_anchor_case()
    # A0 positive (class 1); A1 the only negative, mined since min(3 * 1, 1) = 1.
    cls = cross_entropy(LOGITS[0], 1) + cross_entropy(LOGITS[1], 0)
    box = sum(smooth_l1(p - t) for p, t in zip(BOX_PREDS[0], TARGET_OFFSETS, strict=True))
    assert out["num_pos"].item() == 1 and out["num_neg"].item() == 1
    assert out["cls_loss"].item() == pytest.approx(cls, rel=1e-5)
    assert out["box_loss"].item() == pytest.approx(box, rel=1e-5)
    assert out["loss"].item() == pytest.approx(cls + box, rel=1e-5)

    out["loss"].backward()
    assert torch.isfinite(cls_logits.grad).all() and torch.isfinite(box_preds.grad).all()
    assert cls_logits.grad.abs().sum() > 0
    assert box_preds.grad[0, 0].abs().sum() > 0
    assert box_preds.grad[0, 1].abs().sum() == 0  # negatives are not regressed


def test_multibox_mse_and_box_weight():
    out, _, _ = run_two_anchor_case(box_loss="mse", box_weight=2.0)
    cls = cross_entropy(LOGITS[0], 1) + cross_entropy(LOGITS[1], 0)
    box = sum((p - t) ** 2 for p, t in zip(BOX_PREDS[0], TARGET_OFFSETS, strict=True))
    assert out["box_loss"].item() == pytest.approx(box, rel=1e-5)
    assert out["loss"].item() == pytest.approx(cls + 2.0 * box, rel=1e-5)


def test_image_without_objects_contributes_its_three_hardest_negatives():
    gen = torch.Generator().manual_seed(0)
    anchors = torch.cat((TWO_ANCHORS, torch.tensor([[0.5, 0.5, 0.1, 0.1]] * 4)))  # A = 6
    empty_logits = torch.randn(6, 3, generator=gen)
    cls_logits = torch.stack((torch.zeros(6, 3), empty_logits))
    cls_logits[0, :2] = torch.tensor(LOGITS)
    box_preds = torch.zeros(2, 6, 4)
    box_preds[0, :2] = torch.tensor(BOX_PREDS)
    empty = {"boxes": torch.zeros(0, 4), "labels": torch.zeros(0, dtype=torch.int64)}
    out = multibox_loss(cls_logits, box_preds, anchors, [ONE_GT, empty], image_size=(100, 100))

    # Image 0: 1 positive (A0), 5 negatives; logits all 0 except A1, whose background loss
    # (0.41) is below log(3) = 1.10, so its 3 mined negatives are three of the all-zero ones.
    # Image 1: no positives, counted as one: its 3 highest background losses.
    image0 = cross_entropy(LOGITS[0], 1) + 3 * math.log(3)
    background = sorted((cross_entropy(row, 0) for row in empty_logits.tolist()), reverse=True)
    expected_cls = image0 + sum(background[:3])
    assert out["num_pos"].item() == 1
    assert out["num_neg"].item() == 6
    assert out["cls_loss"].item() == pytest.approx(expected_cls, rel=1e-5)


def test_all_empty_batch_has_finite_loss():
    empty = {"boxes": torch.zeros(0, 4), "labels": torch.zeros(0, dtype=torch.int64)}
    cls_logits = torch.randn(2, 2, 3, requires_grad=True)
    out = multibox_loss(
        cls_logits, torch.zeros(2, 2, 4), TWO_ANCHORS, [empty, empty], image_size=(100, 100)
    )
    assert out["num_pos"].item() == 0 and out["box_loss"].item() == 0.0
    # Each image: min(3 * 1, 2 negatives) = 2 mined, normalised by max(num_pos, 1) = 1.
    expected = sum(cross_entropy(row, 0) for row in cls_logits.detach().reshape(-1, 3).tolist())
    assert out["loss"].item() == pytest.approx(expected, rel=1e-5)
    out["loss"].backward()
    assert torch.isfinite(cls_logits.grad).all()


@pytest.mark.parametrize("seed", [0, 1])
def test_hard_negative_mask_matches_per_image_reference(seed):
    gen = torch.Generator().manual_seed(seed)
    loss = torch.rand(5, 40, generator=gen)
    positive = torch.rand(5, 40, generator=gen) < torch.tensor([0.0, 0.05, 0.2, 0.5, 0.9])[:, None]
    mined = hard_negative_mask(loss, positive, neg_pos_ratio=3)
    for n in range(5):
        negatives = [a for a in range(40) if not positive[n, a]]
        budget = min(3 * max(int(positive[n].sum()), 1), len(negatives))
        hardest = sorted(negatives, key=lambda a: -loss[n, a].item())[:budget]
        assert sorted(torch.nonzero(mined[n]).flatten().tolist()) == sorted(hardest)


# ---------------------------------------------------------------- YOLOv1, S=2, B=2, C=2


def yolo_case():
    """One object in cell (row 1, col 0) of image 0; image 1 is empty."""
    pred = torch.zeros(2, 2, 2, 2 * 5 + 2)
    # Image 0, cell (1, 0). Predictor 0 lies outside the object (IoU 0), predictor 1 inside.
    pred[0, 1, 0, 0:5] = torch.tensor([0.9, 0.1, 0.3, 0.3, 0.4])
    pred[0, 1, 0, 5:10] = torch.tensor([0.5, 0.5, math.sqrt(0.2), math.sqrt(0.2), 0.7])
    pred[0, 1, 0, 10:] = torch.tensor([0.6, 0.3])
    pred[0, 0, 1, 4] = 0.2  # a confidence in an empty cell
    pred[0, 0, 0, 10:] = torch.tensor([0.9, 0.9])  # class scores of empty cells are ignored
    pred[1, 1, 1, 9] = 0.5  # image 1: a confidence, no objects
    # Object: pixels [10, 60, 40, 100] of 100 x 100 -> centre (0.25, 0.8), size 0.3 x 0.4.
    targets = [
        {"boxes": torch.tensor([[10.0, 60.0, 40.0, 100.0]]), "labels": torch.tensor([1])},
        {"boxes": torch.zeros(0, 4), "labels": torch.zeros(0, dtype=torch.int64)},
    ]
    return pred, targets


@pytest.mark.parametrize("rescore", [True, False])
def test_yolo_v1_loss_hand_value(rescore):
    pred, targets = yolo_case()
    pred.requires_grad_(True)
    out = yolo_v1_loss(pred, targets, image_size=(100, 100), S=2, B=2, C=2, rescore=rescore)
    # Predictor 1: centre ((0 + .5) / 2, (1 + .5) / 2) = (.25, .75), size .2 x .2, i.e.
    # [.15, .65, .35, .85], inside the object [.1, .6, .4, 1.]: IoU = .04 / .12 = 1/3.
    # Predictor 0: [.405, .505, .495, .595], right of x = .4: IoU 0. So predictor 1 is
    # responsible. Targets: x = .25 * 2 - 0 = .5, y = .8 * 2 - 1 = .6, sqrt(.3), sqrt(.4).
    coord = 5.0 * (
        (0.5 - 0.5) ** 2
        + (0.5 - 0.6) ** 2
        + (math.sqrt(0.2) - math.sqrt(0.3)) ** 2
        + (math.sqrt(0.2) - math.sqrt(0.4)) ** 2
    )
    obj = (0.7 - (1 / 3 if rescore else 1.0)) ** 2
    noobj = 0.5 * (0.4**2 + 0.2**2 + 0.5**2)  # predictor 0 of the object's cell counts too
    cls = (0.6 - 1.0) ** 2 + 0.3**2
    assert out["coord"].item() == pytest.approx(coord / 2, rel=1e-5)
    assert out["obj"].item() == pytest.approx(obj / 2, rel=1e-5)
    assert out["noobj"].item() == pytest.approx(noobj / 2, rel=1e-5)
    assert out["cls"].item() == pytest.approx(cls / 2, rel=1e-5)
    assert out["loss"].item() == pytest.approx((coord + obj + noobj + cls) / 2, rel=1e-5)
    out["loss"].backward()
    assert torch.isfinite(pred.grad).all() and pred.grad[0, 1, 0, 5:10].abs().sum() > 0


def test_yolo_two_objects_in_one_cell_keeps_the_first():
    pred, targets = yolo_case()
    # A second, different-class object whose centre also falls in cell (1, 0).
    targets[0] = {
        "boxes": torch.tensor([[10.0, 60.0, 40.0, 100.0], [0.0, 55.0, 20.0, 75.0]]),
        "labels": torch.tensor([1, 2]),
    }
    two = yolo_v1_loss(pred, targets, image_size=(100, 100), S=2, B=2, C=2)
    one = yolo_v1_loss(pred, yolo_case()[1], image_size=(100, 100), S=2, B=2, C=2)
    for key in ("loss", "coord", "obj", "noobj", "cls"):
        assert two[key].item() == pytest.approx(one[key].item(), rel=1e-6)
