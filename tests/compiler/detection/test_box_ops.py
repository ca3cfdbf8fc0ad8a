"""Box primitives and NMS against plain-Python references."""

from __future__ import annotations

import time

import pytest
import torch

from compiler import ops
from compiler.detection.box_ops import batched_nms, box_area, box_convert, box_iou, clip_boxes, nms


def ref_iou(a: list[float], b: list[float]) -> float:
    inter_w = max(0.0, min(a[2], b[2]) - max(a[0], b[0]))
    inter_h = max(0.0, min(a[3], b[3]) - max(a[1], b[1]))
    inter = inter_w * inter_h
    union = (a[2] - a[0]) * (a[3] - a[1]) + (b[2] - b[0]) * (b[3] - b[1]) - inter
    return inter / union


def ref_nms(boxes: list[list[float]], scores: list[float], threshold: float) -> list[int]:
    """Textbook greedy NMS; ties in score go to the lower index."""
    order = sorted(range(len(boxes)), key=lambda i: (-scores[i], i))
    kept: list[int] = []
    for i in order:
        if all(ref_iou(boxes[i], boxes[k]) <= threshold for k in kept):
            kept.append(i)
    return kept


def ref_batched_nms(boxes, scores, labels, threshold) -> list[int]:
    kept = []
    for label in set(labels):
        members = [i for i in range(len(boxes)) if labels[i] == label]
        local = ref_nms([boxes[i] for i in members], [scores[i] for i in members], threshold)
        kept += [members[i] for i in local]
    return sorted(kept, key=lambda i: (-scores[i], i))


def random_boxes(n: int, seed: int, extent: float = 100.0) -> tuple[torch.Tensor, torch.Tensor]:
    """Overlapping boxes with many exactly tied (integer) scores, float64 for exact IoUs."""
    gen = torch.Generator().manual_seed(seed)
    xy = torch.rand(n, 2, generator=gen, dtype=torch.float64) * extent
    wh = torch.rand(n, 2, generator=gen, dtype=torch.float64) * 30 + 2
    scores = torch.randint(0, 12, (n,), generator=gen).to(torch.float64)
    return torch.cat((xy, xy + wh), dim=1), scores


def test_box_area_and_iou_hand_values():
    a = torch.tensor([[0.0, 0.0, 2.0, 2.0], [1.0, 1.0, 3.0, 4.0]])
    b = torch.tensor([[1.0, 1.0, 3.0, 3.0], [5.0, 5.0, 6.0, 6.0]])
    assert box_area(a).tolist() == [4.0, 6.0]
    # a0/b0: inter 1, union 4 + 4 - 1 = 7. a1/b0: inter 4, union 6 + 4 - 4 = 6.
    expected = torch.tensor([[1 / 7, 0.0], [4 / 6, 0.0]])
    torch.testing.assert_close(box_iou(a, b), expected)


def test_box_iou_matches_reference_and_broadcasts():
    boxes1, _ = random_boxes(7, seed=3)
    boxes2, _ = random_boxes(5, seed=4)
    iou = box_iou(boxes1, boxes2)
    assert iou.shape == (7, 5)
    for i, a in enumerate(boxes1.tolist()):
        for j, b in enumerate(boxes2.tolist()):
            assert iou[i, j].item() == pytest.approx(ref_iou(a, b), abs=1e-12)
    batched = box_iou(torch.stack((boxes1, boxes1.flip(0))), boxes2[None])
    torch.testing.assert_close(batched[0], iou)
    torch.testing.assert_close(batched[1], iou.flip(0))


def test_runtime_ops_reexport_box_ops():
    """Generated model sources only import ``compiler.ops``; it must hand out the same objects."""
    assert ops.box_iou is box_iou
    assert ops.batched_nms is batched_nms
    assert ops.nms is nms
    # Side by side, half overlapping: inter 1 * 2 = 2, union 4 + 4 - 2 = 6, IoU 1/3.
    a = torch.tensor([[0.0, 0.0, 2.0, 2.0]], dtype=torch.float64)
    b = torch.tensor([[1.0, 0.0, 3.0, 2.0]], dtype=torch.float64)
    torch.testing.assert_close(ops.box_iou(a, b), torch.tensor([[1 / 3]], dtype=torch.float64))
    boxes = torch.cat((a, b))
    scores = torch.tensor([0.9, 0.8], dtype=torch.float64)
    # 1/3 > 0.3: the lower-scored box goes unless it has another label.
    assert ops.batched_nms(boxes, scores, torch.tensor([1, 1]), 0.3).tolist() == [0]
    assert ops.batched_nms(boxes, scores, torch.tensor([1, 2]), 0.3).tolist() == [0, 1]


def test_box_convert_and_clip():
    xyxy = torch.tensor([[10.0, 20.0, 30.0, 60.0]])
    cxcywh = box_convert(xyxy, "xyxy", "cxcywh")
    assert cxcywh.tolist() == [[20.0, 40.0, 20.0, 40.0]]
    torch.testing.assert_close(box_convert(cxcywh, "cxcywh", "xyxy"), xyxy)
    clipped = clip_boxes(torch.tensor([[-5.0, -1.0, 50.0, 70.0], [3.0, 4.0, 5.0, 6.0]]), (60, 40))
    assert clipped.tolist() == [[0.0, 0.0, 40.0, 60.0], [3.0, 4.0, 5.0, 6.0]]


@pytest.mark.parametrize("seed", [0, 1, 2])
@pytest.mark.parametrize("threshold", [0.0, 0.3, 0.5, 0.8])
def test_nms_matches_greedy_reference(seed: int, threshold: float):
    boxes, scores = random_boxes(300, seed)  # > one internal block of 256
    expected = ref_nms(boxes.tolist(), scores.tolist(), threshold)
    kept = nms(boxes, scores, threshold)
    assert kept.dtype == torch.int64
    assert kept.tolist() == expected


def test_nms_large_input_matches_reference():
    boxes, scores = random_boxes(600, seed=7, extent=250.0)
    assert nms(boxes, scores, 0.4).tolist() == ref_nms(boxes.tolist(), scores.tolist(), 0.4)


def test_nms_suppression_chain_is_greedy():
    # 10x10 boxes sliding right by 3: neighbours have IoU 7/13 > 0.5, boxes two apart 4/16.
    # Greedy keeps 0, drops 1 (suppressed by 0), keeps 2 (1 is gone, so nothing suppresses
    # it), ... -- a dependency chain running through several internal blocks.
    n = 700
    x = torch.arange(n, dtype=torch.float64) * 3
    boxes = torch.stack((x, torch.zeros(n), x + 10, torch.full((n,), 10.0)), dim=1)
    scores = torch.linspace(1, 0, n, dtype=torch.float64)
    assert ref_iou(boxes[0].tolist(), boxes[1].tolist()) > 0.5
    assert ref_iou(boxes[0].tolist(), boxes[2].tolist()) < 0.5
    assert nms(boxes, scores, 0.5).tolist() == list(range(0, n, 2))


def test_nms_threshold_is_strict_and_ties_go_to_lower_index():
    boxes = torch.tensor([[1.0, 0.0, 4.0, 1.0], [0.0, 0.0, 3.0, 1.0]])  # IoU exactly 2/4
    scores = torch.tensor([0.7, 0.7])
    assert nms(boxes, scores, 0.5).tolist() == [0, 1]  # IoU == threshold: not suppressed
    assert nms(boxes, scores, 0.49).tolist() == [0]  # tie: index 0 ranks first and wins


def test_nms_empty_and_single():
    empty = nms(torch.zeros(0, 4), torch.zeros(0), 0.5)
    assert empty.shape == (0,) and empty.dtype == torch.int64
    empty = batched_nms(torch.zeros(0, 4), torch.zeros(0), torch.zeros(0, dtype=torch.int64), 0.5)
    assert empty.shape == (0,) and empty.dtype == torch.int64
    assert nms(torch.tensor([[0.0, 0.0, 1.0, 1.0]]), torch.tensor([0.3]), 0.5).tolist() == [0]


@pytest.mark.parametrize("seed", [0, 1, 2])
@pytest.mark.parametrize("threshold", [0.2, 0.5])
def test_batched_nms_matches_per_class_reference(seed: int, threshold: float):
    boxes, scores = random_boxes(400, seed)
    boxes = boxes - 50  # negative coordinates must not let classes interact
    labels = torch.randint(0, 5, (400,), generator=torch.Generator().manual_seed(seed + 10))
    expected = ref_batched_nms(boxes.tolist(), scores.tolist(), labels.tolist(), threshold)
    assert batched_nms(boxes, scores, labels, threshold).tolist() == expected


def test_batched_nms_identical_boxes_of_different_classes_survive():
    boxes = torch.tensor([[0.0, 0.0, 10.0, 10.0]] * 3)
    scores = torch.tensor([0.5, 0.9, 0.7])
    assert batched_nms(boxes, scores, torch.tensor([1, 2, 1]), 0.5).tolist() == [1, 2]
    assert nms(boxes, scores, 0.5).tolist() == [1]


def test_nms_is_fast_on_thousands_of_boxes():
    # 5000 detections clustered around 50 objects, as a detector produces them.
    gen = torch.Generator().manual_seed(0)
    centres = torch.rand(50, 2, generator=gen) * 800
    which = torch.randint(0, 50, (5000,), generator=gen)
    xy = centres[which] + torch.randn(5000, 2, generator=gen) * 8
    wh = torch.rand(5000, 2, generator=gen) * 20 + 60
    boxes = torch.cat((xy - wh / 2, xy + wh / 2), dim=1)
    scores = torch.rand(5000, generator=gen)
    labels = torch.randint(0, 20, (5000,), generator=gen)
    nms(boxes[:10], scores[:10], 0.5)  # warm-up
    start = time.perf_counter()
    nms(boxes, scores, 0.5)
    batched_nms(boxes, scores, labels, 0.5)
    elapsed = time.perf_counter() - start
    assert elapsed < 2.0, f"nms + batched_nms on 5000 boxes took {elapsed:.2f} s"


def _torchvision_available() -> bool:
    if not torch.cuda.is_available():
        return False
    try:
        import torchvision  # noqa: F401
    except Exception:
        return False
    return True


@pytest.mark.gpu
@pytest.mark.skipif(not _torchvision_available(), reason="needs CUDA and torchvision")
def test_matches_torchvision_on_cuda():
    from torchvision import ops

    gen = torch.Generator().manual_seed(0)
    xy = torch.rand(3000, 2, generator=gen) * 500
    boxes = torch.cat((xy, xy + torch.rand(3000, 2, generator=gen) * 80 + 4), dim=1).cuda()
    scores = torch.randperm(3000, generator=gen).float().cuda() / 3000  # no ties
    labels = torch.randint(0, 10, (3000,), generator=gen).cuda()
    torch.testing.assert_close(box_iou(boxes, boxes[:500]), ops.box_iou(boxes, boxes[:500]))
    for threshold in (0.3, 0.5, 0.7):
        assert torch.equal(nms(boxes, scores, threshold), ops.nms(boxes, scores, threshold))
        # Reference: torchvision's NMS per class, merged by score. (ops.batched_nms itself may
        # use the coordinate-offset trick, whose float rounding can flip borderline IoUs.)
        per_class = []
        for label in range(10):
            members = torch.nonzero(labels == label).flatten()
            per_class.append(members[ops.nms(boxes[members], scores[members], threshold)])
        merged = torch.cat(per_class)
        expected = merged[scores[merged].argsort(descending=True)]
        assert torch.equal(batched_nms(boxes, scores, labels, threshold), expected)
