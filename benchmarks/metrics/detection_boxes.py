"""Detections and ground truth as flat numpy tables, and the IoUs that pair them.

Both the COCO and the VOC07 evaluation start from the same tables and the same per-image
IoU pass, so it is done once here rather than once per metric.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass

import numpy as np
import torch

__all__ = [
    "BoxTable",
    "PairIou",
    "SameClassPairs",
    "coco_box_iou",
    "flatten_boxes",
    "pair_same_class",
]

# ``(image, detection rows, ground-truth rows) -> (COCO IoU, plain IoU)``, each ``[D, G]``: the
# one step where box and mask evaluation differ (see :func:`pair_same_class`).
PairIou = Callable[[int, slice, slice], tuple[np.ndarray, np.ndarray]]


@dataclass
class BoxTable:
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


def flatten_boxes(items: Sequence[Mapping[str, object]], is_pred: bool) -> BoxTable:
    """Per-image dicts (torchmetrics layout, xyxy boxes) as one table with xywh boxes."""
    columns: dict[str, list[np.ndarray]] = {f: [] for f in BoxTable.__dataclass_fields__}
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
    return BoxTable(**{k: np.concatenate([empty[k], *v]) for k, v in columns.items()})


def coco_box_iou(
    dt: np.ndarray, gt: np.ndarray, crowd: np.ndarray
) -> tuple[np.ndarray, np.ndarray]:
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


def _box_pair_iou(dts: BoxTable, gts: BoxTable) -> PairIou:
    """:func:`coco_box_iou` of the tables' rows, as a :data:`PairIou`."""

    def pair_iou(_: int, d: slice, g: slice) -> tuple[np.ndarray, np.ndarray]:
        return coco_box_iou(dts.xywh[d], gts.xywh[g], gts.crowd[g])

    return pair_iou


@dataclass
class SameClassPairs:
    """Detections paired with ground truth of the same image and class.

    The edges are the only pairs COCO matching can ever use; ``best_gt``/``best_iou`` are the
    single candidate a detection gets in VOC07 matching.
    """

    edge_det: np.ndarray  # int64 [E]: detection row of each edge
    edge_gt: np.ndarray  # int64 [E]: ground-truth row of each edge
    edge_iou: np.ndarray  # float64 [E]: COCO IoU of each edge
    best_gt: np.ndarray  # int64 [D]: highest plain-IoU ground truth (first on ties)
    best_iou: np.ndarray  # float64 [D]: its plain IoU; -1 without same-class ground truth


def pair_same_class(
    dts: BoxTable,
    gts: BoxTable,
    num_images: int,
    *,
    min_iou: float,
    edge_dets: np.ndarray,
    pair_iou: PairIou | None = None,
) -> SameClassPairs:
    """Pair detections with ground truth image by image.

    Edges are kept for detections flagged in ``edge_dets`` (bool ``[D]``) whose COCO IoU is at
    least ``min_iou``; the best plain-IoU match is recorded for every detection. ``pair_iou``
    gives one image's IoUs; the default is :func:`coco_box_iou` of the tables' boxes. It is the
    only thing COCOeval's ``bbox`` and ``segm`` evaluations do differently, so mask mAP passes a
    mask IoU here and shares everything downstream.
    """
    if pair_iou is None:
        pair_iou = _box_pair_iou(dts, gts)
    best_gt = np.zeros(len(dts.label), np.int64)
    best_iou = np.full(len(dts.label), -1.0)
    edges: list[tuple[np.ndarray, np.ndarray, np.ndarray]] = []
    det_bounds = np.searchsorted(dts.image, np.arange(num_images + 1))
    gt_bounds = np.searchsorted(gts.image, np.arange(num_images + 1))
    for i in range(num_images):
        d0, d1, g0, g1 = det_bounds[i], det_bounds[i + 1], gt_bounds[i], gt_bounds[i + 1]
        if d0 == d1 or g0 == g1:
            continue
        coco_iou, plain_iou = pair_iou(i, slice(d0, d1), slice(g0, g1))
        same = dts.label[d0:d1, None] == gts.label[None, g0:g1]
        plain_iou = np.where(same, plain_iou, -1.0)
        best = plain_iou.argmax(axis=1)
        best_gt[d0:d1] = g0 + best
        best_iou[d0:d1] = plain_iou[np.arange(d1 - d0), best]
        keep = same & (coco_iou >= min_iou) & edge_dets[d0:d1, None]
        di, gi = np.nonzero(keep)
        edges.append((d0 + di, g0 + gi, coco_iou[di, gi]))
    if edges:
        det, gt, iou = (np.concatenate(part) for part in zip(*edges, strict=True))
    else:
        det, gt, iou = np.zeros(0, np.int64), np.zeros(0, np.int64), np.zeros(0)
    return SameClassPairs(det, gt, iou, best_gt, best_iou)
