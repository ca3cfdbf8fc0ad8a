"""Mean average precision for box detection: COCO (as pycocotools computes it) and VOC 2007.

The COCO numbers reproduce ``pycocotools.cocoeval.COCOeval`` with ``iouType="bbox"`` and the
default parameters, including its quirks, because published numbers are only comparable when
the evaluator is the same:

* detections are ranked per image and category by score with a stable sort (ties keep input
  order) and only the top 100 per image *and category* take part;
* greedy matching in that order: a detection takes the unmatched ground truth with the highest
  IoU >= threshold (ties go to the later ground truth), preferring ground truth that is not
  ignored; crowd ground truth can absorb any number of detections and uses
  ``intersection / detection area`` as IoU;
* ground truth that is crowd or outside the area range is "ignored": detections matched to it,
  and unmatched detections outside the area range, count as neither TP nor FP;
* IoU uses continuous coordinates (``w = x2 - x1``, no ``+1``), precision is the 101-point
  interpolated envelope, and a category without (non-ignored) ground truth gets -1 and is left
  out of every mean.

It is not pycocotools' per-detection Python loop: matching runs one step per detection rank,
vectorised over all image/category pairs, IoU thresholds and area ranges at once, and only over
(detection, ground truth) pairs whose IoU can pass the lowest threshold.

``map_voc07`` is the Pascal VOC 2007 devkit's 11-point AP at IoU >= 0.5 (as in the MATLAB
devkit; the widespread Python port uses > 0.5), over all detections (no per-image cap), with
detections sorted by score stably. Crowd ground truth plays the role of VOC's "difficult"
objects. Two deliberate differences from the devkit: the IoU uses the same continuous-coordinate
convention as COCO (the devkit adds 1 pixel to widths and heights, which only suits integer
pixel boxes), and the recall points are exact tenths (see ``_VOC_RECALL_POINTS``).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import numpy as np
import torch

__all__ = ["detection_map"]

# Built exactly as pycocotools' Params does (linspace, not arange) so thresholds are
# bit-identical (0.9 is 0.8999999999999999): an IoU on a threshold must compare the same way.
_IOU_THRESHOLDS = np.linspace(0.5, 0.95, int(np.round((0.95 - 0.5) / 0.05)) + 1, endpoint=True)
_RECALL_THRESHOLDS = np.linspace(0.0, 1.00, int(np.round((1.00 - 0.0) / 0.01)) + 1, endpoint=True)
_MAX_DETS = (1, 10, 100)
_AREA_RANGES = np.array([[0.0, 1e5**2], [0.0, 32.0**2], [32.0**2, 96.0**2], [96.0**2, 1e5**2]])
_VOC_IOU = 0.5
# Correctly rounded tenths, so a recall of exactly 3/10 reaches the 0.3 point; the Python
# devkit's np.arange(0, 1.1, 0.1) (like np.linspace) gives 0.30000000000000004 and misses it.
_VOC_RECALL_POINTS = np.arange(11) / 10


@dataclass
class _Boxes:
    """All boxes of one kind (detections or ground truth), flattened across images.

    Rows are image-major and keep the input order within an image.
    """

    image: np.ndarray  # int64 [N], index into the input list
    label: np.ndarray  # int64 [N]
    xywh: np.ndarray  # float64 [N, 4]
    area: np.ndarray  # float64 [N]
    score: np.ndarray  # float64 [N]; zeros for ground truth
    crowd: np.ndarray  # bool [N]; all False for detections


def _to_numpy(value: object, dtype: type) -> np.ndarray:
    if isinstance(value, torch.Tensor):  # widen first: numpy has no bfloat16
        wide = torch.float64 if value.is_floating_point() else torch.int64
        value = value.detach().to("cpu", wide).numpy()
    return np.asarray(value).astype(dtype, copy=False)


def _flatten(items: Sequence[Mapping[str, object]], is_pred: bool) -> _Boxes:
    columns: dict[str, list[np.ndarray]] = {f: [] for f in _Boxes.__dataclass_fields__}
    for index, item in enumerate(items):
        xyxy = _to_numpy(item["boxes"], np.float64).reshape(-1, 4)
        # Same conversion as for a COCO results file; areas follow from it as in loadRes.
        xywh = np.concatenate([xyxy[:, :2], xyxy[:, 2:] - xyxy[:, :2]], axis=1)
        n = len(xywh)
        row = {
            "image": np.full(n, index, dtype=np.int64),
            "label": _to_numpy(item["labels"], np.int64).reshape(-1),
            "xywh": xywh,
            "area": xywh[:, 2] * xywh[:, 3],
            "score": np.zeros(n),
            "crowd": np.zeros(n, bool),
        }
        if is_pred:
            row["score"] = _to_numpy(item["scores"], np.float64).reshape(-1)
        else:
            if "area" in item:
                row["area"] = _to_numpy(item["area"], np.float64).reshape(-1)
            if "iscrowd" in item:
                row["crowd"] = _to_numpy(item["iscrowd"], bool).reshape(-1)
        if any(len(v) != n for v in row.values()):
            kind = "prediction" if is_pred else "target"
            raise ValueError(
                f"{kind} {index}: boxes, labels, scores, area, iscrowd differ in length"
            )
        for name, value in row.items():
            columns[name].append(value)
    empty = {
        "image": np.zeros(0, np.int64),
        "label": np.zeros(0, np.int64),
        "xywh": np.zeros((0, 4)),
        "area": np.zeros(0),
        "score": np.zeros(0),
        "crowd": np.zeros(0, bool),
    }
    return _Boxes(**{k: np.concatenate([empty[k], *v]) for k, v in columns.items()})


def _box_iou(dt: np.ndarray, gt: np.ndarray, crowd: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """``[D, G]`` IoU with the same float operations as pycocotools' C ``bbIou``.

    Returns the COCO IoU (``intersection / detection area`` for crowd ground truth) and the plain
    IoU. Evaluating the identical expressions keeps results bit-exact, so IoUs that land exactly
    on a threshold are decided the same way as in pycocotools.
    """
    dx, dy, dw, dh = (dt[:, i, None] for i in range(4))
    gx, gy, gw, gh = (gt[None, :, i] for i in range(4))
    w = np.minimum(dw + dx, gw + gx) - np.maximum(dx, gx)
    h = np.minimum(dh + dy, gh + gy) - np.maximum(dy, gy)
    overlap = (w > 0) & (h > 0)
    inter = np.where(overlap, w * h, 0.0)
    det_area = dw * dh
    union = det_area + gw * gh - inter
    with np.errstate(divide="ignore", invalid="ignore"):
        plain = np.where(overlap, inter / union, 0.0)
        crowd_iou = np.where(overlap, inter / det_area, 0.0)
    return np.where(crowd[None, :], crowd_iou, plain), plain


def _greedy_match(
    num_dets: int,
    det_rank: np.ndarray,
    edges: tuple[np.ndarray, np.ndarray, np.ndarray],
    gt_ignore: np.ndarray,
    gt_crowd: np.ndarray,
) -> tuple[np.ndarray, np.ndarray]:
    """COCOeval.evaluateImg's matching for every image, category, area range and threshold.

    ``edges`` are the (detection, ground truth, IoU) triples of the same image and category with
    IoU >= the lowest threshold; no other pair can ever match. Detections of equal rank belong to
    different image/category pairs and so never compete, which lets each rank be one vectorised
    step. Returns ``matched`` and ``matched_ignored`` flags, each ``[A, T, num_dets]``.
    """
    num_areas, num_thr = gt_ignore.shape[0], len(_IOU_THRESHOLDS)
    matched_det = np.zeros((num_areas, num_thr, num_dets), bool)
    matched_ignored = np.zeros((num_areas, num_thr, num_dets), bool)
    gt_taken = np.zeros((num_areas, num_thr, len(gt_crowd)), bool)
    thresholds = np.minimum(_IOU_THRESHOLDS, 1 - 1e-10)[None, :, None]

    det, gt, iou = edges
    # Rank-major, then detection, then ground truth in input order (COCOeval's scan order).
    order = np.lexsort((gt, det, det_rank[det]))
    det, gt, iou = det[order], gt[order], iou[order]
    rank = det_rank[det]
    bounds = np.searchsorted(rank, np.arange(rank.max() + 2 if len(rank) else 1))
    for lo, hi in zip(bounds[:-1], bounds[1:], strict=False):
        if lo == hi:
            continue
        d, g, v = det[lo:hi], gt[lo:hi], iou[lo:hi]
        new_seg = np.r_[True, d[1:] != d[:-1]]
        starts = np.flatnonzero(new_seg)
        seg = np.cumsum(new_seg) - 1
        candidate = (~gt_taken[:, :, g] | gt_crowd[g]) & (v >= thresholds)  # [A, T, E]
        regular = candidate & ~gt_ignore[:, None, g]
        # COCOeval stops scanning at the ignored ground truth once it holds a regular match.
        use_regular = np.logical_or.reduceat(regular, starts, axis=2)[:, :, seg]
        candidate = np.where(use_regular, regular, candidate)
        key = np.where(candidate, v, -1.0)
        best = np.maximum.reduceat(key, starts, axis=2)
        is_best = candidate & (key == best[:, :, seg])
        # ">=" in COCOeval's scan: among equal IoUs the last ground truth wins.
        pick = np.maximum.reduceat(np.where(is_best, np.arange(len(d)), -1), starts, axis=2)
        a_idx, t_idx, s_idx = np.nonzero(pick >= 0)
        g_hit = g[pick[a_idx, t_idx, s_idx]]
        d_hit = d[starts[s_idx]]
        gt_taken[a_idx, t_idx, g_hit] = True
        matched_det[a_idx, t_idx, d_hit] = True
        matched_ignored[a_idx, t_idx, d_hit] = gt_ignore[a_idx, g_hit]
    return matched_det, matched_ignored


def _coco_precision_recall(
    dts: _Boxes,
    det_rank: np.ndarray,
    matched: np.ndarray,
    det_ignore: np.ndarray,
    gt_label: np.ndarray,
    gt_ignore: np.ndarray,
    classes: list[int],
) -> tuple[np.ndarray, np.ndarray]:
    """COCOeval.accumulate: precision ``[T, R, K, A, M]`` and recall ``[T, K, A, M]``."""
    num_thr, num_rec, num_areas = len(_IOU_THRESHOLDS), len(_RECALL_THRESHOLDS), len(gt_ignore)
    shape = (num_thr, len(classes), num_areas, len(_MAX_DETS))
    precision = -np.ones((num_thr, num_rec, *shape[1:]))
    recall = -np.ones(shape)
    # COCOeval concatenates images in id order, each image's detections by rank, then sorts by
    # score with mergesort: ties resolve by (image, rank).
    order = np.lexsort((det_rank, dts.image, -dts.score))
    order = order[np.argsort(dts.label[order], kind="stable")]
    class_bounds = np.searchsorted(dts.label[order], [classes, np.add(classes, 1)])
    for k, label in enumerate(classes):
        num_regular = (~gt_ignore[:, gt_label == label]).sum(axis=1)  # [A]
        if not num_regular.any():
            continue
        in_class = order[class_bounds[0, k] : class_bounds[1, k]]
        for m, max_det in enumerate(_MAX_DETS):
            idx = in_class[det_rank[in_class] < max_det]
            counted = ~det_ignore[:, :, idx]
            tp_sum = np.cumsum(matched[:, :, idx] & counted, axis=2).astype(float)
            fp_sum = np.cumsum(~matched[:, :, idx] & counted, axis=2).astype(float)
            num = len(idx)
            for a in np.flatnonzero(num_regular):
                rc = tp_sum[a] / num_regular[a]
                pr = tp_sum[a] / (fp_sum[a] + tp_sum[a] + np.spacing(1))
                recall[:, k, a, m] = rc[:, -1] if num else 0.0
                pr = np.maximum.accumulate(pr[:, ::-1], axis=1)[:, ::-1]  # precision envelope
                for t in range(num_thr):
                    at = np.searchsorted(rc[t], _RECALL_THRESHOLDS, side="left")
                    reached = at < num
                    q = np.zeros(num_rec)
                    q[reached] = pr[t, at[reached]]
                    precision[t, :, k, a, m] = q
    return precision, recall


def _mean_valid(values: np.ndarray) -> float:
    """COCOeval.summarize's mean over entries that are not -1 (-1 if there are none)."""
    valid = values[values > -1]
    return float(np.mean(valid)) if valid.size else -1.0


def _voc07_ap(
    dts: _Boxes, best_gt: np.ndarray, best_iou: np.ndarray, gts: _Boxes, classes: list[int]
) -> float:
    """VOC 2007 11-point AP at IoU 0.5, averaged over classes with non-crowd ground truth.

    Each detection is compared only with its highest-IoU ground truth (first on ties), as in the
    devkit: hitting one that is already claimed is a false positive even if another is free.
    """
    aps = []
    order = np.lexsort((np.arange(len(dts.score)), -dts.score))  # score desc, input order on ties
    for label in classes:
        num_pos = int((~gts.crowd[gts.label == label]).sum())
        if num_pos == 0:
            continue
        idx = order[dts.label[order] == label]
        hit = best_iou[idx] >= _VOC_IOU
        target = best_gt[idx]
        difficult = np.zeros(len(idx), bool)
        difficult[hit] = gts.crowd[target[hit]]
        claims = np.flatnonzero(hit & ~difficult)
        _, first = np.unique(target[claims], return_index=True)
        tp = np.zeros(len(idx), bool)
        tp[claims[first]] = True
        fp = ~tp & ~difficult
        tp_sum, fp_sum = np.cumsum(tp).astype(float), np.cumsum(fp).astype(float)
        rec = tp_sum / num_pos
        prec = tp_sum / np.maximum(tp_sum + fp_sum, np.finfo(np.float64).eps)
        envelope = np.maximum.accumulate(prec[::-1])[::-1]  # max precision at recall >= r
        at = np.searchsorted(rec, _VOC_RECALL_POINTS, side="left")
        reached = at < len(idx)
        aps.append(float(envelope[at[reached]].sum()) / len(_VOC_RECALL_POINTS))
    return float(np.mean(aps)) if aps else -1.0


def detection_map(
    predictions: Sequence[Mapping[str, object]],
    targets: Sequence[Mapping[str, object]],
    *,
    num_classes: int | None = None,
    iou_type: str = "bbox",
) -> dict[str, object]:
    """COCO box mAP/mAR (pycocotools-exact) and VOC07 11-point mAP over a whole split.

    Inputs follow torchmetrics' ``MeanAveragePrecision``: one dict per image, predictions with
    ``boxes`` (float ``[N, 4]`` xyxy pixels), ``scores`` ``[N]`` and ``labels`` ``[N]``; targets
    with ``boxes`` and ``labels`` and optionally ``iscrowd`` and ``area`` (defaults to box area).

    Classes evaluated are ``range(num_classes)`` when given (labels outside it raise), else the
    sorted union of labels seen. Returns floats ``map``, ``map50``, ``map75``, ``map_small``,
    ``map_medium``, ``map_large``, ``mar_1``, ``mar_10``, ``mar_100``, ``mar_small``,
    ``mar_medium``, ``mar_large`` (COCOeval ``stats[0..11]``), ``map_voc07``, plus
    ``map_per_class`` (label -> COCO AP, -1 without ground truth) and ``classes``. A mean over
    no class at all is -1, like COCOeval.
    """
    if iou_type != "bbox":
        raise ValueError(f"only iou_type='bbox' is supported, got {iou_type!r}")
    if len(predictions) != len(targets):
        raise ValueError(f"{len(predictions)} predictions but {len(targets)} targets")
    dts, gts = _flatten(predictions, is_pred=True), _flatten(targets, is_pred=False)
    labels_seen = np.union1d(dts.label, gts.label).tolist()
    if num_classes is None:
        classes = [int(c) for c in labels_seen]
    else:
        classes = list(range(num_classes))
        if labels_seen and (labels_seen[0] < 0 or labels_seen[-1] >= num_classes):
            raise ValueError(f"labels must lie in [0, {num_classes}), got {labels_seen}")

    # Rank of each detection within its image and class (stable: ties keep input order).
    by_group = np.lexsort((-dts.score, dts.label, dts.image))
    group = np.stack([dts.image[by_group], dts.label[by_group]])
    new_group = np.r_[True, (group[:, 1:] != group[:, :-1]).any(axis=0)]
    starts = np.flatnonzero(new_group)
    det_rank = np.empty(len(by_group), np.int64)
    det_rank[by_group] = np.arange(len(by_group)) - starts[np.cumsum(new_group) - 1]

    # Per image IoU between detections and ground truth of the same class.
    best_gt = np.zeros(len(dts.label), np.int64)
    best_iou = np.full(len(dts.label), -1.0)
    edges: list[tuple[np.ndarray, np.ndarray, np.ndarray]] = []
    num_images = len(targets)
    det_bounds = np.searchsorted(dts.image, np.arange(num_images + 1))
    gt_bounds = np.searchsorted(gts.image, np.arange(num_images + 1))
    for i in range(num_images):
        d0, d1, g0, g1 = det_bounds[i], det_bounds[i + 1], gt_bounds[i], gt_bounds[i + 1]
        if d0 == d1 or g0 == g1:
            continue
        coco_iou, plain_iou = _box_iou(dts.xywh[d0:d1], gts.xywh[g0:g1], gts.crowd[g0:g1])
        same = dts.label[d0:d1, None] == gts.label[None, g0:g1]
        plain_iou = np.where(same, plain_iou, -1.0)
        best = plain_iou.argmax(axis=1)
        best_gt[d0:d1] = g0 + best
        best_iou[d0:d1] = plain_iou[np.arange(d1 - d0), best]
        keep = same & (coco_iou >= _IOU_THRESHOLDS[0]) & (det_rank[d0:d1, None] < _MAX_DETS[-1])
        di, gi = np.nonzero(keep)
        edges.append((d0 + di, g0 + gi, coco_iou[di, gi]))
    if edges:
        edge_arrays = tuple(np.concatenate(part) for part in zip(*edges, strict=True))
    else:
        edge_arrays = (np.zeros(0, np.int64), np.zeros(0, np.int64), np.zeros(0))

    lo, hi = _AREA_RANGES[:, :1], _AREA_RANGES[:, 1:]
    gt_ignore = gts.crowd[None, :] | (gts.area[None, :] < lo) | (gts.area[None, :] > hi)
    det_outside = (dts.area[None, :] < lo) | (dts.area[None, :] > hi)  # [A, D]
    matched, matched_ignored = _greedy_match(
        len(dts.label), det_rank, edge_arrays, gt_ignore, gts.crowd
    )
    det_ignore = matched_ignored | (~matched & det_outside[:, None, :])
    precision, recall = _coco_precision_recall(
        dts, det_rank, matched, det_ignore, gts.label, gt_ignore, classes
    )

    all_area, max100 = 0, len(_MAX_DETS) - 1
    thr50 = int(np.argmin(np.abs(_IOU_THRESHOLDS - 0.5)))
    thr75 = int(np.argmin(np.abs(_IOU_THRESHOLDS - 0.75)))
    result: dict[str, object] = {
        "map": _mean_valid(precision[..., all_area, max100]),
        "map50": _mean_valid(precision[thr50, ..., all_area, max100]),
        "map75": _mean_valid(precision[thr75, ..., all_area, max100]),
    }
    for a, name in enumerate(("small", "medium", "large"), start=1):
        result[f"map_{name}"] = _mean_valid(precision[..., a, max100])
    for m, max_det in enumerate(_MAX_DETS):
        result[f"mar_{max_det}"] = _mean_valid(recall[..., all_area, m])
    for a, name in enumerate(("small", "medium", "large"), start=1):
        result[f"mar_{name}"] = _mean_valid(recall[..., a, max100])
    result["map_voc07"] = _voc07_ap(dts, best_gt, best_iou, gts, classes)
    result["map_per_class"] = {
        label: _mean_valid(precision[:, :, k, all_area, max100]) for k, label in enumerate(classes)
    }
    result["classes"] = classes
    return result
