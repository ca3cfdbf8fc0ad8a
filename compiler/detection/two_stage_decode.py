"""R-CNN box deltas and the test-time decoding of a Fast / Faster R-CNN box head.

R-CNN regresses a box relative to a reference box (an anchor or an RoI) with the deltas
``dx = (gcx - rcx) / rw``, ``dy = (gcy - rcy) / rh``, ``dw = log(gw / rw)``,
``dh = log(gh / rh)``, divided by per-coordinate ``stds``. With ``stds = (s0, s0, s1, s1)``
that is SSD's encoding with variances ``(s0, s1)``; R-CNN allows four different stds, so
the helpers here run ``box_coding`` with unit variances and apply the stds themselves, which
keeps one implementation of the formula (and of its ``log(1000 / 16)`` cap on decode).

Boxes are continuous ``xyxy`` pixels (width ``x2 - x1``, no ``+ 1``), as everywhere in
``compiler.detection``; py-faster-rcnn's integer-pixel ``+ 1`` convention is not used.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
from torch import Tensor

from compiler.detection.box_coding import decode, encode
from compiler.detection.box_ops import box_convert, clip_boxes
from compiler.detection.postprocess import select_detections

Stds = tuple[float, float, float, float]
_UNIT = (1.0, 1.0)


def encode_deltas(boxes: Tensor, reference: Tensor, stds: Sequence[float] = (1, 1, 1, 1)) -> Tensor:
    """R-CNN deltas of ``xyxy`` ``boxes`` relative to ``xyxy`` ``reference`` boxes, ``/ stds``.

    Shapes ``[..., 4]`` broadcast. Used for training targets of both the RPN (stds 1) and
    the box head (stds ``(0.1, 0.1, 0.2, 0.2)``).
    """
    deltas = encode(boxes, box_convert(reference, "xyxy", "cxcywh"), _UNIT)
    return deltas / deltas.new_tensor(stds)


def decode_deltas(
    deltas: Tensor, reference: Tensor, stds: Sequence[float] = (1, 1, 1, 1)
) -> Tensor:
    """Inverse of ``encode_deltas``: deltas and ``xyxy`` reference boxes -> ``xyxy`` boxes.

    ``dw`` and ``dh`` (after multiplying by the stds) are capped at ``log(1000 / 16)`` by
    ``box_coding.decode`` so untrained heads give finite boxes.
    """
    scaled = deltas * deltas.new_tensor(stds)
    return decode(scaled, box_convert(reference, "xyxy", "cxcywh").to(deltas.dtype), _UNIT)


def box_head_candidates(
    class_logits: Tensor,
    box_deltas: Tensor,
    rois: Tensor,
    image_size: tuple[int, int],
    stds: Stds = (0.1, 0.1, 0.2, 0.2),
) -> tuple[Tensor, Tensor]:
    """Every (RoI, class) candidate of a box head: scores ``[R, K]``, boxes ``[R, K, 4]``.

    ``class_logits [R, K + 1]`` (column 0 = background) are soft-maxed and background is
    dropped. ``box_deltas`` are per class (``[R, 4 * (K + 1)]``, class ``k`` at columns
    ``4k .. 4k + 3``) or class-agnostic (``[R, 4]``, the same box for every class). Boxes are
    decoded against ``rois [R, 4]`` (``xyxy`` pixels) and clipped to ``image_size =
    (height, width)``. Shape-static (no data-dependent shapes, no loops over rows), so it
    also runs inside an ONNX export.
    """
    scores = torch.softmax(class_logits, dim=-1)[:, 1:]
    num_rois, num_classes = scores.shape
    if box_deltas.shape[-1] == 4:
        per_class = box_deltas[:, None, :].expand(num_rois, num_classes, 4)
    else:
        per_class = box_deltas.reshape(num_rois, num_classes + 1, 4)[:, 1:]
    reference = rois.to(device=box_deltas.device, dtype=box_deltas.dtype)[:, None, :]
    boxes = decode_deltas(per_class, reference, stds)
    return scores, clip_boxes(boxes, image_size)


def decode_two_stage(
    class_logits: Tensor,
    box_deltas: Tensor,
    rois: list[Tensor],
    image_size: tuple[int, int],
    *,
    stds: Stds = (0.1, 0.1, 0.2, 0.2),
    score_threshold: float = 0.05,
    nms_iou: float = 0.3,
    max_boxes: int = 100,
) -> list[dict[str, Tensor]]:
    """Fast / Faster R-CNN detections per image (Fast R-CNN test: 0.05, NMS 0.3, 100).

    Rows of ``class_logits`` and ``box_deltas`` are the RoIs of all images in order
    (``rois[i]`` has ``R_i`` rows). Candidates are computed for all RoIs at once; the
    threshold and NMS, whose sizes depend on the data, run per image. The output layout is
    ``decode_ssd``'s: ``boxes [D, 4]``, ``scores [D]`` decreasing, ``labels`` int64 1..K.
    """
    counts = [int(r.shape[0]) for r in rois]
    if sum(counts) != class_logits.shape[0]:
        raise ValueError(f"rois hold {sum(counts)} rows, class_logits {class_logits.shape[0]}")
    all_rois = torch.cat([r.reshape(-1, 4) for r in rois]) if rois else box_deltas.new_zeros(0, 4)
    scores, boxes = box_head_candidates(class_logits, box_deltas, all_rois, image_size, stds)
    return [
        select_detections(image_boxes, image_scores, score_threshold, nms_iou, max_boxes)
        for image_scores, image_boxes in zip(scores.split(counts), boxes.split(counts), strict=True)
    ]
