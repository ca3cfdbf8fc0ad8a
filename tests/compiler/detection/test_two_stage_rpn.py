"""RPN anchors, proposals, anchor labels and loss against values worked out by hand."""

from __future__ import annotations

import math

import pytest
import torch

from compiler.detection.rpn import (
    anchors_per_position,
    label_anchors,
    rpn_anchors,
    rpn_loss,
    rpn_proposals,
    subsample_labels,
)

S2 = math.sqrt(2.0)


def smooth_l1(x: float, beta: float) -> float:
    return 0.5 * x * x / beta if abs(x) < beta else abs(x) - 0.5 * beta


def cross_entropy(logits: list[float], target: int) -> float:
    return math.log(sum(math.exp(v) for v in logits)) - logits[target]


def test_anchors_tiny_hand_values():
    # 1 x 2 feature map, stride 16: centres (8, 8) and (24, 8). Ratio 0.5 (h / w), size 8:
    # w = 8 * sqrt(2), h = 8 / sqrt(2). Ratio 2: w = 8 / sqrt(2), h = 8 * sqrt(2).
    anchors = rpn_anchors((1, 2), (16, 16), sizes=[8], ratios=[0.5, 2])
    hw, hh = 4 * S2, 4 / S2  # half sizes for ratio 0.5
    expected = torch.tensor(
        [
            [8 - hw, 8 - hh, 8 + hw, 8 + hh],
            [8 - hh, 8 - hw, 8 + hh, 8 + hw],
            [24 - hw, 8 - hh, 24 + hw, 8 + hh],
            [24 - hh, 8 - hw, 24 + hh, 8 + hw],
        ]
    )
    assert anchors.dtype == torch.float32 and anchors.shape == (4, 4)
    torch.testing.assert_close(anchors, expected)


def test_anchor_order_is_row_major_then_ratio_major():
    sizes, ratios = [32, 64], [0.5, 1.0, 2.0]
    anchors = rpn_anchors((2, 3), (8, 10), sizes, ratios, dtype=torch.float64)
    a = anchors_per_position(sizes, ratios)
    assert a == 6 and anchors.shape == (2 * 3 * 6, 4)
    centre = (anchors[:, :2] + anchors[:, 2:]) / 2
    w = anchors[:, 2] - anchors[:, 0]
    h = anchors[:, 3] - anchors[:, 1]
    for y in range(2):
        for x in range(3):
            for ri, r in enumerate(ratios):
                for si, s in enumerate(sizes):
                    i = (y * 3 + x) * a + ri * len(sizes) + si
                    # stride (h, w) = (8, 10): centre x uses 10, centre y uses 8.
                    assert centre[i].tolist() == pytest.approx([(x + 0.5) * 10, (y + 0.5) * 8])
                    assert w[i].item() == pytest.approx(s / math.sqrt(r))
                    assert h[i].item() == pytest.approx(s * math.sqrt(r))


def test_faster_rcnn_anchors_match_py_faster_rcnn_approximately():
    # py-faster-rcnn generate_anchors(16, ratios=(0.5, 1, 2), scales=(8, 16, 32)) widths /
    # heights (x2 - x1 + 1); it rounds, so only approximate agreement is expected.
    pfr_w = [184, 368, 736, 128, 256, 512, 88, 176, 352]
    pfr_h = [96, 192, 384, 128, 256, 512, 176, 352, 704]
    sizes, ratios = [128, 256, 512], [0.5, 1, 2]
    anchors = rpn_anchors((1, 1), (16, 16), sizes, ratios, dtype=torch.float64)
    w = anchors[:, 2] - anchors[:, 0]
    h = anchors[:, 3] - anchors[:, 1]
    for i in range(9):
        assert w[i].item() == pytest.approx(pfr_w[i], rel=0.07)
        assert h[i].item() == pytest.approx(pfr_h[i], rel=0.07)
    # Exact: area size^2, ratio h / w, centre (8, 8).
    expected_area = torch.tensor([s * s for _ in ratios for s in sizes], dtype=torch.float64)
    expected_ratio = torch.tensor([r for r in ratios for _ in sizes], dtype=torch.float64)
    torch.testing.assert_close(w * h, expected_area)
    torch.testing.assert_close(h / w, expected_ratio)
    torch.testing.assert_close(
        (anchors[:, :2] + anchors[:, 2:]) / 2, torch.full((9, 2), 8.0).double()
    )


# Proposals: image 100 x 100. A0/A1 overlap with IoU 38^2 / (2 * 1600 - 38^2) = 0.822.
P_ANCHORS = torch.tensor(
    [[10.0, 10, 50, 50], [12, 12, 52, 52], [60, 60, 100, 100], [90, 90, 130, 130]]
)
P_LOGITS = torch.tensor([[[0.0, 2.0], [0.0, 3.0], [0.0, 1.0], [0.0, 0.0]]])
# A2 moves right by dx * w = 0.25 * 40 = 10 -> [70, 60, 110, 100] -> clipped [70, 60, 100, 100].
# A3 is clipped to [90, 90, 100, 100] (10 x 10). Its IoU with A2's box: 100 / 1200.
P_DELTAS = torch.tensor([[[0.0] * 4, [0.0] * 4, [0.25, 0, 0, 0], [0.0] * 4]])
A1_BOX = [12.0, 12, 52, 52]
A2_BOX = [70.0, 60, 100, 100]
A3_BOX = [90.0, 90, 100, 100]


def proposals(**kwargs):
    args = {"pre_nms": 4, "post_nms": 10, "nms_iou": 0.7} | kwargs
    return rpn_proposals(P_LOGITS, P_DELTAS, P_ANCHORS, (100, 100), **args)


def test_proposals_hand_example():
    # Scores rank A1 (3) > A0 (2) > A2 (1) > A3 (0); A0 is suppressed by A1 (0.822 > 0.7).
    assert proposals()[0].tolist() == [A1_BOX, A2_BOX, A3_BOX]
    assert proposals(min_size=15)[0].tolist() == [A1_BOX, A2_BOX]  # A3's 10 px dropped
    assert proposals(pre_nms=2)[0].tolist() == [A1_BOX]  # only A1, A0 survive top-k
    assert proposals(post_nms=2)[0].tolist() == [A1_BOX, A2_BOX]
    assert proposals(nms_iou=0.9)[0].tolist() == [A1_BOX, [10.0, 10, 50, 50], A2_BOX, A3_BOX]


def test_proposals_batched_detached_and_size_decoded():
    image1 = torch.tensor([[[0.0, 0.0], [0.0, 1.0], [0.0, 2.0], [0.0, 3.0]]])
    logits = torch.cat((P_LOGITS, image1)).requires_grad_()
    # Image 1: A3 ranks first and gets dw = dh = log 2 (doubles 40 -> 80 around
    # (110, 110)): [70, 70, 150, 150] -> clipped [70, 70, 100, 100].
    deltas = torch.zeros(2, 4, 4)
    deltas[1, 3, 2:] = math.log(2.0)
    deltas.requires_grad_()
    out = rpn_proposals(logits, deltas, P_ANCHORS, (100, 100), pre_nms=1, post_nms=5, nms_iou=0.7)
    assert [o.tolist() for o in out] == [[A1_BOX], [[70.0, 70, 100, 100]]]
    assert not out[0].requires_grad and not out[1].requires_grad


LABEL_GT = torch.tensor([[0.0, 0, 40, 40]])


def test_label_anchors_thresholds_and_border():
    anchors = torch.tensor(
        [
            [0.0, 0, 40, 40],  # IoU 1 -> positive
            [0.0, 0, 40, 20],  # IoU 0.5 -> ignored
            [60.0, 60, 100, 100],  # IoU 0 -> negative
            [-10.0, 0, 30, 40],  # crosses the border -> ignored
            [0.0, 0, 40, 10],  # IoU 0.25 -> negative
            [60.0, 60, 100, 100.5],  # 0.5 px outside -> ignored unless allowed_border
        ]
    )
    labels, matched = label_anchors(anchors, LABEL_GT, (100, 100))
    assert labels.tolist() == [1, -1, 0, -1, 0, -1] and labels.dtype == torch.int64
    assert matched.tolist() == [0] * 6
    labels, _ = label_anchors(anchors, LABEL_GT, (100, 100), allowed_border=1.0)
    assert labels.tolist() == [1, -1, 0, -1, 0, 0]


def test_label_anchors_forced_ties_only_over_inside_anchors():
    anchors = torch.tensor(
        [
            [0.0, 0, 40, 20],  # IoU 0.5  } tied best inside anchors of the gt -> positive
            [0.0, 20, 40, 40],  # IoU 0.5 }
            [0.0, 0, 20, 20],  # IoU 0.25 -> negative
            [-1.0, 0, 39, 40],  # IoU 1560 / 1640 = 0.951 but outside -> ignored
        ]
    )
    labels, _ = label_anchors(anchors, LABEL_GT, (100, 100))
    assert labels.tolist() == [1, 1, 0, -1]
    # Let the outside anchor in: it is positive by threshold and the only gt best.
    labels, _ = label_anchors(anchors, LABEL_GT, (100, 100), allowed_border=1.0)
    assert labels.tolist() == [-1, -1, 0, 1]


def test_label_anchors_matched_gt_no_gt_and_unreachable_gt():
    anchors = torch.tensor([[0.0, 0, 40, 40], [60.0, 60, 100, 100], [0.0, 0, 20, 20]])
    gts = torch.tensor([[0.0, 0, 40, 40], [60.0, 60, 100, 90], [200.0, 200, 210, 210]])
    labels, matched = label_anchors(anchors, gts, (100, 100))
    # Gt 1 has IoU 0.75 with anchor 1; gt 2 overlaps nothing and forces nothing.
    assert labels.tolist() == [1, 1, 0] and matched[:2].tolist() == [0, 1]
    labels, matched = label_anchors(anchors, torch.zeros(0, 4), (100, 100))
    assert labels.tolist() == [0, 0, 0] and matched.tolist() == [-1, -1, -1]


def test_subsample_labels_fractions_and_determinism():
    labels = torch.tensor([1] * 200 + [0] * 300 + [-1] * 50)
    gen = torch.Generator().manual_seed(0)
    out = subsample_labels(labels, 256, 0.5, gen)
    assert (out == 1).sum() == 128 and (out == 0).sum() == 128
    assert ((out == 1) <= (labels == 1)).all() and ((out == 0) <= (labels == 0)).all()
    assert (labels == 1).sum() == 200  # input untouched
    again = subsample_labels(labels, 256, 0.5, torch.Generator().manual_seed(0))
    assert torch.equal(out, again)
    few = subsample_labels(torch.tensor([1] * 10 + [0] * 300), 256, 0.5, gen)
    assert (few == 1).sum() == 10 and (few == 0).sum() == 246


# Loss: anchor 0 [0, 0, 40, 20] is the gt's best anchor (IoU 0.5, forced positive); anchor 1
# is negative. Target of anchor 0 (centre (20, 10), 40 x 20) toward gt (20, 20), 40 x 40:
# (0, 10 / 20, 0, log 2).
LOSS_ANCHORS = torch.tensor([[0.0, 0, 40, 20], [60.0, 60, 100, 100]])
LOSS_LOGITS = [[0.3, -0.2], [1.0, 0.5]]
LOSS_DELTAS = [[0.05, 0.3, -0.1, 0.6], [1.0, 1.0, 1.0, 1.0]]
LOSS_TARGET = [0.0, 0.5, 0.0, math.log(2.0)]
GT = {"boxes": torch.tensor([[0.0, 0, 40, 40]]), "labels": torch.tensor([1])}


def test_rpn_loss_hand_value_and_gradients():
    logits = torch.tensor([LOSS_LOGITS], requires_grad=True)
    deltas = torch.tensor([LOSS_DELTAS], requires_grad=True)
    out = rpn_loss(logits, deltas, LOSS_ANCHORS, [GT], (100, 100))
    cls = (cross_entropy(LOSS_LOGITS[0], 1) + cross_entropy(LOSS_LOGITS[1], 0)) / 2
    box = sum(smooth_l1(p - t, 1 / 9) for p, t in zip(LOSS_DELTAS[0], LOSS_TARGET, strict=True)) / 2
    assert out["rpn_class"].item() == pytest.approx(cls, rel=1e-5)
    assert out["rpn_box"].item() == pytest.approx(box, rel=1e-5)
    (out["rpn_class"] + out["rpn_box"]).backward()
    assert logits.grad.abs().sum() > 0 and deltas.grad[0, 0].abs().sum() > 0
    assert deltas.grad[0, 1].abs().sum() == 0  # negatives are not regressed


def test_rpn_loss_two_images_with_an_empty_one():
    logits = torch.tensor([LOSS_LOGITS, LOSS_LOGITS])
    deltas = torch.tensor([LOSS_DELTAS, LOSS_DELTAS])
    empty = {"boxes": torch.zeros(0, 4), "labels": torch.zeros(0, dtype=torch.int64)}
    out = rpn_loss(logits, deltas, LOSS_ANCHORS, [GT, empty], (100, 100))
    # Sampled: image 0 (pos, neg), image 1 (neg, neg) -> 4 anchors.
    cls = cross_entropy(LOSS_LOGITS[0], 1) + 2 * cross_entropy(LOSS_LOGITS[1], 0)
    cls = (cls + cross_entropy(LOSS_LOGITS[0], 0)) / 4
    box = sum(smooth_l1(p - t, 1 / 9) for p, t in zip(LOSS_DELTAS[0], LOSS_TARGET, strict=True)) / 4
    assert out["rpn_class"].item() == pytest.approx(cls, rel=1e-5)
    assert out["rpn_box"].item() == pytest.approx(box, rel=1e-5)


def test_rpn_loss_nothing_sampled_keeps_grad():
    logits = torch.zeros(1, 2, 2, requires_grad=True)
    deltas = torch.zeros(1, 2, 4, requires_grad=True)
    outside = torch.tensor([[-50.0, -50, 10, 10], [90.0, 90, 150, 150]])
    out = rpn_loss(logits, deltas, outside, [GT], (100, 100))
    assert out["rpn_class"].item() == 0 and out["rpn_box"].item() == 0
    assert out["rpn_class"].grad_fn is not None and out["rpn_box"].grad_fn is not None
    (out["rpn_class"] + out["rpn_box"]).backward()
    assert logits.grad.abs().sum() == 0


def test_rpn_loss_sampling_is_seeded():
    anchors = rpn_anchors((8, 8), (8, 8), [16, 32], [0.5, 1, 2])
    logits = torch.randn(1, anchors.shape[0], 2, generator=torch.Generator().manual_seed(1))
    deltas = torch.zeros(1, anchors.shape[0], 4)
    gt = {
        "boxes": torch.tensor([[8.0, 8, 40, 40], [30, 20, 60, 56]]),
        "labels": torch.tensor([1, 2]),
    }
    run = [
        rpn_loss(
            logits,
            deltas,
            anchors,
            [gt],
            (64, 64),
            batch=16,
            generator=torch.Generator().manual_seed(s),
        )
        for s in (3, 3)
    ]
    assert run[0]["rpn_class"].item() == run[1]["rpn_class"].item()
    assert run[0]["rpn_box"].item() == run[1]["rpn_box"].item()
