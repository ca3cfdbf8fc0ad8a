"""COCO mask mAP for instance segmentation, as ``COCOeval(iouType="segm")`` computes it.

COCOeval's ``segm`` evaluation differs from ``bbox`` in two places only: the IoU of a detection
and a ground truth is the pixel IoU of their masks, and a detection's area (which decides the
small/medium/large ranges) is its mask's pixel count. So this module builds the same tables as
:func:`~benchmarks.metrics.detection.detection_map`, with mask areas, and hands a mask IoU to
:func:`~benchmarks.metrics.detection_boxes.pair_same_class`; ranking, greedy matching,
accumulation and the summary are :mod:`.coco_map`'s, unchanged.

Mask IoU comes from pycocotools' own RLE routines (``mask.encode``/``iou``/``area``): the
reference's C code, so IoUs (including ``intersection / detection area`` for crowd ground truth and
the float64 division that decides IoUs sitting exactly on a threshold) are bit-identical by
construction. It is also the fast choice on CPU, where the harness gathers predictions: RLE
IoUs cost per run rather than per pixel, and for 100 blob-shaped 480x640 masks thresholding plus
encoding take ~45 ms, against ~200 ms to threshold, convert and multiply dense float32 masks for
their intersections (measured on 2 cores). Each image's masks are encoded once and only the
RLEs are held between the table pass and the IoUs.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping, Sequence

import numpy as np
import torch
from pycocotools import mask as mask_utils

from benchmarks.metrics.coco_map import IOU_THRESHOLDS, MAX_DETS, coco_curves, detection_ranks
from benchmarks.metrics.detection import _classes
from benchmarks.metrics.detection_boxes import BoxTable, PairIou, flatten_boxes, pair_same_class

__all__ = ["MASK_THRESHOLD", "instance_map"]

# Probabilities at or above this are foreground (detectron2's ``paste_masks_in_image`` rule).
MASK_THRESHOLD = 0.5


def _on_host(masks: object) -> np.ndarray:
    """Masks as a numpy array. Device tensors are binarised where they are, so only bools cross
    to the host; the host work is numpy's, which, unlike torch's intra-op thread pool, does
    not slow down 10-40x when the cores are busy (as they are beside data loaders)."""
    if not isinstance(masks, torch.Tensor):
        return np.asarray(masks)
    masks = masks.detach()
    if masks.device.type != "cpu":
        masks = masks >= MASK_THRESHOLD if masks.is_floating_point() else masks != 0
    elif masks.dtype == torch.bfloat16:  # numpy has no bfloat16
        masks = masks.float()
    return masks.cpu().numpy()


def _columns(masks: object, kind: str, index: int) -> np.ndarray:
    """Binary masks as C-contiguous ``[N, W, H]`` bool (column-major images, which is what RLE
    encodes): probabilities thresholded at ``MASK_THRESHOLD``, other dtypes nonzero.

    ``[N, 1, H, W]`` (torchvision Mask R-CNN's output) is accepted too. Thresholding writes the
    transposed layout directly: one pass over the masks instead of two.
    """
    array = _on_host(masks)
    if array.ndim == 4 and array.shape[1] == 1:
        array = array[:, 0]
    if array.ndim != 3:
        raise ValueError(f"{kind} {index}: masks must be [N, H, W], got {array.shape}")
    columns = array.transpose(0, 2, 1)
    if array.dtype == np.bool_:
        return np.ascontiguousarray(columns)
    out = np.empty(columns.shape, np.bool_)
    if np.issubdtype(array.dtype, np.floating):
        return np.greater_equal(columns, MASK_THRESHOLD, out=out)
    return np.not_equal(columns, 0, out=out)


def _encode(columns: np.ndarray) -> list[dict]:
    """COCO RLEs of ``[N, W, H]`` bool masks: ``encode`` wants ``[H, W, N]`` Fortran-ordered
    uint8, which is the same memory (a free view and transpose)."""
    if not len(columns):
        return []
    return mask_utils.encode(columns.view(np.uint8).T)


def _row(item: Mapping[str, object], columns: np.ndarray, keys: tuple[str, ...]) -> dict:
    """One image's :func:`flatten_boxes` input from its masks: ``toBbox`` boxes (as ``loadRes``
    adds them; ``segm`` evaluation never reads them), mask ``area``, ``labels`` and ``keys``
    copied from ``item``, and the RLEs under ``"rles"``."""
    rles = _encode(columns)
    xywh = np.asarray(mask_utils.toBbox(rles), np.float64).reshape(-1, 4)
    area = np.asarray(mask_utils.area(rles), np.float64).reshape(-1)
    row = {"boxes": np.concatenate([xywh[:, :2], xywh[:, :2] + xywh[:, 2:]], 1), "area": area}
    return row | {k: item[k] for k in ("labels", *keys) if k in item} | {"rles": rles}


def _tables(
    preds: Sequence[Mapping[str, object]], targets: Sequence[Mapping[str, object]]
) -> tuple[BoxTable, BoxTable, list[list[dict]], list[list[dict]]]:
    """Detection and ground-truth tables with mask areas, and each image's RLEs.

    A target's ``area``, when given, replaces its mask area for the area ranges, as COCO's
    annotation ``area`` field does; detections always use their mask area (``loadRes``).
    """
    dt_rows, gt_rows = [], []
    for index, (pred, target) in enumerate(zip(preds, targets, strict=True)):
        dt_cols = _columns(pred["masks"], "prediction", index)
        gt_cols = _columns(target["masks"], "target", index)
        if len(dt_cols) and len(gt_cols) and dt_cols.shape[1:] != gt_cols.shape[1:]:
            raise ValueError(
                f"image {index}: prediction masks {dt_cols.shape[:0:-1]} but target masks "
                f"{gt_cols.shape[:0:-1]}"
            )
        dt_rows.append(_row(pred, dt_cols, ("scores",)))
        gt_rows.append(_row(target, gt_cols, ("area", "iscrowd")))
    dts = flatten_boxes(dt_rows, is_pred=True)
    # flatten_boxes gives detections box areas; COCOeval's segm ranges use mask areas.
    dt_area = np.concatenate([np.zeros(0), *(row["area"] for row in dt_rows)])
    dts = dataclasses.replace(dts, area=dt_area)
    gts = flatten_boxes(gt_rows, is_pred=False)
    return dts, gts, [row["rles"] for row in dt_rows], [row["rles"] for row in gt_rows]


def _mask_pair_iou(dt_rles: list[list[dict]], gt_rles: list[list[dict]], gts: BoxTable) -> PairIou:
    """pycocotools' mask IoU of one image's detections and ground truth: the COCO IoU
    (``intersection / detection area`` for crowd ground truth) and the plain IoU."""

    def pair_iou(image: int, _: slice, g: slice) -> tuple[np.ndarray, np.ndarray]:
        crowd = gts.crowd[g]
        dt, gt = dt_rles[image], gt_rles[image]
        coco = np.asarray(mask_utils.iou(dt, gt, crowd.astype(np.uint8)), np.float64)
        plain = coco
        if crowd.any():  # only crowd columns differ
            plain = np.asarray(mask_utils.iou(dt, gt, np.zeros_like(crowd, np.uint8)), np.float64)
        return coco.reshape(len(dt), len(gt)), plain.reshape(len(dt), len(gt))

    return pair_iou


def instance_map(
    preds: Sequence[Mapping[str, object]],
    targets: Sequence[Mapping[str, object]],
    num_classes: int | None = None,
) -> dict[str, object]:
    """COCO mask mAP/mAR over a whole split, equal to pycocotools' ``COCOeval`` ``segm``.

    One dict per image. Predictions: ``masks`` (``[N, H, W]``, float probabilities thresholded
    at ``MASK_THRESHOLD`` (>= 0.5 is foreground), or bool/integer with nonzero foreground),
    ``scores`` ``[N]`` and ``labels`` ``[N]``. Targets: ``masks`` ``[M, H, W]`` (bool/uint8),
    ``labels`` ``[M]``, optional ``iscrowd`` ``[M]`` (crowd regions absorb detections, which
    then count as neither TP nor FP, as in COCO) and optional ``area`` ``[M]`` (defaults to the
    mask's pixel count; COCO's annotations carry polygon areas). Masks of one image must share
    ``H, W``.

    Classes are ``range(num_classes)`` when given (labels outside it raise), else the sorted
    union of labels seen. Returns COCOeval ``stats[0..11]`` as ``map``, ``map50``, ``map75``,
    ``map_small``, ``map_medium``, ``map_large``, ``mar_1``, ``mar_10``, ``mar_100``,
    ``mar_small``, ``mar_medium``, ``mar_large``, plus ``map_per_class`` (label -> AP, -1 without
    ground truth), ``pr_curves_50`` (label -> interpolated precision at the 101 recall
    thresholds, IoU 0.5) and ``classes``: the keys of ``detection_map`` except ``map_voc07``,
    which has no standard mask counterpart.
    """
    if len(preds) != len(targets):
        raise ValueError(f"{len(preds)} predictions but {len(targets)} targets")
    dts, gts, dt_rles, gt_rles = _tables(preds, targets)
    classes = _classes(dts, gts, num_classes)
    det_rank = detection_ranks(dts)
    pairs = pair_same_class(
        dts,
        gts,
        len(targets),
        min_iou=IOU_THRESHOLDS[0],
        edge_dets=det_rank < MAX_DETS[-1],
        pair_iou=_mask_pair_iou(dt_rles, gt_rles, gts),
    )
    curves = coco_curves(dts, gts, det_rank, pairs, classes)
    return {
        **curves.stats(),
        "map_per_class": curves.per_class_ap(classes),
        "pr_curves_50": curves.pr_curves(classes, iou=0.5),
        "classes": classes,
    }
