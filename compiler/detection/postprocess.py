"""Turn raw SSD / YOLOv1 head outputs into per-image detections.

Decoding, scoring and the per-class pre-selection are batched on the input's device; only
thresholding and NMS, whose output sizes depend on the data, run image by image.
Each image's result is a dict with ``boxes`` (``[D, 4]`` ``xyxy`` pixels, clipped to the
image), ``scores`` (``[D]``, decreasing) and ``labels`` (``[D]`` int64, 1..C).
"""

from __future__ import annotations

import torch
from torch import Tensor

from compiler.detection.box_coding import Variances, decode
from compiler.detection.box_ops import batched_nms, clip_boxes
from compiler.detection.yolo_loss import split_yolo_output, yolo_boxes_xyxy


def _to_pixels(boxes: Tensor, image_size: tuple[int, int]) -> Tensor:
    """Normalised ``xyxy`` -> pixel ``xyxy`` clipped to ``image_size = (height, width)``."""
    height, width = image_size
    return clip_boxes(boxes * boxes.new_tensor([width, height, width, height]), image_size)


def ssd_candidates(
    cls_logits: Tensor,
    box_preds: Tensor,
    anchors: Tensor,
    image_size: tuple[int, int],
    variances: Variances = (0.1, 0.2),
) -> tuple[Tensor, Tensor]:
    """Every default box of an SSD head before selection: pixel ``xyxy`` boxes
    ``[N, A, 4]`` and class probabilities ``[N, A, C]`` (softmax over the ``C + 1``
    logits, background dropped). Shape-static, so it also runs inside an ONNX graph."""
    probs = torch.softmax(cls_logits, dim=-1)[..., 1:]
    anchors = anchors.to(device=box_preds.device, dtype=box_preds.dtype)
    return _to_pixels(decode(box_preds, anchors, variances), image_size), probs


def yolo_candidates(
    pred: Tensor, image_size: tuple[int, int], S: int, B: int, C: int
) -> tuple[Tensor, Tensor]:
    """Every predictor of a YOLOv1 grid before selection: pixel ``xyxy`` boxes
    ``[N, S*S*B, 4]`` and class-specific scores ``conf * class score`` ``[N, S*S*B, C]``
    (cells row-major, then predictors). Shape-static, as :func:`ssd_candidates`."""
    batch = pred.shape[0]
    predictors, class_scores = split_yolo_output(pred, S, B, C)
    boxes = _to_pixels(yolo_boxes_xyxy(predictors, S), image_size)  # [N, S*S, B, 4]
    scores = predictors[..., 4, None] * class_scores[:, :, None, :]  # [N, S*S, B, C]
    return boxes.reshape(batch, S * S * B, 4), scores.reshape(batch, S * S * B, C)


def select_detections(
    boxes: Tensor, scores: Tensor, score_threshold: float, iou_threshold: float, top_k: int
) -> dict[str, Tensor]:
    """One image: keep ``scores > score_threshold``, per-class NMS, best ``top_k``.

    ``scores [M, C]``: every (candidate, class) pair with label ``class + 1``; ``boxes``
    ``[M, 4]`` (one box for every class: SSD, YOLO) or ``[M, C, 4]`` (a box per class: a
    two-stage box head). Pairs are listed candidate-major, so equal scores rank the lower
    candidate first, then the lower class.
    """
    box_index, class_index = torch.nonzero(scores > score_threshold, as_tuple=True)
    per_class = boxes.dim() == 3
    candidate_boxes = boxes[box_index, class_index] if per_class else boxes[box_index]
    candidate_scores = scores[box_index, class_index]
    labels = class_index + 1
    keep = batched_nms(candidate_boxes, candidate_scores, labels, iou_threshold)[:top_k]
    return {
        "boxes": candidate_boxes[keep],
        "scores": candidate_scores[keep],
        "labels": labels[keep],
    }


def _select(
    boxes: Tensor,
    scores: Tensor,
    score_threshold: float,
    iou_threshold: float,
    top_k: int,
) -> list[dict[str, Tensor]]:
    """:func:`select_detections` for each image of ``boxes [N, M, 4]``, ``scores [N, M, C]``."""
    return [
        select_detections(image_boxes, image_scores, score_threshold, iou_threshold, top_k)
        for image_boxes, image_scores in zip(boxes, scores, strict=True)
    ]


def decode_ssd(
    cls_logits: Tensor,
    box_preds: Tensor,
    anchors: Tensor,
    *,
    image_size: tuple[int, int],
    score_threshold: float = 0.01,
    iou_threshold: float = 0.45,
    top_k: int = 200,
    pre_nms_top_k: int | None = 400,
    variances: Variances = (0.1, 0.2),
) -> list[dict[str, Tensor]]:
    """SSD detections from ``cls_logits [N, A, C + 1]`` (0 = background) and offsets.

    Class probabilities are the softmax over all ``C + 1`` logits; background is then
    dropped. Each class keeps at most its ``pre_nms_top_k`` best anchors (None: all) before
    the score threshold (strict ``>``), per-class NMS and the final ``top_k`` per image, as
    in the reference SSD (400 / 200). Boxes are decoded from ``box_preds [N, A, 4]`` against
    ``anchors [A, 4]`` (normalised ``cxcywh``) and scaled to ``image_size = (height, width)``.
    """
    num_anchors = cls_logits.shape[1]
    boxes, probs = ssd_candidates(cls_logits, box_preds, anchors, image_size, variances)
    if pre_nms_top_k is not None and pre_nms_top_k < num_anchors:
        best = probs.topk(pre_nms_top_k, dim=1).indices  # [N, k, C]: best anchors per class
        selected = torch.zeros_like(probs, dtype=torch.bool).scatter_(1, best, True)
        probs = probs.masked_fill(~selected, float("-inf"))
    return _select(boxes, probs, score_threshold, iou_threshold, top_k)


def decode_yolo(
    pred: Tensor,
    *,
    image_size: tuple[int, int],
    S: int,
    B: int,
    C: int,
    score_threshold: float = 0.2,
    iou_threshold: float = 0.5,
    top_k: int = 100,
) -> list[dict[str, Tensor]]:
    """YOLOv1 detections from ``pred [N, S, S, B*5 + C]`` (layout: ``yolo_loss``).

    Every predictor proposes its box for every class with the class-specific score
    ``conf * class score`` (paper, section 2: Pr(class | object) * Pr(object) * IoU). Raw
    values are used as trained by ``yolo_v1_loss``: no sigmoid or softmax is applied. Then,
    per image: scores ``> score_threshold``, per-class NMS, best ``top_k``.
    """
    boxes, scores = yolo_candidates(pred, image_size, S, B, C)
    return _select(boxes, scores, score_threshold, iou_threshold, top_k)
