"""Fast R-CNN RoI sampling: a hand-worked image, fractions, IoU ranges, seeds, empty images."""

from __future__ import annotations

import math

import pytest
import torch

from compiler.detection.box_ops import box_iou
from compiler.detection.roi_sampling import SampledRoIs, sample_rois
from compiler.detection.two_stage_decode import decode_deltas

GT = {"boxes": torch.tensor([[0.0, 0, 40, 40]]), "labels": torch.tensor([3])}
NO_GT = {"boxes": torch.zeros(0, 4), "labels": torch.zeros(0, dtype=torch.int64)}
HAND_PROPOSALS = torch.tensor(
    [
        [0.0, 0, 40, 20],  # IoU 0.5 -> foreground
        [0.0, 0, 20, 20],  # IoU 0.25 -> background
        [0.0, 0, 40, 10],  # IoU 0.25 -> background
        [60.0, 60, 100, 100],  # IoU 0 -> below the background range [0.1, 0.5): unused
    ]
)


def seeded(seed: int = 0) -> torch.Generator:
    return torch.Generator().manual_seed(seed)


def rows(t: torch.Tensor) -> list[list[float]]:
    return sorted(t.tolist())


def test_hand_worked_image():
    out = sample_rois([HAND_PROPOSALS], [GT], rois_per_image=8, generator=seeded())
    assert isinstance(out, SampledRoIs) and len(out.boxes) == 1
    boxes = out.boxes[0]
    # round(8 * 0.25) = 2 foreground slots: the IoU-0.5 proposal and the appended gt; then
    # the 2 background candidates (fewer than the 6 slots left).
    assert out.labels.tolist() == [3, 3, 0, 0]
    assert rows(boxes[:2]) == rows(torch.tensor([[0.0, 0, 40, 20], [0, 0, 40, 40]]))
    assert rows(boxes[2:]) == rows(HAND_PROPOSALS[1:3])
    # Target of [0, 0, 40, 20] (centre (20, 10), 40 x 20) toward the gt (20, 20), 40 x 40:
    # (0, 10 / 20 / 0.1, 0, log 2 / 0.2) = (0, 5, 0, 3.4657); the gt's own row is zero.
    half = int((boxes[:2, 3] == 20).nonzero())
    expected = torch.tensor([0.0, 5.0, 0.0, math.log(2.0) / 0.2])
    torch.testing.assert_close(out.targets[half], expected)
    torch.testing.assert_close(out.targets[1 - half], torch.zeros(4))
    torch.testing.assert_close(out.targets[2:], torch.zeros(2, 4))


def test_without_gt_in_rois():
    out = sample_rois([HAND_PROPOSALS], [GT], rois_per_image=8, include_gt=False)
    assert out.labels.tolist() == [3, 0, 0]
    assert out.boxes[0][0].tolist() == [0.0, 0, 40, 20]


def jittered_proposals(count: int, seed: int) -> torch.Tensor:
    """Boxes scattered around a 100 x 100 image: a mix of high and low IoU with GT."""
    gen = seeded(seed)
    corner = torch.rand(count, 2, generator=gen) * 70
    size = 10 + torch.rand(count, 2, generator=gen) * 40
    boxes = torch.cat((corner, corner + size), dim=1)
    near = GT["boxes"] + torch.randn(count // 4, 4, generator=gen) * 2
    return torch.cat((boxes, near))


def test_fractions_and_iou_ranges():
    proposals = jittered_proposals(400, 1)
    out = sample_rois([proposals], [GT], rois_per_image=16, generator=seeded())
    boxes = out.boxes[0]
    fg = out.labels > 0
    assert boxes.shape == (16, 4) and int(fg.sum()) == 4  # round(16 * 0.25)
    assert fg[:4].all()  # foreground first
    iou = box_iou(boxes, GT["boxes"])[:, 0]
    assert (iou[fg] >= 0.5).all()
    assert ((iou[~fg] >= 0.1) & (iou[~fg] < 0.5)).all()
    assert len(set(map(tuple, boxes.tolist()))) == 16  # no RoI drawn twice
    # Targets decode back onto the gt for foreground rows.
    decoded = decode_deltas(out.targets[fg], boxes[fg], (0.1, 0.1, 0.2, 0.2))
    torch.testing.assert_close(decoded, GT["boxes"].expand(4, 4), atol=1e-4, rtol=0)


def test_seeded_determinism_and_images_in_order():
    proposals = [jittered_proposals(200, 2), jittered_proposals(100, 3)]
    targets = [GT, {"boxes": torch.tensor([[20.0, 30, 70, 90]]), "labels": torch.tensor([1])}]
    first = sample_rois(proposals, targets, rois_per_image=32, generator=seeded(7))
    again = sample_rois(proposals, targets, rois_per_image=32, generator=seeded(7))
    other = sample_rois(proposals, targets, rois_per_image=32, generator=seeded(8))
    for a, b in zip(first.boxes, again.boxes, strict=True):
        assert torch.equal(a, b)
    assert torch.equal(first.labels, again.labels) and torch.equal(first.targets, again.targets)
    assert not torch.equal(first.boxes[0], other.boxes[0])
    sizes = [b.shape[0] for b in first.boxes]
    assert first.labels.shape == (sum(sizes),) and first.targets.shape == (sum(sizes), 4)
    labels = first.labels.split(sizes)
    assert set(labels[0].tolist()) <= {0, 3} and set(labels[1].tolist()) <= {0, 1}


@pytest.mark.parametrize("low", [0.0, 0.1])
def test_image_without_gt_is_all_background(low):
    # lo = 0: every IoU-0 RoI is in range; lo = 0.1: none is, so all proposals fall back to
    # background candidates. Either way 5 background RoIs.
    proposals = jittered_proposals(4, 4)
    out = sample_rois([proposals], [NO_GT], rois_per_image=8, background_iou=(low, 0.5))
    assert out.labels.tolist() == [0] * 5
    assert rows(out.boxes[0]) == rows(proposals)
    assert out.targets.abs().sum() == 0


def test_detached_proposals():
    proposals = HAND_PROPOSALS.clone().requires_grad_()
    out = sample_rois([proposals], [GT], rois_per_image=8)
    assert not out.boxes[0].requires_grad and not out.targets.requires_grad
