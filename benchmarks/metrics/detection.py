"""Mean average precision for box detection: COCO (as pycocotools computes it) and VOC 2007.

:func:`detection_map` is the entry point; the metrics live in their own modules because their
rules differ in every detail that matters for exact numbers: :mod:`.coco_map` reproduces
``pycocotools.cocoeval.COCOeval`` (matching, accumulation, summary) and :mod:`.voc_map` the
VOC 2007 devkit's 11-point AP. Both share the box tables and the per-image IoU pass of
:mod:`.detection_boxes`.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import numpy as np

from benchmarks.metrics.coco_map import IOU_THRESHOLDS, MAX_DETS, coco_curves, detection_ranks
from benchmarks.metrics.detection_boxes import BoxTable, flatten_boxes, pair_same_class
from benchmarks.metrics.voc_map import voc07_map

__all__ = ["detection_map"]


def _classes(dts: BoxTable, gts: BoxTable, num_classes: int | None) -> list[int]:
    """``range(num_classes)`` (checking every label lies in it), else the labels seen."""
    labels_seen = np.union1d(dts.label, gts.label).tolist()
    if num_classes is None:
        return [int(c) for c in labels_seen]
    if labels_seen and (labels_seen[0] < 0 or labels_seen[-1] >= num_classes):
        raise ValueError(f"labels must lie in [0, {num_classes}), got {labels_seen}")
    return list(range(num_classes))


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
    ``map_per_class`` (label -> COCO AP, -1 without ground truth), ``pr_curves_50`` (label ->
    interpolated precision at the 101 COCO recall thresholds, IoU 0.5) and ``classes``. A mean over
    no class at all is -1, like COCOeval.
    """
    if iou_type != "bbox":
        raise ValueError(f"only iou_type='bbox' is supported, got {iou_type!r}")
    if len(predictions) != len(targets):
        raise ValueError(f"{len(predictions)} predictions but {len(targets)} targets")
    dts, gts = flatten_boxes(predictions, is_pred=True), flatten_boxes(targets, is_pred=False)
    classes = _classes(dts, gts, num_classes)
    det_rank = detection_ranks(dts)
    pairs = pair_same_class(
        dts, gts, len(targets), min_iou=IOU_THRESHOLDS[0], edge_dets=det_rank < MAX_DETS[-1]
    )
    curves = coco_curves(dts, gts, det_rank, pairs, classes)
    return {
        **curves.stats(),
        "map_voc07": voc07_map(dts, gts, pairs, classes),
        "map_per_class": curves.per_class_ap(classes),
        "pr_curves_50": curves.pr_curves(classes, iou=0.5),
        "classes": classes,
    }
