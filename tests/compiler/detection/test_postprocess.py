"""SSD and YOLOv1 decoding on hand-made head outputs."""

from __future__ import annotations

import math

import pytest
import torch

from compiler.detection.postprocess import decode_ssd, decode_yolo

IMAGE = (100, 200)  # height, width

# Anchors (normalised cx, cy, w, h); with zero offsets each decodes to itself.
ANCHORS = torch.tensor(
    [
        [0.25, 0.25, 0.2, 0.2],  # A0 -> pixels [30, 15, 70, 35]
        [0.26, 0.25, 0.2, 0.2],  # A1 -> [32, 15, 72, 35]: IoU 760 / 840 with A0
        [0.95, 0.9, 0.2, 0.4],  # A2 -> [170, 70, 210, 110]: clipped to [170, 70, 200, 100]
        [0.5, 0.5, 0.1, 0.1],  # A3 -> [90, 45, 110, 55]
    ]
)
LOGITS = [
    [0.0, 5.0, -5.0],  # A0: class 1
    [0.0, 4.0, -5.0],  # A1: class 1, lower; suppressed by A0
    [0.0, -5.0, 3.0],  # A2: class 2
    [0.0, 2.0, 1.5],  # A3: both classes, moderately
]


def prob(anchor: int, label: int) -> float:
    row = LOGITS[anchor]
    return math.exp(row[label]) / sum(math.exp(v) for v in row)


# (score, label, box) of what survives the defaults, by decreasing score. Dropped: every
# score below 0.01 (class 2 of A0 and A1, class 1 of A2) and A1's class 1 (NMS).
EXPECTED = [
    (prob(0, 1), 1, [30.0, 15.0, 70.0, 35.0]),
    (prob(2, 2), 2, [170.0, 70.0, 200.0, 100.0]),
    (prob(3, 1), 1, [90.0, 45.0, 110.0, 55.0]),
    (prob(3, 2), 2, [90.0, 45.0, 110.0, 55.0]),
]


def check(result: dict[str, torch.Tensor], expected) -> None:
    assert result["labels"].dtype == torch.int64
    assert result["labels"].tolist() == [label for _, label, _ in expected]
    torch.testing.assert_close(result["scores"], torch.tensor([s for s, _, _ in expected]))
    torch.testing.assert_close(result["boxes"], torch.tensor([b for _, _, b in expected]))


def decode(**kwargs):
    logits = torch.tensor([LOGITS])
    box_preds = kwargs.pop("box_preds", torch.zeros(1, 4, 4))
    return decode_ssd(logits, box_preds, ANCHORS, image_size=IMAGE, **kwargs)


def test_decode_ssd_hand_made():
    assert prob(0, 2) < 0.01 and prob(2, 1) < 0.01 and prob(1, 1) > 0.9
    (result,) = decode()
    check(result, EXPECTED)


def test_decode_ssd_threshold_and_top_k():
    (result,) = decode(score_threshold=0.6)  # A3 scores 0.57 and 0.35
    check(result, EXPECTED[:2])
    (result,) = decode(top_k=3)
    check(result, EXPECTED[:3])
    (result,) = decode(score_threshold=0.999)
    assert result["boxes"].shape == (0, 4) and result["labels"].shape == (0,)


def test_decode_ssd_pre_nms_top_k_keeps_best_anchor_per_class():
    (result,) = decode(pre_nms_top_k=1)
    check(result, EXPECTED[:2])


def test_decode_ssd_applies_offsets():
    box_preds = torch.zeros(1, 4, 4)
    # A0: centre moves by 1 * 0.1 * w = 0.02 (4 px); width doubles: exp(0.2 * log(2) / 0.2).
    box_preds[0, 0] = torch.tensor([1.0, 0.0, math.log(2) / 0.2, 0.0])
    (result,) = decode(box_preds=box_preds)
    expected = [(EXPECTED[0][0], 1, [14.0, 15.0, 94.0, 35.0]), *EXPECTED[1:]]
    check(result, expected)  # A1 (IoU 800 / 1600 > 0.45 with the new A0) is still suppressed


def test_decode_ssd_batch_images_are_independent():
    logits = torch.tensor([LOGITS, [[0.0, -5.0, 5.0]] * 4])
    results = decode_ssd(logits, torch.zeros(2, 4, 4), ANCHORS, image_size=IMAGE)
    check(results[0], EXPECTED)
    # Image 1: class 2 everywhere; A1 suppressed by A0 (equal scores: A0 ranks first).
    p = math.exp(5.0) / (1 + math.exp(5.0) + math.exp(-5.0))
    boxes = [[30.0, 15.0, 70.0, 35.0], [170.0, 70.0, 200.0, 100.0], [90.0, 45.0, 110.0, 55.0]]
    check(results[1], [(p, 2, box) for box in boxes])


def test_decode_yolo_hand_made():
    S, B, C = 2, 1, 2
    pred = torch.zeros(1, S, S, B * 5 + C)
    # Cell (row 0, col 1): centre ((1 + .5) / 2, (0 + .5) / 2) = (.75, .25), size .25 x .25
    # -> normalised [.625, .125, .875, .375] -> pixels [125, 12.5, 175, 37.5].
    pred[0, 0, 1] = torch.tensor([0.5, 0.5, 0.5, 0.5, 0.8, 0.25, 0.75])
    # Cell (row 1, col 1): a box running off the bottom-right corner, class 1.
    # centre (1.5 / 2, 1.9 / 2) = (.75, .95), size .64 x .36 -> [.43, .77, 1.07, 1.13].
    pred[0, 1, 1] = torch.tensor([0.5, 0.9, 0.8, 0.6, 0.5, 0.9, 0.1])
    (result,) = decode_yolo(
        pred, image_size=IMAGE, S=S, B=B, C=C, score_threshold=0.1, iou_threshold=0.5, top_k=10
    )
    expected = [
        (0.8 * 0.75, 2, [125.0, 12.5, 175.0, 37.5]),
        (0.5 * 0.9, 1, [86.0, 77.0, 200.0, 100.0]),
        (0.8 * 0.25, 1, [125.0, 12.5, 175.0, 37.5]),
    ]
    check(result, expected)  # 0.5 * 0.1 = 0.05 < 0.1 dropped; empty cells score 0

    (result,) = decode_yolo(
        pred, image_size=IMAGE, S=S, B=B, C=C, score_threshold=0.1, iou_threshold=0.5, top_k=1
    )
    check(result, expected[:1])


@pytest.mark.parametrize("decoder", ["ssd", "yolo"])
def test_decoder_outputs_are_sorted_and_inside_the_image(decoder):
    if decoder == "ssd":
        (result,) = decode()
    else:
        (result,) = decode_yolo(
            torch.rand(1, 3, 3, 12), image_size=IMAGE, S=3, B=2, C=2, score_threshold=0.0
        )
    assert result["boxes"].dtype == torch.float32 and result["scores"].dtype == torch.float32
    assert (result["scores"][:-1] >= result["scores"][1:]).all()
    assert (result["boxes"][:, 0::2] <= 200).all() and (result["boxes"][:, 1::2] <= 100).all()


def test_score_threshold_is_strict():
    pred = torch.zeros(1, 1, 1, 7)
    pred[0, 0, 0] = torch.tensor([0.5, 0.5, 0.5, 0.5, 0.5, 0.5, 0.75])  # scores .25, .375
    kwargs = {"image_size": IMAGE, "S": 1, "B": 1, "C": 2, "iou_threshold": 0.5, "top_k": 5}
    (result,) = decode_yolo(pred, score_threshold=0.25, **kwargs)
    assert result["labels"].tolist() == [2]
    (result,) = decode_yolo(pred, score_threshold=0.2, **kwargs)
    assert result["labels"].tolist() == [2, 1]
