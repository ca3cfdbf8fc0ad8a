"""instance_map against pycocotools' COCOeval(iouType="segm") and hand-worked cases."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from pycocotools import mask as mask_utils

from benchmarks.metrics import detection_map, instance_map
from tests.harness.metrics.cocoeval import run_cocoeval

# COCOeval.stats[0..11] in order.
STAT_KEYS = (
    "map", "map50", "map75", "map_small", "map_medium", "map_large",
    "mar_1", "mar_10", "mar_100", "mar_small", "mar_medium", "mar_large",
)  # fmt: skip


def _rle(mask: torch.Tensor) -> dict:
    return mask_utils.encode(np.asfortranarray(mask.numpy().astype(np.uint8)))


def coco_segm_reference(preds, targets, classes, binary_preds):
    """pycocotools on the same masks (``binary_preds``: the predictions' masks as bool, given
    independently of instance_map's thresholding). Returns (stats[12], {label: AP})."""
    images = [
        {"id": i + 1, "height": t["masks"].shape[-2], "width": t["masks"].shape[-1]}
        for i, t in enumerate(targets)
    ]  # ids sorted in list order, so COCOeval's image order is ours
    categories = [{"id": int(c)} for c in classes]
    annotations, results = [], []
    for i, target in enumerate(targets):
        crowd = target.get("iscrowd", torch.zeros(len(target["labels"]))).tolist()
        for j, (mask, label) in enumerate(
            zip(target["masks"], target["labels"].tolist(), strict=True)
        ):
            rle = _rle(mask)
            area = float(target["area"][j]) if "area" in target else float(mask_utils.area(rle))
            annotations.append({"id": len(annotations) + 1, "image_id": i + 1, "area": area,
                                "category_id": int(label), "segmentation": rle,
                                "iscrowd": int(crowd[j])})  # fmt: skip
    for i, (pred, masks) in enumerate(zip(preds, binary_preds, strict=True)):
        for mask, score, label in zip(
            masks, pred["scores"].tolist(), pred["labels"].tolist(), strict=True
        ):
            results.append({"image_id": i + 1, "category_id": int(label),
                            "segmentation": _rle(mask), "score": score})  # fmt: skip
    return run_cocoeval(images, categories, annotations, results, "segm")


def assert_matches_coco(preds, targets, binary_preds, num_classes=None):
    if num_classes is None:
        classes = sorted({int(c) for item in preds + targets for c in item["labels"]})
    else:
        classes = list(range(num_classes))
    ours = instance_map(preds, targets, num_classes=num_classes)
    assert ours["classes"] == classes
    stats, per_class = coco_segm_reference(preds, targets, classes, binary_preds)
    np.testing.assert_allclose([ours[k] for k in STAT_KEYS], stats, rtol=0, atol=1e-4)
    assert ours["map_per_class"].keys() == per_class.keys()
    for label, ap in per_class.items():
        assert ours["map_per_class"][label] == pytest.approx(ap, abs=1e-4), label
    return ours, stats


def _shapes(params: torch.Tensor, kinds: torch.Tensor, h: int, w: int) -> torch.Tensor:
    """Bool masks ``[N, h, w]`` of rectangles (kind 0) and ellipses (kind 1) from
    ``params = [cx, cy, rx, ry]``."""
    y = torch.arange(h, dtype=torch.float32)[None, :, None] + 0.5
    x = torch.arange(w, dtype=torch.float32)[None, None, :] + 0.5
    cx, cy, rx, ry = (params[:, i, None, None] for i in range(4))
    dx, dy = (x - cx) / rx, (y - cy) / ry
    rect = (dx.abs() <= 1) & (dy.abs() <= 1)
    ellipse = dx**2 + dy**2 <= 1
    return torch.where(kinds[:, None, None] == 1, ellipse, rect)


def random_scene(seed, num_images=12, num_classes=4, max_gt=7, crowd_p=0.1, score_levels=None):
    """Overlapping ground-truth shapes of every area range; predictions are jittered or
    relabelled copies plus strays, as probabilities. Returns (preds, targets, binary preds)."""
    g = torch.Generator().manual_seed(seed)
    preds, targets, binary = [], [], []
    for _ in range(num_images):
        h, w = (int(v) for v in torch.randint(40, 200, (2,), generator=g))
        m = int(torch.randint(0, max_gt + 1, (1,), generator=g))
        centre = torch.rand(m, 2, generator=g) * torch.tensor([w, h])
        size = torch.exp(torch.rand(m, 1, generator=g) * 4.4) + 0.8  # ~2 to ~160 px across
        radii = size * (0.6 + 0.8 * torch.rand(m, 2, generator=g))
        if m and torch.rand(1, generator=g) < 0.5:  # a large object (> 96^2 px in big images)
            centre[0] = torch.tensor([w, h]) / 2
            radii[0] = torch.tensor([w, h]) * (0.3 + 0.15 * torch.rand(2, generator=g))
        gt_params, gt_kinds = torch.cat([centre, radii], 1), torch.randint(0, 2, (m,), generator=g)
        gt_labels = torch.randint(1, num_classes + 1, (m,), generator=g)
        crowd = torch.rand(m, generator=g) < crowd_p
        masks = _shapes(gt_params, gt_kinds, h, w)
        targets.append({"masks": masks, "labels": gt_labels, "iscrowd": crowd})
        k = int(torch.randint(0, 3 * max_gt, (1,), generator=g))
        if m:
            source = torch.randint(0, m, (k,), generator=g)
            params, kinds, labels = gt_params[source], gt_kinds[source], gt_labels[source].clone()
        else:
            params = torch.rand(k, 4, generator=g) * torch.tensor([w, h, 20, 20]) + 1
            kinds, labels = (
                torch.randint(0, 2, (k,), generator=g),
                torch.randint(1, 5, (k,), generator=g),
            )
        scale = params[:, 2:].repeat(1, 2)
        params = params + torch.randn(k, 4, generator=g) * scale * 0.15
        relabel = torch.rand(k, generator=g) < 0.1
        labels[relabel] = torch.randint(1, num_classes + 2, (int(relabel.sum()),), generator=g)
        stray = torch.rand(k, generator=g) < 0.2
        params[stray] = torch.rand(int(stray.sum()), 4, generator=g) * torch.tensor([w, h, 8, 8])
        pred_masks = _shapes(params, kinds, h, w)  # radii < 0.5 px give some empty masks
        noise = torch.rand(pred_masks.shape, generator=g) * 0.5
        probs = torch.where(pred_masks, 0.5 + noise, noise)  # [0.5, 1) on, [0, 0.5) off
        scores = torch.rand(k, generator=g)
        if score_levels:
            scores = torch.round(scores * score_levels) / score_levels
        preds.append({"masks": probs, "scores": scores, "labels": labels})
        binary.append(pred_masks)
    return preds, targets, binary


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_random_scenes_match_pycocotools(seed):
    preds, targets, binary = random_scene(seed)
    ours, stats = assert_matches_coco(preds, targets, binary)
    assert 0.05 < ours["map"] < 0.95  # not a degenerate fixture
    assert min(stats[3:6]) > -1  # small, medium and large ground truth all present


def test_score_ties_empty_images_absent_classes_and_given_areas():
    # Quantised scores (ties within and across images), images without predictions or without
    # ground truth, a class in the predictions only (num_classes leaves class 0 without either),
    # and COCO-style annotation areas that differ from the mask areas.
    preds, targets, binary = random_scene(7, num_images=14, score_levels=3)
    for i in (0, 5):
        preds[i] = {k: v[:0] for k, v in preds[i].items()}
        binary[i] = binary[i][:0]
    targets[3] = {k: v[:0] for k, v in targets[3].items()}
    for target in targets[8:]:
        target["area"] = target["masks"].flatten(1).sum(1) * 1.7
    ours, _ = assert_matches_coco(preds, targets, binary, num_classes=6)
    assert ours["map_per_class"][0] == -1.0 and ours["pr_curves_50"][0] == [-1.0] * 101


def test_all_predictions_empty():
    preds, targets, binary = random_scene(4, num_images=5)
    empty = [{k: v[:0] for k, v in p.items()} for p in preds]
    ours, _ = assert_matches_coco(empty, targets, [b[:0] for b in binary])
    assert ours["map"] == 0.0 and ours["mar_100"] == 0.0


def test_more_than_100_detections_per_image():
    # Only the top 100 detections per image and class count; crowded, overlapping ellipses.
    g = torch.Generator().manual_seed(3)
    params = torch.cat(
        [torch.rand(60, 2, generator=g) * 90, 3 + torch.rand(60, 2, generator=g) * 12], 1
    )
    kinds = torch.ones(60, dtype=torch.int64)
    source = torch.randint(0, 60, (150,), generator=g)
    jittered = params[source] + torch.randn(150, 4, generator=g) * 1.5
    binary = [_shapes(jittered, kinds[source], 96, 96)]
    preds = [{"masks": binary[0], "scores": torch.rand(150, generator=g),
              "labels": torch.ones(150, dtype=torch.int64)}]  # fmt: skip
    targets = [{"masks": _shapes(params, kinds, 96, 96), "labels": torch.ones(60).long()}]
    _, stats = assert_matches_coco(preds, targets, binary)
    assert stats[8] < 1.0


def _rect(h: int, w: int, y0: int, y1: int, x0: int, x1: int) -> torch.Tensor:
    mask = torch.zeros(h, w, dtype=torch.bool)
    mask[y0:y1, x0:x1] = True
    return mask


def test_hand_worked_perfect_and_iou_060():
    gt1, gt2 = _rect(40, 40, 0, 10, 0, 10), _rect(40, 40, 20, 30, 20, 30)
    targets = [{"masks": torch.stack([gt1, gt2]), "labels": torch.tensor([1, 1])}]
    # One perfect detection: AP 1 at every threshold (precision 1 / (1 + eps), as in COCOeval).
    one = instance_map([{"masks": gt1[None], "scores": torch.tensor([0.9]),
                         "labels": torch.tensor([1])}], [{"masks": gt1[None],
                         "labels": torch.tensor([1])}])  # fmt: skip
    assert one["map"] == pytest.approx(1.0) and one["map50"] == pytest.approx(1.0)

    # A: gt1 exactly, as probabilities 0.5 inside (foreground: >= 0.5) and 0.49 outside.
    # B: a false positive. C: 10x6 inside gt2, IoU 60/100 = 0.6 -> matched at 0.5, 0.55, 0.6.
    a = torch.where(gt1, 0.5, 0.49)
    b = _rect(40, 40, 32, 40, 0, 8).float()
    c = _rect(40, 40, 20, 30, 20, 26).float()
    preds = [{"masks": torch.stack([a, b, c]), "scores": torch.tensor([0.9, 0.8, 0.7]),
              "labels": torch.tensor([1, 1, 1])}]  # fmt: skip
    ours = instance_map(preds, targets)
    # IoU <= 0.6: TP, FP, TP -> recall .5, .5, 1 and precision 1, 1/2, 2/3. Of the 101 recall
    # thresholds, 0..0.50 (51) get precision 1 and 0.51..1 (50) get 2/3.
    ap_low = (51 + 50 * 2 / 3) / 101
    # IoU >= 0.65: TP, FP, FP -> recall reaches only 0.5: 51 thresholds at precision 1.
    ap_high = 51 / 101
    assert ours["map50"] == pytest.approx(ap_low)
    assert ours["map75"] == pytest.approx(ap_high)
    assert ours["map"] == pytest.approx((3 * ap_low + 7 * ap_high) / 10)
    assert ours["mar_100"] == pytest.approx((3 * 1.0 + 7 * 0.5) / 10)
    assert_matches_coco(preds, targets, [torch.stack([gt1, b.bool(), c.bool()])])


def test_crowd_region_absorbs_detections():
    # Crowd covers two detections (neither TP nor FP, as intersection / detection area is 1);
    # the detection on the normal object is a TP and the top-scored one elsewhere is a FP.
    crowd, obj = _rect(64, 64, 0, 30, 0, 30), _rect(64, 64, 40, 50, 40, 50)
    targets = [{"masks": torch.stack([crowd, obj]), "labels": torch.tensor([1, 1]),
                "iscrowd": torch.tensor([True, False])}]  # fmt: skip
    masks = torch.stack([_rect(64, 64, 2, 8, 2, 8), _rect(64, 64, 10, 20, 10, 20), obj,
                         _rect(64, 64, 55, 60, 0, 5)])  # fmt: skip
    preds = [{"masks": masks, "scores": torch.tensor([0.9, 0.8, 0.7, 0.95]),
              "labels": torch.ones(4, dtype=torch.int64)}]  # fmt: skip
    ours, _ = assert_matches_coco(preds, targets, [masks])
    assert ours["map50"] == pytest.approx(0.5)  # FP then TP: precision 1/2 at every recall


def test_rectangles_agree_with_box_map():
    # Integer-aligned rectangles: mask IoU equals box IoU and mask area box area, so the mask
    # path must give detection_map's numbers (the code after the IoU is shared). uint8 targets and
    # [N, 1, H, W] predictions (torchvision's layout) are read as [N, H, W] masks.
    g = torch.Generator().manual_seed(11)
    preds, targets, box_preds, box_targets = [], [], [], []
    for _ in range(6):
        boxes = []
        for n in (5, 9):
            xy = torch.randint(0, 50, (n, 2), generator=g)
            boxes.append(torch.cat([xy, xy + torch.randint(1, 40, (n, 2), generator=g)], 1))
        masks = [torch.stack([_rect(96, 96, b[1], b[3], b[0], b[2]) for b in bs.tolist()])
                 for bs in boxes]  # fmt: skip
        labels = [torch.randint(1, 3, (len(bs),), generator=g) for bs in boxes]
        scores = torch.rand(9, generator=g)
        targets.append({"masks": masks[0].to(torch.uint8), "labels": labels[0]})
        box_targets.append({"boxes": boxes[0].float(), "labels": labels[0]})
        preds.append({"masks": masks[1].float()[:, None], "scores": scores, "labels": labels[1]})
        box_preds.append({"boxes": boxes[1].float(), "scores": scores, "labels": labels[1]})
    ours, boxes_result = instance_map(preds, targets), detection_map(box_preds, box_targets)
    for key in (*STAT_KEYS, "map_per_class", "pr_curves_50", "classes"):
        assert ours[key] == boxes_result[key], key


def test_bad_inputs_raise():
    target = {"masks": torch.zeros(1, 8, 8, dtype=torch.bool), "labels": torch.tensor([1])}
    pred = {"masks": torch.zeros(1, 8, 9), "scores": torch.tensor([0.5]),
            "labels": torch.tensor([1])}  # fmt: skip
    with pytest.raises(ValueError, match="prediction masks"):
        instance_map([pred], [target])
    with pytest.raises(ValueError, match="predictions but"):
        instance_map([pred], [target, target])
    with pytest.raises(ValueError, match=r"\[N, H, W\]"):
        instance_map([pred | {"masks": torch.zeros(8, 9)}], [target])
