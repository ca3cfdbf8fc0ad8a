"""Faster R-CNN's region proposal network: anchors, proposals, anchor labels and its loss.

Ren et al. 2015 with py-faster-rcnn's rules (``generate_anchors``, ``proposal_layer``,
``anchor_target_layer``). Boxes are continuous ``xyxy`` pixels (width ``x2 - x1``), so
anchors are not rounded and "inside the image" means ``0 <= x1`` and ``x2 <= width``
(py-faster-rcnn's integer-pixel ``x2 < width`` written continuously). Deltas are R-CNN
deltas with stds 1 (``two_stage_decode.encode_deltas``).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import Tensor

from compiler.detection.box_ops import box_iou, clip_boxes, nms
from compiler.detection.two_stage_decode import decode_deltas, encode_deltas


def anchors_per_position(sizes: Sequence[float], ratios: Sequence[float]) -> int:
    """Anchors at one feature position: ``len(sizes) * len(ratios)`` (9 in Faster R-CNN)."""
    return len(sizes) * len(ratios)


def rpn_anchors(
    feature_size: tuple[int, int],
    stride: tuple[float, float],
    sizes: Sequence[float],
    ratios: Sequence[float],
    *,
    device: torch.device | str | None = None,
    dtype: torch.dtype = torch.float32,
) -> Tensor:
    """All anchors of a feature map: ``[H * W * A, 4]`` ``xyxy`` input pixels.

    ``feature_size = (H, W)``, ``stride = (stride_h, stride_w)``. Positions are row-major
    (y, then x) with centres ``((x + 0.5) * stride_w, (y + 0.5) * stride_h)``; at a position
    the anchors are ratio-major (each ratio, then each size), py-faster-rcnn's order, which
    is the order the RPN's 1x1 convs lay out their ``A`` channels. ``ratio = height /
    width``: width ``size / sqrt(r)``, height ``size * sqrt(r)``, so the area is ``size^2``.
    """
    height, width = feature_size
    stride_h, stride_w = stride
    shape = torch.tensor(
        [(size / math.sqrt(r), size * math.sqrt(r)) for r in ratios for size in sizes],
        dtype=torch.float64,
    ).reshape(-1, 2)
    half = torch.cat((-shape / 2, shape / 2), dim=1)  # [A, 4] around a zero centre
    ys = (torch.arange(height, dtype=torch.float64) + 0.5) * stride_h
    xs = (torch.arange(width, dtype=torch.float64) + 0.5) * stride_w
    cy, cx = torch.meshgrid(ys, xs, indexing="ij")
    centres = torch.stack((cx, cy, cx, cy), dim=-1).reshape(-1, 1, 4)  # [H*W, 1, 4]
    return (centres + half[None]).reshape(-1, 4).to(device=device, dtype=dtype)


@torch.no_grad()
def rpn_proposals(
    objectness: Tensor,
    deltas: Tensor,
    anchors: Tensor,
    image_size: tuple[int, int],
    *,
    pre_nms: int,
    post_nms: int,
    nms_iou: float,
    min_size: float = 0.0,
) -> list[Tensor]:
    """Per image, the RPN's proposals ``[L, 4]`` (detached ``xyxy`` pixels, best first).

    ``objectness [N, A, 2]`` (softmax, index 1 = object, as in Caffe), ``deltas [N, A, 4]``,
    ``anchors [A, 4]``. py-faster-rcnn's proposal layer: top ``pre_nms`` scores, decode,
    clip to ``image_size = (height, width)``, drop boxes narrower or shorter than
    ``min_size``, NMS at ``nms_iou``, keep ``post_nms``. The top-k and decoding are batched;
    the filter and NMS, whose sizes depend on the data, run per image. Proposals are not
    differentiated (the box head treats them as constants), hence ``no_grad``.
    """
    scores = torch.softmax(objectness.detach(), dim=-1)[..., 1]  # [N, A]
    top = scores.topk(min(pre_nms, scores.shape[1]), dim=1)  # sorted, best first
    anchors = anchors.to(device=deltas.device, dtype=deltas.dtype)
    top_deltas = torch.gather(deltas.detach(), 1, top.indices[..., None].expand(-1, -1, 4))
    boxes = clip_boxes(decode_deltas(top_deltas, anchors[top.indices]), image_size)
    proposals = []
    for image_boxes, image_scores in zip(boxes, top.values, strict=True):
        sizes = image_boxes[:, 2:] - image_boxes[:, :2]
        big = (sizes >= min_size).all(dim=1)
        image_boxes, image_scores = image_boxes[big], image_scores[big]
        keep = nms(image_boxes, image_scores, nms_iou)[:post_nms]
        proposals.append(image_boxes[keep])
    return proposals


def label_anchors(
    anchors: Tensor,
    gt_boxes: Tensor,
    image_size: tuple[int, int],
    *,
    positive_iou: float = 0.7,
    negative_iou: float = 0.3,
    allowed_border: float = 0.0,
) -> tuple[Tensor, Tensor]:
    """py-faster-rcnn's anchor labels ``[A]`` (1 / 0 / -1 ignored) and matched gt ``[A]``.

    Anchors not fully inside the image grown by ``allowed_border`` are ignored. Of the
    others: negative when the best IoU is ``< negative_iou``; positive when it is
    ``>= positive_iou`` or when the anchor ties for the best IoU of some ground truth (only
    where that best IoU is ``> 0``: py-faster-rcnn would otherwise make every anchor of a
    gt that overlaps nothing positive); positives override negatives. The matched index is
    each anchor's best ground truth (``argmax``, also for forced positives, as in
    py-faster-rcnn and torchvision); it is -1 everywhere when there is no ground truth, in
    which case every inside anchor is negative.
    """
    height, width = image_size
    b = allowed_border
    inside = (anchors[:, 0] >= -b) & (anchors[:, 1] >= -b)
    inside &= (anchors[:, 2] <= width + b) & (anchors[:, 3] <= height + b)
    labels = torch.full_like(inside, -1, dtype=torch.int64)
    if gt_boxes.shape[0] == 0 or anchors.shape[0] == 0:
        labels[inside] = 0
        return labels, torch.full_like(labels, -1)
    gt = gt_boxes.to(device=anchors.device, dtype=anchors.dtype)
    iou = box_iou(anchors, gt).nan_to_num(nan=0.0).masked_fill(~inside[:, None], -1.0)
    best_iou, matched = iou.max(dim=1)  # per anchor
    gt_best = iou.max(dim=0).values  # per ground truth, over inside anchors
    forced = ((iou == gt_best[None]) & (gt_best[None] > 0)).any(dim=1)
    labels[inside & (best_iou < negative_iou)] = 0
    labels[inside & ((best_iou >= positive_iou) | forced)] = 1
    return labels, matched


def subsample_labels(
    labels: Tensor,
    batch: int,
    positive_fraction: float,
    generator: torch.Generator | None = None,
) -> Tensor:
    """A random minibatch of labelled anchors: a copy of ``labels`` with the surplus at -1.

    At most ``int(batch * positive_fraction)`` positives (a random subset); negatives fill
    the rest up to ``batch`` (py-faster-rcnn / torchvision). Deterministic for a seeded
    ``generator``; the permutation is drawn on the generator's device.
    """
    device = generator.device if generator is not None else labels.device
    out = labels.clone()
    positive = torch.nonzero(labels == 1).flatten()
    negative = torch.nonzero(labels == 0).flatten()
    num_pos = min(positive.numel(), int(batch * positive_fraction))
    num_neg = min(negative.numel(), batch - num_pos)
    for indices, count in ((positive, num_pos), (negative, num_neg)):
        order = torch.randperm(indices.numel(), generator=generator, device=device)
        out[indices[order[count:].to(indices.device)]] = -1
    return out


@dataclass(frozen=True)
class _AnchorSampling:
    """The labelling and sampling settings of :func:`rpn_loss`, as one record."""

    batch: int
    positive_fraction: float
    positive_iou: float
    negative_iou: float


def _anchor_targets(
    anchors: Tensor,
    targets: list[dict[str, Tensor]],
    image_size: tuple[int, int],
    sampling: _AnchorSampling,
    generator: torch.Generator | None,
) -> tuple[Tensor, Tensor]:
    """Per image label, subsample and match: labels ``[N, A]``, matched gt ``[N, A, 4]``.

    Matched boxes are zeros where the anchor is not a sampled positive.
    """
    all_labels, all_boxes = [], []
    for target in targets:
        gt = target["boxes"].to(device=anchors.device, dtype=anchors.dtype).reshape(-1, 4)
        labels, matched = label_anchors(
            anchors,
            gt,
            image_size,
            positive_iou=sampling.positive_iou,
            negative_iou=sampling.negative_iou,
        )
        labels = subsample_labels(labels, sampling.batch, sampling.positive_fraction, generator)
        boxes = gt[matched.clamp(min=0)] if gt.shape[0] else torch.zeros_like(anchors)
        all_labels.append(labels)
        all_boxes.append(torch.where((labels == 1)[:, None], boxes, 0.0))
    return torch.stack(all_labels), torch.stack(all_boxes)


def rpn_loss(
    objectness: Tensor,
    deltas: Tensor,
    anchors: Tensor,
    targets: list[dict[str, Tensor]],
    image_size: tuple[int, int],
    *,
    batch: int = 256,
    positive_fraction: float = 0.5,
    positive_iou: float = 0.7,
    negative_iou: float = 0.3,
    beta: float = 1 / 9,
    generator: torch.Generator | None = None,
) -> dict[str, Tensor]:
    """The RPN loss: ``{"rpn_class", "rpn_box"}`` scalars.

    ``objectness [N, A, 2]`` logits, ``deltas [N, A, 4]``, ``anchors [A, 4]``, ``targets[i]``
    with ``boxes [G, 4]`` ``xyxy`` pixels. Each image samples ``batch`` anchors
    (``label_anchors`` then ``subsample_labels``). Class loss: 2-way cross-entropy averaged
    over all sampled anchors of all images. Box loss: ``smooth_l1(beta)`` summed over the
    positives (``beta = 1/9`` is Caffe's sigma 3) divided by the number of sampled anchors,
    the torchvision normalisation. No sampled anchor -> zeros that keep a ``grad_fn``.
    """
    anchors = anchors.to(device=deltas.device, dtype=deltas.dtype)
    sampling = _AnchorSampling(batch, positive_fraction, positive_iou, negative_iou)
    labels, matched = _anchor_targets(anchors, targets, image_size, sampling, generator)
    sampled = labels >= 0
    positive = labels == 1
    num_sampled = int(sampled.sum())
    if num_sampled == 0:
        zero = objectness.sum() * 0.0 + deltas.sum() * 0.0
        return {"rpn_class": zero, "rpn_box": zero.clone()}
    rpn_class = F.cross_entropy(objectness[sampled], labels[sampled])
    anchor_rows = anchors.expand(labels.shape[0], -1, -1)[positive]
    box_targets = encode_deltas(matched[positive], anchor_rows)
    box_sum = F.smooth_l1_loss(deltas[positive], box_targets, beta=beta, reduction="sum")
    return {"rpn_class": rpn_class, "rpn_box": box_sum / num_sampled}
