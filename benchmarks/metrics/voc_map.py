"""Pascal VOC 2007 11-point mean AP at IoU >= 0.5.

As in the MATLAB devkit (the widespread Python port uses > 0.5), over all detections (no
per-image cap), with detections sorted by score stably. Crowd ground truth plays the role of
VOC's "difficult" objects. Two deliberate differences from the devkit: the IoU uses the same
continuous-coordinate convention as COCO (the devkit adds 1 pixel to widths and heights, which
only suits integer pixel boxes), and the recall points are exact tenths (see
``_VOC_RECALL_POINTS``).
"""

from __future__ import annotations

import numpy as np

from benchmarks.metrics.detection_boxes import BoxTable, SameClassPairs

__all__ = ["voc07_map"]

_VOC_IOU = 0.5
# Correctly rounded tenths, so a recall of exactly 3/10 reaches the 0.3 point; the Python
# devkit's np.arange(0, 1.1, 0.1) (like np.linspace) gives 0.30000000000000004 and misses it.
_VOC_RECALL_POINTS = np.arange(11) / 10


def voc07_map(dts: BoxTable, gts: BoxTable, pairs: SameClassPairs, classes: list[int]) -> float:
    """VOC 2007 11-point AP at IoU 0.5, averaged over classes with non-crowd ground truth.

    Each detection is compared only with its highest-IoU ground truth (first on ties), as in the
    devkit: hitting one that is already claimed is a false positive even if another is free.
    """
    best_gt, best_iou = pairs.best_gt, pairs.best_iou
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
