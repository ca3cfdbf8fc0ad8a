"""R-CNN deltas and the two-stage test-time decoding against hand-worked values."""

from __future__ import annotations

import math

import pytest
import torch

from compiler.detection.two_stage_decode import (
    box_head_candidates,
    decode_deltas,
    decode_two_stage,
    encode_deltas,
)

STDS = (0.1, 0.1, 0.2, 0.2)
ROI = [10.0, 10, 50, 50]  # centre (30, 30), 40 x 40


def test_encode_hand_value_and_round_trip():
    # gt [20, 0, 60, 80]: centre (40, 40), 40 x 80 -> (10 / 40, 10 / 40, 0, log 2) / stds.
    gt = torch.tensor([[20.0, 0, 60, 80]])
    deltas = encode_deltas(gt, torch.tensor([ROI]), STDS)
    expected = [0.25 / 0.1, 0.25 / 0.1, 0.0, math.log(2.0) / 0.2]
    assert deltas[0].tolist() == pytest.approx(expected, rel=1e-6)
    gen = torch.Generator().manual_seed(0)
    corner = torch.rand(50, 2, generator=gen) * 100
    boxes = torch.cat((corner, corner + 1 + torch.rand(50, 2, generator=gen) * 60), dim=1)
    refs = boxes.roll(1, dims=0)
    # Different stds per coordinate go through as they should.
    stds = (0.1, 0.3, 0.2, 0.5)
    torch.testing.assert_close(decode_deltas(encode_deltas(boxes, refs, stds), refs, stds), boxes)


def test_decode_caps_the_size_scale():
    # dw = 100 * 0.2 = 20 > log(1000 / 16): the width becomes 40 * 1000 / 16 = 2500.
    box = decode_deltas(torch.tensor([[0.0, 0, 100, 0]]), torch.tensor([ROI]), STDS)[0]
    assert (box[2] - box[0]).item() == pytest.approx(2500.0, rel=1e-5)
    assert box[1:4:2].tolist() == [10.0, 50.0]


def test_candidates_per_class_hand_values():
    logits = torch.tensor([[0.0, 1.0, 2.0]])
    deltas = torch.zeros(1, 12)
    deltas[0, 8] = 1.0  # class 2: dx = 1 * 0.1 * 40 = 4 px -> [14, 10, 54, 50]
    deltas[0, 0] = 5.0  # background slot, ignored
    scores, boxes = box_head_candidates(logits, deltas, torch.tensor([ROI]), (60, 52), STDS)
    total = 1 + math.e + math.e**2
    assert scores[0].tolist() == pytest.approx([math.e / total, math.e**2 / total])
    # Class 1 keeps the RoI; class 2's x2 = 54 is clipped to the width 52.
    assert boxes.shape == (1, 2, 4)
    assert boxes[0].tolist() == [ROI, [14.0, 10, 52, 50]]


def test_candidates_class_agnostic():
    deltas = torch.tensor([[0.0, 0.0, math.log(0.5) / 0.2, 0.0]])  # half the width
    _, boxes = box_head_candidates(torch.zeros(1, 4), deltas, torch.tensor([ROI]), (100, 100))
    assert boxes[0].tolist() == [[20.0, 10, 40, 50]] * 3


def test_candidates_export_with_dynamic_roi_count():
    # Shape-static: torch.export (the ONNX exporter's front end) traces it with symbolic R.
    class Head(torch.nn.Module):
        def forward(self, logits, deltas, rois):
            return box_head_candidates(logits, deltas, rois, (60, 52))

    rois = torch.export.Dim("rois", min=2)
    example = (torch.randn(5, 3), torch.randn(5, 12), torch.rand(5, 4) * 40)
    shapes = ({0: rois}, {0: rois}, {0: rois})
    program = torch.export.export(Head(), example, dynamic_shapes=shapes)
    inputs = (torch.randn(7, 3), torch.randn(7, 12), torch.rand(7, 4) * 40)
    for got, want in zip(
        program.module()(*inputs), box_head_candidates(*inputs, (60, 52)), strict=True
    ):
        torch.testing.assert_close(got, want)


def test_decode_two_stage_two_images():
    # Image 0: RoIs A and B (IoU 0.6 > 0.3), image 1: RoI C; K = 2, deltas 0 (boxes = RoIs).
    rois = [torch.tensor([[0.0, 0, 40, 40], [0.0, 0, 40, 24]]), torch.tensor([[50.0, 50, 90, 90]])]
    # Probabilities (softmax): A -> class 1 high; B -> class 1 lower and class 2 moderate;
    # C -> background.
    logits = torch.tensor([[0.0, 3.0, -3.0], [0.0, 2.0, 1.0], [5.0, -5.0, -5.0]])
    out = decode_two_stage(logits, torch.zeros(3, 12), rois, (100, 100))
    probs = torch.softmax(logits, dim=1)
    # Class 1: B suppressed by A. Class 2: A's 0.0024 < 0.05; B kept (other class).
    assert out[0]["labels"].tolist() == [1, 2]
    assert out[0]["boxes"].tolist() == [[0.0, 0, 40, 40], [0.0, 0, 40, 24]]
    torch.testing.assert_close(out[0]["scores"], torch.stack((probs[0, 1], probs[1, 2])))
    assert out[0]["labels"].dtype == torch.int64
    assert out[1]["boxes"].shape == (0, 4) and out[1]["scores"].shape == (0,)
    # NMS looser than the overlap: both class-1 boxes; max_boxes cuts the weakest.
    loose = decode_two_stage(logits, torch.zeros(3, 12), rois, (100, 100), nms_iou=0.7)
    assert loose[0]["labels"].tolist() == [1, 1, 2]
    assert (loose[0]["scores"].diff() <= 0).all()
    capped = decode_two_stage(
        logits, torch.zeros(3, 12), rois, (100, 100), nms_iou=0.7, max_boxes=2
    )
    assert capped[0]["labels"].tolist() == [1, 1]


def test_decode_two_stage_images_without_rois():
    rois = [torch.zeros(0, 4), torch.tensor([[0.0, 0, 40, 40]])]
    out = decode_two_stage(torch.tensor([[0.0, 3.0]]), torch.zeros(1, 8), rois, (100, 100))
    assert out[0]["boxes"].shape == (0, 4) and out[1]["boxes"].tolist() == [[0.0, 0, 40, 40]]
    none = decode_two_stage(torch.zeros(0, 2), torch.zeros(0, 8), [torch.zeros(0, 4)], (9, 9))
    assert none[0]["scores"].shape == (0,) and none[0]["labels"].dtype == torch.int64


def test_decode_two_stage_rejects_row_mismatch():
    with pytest.raises(ValueError):
        decode_two_stage(torch.zeros(2, 3), torch.zeros(2, 12), [torch.zeros(3, 4)], (10, 10))
