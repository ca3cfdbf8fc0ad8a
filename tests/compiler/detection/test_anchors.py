"""SSD default boxes: counts, scales, centres, sizes and the head's flattening order."""

from __future__ import annotations

import math

import pytest
import torch

from compiler.detection.anchors import boxes_per_cell, ssd_default_boxes, ssd_scales

SSD300_SIZES = [(38, 38), (19, 19), (10, 10), (5, 5), (3, 3), (1, 1)]
SSD300_RATIOS = [[2], [2, 3], [2, 3], [2, 3], [2], [2]]


def test_ssd_scales_hand_checked():
    # s_k = 0.2 + 0.7 (k - 1) / 5: steps of 0.14.
    assert ssd_scales(6, 0.2, 0.9) == pytest.approx([0.2, 0.34, 0.48, 0.62, 0.76, 0.9])
    assert ssd_scales(1, 0.3, 0.9) == [0.3]


def test_boxes_per_cell():
    assert boxes_per_cell([]) == 2
    assert boxes_per_cell([2]) == 4
    assert boxes_per_cell([2, 3]) == 6


def test_ssd300_has_8732_boxes():
    per_cell = (4, 6, 6, 6, 4, 4)
    expected = sum(f * f * b for (f, _), b in zip(SSD300_SIZES, per_cell, strict=True))
    assert expected == 8732
    anchors = ssd_default_boxes(SSD300_SIZES, 0.2, 0.9, SSD300_RATIOS)
    assert anchors.shape == (8732, 4)
    assert anchors.dtype == torch.float32
    assert anchors.min() >= 0.0 and anchors.max() <= 1.0


def test_first_map_centres_and_sizes():
    anchors = ssd_default_boxes(SSD300_SIZES, 0.2, 0.9, SSD300_RATIOS, dtype=torch.float64)
    first = anchors[: 38 * 38 * 4].reshape(38, 38, 4, 4)  # row, column, box, coordinate
    index = (torch.arange(38, dtype=torch.float64) + 0.5) / 38
    torch.testing.assert_close(first[..., 0], index[None, :, None].expand(38, 38, 4))
    torch.testing.assert_close(first[..., 1], index[:, None, None].expand(38, 38, 4))
    r2 = math.sqrt(2)
    expected_wh = [
        (0.2, 0.2),
        (math.sqrt(0.2 * 0.34), math.sqrt(0.2 * 0.34)),
        (0.2 * r2, 0.2 / r2),
        (0.2 / r2, 0.2 * r2),
    ]
    torch.testing.assert_close(
        first[5, 7, :, 2:], torch.tensor(expected_wh, dtype=torch.float64), rtol=0, atol=1e-12
    )


def test_last_map_uses_scale_one_for_extra_box_and_clips():
    unclipped = ssd_default_boxes(SSD300_SIZES, 0.2, 0.9, SSD300_RATIOS, clip=False)
    last = unclipped[-4:]  # the single 1x1 cell of the last map
    assert last[:, :2].tolist() == [[0.5, 0.5]] * 4
    extra = math.sqrt(0.9 * 1.0)
    assert last[1, 2].item() == pytest.approx(extra)
    assert last[2, 2].item() == pytest.approx(0.9 * math.sqrt(2))  # wider than the image
    clipped = ssd_default_boxes(SSD300_SIZES, 0.2, 0.9, SSD300_RATIOS)[-4:]
    assert clipped[2, 2].item() == 1.0
    assert clipped[2, 3].item() == pytest.approx(0.9 / math.sqrt(2))


def test_order_matches_head_flattening():
    # A head emits [N, boxes * 4, H, W]; build that tensor from independently computed
    # boxes (channel = box * 4 + coordinate) and flatten it the way the head does.
    height, width, ratios = 2, 3, [2.0]
    scale, next_scale = 0.3, 0.6
    sizes = [
        (scale, scale),
        (math.sqrt(scale * next_scale),) * 2,
        (scale * math.sqrt(2), scale / math.sqrt(2)),
        (scale / math.sqrt(2), scale * math.sqrt(2)),
    ]
    conv_out = torch.zeros(1, len(sizes) * 4, height, width, dtype=torch.float64)
    for i in range(height):
        for j in range(width):
            for b, (w, h) in enumerate(sizes):
                box = [(j + 0.5) / width, (i + 0.5) / height, w, h]
                conv_out[0, b * 4 : b * 4 + 4, i, j] = torch.tensor(box, dtype=torch.float64)
    flattened = conv_out.permute(0, 2, 3, 1).reshape(1, -1, 4)[0]
    anchors = ssd_default_boxes(
        [(height, width), (1, 1)], scale, next_scale, [ratios, []], dtype=torch.float64
    )
    assert anchors.shape == (height * width * 4 + 2, 4)
    torch.testing.assert_close(anchors[: height * width * 4], flattened, rtol=0, atol=1e-12)


def test_mismatched_lengths_raise():
    with pytest.raises(ValueError):
        ssd_default_boxes([(2, 2)], 0.2, 0.9, [[2], [2]])
