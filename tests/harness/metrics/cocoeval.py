"""pycocotools' COCOeval, run the same way by the box and mask mAP tests (the reference)."""

from __future__ import annotations

import contextlib
import io
from typing import Any

import numpy as np
from pycocotools.coco import COCO
from pycocotools.cocoeval import COCOeval


def run_cocoeval(
    images: list[dict[str, Any]],
    categories: list[dict[str, Any]],
    annotations: list[dict[str, Any]],
    results: list[dict[str, Any]],
    iou_type: str,
) -> tuple[np.ndarray, dict[int, float]]:
    """COCOeval's 12 stats and each category's AP (-1 without ground truth) for the given
    ground truth and results; ``iou_type`` is ``bbox`` or ``segm``."""
    with contextlib.redirect_stdout(io.StringIO()):
        gt = COCO()
        gt.dataset = {"images": images, "categories": categories, "annotations": annotations}
        gt.createIndex()
        if results:
            dt = gt.loadRes(results)
        else:  # loadRes cannot take an empty list; an empty result set is still valid.
            dt = COCO()
            dt.dataset = {"images": images, "categories": categories, "annotations": []}
            dt.createIndex()
        evaluator = COCOeval(gt, dt, iouType=iou_type)
        evaluator.evaluate()
        evaluator.accumulate()
        evaluator.summarize()
    precision = evaluator.eval["precision"][:, :, :, 0, -1]  # area "all", maxDets 100
    per_class = {}
    for k, label in enumerate(evaluator.params.catIds):
        valid = precision[:, :, k][precision[:, :, k] > -1]
        per_class[label] = float(valid.mean()) if valid.size else -1.0
    return evaluator.stats, per_class
