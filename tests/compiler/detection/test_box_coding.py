"""Box encoding and SSD matching on hand-made boxes and against a plain-Python reference."""

from __future__ import annotations

import math

import pytest
import torch

from compiler.detection.box_coding import decode, encode, match, pad_targets
from compiler.detection.box_ops import box_convert


def test_encode_hand_value():
    gt = torch.tensor([[0.1, 0.1, 0.3, 0.5]], dtype=torch.float64)  # centre (.2, .3), 0.2 x 0.4
    anchor = torch.tensor([[0.25, 0.25, 0.1, 0.2]], dtype=torch.float64)
    expected = [[(0.2 - 0.25) / (0.1 * 0.1), (0.3 - 0.25) / (0.2 * 0.1), *[math.log(2) / 0.2] * 2]]
    torch.testing.assert_close(encode(gt, anchor), torch.tensor(expected, dtype=torch.float64))


@pytest.mark.parametrize("variances", [(0.1, 0.2), (1.0, 1.0)])
def test_encode_decode_round_trip(variances):
    gen = torch.Generator().manual_seed(0)
    corner = torch.rand(3, 50, 2, generator=gen)
    gt = torch.cat((corner, corner + torch.rand(3, 50, 2, generator=gen) * 0.5 + 0.01), dim=-1)
    anchors = torch.cat(
        (torch.rand(50, 2, generator=gen), torch.rand(50, 2, generator=gen) * 0.5 + 0.05), dim=-1
    )
    offsets = encode(gt, anchors, variances)
    assert offsets.shape == (3, 50, 4)
    torch.testing.assert_close(decode(offsets, anchors, variances), gt, rtol=1e-5, atol=1e-6)


def test_decode_zero_offsets_gives_the_anchor():
    anchors = torch.tensor([[0.5, 0.5, 0.2, 0.4]])
    torch.testing.assert_close(
        decode(torch.zeros(1, 4), anchors), torch.tensor([[0.4, 0.3, 0.6, 0.7]])
    )


def xyxy_to_anchor(boxes: list[list[float]]) -> torch.Tensor:
    return box_convert(torch.tensor(boxes, dtype=torch.float64), "xyxy", "cxcywh")


# Dyadic coordinates, so every IoU below is exact in floating point.
ANCHORS_XYXY = [
    [0.0, 0.0, 0.25, 0.25],  # A0
    [0.5, 0.5, 0.75, 0.75],  # A1
    [0.5, 0.5, 0.75, 0.625],  # A2
    [0.0, 0.5, 0.5, 1.0],  # A3
    [0.75, 0.0, 1.0, 0.25],  # A4
    [0.0, 0.5, 0.25, 1.0],  # A5
    [0.0, 0.5, 0.5, 0.875],  # A6
]


def test_match_hand_made_cases():
    anchors = xyxy_to_anchor(ANCHORS_XYXY)
    gt_boxes = torch.tensor(
        [
            [
                [0.0, 0.0, 0.375, 0.375],  # IoU 0.444 with A0 only: forced onto A0
                [0.5, 0.5, 0.75, 0.625],  # = A2; IoU with A1 exactly 0.5: A1 positive too
                [0.75, 0.0, 1.0, 0.25],  # padding (label 0) equal to A4: must be ignored
            ],
            [
                [0.0, 0.5, 0.25, 1.0],  # = A5; IoU 0.5 with A3
                [0.0, 0.5, 0.5, 0.875],  # = A6; IoU 0.75 with A3, which picks it
                [0.0, 0.0, 0.0, 0.0],  # padding
            ],
        ],
        dtype=torch.float64,
    )
    gt_labels = torch.tensor([[3, 1, 0], [2, 4, 0]])
    labels, boxes = match(gt_boxes, gt_labels, anchors, iou_threshold=0.5)
    assert labels.tolist() == [[3, 1, 1, 0, 0, 0, 0], [0, 0, 0, 4, 0, 2, 4]]
    gt_index = [[0, 1, 1, None, None, None, None], [None, None, None, 1, None, 0, 1]]
    for n in range(2):
        for a, g in enumerate(gt_index[n]):
            expected = [0.0] * 4 if g is None else gt_boxes[n, g].tolist()
            assert boxes[n, a].tolist() == expected

    # Just above 0.5, A1 (IoU exactly 0.5, not any gt's best anchor) becomes background.
    labels, _ = match(gt_boxes, gt_labels, anchors, iou_threshold=0.5001)
    assert labels[0].tolist() == [3, 0, 1, 0, 0, 0, 0]


def test_match_shared_best_anchor_goes_to_later_gt_and_valid_mask():
    anchors = xyxy_to_anchor([[0.0, 0.0, 0.25, 0.25], [0.5, 0.5, 1.0, 1.0]])
    # Both halves of A0 have IoU 0.5 with it and overlap nothing else.
    gt_boxes = torch.tensor([[[0.0, 0.0, 0.25, 0.125], [0.0, 0.125, 0.25, 0.25]]])
    labels, _ = match(gt_boxes.double(), torch.tensor([[5, 7]]), anchors)
    assert labels.tolist() == [[7, 0]]
    valid = torch.tensor([[True, False]])
    labels, _ = match(gt_boxes.double(), torch.tensor([[5, 7]]), anchors, valid=valid)
    assert labels.tolist() == [[5, 0]]


def test_match_image_without_gt_is_all_background():
    anchors = xyxy_to_anchor(ANCHORS_XYXY)
    labels, boxes = match(torch.zeros(2, 1, 4, dtype=torch.float64), torch.zeros(2, 1), anchors)
    assert labels.abs().sum() == 0 and boxes.abs().sum() == 0
    labels, boxes = match(torch.zeros(2, 0, 4), torch.zeros(2, 0, dtype=torch.int64), anchors)
    assert labels.shape == (2, 7) and boxes.shape == (2, 7, 4) and labels.abs().sum() == 0


def ref_iou(a, b):
    w = max(0.0, min(a[2], b[2]) - max(a[0], b[0]))
    h = max(0.0, min(a[3], b[3]) - max(a[1], b[1]))
    union = (a[2] - a[0]) * (a[3] - a[1]) + (b[2] - b[0]) * (b[3] - b[1]) - w * h
    return w * h / union


def ref_match(gts, labels, anchors_xyxy, threshold):
    """The SSD rules, one anchor and one ground truth at a time."""
    real = [g for g in range(len(gts)) if labels[g] > 0]
    assigned = [None] * len(anchors_xyxy)
    for a, anchor in enumerate(anchors_xyxy):
        ious = [ref_iou(gts[g], anchor) for g in real]
        if ious and max(ious) >= threshold:
            assigned[a] = real[ious.index(max(ious))]
    for g in real:  # later ground truths overwrite earlier ones
        ious = [ref_iou(gts[g], anchor) for anchor in anchors_xyxy]
        if max(ious) > 0:
            assigned[ious.index(max(ious))] = g
    return [0 if g is None else labels[g] for g in assigned]


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_match_matches_reference_on_random_boxes(seed):
    gen = torch.Generator().manual_seed(seed)
    anchors = torch.cat(
        (torch.rand(60, 2, generator=gen), torch.rand(60, 2, generator=gen) * 0.4 + 0.05), -1
    ).double()
    corner = torch.rand(4, 6, 2, generator=gen) * 0.7
    gt_boxes = torch.cat((corner, corner + torch.rand(4, 6, 2, generator=gen) * 0.3 + 0.02), -1)
    gt_labels = torch.randint(0, 4, (4, 6), generator=gen)  # some zeros: padding
    labels, _ = match(gt_boxes.double(), gt_labels, anchors, iou_threshold=0.4)
    anchors_xyxy = box_convert(anchors, "cxcywh", "xyxy").tolist()
    for n in range(4):
        expected = ref_match(
            gt_boxes[n].double().tolist(), gt_labels[n].tolist(), anchors_xyxy, 0.4
        )
        assert labels[n].tolist() == expected


def test_pad_targets_normalises_and_pads():
    targets = [
        {"boxes": torch.tensor([[10.0, 20.0, 30.0, 40.0]]), "labels": torch.tensor([2])},
        {"boxes": torch.zeros(0, 4), "labels": torch.zeros(0, dtype=torch.int64)},
    ]
    boxes, labels = pad_targets(targets, image_size=(40, 80))
    assert boxes.tolist() == [[[0.125, 0.5, 0.375, 1.0]], [[0.0, 0.0, 0.0, 0.0]]]
    assert labels.tolist() == [[2], [0]]
