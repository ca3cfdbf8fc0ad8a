"""COCO box mAP/mAR, reproducing ``pycocotools.cocoeval.COCOeval`` (``iouType="bbox"``).

Published numbers are only comparable when the evaluator is the same, so this follows the
default parameters including their quirks:

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
(detection, ground truth) pairs whose IoU can pass the lowest threshold. Matching and
accumulation (:func:`coco_curves`) are separate from the summary (:class:`CocoCurves`).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from benchmarks.metrics.detection_boxes import BoxTable, SameClassPairs

__all__ = [
    "IOU_THRESHOLDS",
    "MAX_DETS",
    "RECALL_THRESHOLDS",
    "CocoCurves",
    "coco_curves",
    "detection_ranks",
]

# Built exactly as pycocotools' Params does (linspace, not arange) so thresholds are
# bit-identical (0.9 is 0.8999999999999999): an IoU on a threshold must compare the same way.
IOU_THRESHOLDS = np.linspace(0.5, 0.95, int(np.round((0.95 - 0.5) / 0.05)) + 1, endpoint=True)
RECALL_THRESHOLDS = np.linspace(0.0, 1.00, int(np.round((1.00 - 0.0) / 0.01)) + 1, endpoint=True)
MAX_DETS = (1, 10, 100)
_AREA_RANGES = np.array([[0.0, 1e5**2], [0.0, 32.0**2], [32.0**2, 96.0**2], [96.0**2, 1e5**2]])
_AREA_NAMES = ("small", "medium", "large")  # _AREA_RANGES[1:]; row 0 is "all"


def detection_ranks(dts: BoxTable) -> np.ndarray:
    """Rank of each detection within its image and class (stable: ties keep input order)."""
    by_group = np.lexsort((-dts.score, dts.label, dts.image))
    group = np.stack([dts.image[by_group], dts.label[by_group]])
    new_group = np.r_[True, (group[:, 1:] != group[:, :-1]).any(axis=0)]
    starts = np.flatnonzero(new_group)
    det_rank = np.empty(len(by_group), np.int64)
    det_rank[by_group] = np.arange(len(by_group)) - starts[np.cumsum(new_group) - 1]
    return det_rank


def _greedy_match(
    num_dets: int,
    det_rank: np.ndarray,
    pairs: SameClassPairs,
    gt_ignore: np.ndarray,
    gt_crowd: np.ndarray,
) -> tuple[np.ndarray, np.ndarray]:
    """COCOeval.evaluateImg's matching for every image, category, area range and threshold.

    The edges of ``pairs`` are the (detection, ground truth, IoU) triples of the same image and
    category with IoU >= the lowest threshold; no other pair can ever match. Detections of equal
    rank belong to different image/category pairs and so never compete, which lets each rank be
    one vectorised step. Returns ``matched`` and ``matched_ignored`` flags, each
    ``[A, T, num_dets]``.
    """
    num_areas, num_thr = gt_ignore.shape[0], len(IOU_THRESHOLDS)
    matched_det = np.zeros((num_areas, num_thr, num_dets), bool)
    matched_ignored = np.zeros((num_areas, num_thr, num_dets), bool)
    gt_taken = np.zeros((num_areas, num_thr, len(gt_crowd)), bool)
    thresholds = np.minimum(IOU_THRESHOLDS, 1 - 1e-10)[None, :, None]

    det, gt, iou = pairs.edge_det, pairs.edge_gt, pairs.edge_iou
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


def _precision_recall(
    dts: BoxTable,
    det_rank: np.ndarray,
    matched: np.ndarray,
    det_ignore: np.ndarray,
    gt_label: np.ndarray,
    gt_ignore: np.ndarray,
    classes: list[int],
) -> tuple[np.ndarray, np.ndarray]:
    """COCOeval.accumulate: precision ``[T, R, K, A, M]`` and recall ``[T, K, A, M]``."""
    num_thr, num_rec, num_areas = len(IOU_THRESHOLDS), len(RECALL_THRESHOLDS), len(gt_ignore)
    shape = (num_thr, len(classes), num_areas, len(MAX_DETS))
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
        for m, max_det in enumerate(MAX_DETS):
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
                    at = np.searchsorted(rc[t], RECALL_THRESHOLDS, side="left")
                    reached = at < num
                    q = np.zeros(num_rec)
                    q[reached] = pr[t, at[reached]]
                    precision[t, :, k, a, m] = q
    return precision, recall


def _mean_valid(values: np.ndarray) -> float:
    """COCOeval.summarize's mean over entries that are not -1 (-1 if there are none)."""
    valid = values[values > -1]
    return float(np.mean(valid)) if valid.size else -1.0


@dataclass(frozen=True)
class CocoCurves:
    """COCOeval's accumulated curves, and the summary numbers read from them.

    ``precision`` is ``[T, R, K, A, M]`` and ``recall`` ``[T, K, A, M]`` over IoU thresholds,
    recall thresholds, classes, area ranges (all, small, medium, large) and ``MAX_DETS``;
    -1 marks a class without ground truth in that area range.
    """

    precision: np.ndarray
    recall: np.ndarray

    def stats(self) -> dict[str, float]:
        """COCOeval ``stats[0..11]``: ``map``, ``map50``, ..., ``mar_large``."""
        precision, recall = self.precision, self.recall
        all_area, max100 = 0, len(MAX_DETS) - 1
        thr50 = int(np.argmin(np.abs(IOU_THRESHOLDS - 0.5)))
        thr75 = int(np.argmin(np.abs(IOU_THRESHOLDS - 0.75)))
        result = {
            "map": _mean_valid(precision[..., all_area, max100]),
            "map50": _mean_valid(precision[thr50, ..., all_area, max100]),
            "map75": _mean_valid(precision[thr75, ..., all_area, max100]),
        }
        for a, name in enumerate(_AREA_NAMES, start=1):
            result[f"map_{name}"] = _mean_valid(precision[..., a, max100])
        for m, max_det in enumerate(MAX_DETS):
            result[f"mar_{max_det}"] = _mean_valid(recall[..., all_area, m])
        for a, name in enumerate(_AREA_NAMES, start=1):
            result[f"mar_{name}"] = _mean_valid(recall[..., a, max100])
        return result

    def per_class_ap(self, classes: list[int]) -> dict[int, float]:
        """COCO AP (all areas, 100 detections) of each class; -1 without ground truth."""
        return {
            label: _mean_valid(self.precision[:, :, k, 0, len(MAX_DETS) - 1])
            for k, label in enumerate(classes)
        }

    def pr_curves(self, classes: list[int], iou: float = 0.5) -> dict[int, list[float]]:
        """Each class's interpolated precision at ``RECALL_THRESHOLDS`` (all areas, 100
        detections) at the IoU threshold nearest ``iou``: 0 beyond the highest recall reached,
        -1 everywhere for a class without ground truth (COCOeval's convention)."""
        t = int(np.argmin(np.abs(IOU_THRESHOLDS - iou)))
        return {
            label: self.precision[t, :, k, 0, len(MAX_DETS) - 1].tolist()
            for k, label in enumerate(classes)
        }


def coco_curves(
    dts: BoxTable,
    gts: BoxTable,
    det_rank: np.ndarray,
    pairs: SameClassPairs,
    classes: list[int],
) -> CocoCurves:
    """COCOeval's evaluate + accumulate over the whole split.

    ``det_rank`` comes from :func:`detection_ranks`; ``pairs`` must hold every same-class edge
    with IoU >= ``IOU_THRESHOLDS[0]`` among detections ranked below ``MAX_DETS[-1]``.
    """
    lo, hi = _AREA_RANGES[:, :1], _AREA_RANGES[:, 1:]
    gt_ignore = gts.crowd[None, :] | (gts.area[None, :] < lo) | (gts.area[None, :] > hi)
    det_outside = (dts.area[None, :] < lo) | (dts.area[None, :] > hi)  # [A, D]
    matched, matched_ignored = _greedy_match(len(dts.label), det_rank, pairs, gt_ignore, gts.crowd)
    det_ignore = matched_ignored | (~matched & det_outside[:, None, :])
    precision, recall = _precision_recall(
        dts, det_rank, matched, det_ignore, gts.label, gt_ignore, classes
    )
    return CocoCurves(precision, recall)
