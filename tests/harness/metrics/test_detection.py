"""detection_map against pycocotools' COCOeval (the reference) and hand-worked VOC07 examples."""

from __future__ import annotations

import contextlib
import io

import numpy as np
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st
from pycocotools.coco import COCO
from pycocotools.cocoeval import COCOeval

from benchmarks.metrics import detection_map
from tests.harness.metrics.cocoeval import run_cocoeval

# COCOeval.stats[0..11] in order.
STAT_KEYS = (
    "map", "map50", "map75", "map_small", "map_medium", "map_large",
    "mar_1", "mar_10", "mar_100", "mar_small", "mar_medium", "mar_large",
)  # fmt: skip


def _xywh(box):
    return [box[0], box[1], box[2] - box[0], box[3] - box[1]]


def coco_reference(preds, targets, classes):
    """Run pycocotools on the same boxes: returns (stats[12], {label: AP})."""
    images = [{"id": i + 1} for i in range(len(targets))]  # ids sorted in list order
    categories = [{"id": int(c)} for c in classes]
    annotations, results = [], []
    for i, target in enumerate(targets):
        crowd = target.get("iscrowd", torch.zeros(len(target["labels"]))).tolist()
        boxes = target["boxes"].double().reshape(-1, 4).tolist()
        for j, (box, label) in enumerate(zip(boxes, target["labels"].tolist(), strict=True)):
            area = float(target["area"][j]) if "area" in target else _xywh(box)[2] * _xywh(box)[3]
            # ids start at 1: COCOeval reads id 0 as "unmatched".
            annotations.append({"id": len(annotations) + 1, "image_id": i + 1, "area": area,
                                "category_id": int(label), "bbox": _xywh(box),
                                "iscrowd": int(crowd[j])})  # fmt: skip
    for i, pred in enumerate(preds):
        boxes, scores = pred["boxes"].double().reshape(-1, 4).tolist(), pred["scores"].double()
        for box, score, label in zip(boxes, scores.tolist(), pred["labels"].tolist(), strict=True):
            results.append({"image_id": i + 1, "category_id": int(label), "bbox": _xywh(box),
                            "score": score})  # fmt: skip
    return run_cocoeval(images, categories, annotations, results, "bbox")


def assert_matches_coco(preds, targets, num_classes=None):
    if num_classes is None:
        classes = sorted({int(c) for item in preds + targets for c in item["labels"]})
    else:
        classes = list(range(num_classes))
    ours = detection_map(preds, targets, num_classes=num_classes)
    assert ours["classes"] == classes
    stats, per_class = coco_reference(preds, targets, classes)
    np.testing.assert_allclose([ours[k] for k in STAT_KEYS], stats, rtol=0, atol=1e-4)
    assert ours["map_per_class"].keys() == per_class.keys()
    for label, ap in per_class.items():
        assert ours["map_per_class"][label] == pytest.approx(ap, abs=1e-4), label
    return ours, stats


def _pred(boxes, scores, labels):
    scores = torch.as_tensor(scores, dtype=torch.float32)
    return {"boxes": torch.as_tensor(boxes, dtype=torch.float32).reshape(-1, 4), "scores": scores,
            "labels": torch.as_tensor(labels, dtype=torch.int64).reshape(-1)}  # fmt: skip


def _target(boxes, labels, **extra):
    return {"boxes": torch.as_tensor(boxes, dtype=torch.float32).reshape(-1, 4),
            "labels": torch.as_tensor(labels, dtype=torch.int64).reshape(-1),
            **{k: torch.as_tensor(v) for k, v in extra.items()}}  # fmt: skip


def random_scene(seed, num_images=30, num_classes=4, max_gt=8, crowd_p=0.1, score_levels=None):
    """Ground truth of all sizes; detections: jittered/relabelled copies and false positives."""
    g = torch.Generator().manual_seed(seed)
    preds, targets = [], []
    for _ in range(num_images):
        m = int(torch.randint(0, max_gt + 1, (1,), generator=g))
        xy = torch.rand(m, 2, generator=g) * 400
        wh = torch.exp(torch.rand(m, 2, generator=g) * 5.5) + 2  # 3 to ~250 px: every area range
        gt_boxes = torch.cat([xy, xy + wh], 1)
        gt_labels = torch.randint(0, num_classes, (m,), generator=g)
        crowd = (torch.rand(m, generator=g) < crowd_p).long()
        targets.append({"boxes": gt_boxes, "labels": gt_labels, "iscrowd": crowd})
        k = int(torch.randint(0, 3 * max_gt, (1,), generator=g))
        if m:
            source = torch.randint(0, m, (k,), generator=g)
            base, labels = gt_boxes[source], gt_labels[source].clone()
        else:
            base, labels = torch.zeros(k, 4), torch.randint(0, num_classes, (k,), generator=g)
        size = (base[:, 2:] - base[:, :2]).repeat(1, 2)
        boxes = base + torch.randn(k, 4, generator=g) * size * 0.15
        relabel = torch.rand(k, generator=g) < 0.1
        labels[relabel] = torch.randint(0, num_classes, (int(relabel.sum()),), generator=g)
        stray = torch.rand(k, generator=g) < 0.2
        corner = torch.rand(int(stray.sum()), 2, generator=g) * 400
        boxes[stray] = torch.cat([corner, corner + 30], 1)
        boxes = torch.cat(
            [boxes[:, :2].minimum(boxes[:, 2:]), boxes[:, :2].maximum(boxes[:, 2:])], 1
        )
        scores = torch.rand(k, generator=g)
        if score_levels:
            scores = torch.round(scores * score_levels) / score_levels
        preds.append({"boxes": boxes, "scores": scores, "labels": labels})
    return preds, targets


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_random_scenes_match_pycocotools(seed):
    preds, targets = random_scene(seed)
    ours, stats = assert_matches_coco(preds, targets)
    assert 0.05 < ours["map"] < 0.95  # not a degenerate fixture


def test_score_ties_match_pycocotools():
    # Scores quantised to 4 levels: many ties within and across images, so the stable
    # (input order, then image order) tie-breaking of COCOeval is exercised.
    preds, targets = random_scene(7, score_levels=3)
    assert_matches_coco(preds, targets)


def test_crowded_scene_with_more_than_100_detections():
    # Two images of heavily overlapping boxes, 240 detections of one class per image: only the
    # top 100 per image and class count, and matches compete for nearby ground truth.
    g = torch.Generator().manual_seed(3)
    preds, targets = [], []
    for _ in range(2):
        xy = torch.rand(120, 2, generator=g) * 150
        gt_boxes = torch.cat([xy, xy + 20 + torch.rand(120, 2, generator=g) * 60], 1)
        labels = torch.zeros(120, dtype=torch.int64)
        labels[:10] = 1
        targets.append({"boxes": gt_boxes, "labels": labels, "iscrowd": torch.zeros(120)})
        source = torch.randint(0, 120, (240,), generator=g)
        boxes = gt_boxes[source] + torch.randn(240, 4, generator=g) * 6
        preds.append(
            {"boxes": boxes, "scores": torch.rand(240, generator=g), "labels": labels[source]}
        )
    ours, stats = assert_matches_coco(preds, targets)
    assert stats[8] < 1.0  # recall capped by the 100-detection limit


def test_crowd_regions_absorb_detections():
    # A crowd box covering several detections: they are neither TP nor FP, whereas the detection
    # on the normal object is a TP; one detection outside everything is a FP.
    targets = [_target([[0, 0, 200, 200], [300, 300, 340, 340]], [0, 0], iscrowd=[1, 0])]
    boxes = [[10, 10, 50, 50], [60, 60, 120, 120], [301, 301, 340, 339], [500, 500, 520, 520]]
    preds = [_pred(boxes, [0.9, 0.8, 0.7, 0.95], [0, 0, 0, 0])]
    ours, _ = assert_matches_coco(preds, targets)
    # Ranked: FP (0.95), ignored, ignored, TP (IoU 39*38/40^2 = 0.926) -> at IoU 0.5 the
    # precision is 1/2 at every recall threshold.
    assert ours["map50"] == pytest.approx(0.5)


def test_empty_predictions_for_some_and_all_images():
    preds, targets = random_scene(4, num_images=12)
    for i in (0, 3, 4, 9):
        preds[i] = _pred([], [], [])
    assert_matches_coco(preds, targets)

    empty = [_pred([], [], []) for _ in targets]
    ours, stats = assert_matches_coco(empty, targets)
    assert ours["map"] == 0.0 and ours["mar_100"] == 0.0 and ours["map_voc07"] == 0.0


def test_images_without_ground_truth():
    preds, targets = random_scene(5, num_images=10)
    for i in (1, 2, 6):  # their detections can only be false positives
        targets[i] = _target([], [])
    ours, _ = assert_matches_coco(preds, targets)
    assert any(len(preds[i]["scores"]) for i in (1, 2, 6))


def test_class_without_detections_and_class_without_ground_truth():
    preds, targets = random_scene(6, num_images=15, num_classes=3)
    for pred in preds:  # class 2: ground truth only; class 7: detections only
        keep = pred["labels"] != 2
        pred["boxes"], pred["scores"] = pred["boxes"][keep], pred["scores"][keep]
        pred["labels"] = torch.where(pred["labels"][keep] == 1, 7, pred["labels"][keep])
    for target in targets:
        target["labels"] = torch.where(target["labels"] == 1, 9, target["labels"])
    ours, _ = assert_matches_coco(preds, targets)
    assert ours["map_per_class"][7] == -1.0  # no ground truth: excluded from the means
    assert ours["map_per_class"][2] == 0.0  # ground truth, no detections
    evaluated = [ap for ap in ours["map_per_class"].values() if ap > -1]
    assert ours["map"] == pytest.approx(sum(evaluated) / len(evaluated))


def test_area_range_and_iou_threshold_boundaries():
    # Image 0: areas exactly on the 32^2 and 96^2 bounds (inclusive on both sides in COCOeval),
    # and an "area" key that overrides the box area for range filtering, as a segmentation area
    # would. A top-scored false positive makes AP depend on which ground truth is counted.
    sides = [32.0, 96.0, 31.0, 97.0, 64.0]
    boxes = torch.tensor([[200.0 * i, 0, 200.0 * i + s, s] for i, s in enumerate(sides)])
    targets = [_target(boxes, [0] * 5, area=[1024.0, 9216.0, 961.0, 9409.0, 500.0])]
    false_positive = torch.tensor([[0.0, 500, 20, 520]])
    preds = [
        _pred(torch.cat([false_positive, boxes[:2], boxes[2:3] + 1]), [0.9, 0.8, 0.7, 0.6], [0] * 4)
    ]
    # Image 1: IoUs exactly on thresholds, 0.7 (70/100) and 0.75 (75/100): both match there,
    # since COCOeval accepts IoU >= threshold.
    targets.append(_target([[0, 0, 10, 10], [50, 50, 60, 60]], [0, 0]))
    preds.append(_pred([[0, 0, 10, 7], [50, 50, 60, 57.5]], [0.5, 0.4], [0, 0]))
    assert_matches_coco(preds, targets)


def test_num_classes_lists_all_classes_and_rejects_out_of_range_labels():
    preds, targets = random_scene(8, num_images=5, num_classes=3)
    ours, _ = assert_matches_coco(preds, targets, num_classes=6)
    assert ours["classes"] == [0, 1, 2, 3, 4, 5]
    assert ours["map_per_class"][5] == -1.0
    with pytest.raises(ValueError, match="labels must lie"):
        detection_map(preds, targets, num_classes=2)


# Small integer grid: exact IoU ties, boxes on area boundaries, repeated boxes and scores.
_box = st.tuples(
    st.integers(0, 12), st.integers(0, 12), st.integers(1, 14), st.integers(1, 14)
).map(lambda b: [8.0 * b[0], 8.0 * b[1], 8.0 * (b[0] + b[2]), 8.0 * (b[1] + b[3])])
_gt = st.tuples(_box, st.integers(0, 1), st.booleans())
_dt = st.tuples(_box, st.integers(0, 1), st.sampled_from([0.2, 0.5, 0.5, 0.9]))


@settings(max_examples=60, deadline=None, derandomize=True)
@given(st.lists(st.tuples(st.lists(_gt, max_size=5), st.lists(_dt, max_size=8)), max_size=3))
def test_small_grid_scenes_match_pycocotools(images):
    preds, targets = [], []
    for gts, dts in images:
        boxes, labels, crowd = zip(*gts, strict=True) if gts else ((), (), ())
        targets.append(_target(boxes, labels, iscrowd=[int(z) for z in crowd]))
        boxes, labels, scores = zip(*dts, strict=True) if dts else ((), (), ())
        preds.append(_pred(boxes, scores, labels))
    assert_matches_coco(preds, targets)


def test_no_images_and_no_boxes_give_minus_one():
    out = detection_map([], [])
    assert out["classes"] == [] and out["map"] == -1.0 and out["map_voc07"] == -1.0


def _voc_devkit_ap(preds, targets, label):
    """Port of the VOC devkit per-class loop (IoU >= 0.5, no +1, exact tenths) to cross-check."""
    dets = [
        (float(s), i, b)
        for i, p in enumerate(preds)
        for b, s, c in zip(
            p["boxes"].tolist(), p["scores"].tolist(), p["labels"].tolist(), strict=True
        )
        if c == label
    ]
    dets.sort(key=lambda d: -d[0])  # stable: ties keep image/input order
    gts = []
    for t in targets:
        crowd = t.get("iscrowd", torch.zeros(len(t["labels"]))).tolist()
        rows = zip(t["boxes"].tolist(), t["labels"].tolist(), crowd, strict=True)
        gts.append([(b, bool(z)) for b, c, z in rows if c == label])
    used = [[False] * len(g) for g in gts]
    npos = sum(not z for g in gts for _, z in g)
    tp, fp = [], []
    for _, i, d in dets:
        best, best_j = float("-inf"), -1
        for j, (g, _) in enumerate(gts[i]):
            iw = min(d[2], g[2]) - max(d[0], g[0])
            ih = min(d[3], g[3]) - max(d[1], g[1])
            inter = max(iw, 0.0) * max(ih, 0.0)
            union = (d[2] - d[0]) * (d[3] - d[1]) + (g[2] - g[0]) * (g[3] - g[1]) - inter
            if inter / union > best:
                best, best_j = inter / union, j
        hit = best >= 0.5
        difficult = hit and gts[i][best_j][1]
        is_tp = hit and not difficult and not used[i][best_j]
        if is_tp:
            used[i][best_j] = True
        tp.append(int(is_tp))
        fp.append(int(not is_tp and not difficult))
    tp, fp = np.cumsum(tp), np.cumsum(fp)
    rec, prec = tp / npos, tp / np.maximum(tp + fp, 1e-12)
    return (
        sum((prec[rec >= t / 10].max() if (rec >= t / 10).any() else 0.0) for t in range(11)) / 11
    )


def test_voc07_hand_worked_example():
    # One class, two images, 3 ground truths (A, B in image 0; C in image 1), 5 detections:
    #   rank score image  best IoU with      outcome   TP FP  precision  recall
    #   1    0.9   0      A: 1.0             TP        1  0   1/1        1/3
    #   2    0.8   0      A: 0.81 (taken)    FP dup    1  1   1/2        1/3
    #   3    0.7   1      none (IoU 0)       FP        1  2   1/3        1/3
    #   4    0.6   1      C: 0.5 (>= 0.5)    TP        2  2   2/4        2/3
    #   5    0.5   0      B: 0.4 (< 0.5)     FP        2  3   2/5        2/3
    # Max precision at recall >= t: t in {0, .1, .2, .3}: 1 (rank 1); t in {.4, .5, .6}: 1/2
    # (rank 4); t in {.7, ..., 1}: none reached -> 0.  AP = (4 * 1 + 3 * 0.5) / 11 = 5.5 / 11.
    targets = [
        _target([[0, 0, 10, 10], [100, 100, 110, 110]], [0, 0]),  # A, B
        _target([[0, 0, 20, 10]], [0]),  # C
    ]
    preds = [
        # [0,0,10,10] vs A: 1.0; [0,0,9,9] vs A: 81/100; [100,100,110,104] vs B: 40/100.
        _pred([[0, 0, 10, 10], [0, 0, 9, 9], [100, 100, 110, 104]], [0.9, 0.8, 0.5], [0, 0, 0]),
        # [50,50,60,60] misses C; [0,0,10,10] vs C: 100 / (100 + 200 - 100) = 0.5 exactly.
        _pred([[50, 50, 60, 60], [0, 0, 10, 10]], [0.7, 0.6], [0, 0]),
    ]
    assert detection_map(preds, targets)["map_voc07"] == pytest.approx(5.5 / 11, abs=1e-12)


def test_voc07_averages_classes_with_ground_truth_and_treats_crowd_as_difficult():
    # Class 0: one gt, one exact hit -> AP 1. Class 1: a crowd ("difficult") gt hit by the top
    # detection (ignored) and a normal gt hit by the second -> precision 1 at recall 1 -> AP 1.
    # Class 2: gt never detected -> AP 0. Class 5: detections only -> not averaged.
    squares = torch.tensor([[0.0, 0, 10, 10], [20, 20, 30, 30], [40, 40, 50, 50], [60, 60, 70, 70]])
    targets = [_target(squares, [0, 1, 1, 2], iscrowd=[0, 1, 0, 0])]
    boxes = torch.cat([squares[:3], torch.tensor([[0.0, 0, 5, 5]])])
    preds = [_pred(boxes, [0.5, 0.9, 0.8, 0.99], [0, 1, 1, 5])]
    assert detection_map(preds, targets)["map_voc07"] == pytest.approx(2 / 3)


def test_voc07_recall_exactly_on_a_tenth_counts():
    # 10 separate ground truths, 3 exact hits then a miss: recall .1 .2 .3 .3, precision
    # 1 1 1 .75. Max precision at recall >= t is 1 for t in {0, .1, .2, .3} and 0 above, so
    # AP = 4/11. (The devkit's np.arange thresholds put "0.3" at 0.30000000000000004 -> 3/11.)
    boxes = torch.tensor([[20.0 * i, 0, 20.0 * i + 10, 10] for i in range(10)])
    targets = [_target(boxes, [0] * 10)]
    preds = [
        _pred(
            torch.cat([boxes[:3], torch.tensor([[0.0, 50, 10, 60]])]), [0.9, 0.8, 0.7, 0.6], [0] * 4
        )
    ]
    assert detection_map(preds, targets)["map_voc07"] == pytest.approx(4 / 11, abs=1e-12)


@pytest.mark.parametrize("seed", [10, 11])
def test_voc07_matches_devkit_loop_on_random_scenes(seed):
    preds, targets = random_scene(seed, num_images=15, score_levels=4 if seed % 2 else None)
    ours = detection_map(preds, targets)
    labels = sorted({int(c) for t in targets for c in t["labels"][t["iscrowd"] == 0]})
    expected = np.mean([_voc_devkit_ap(preds, targets, c) for c in labels])
    assert ours["map_voc07"] == pytest.approx(expected, abs=1e-12)


def test_pr_curves_are_cocoevals_precision_at_iou_50():
    preds, targets = random_scene(3)
    classes = sorted({int(c) for item in preds + targets for c in item["labels"]})
    ours = detection_map(preds, targets)["pr_curves_50"]
    images = [{"id": i + 1} for i in range(len(targets))]
    annotations, results = [], []
    for i, (pred, target) in enumerate(zip(preds, targets, strict=True)):
        for box, label, crowd in zip(
            target["boxes"].double().tolist(), target["labels"].tolist(),
            target["iscrowd"].tolist(), strict=True,
        ):  # fmt: skip
            annotations.append({"id": len(annotations) + 1, "image_id": i + 1,
                                "area": _xywh(box)[2] * _xywh(box)[3], "category_id": label,
                                "bbox": _xywh(box), "iscrowd": crowd})  # fmt: skip
        for box, score, label in zip(
            pred["boxes"].double().tolist(), pred["scores"].double().tolist(),
            pred["labels"].tolist(), strict=True,
        ):  # fmt: skip
            results.append({"image_id": i + 1, "category_id": label, "bbox": _xywh(box),
                            "score": score})  # fmt: skip
    with contextlib.redirect_stdout(io.StringIO()):
        gt = COCO()
        gt.dataset = {"images": images, "categories": [{"id": c} for c in classes],
                      "annotations": annotations}  # fmt: skip
        gt.createIndex()
        evaluator = COCOeval(gt, gt.loadRes(results), iouType="bbox")
        evaluator.evaluate()
        evaluator.accumulate()
    reference = evaluator.eval["precision"][0, :, :, 0, -1]  # IoU 0.5, area all, maxDets 100
    assert list(ours) == classes
    for k, label in enumerate(evaluator.params.catIds):
        np.testing.assert_allclose(ours[label], reference[:, k], rtol=0, atol=1e-6)
