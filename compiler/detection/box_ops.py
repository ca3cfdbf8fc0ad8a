"""Axis-aligned box primitives: area, IoU, format conversion, clipping and exact greedy NMS.

Boxes are ``[..., 4]`` tensors. ``xyxy`` means ``(x1, y1, x2, y2)`` with ``x2 >= x1`` and
``y2 >= y1``; ``cxcywh`` means ``(centre x, centre y, width, height)``. Coordinates are
continuous (torchvision semantics): a box's width is ``x2 - x1``, with no ``+ 1``.

Everything here is plain vectorised torch, so it runs on whatever device the inputs live on.
NMS is the one data-dependent algorithm; it is kept out of ``torch.compile`` graphs with
``torch.compiler.disable`` (a compiled caller gets a clean graph break around it).
"""

from __future__ import annotations

from typing import Literal

import torch
from torch import Tensor

BoxFormat = Literal["xyxy", "cxcywh"]

# NMS resolves sorted candidates in blocks of this many (see ``_greedy_keep``). Larger blocks
# mean fewer Python-level iterations; smaller ones mean cheaper rounds inside a block. At 128
# a block's [128, 128] masks stay under torch's CPU parallelisation grain (32768 elements),
# so the many tiny per-round ops never pay for thread synchronisation.
_NMS_BLOCK = 128


def box_area(boxes: Tensor) -> Tensor:
    """Area of ``xyxy`` boxes ``[..., 4]`` -> ``[...]``."""
    return (boxes[..., 2] - boxes[..., 0]) * (boxes[..., 3] - boxes[..., 1])


def box_iou(boxes1: Tensor, boxes2: Tensor) -> Tensor:
    """Pairwise IoU of ``xyxy`` boxes: ``[..., N, 4]`` x ``[..., M, 4]`` -> ``[..., N, M]``.

    Leading dimensions broadcast, so a batch of images (``[B, G, 4]`` against ``[1, A, 4]``)
    is one call. As in torchvision, the result is ``inter / union`` with no epsilon: two
    zero-area boxes give NaN, which compares false against any threshold.
    """
    # Coordinates as separate [..., N, 1] and [..., 1, M] planes: elementwise ops on
    # contiguous rows are several times faster than on interleaved [..., N, M, 2] pairs.
    ax1, ay1, ax2, ay2 = boxes1[..., :, None, :].unbind(-1)
    bx1, by1, bx2, by2 = boxes2.transpose(-1, -2).contiguous()[..., None, :, :].unbind(-2)
    inter_w = (torch.minimum(ax2, bx2) - torch.maximum(ax1, bx1)).clamp(min=0)
    inter_h = (torch.minimum(ay2, by2) - torch.maximum(ay1, by1)).clamp(min=0)
    inter = inter_w * inter_h
    union = (box_area(boxes1)[..., :, None] + box_area(boxes2)[..., None, :]) - inter
    return inter / union


def box_convert(boxes: Tensor, in_fmt: BoxFormat, out_fmt: BoxFormat) -> Tensor:
    """Convert ``[..., 4]`` boxes between ``"xyxy"`` and ``"cxcywh"``."""
    if in_fmt == out_fmt:
        return boxes.clone()
    if in_fmt == "xyxy" and out_fmt == "cxcywh":
        x1, y1, x2, y2 = boxes.unbind(-1)
        return torch.stack(((x1 + x2) / 2, (y1 + y2) / 2, x2 - x1, y2 - y1), dim=-1)
    if in_fmt == "cxcywh" and out_fmt == "xyxy":
        cx, cy, w, h = boxes.unbind(-1)
        half_w, half_h = w / 2, h / 2
        return torch.stack((cx - half_w, cy - half_h, cx + half_w, cy + half_h), dim=-1)
    raise ValueError(f"unsupported box conversion {in_fmt!r} -> {out_fmt!r}")


def clip_boxes(boxes: Tensor, size: tuple[int, int] | tuple[float, float]) -> Tensor:
    """Clip ``xyxy`` boxes ``[..., 4]`` to an image of ``size = (height, width)``."""
    height, width = size
    x = boxes[..., 0::2].clamp(min=0, max=width)
    y = boxes[..., 1::2].clamp(min=0, max=height)
    return torch.stack((x[..., 0], y[..., 0], x[..., 1], y[..., 1]), dim=-1)


def _iou_above(boxes1: Tensor, boxes2: Tensor, iou_threshold: float) -> Tensor:
    """``box_iou(boxes1, boxes2) > iou_threshold`` for ``[N, 4]`` x ``[M, 4]``, no autograd.

    The same arithmetic as ``box_iou`` (so the same rounding), but done in place on the
    temporaries: NMS spends most of its time here and this is about three times faster.
    """
    ax1, ay1, ax2, ay2 = boxes1[:, None, :].unbind(-1)
    bx1, by1, bx2, by2 = boxes2.t().contiguous()[None].unbind(-2)
    inter_w = torch.minimum(ax2, bx2).sub_(torch.maximum(ax1, bx1)).clamp_(min=0)
    inter_h = torch.minimum(ay2, by2).sub_(torch.maximum(ay1, by1)).clamp_(min=0)
    inter = inter_w.mul_(inter_h)
    union = (box_area(boxes1)[:, None] + box_area(boxes2)[None, :]).sub_(inter)
    return inter.div_(union) > iou_threshold


def _greedy_keep(boxes: Tensor, groups: Tensor, iou_threshold: float) -> Tensor:
    """Greedy NMS over boxes sorted by decreasing score -> keep mask ``[K]``.

    Boxes only suppress boxes of the same group (``groups``, ``[K]``). Exact, without
    visiting the boxes one by one: they are cut into blocks, and a block first drops every
    box that overlaps a box kept in an earlier block (one IoU matrix against those kept boxes
    of the same groups). Inside the block, greedy NMS is the unique fixed point of
    ``keep[i] = alive[i] and no kept j < i overlaps i``: dependencies only point to earlier
    boxes, so iterating the rule from ``keep = alive`` settles at least one more box per
    round and stops exactly on the greedy answer. Suppression chains are short in practice,
    so a block settles in a few rounds; the worst case (one chain through the whole block)
    costs one round per box, like the plain sequential loop.
    """
    keep = torch.zeros(boxes.shape[0], dtype=torch.bool, device=boxes.device)
    kept_boxes, kept_groups = boxes[:0], groups[:0]
    # ranks_above[i, j]: j < i. (Built by comparison: ``tril`` on CPU can be very slow when
    # its threads compete with other work.)
    position = torch.arange(_NMS_BLOCK, device=boxes.device)
    ranks_above = position[:, None] > position[None, :]
    for start in range(0, boxes.shape[0], _NMS_BLOCK):
        block = boxes[start : start + _NMS_BLOCK]
        block_groups = groups[start : start + _NMS_BLOCK]

        # Suppression by boxes kept in earlier blocks (only those of this block's groups).
        relevant = torch.isin(kept_groups, block_groups)
        earlier, earlier_groups = kept_boxes[relevant], kept_groups[relevant]
        hits = _iou_above(block, earlier, iou_threshold)
        hits &= block_groups[:, None] == earlier_groups[None, :]
        alive = ~hits.any(dim=1)

        # overlaps[i, j]: box j ranks above box i (j < i) and would suppress it if kept.
        size = block.shape[0]
        overlaps = _iou_above(block, block, iou_threshold) & ranks_above[:size, :size]
        overlaps &= block_groups[:, None] == block_groups[None, :]
        block_keep = alive
        while True:
            updated = alive & ~(overlaps & block_keep[None, :]).any(dim=1)
            if torch.equal(updated, block_keep):
                break
            block_keep = updated

        keep[start : start + size] = block_keep
        kept_boxes = torch.cat((kept_boxes, block[block_keep]))
        kept_groups = torch.cat((kept_groups, block_groups[block_keep]))
    return keep


def _nms_impl(boxes: Tensor, scores: Tensor, groups: Tensor, iou_threshold: float) -> Tensor:
    if boxes.shape[0] == 0:
        return torch.empty(0, dtype=torch.int64, device=boxes.device)
    boxes, scores, groups = boxes.detach(), scores.detach(), groups.detach()
    # Stable sort: equal scores keep their input order, so the lower index ranks first.
    order = torch.sort(scores, descending=True, stable=True).indices
    # Greedy NMS within a group only depends on the score order inside that group, so the
    # boxes are visited group by group: a block then holds one or two groups and is compared
    # with the kept boxes of those groups only, not with every kept box.
    by_group = order[torch.sort(groups[order], stable=True).indices]
    keep_by_group = _greedy_keep(boxes[by_group], groups[by_group], iou_threshold)
    keep = torch.zeros_like(keep_by_group)
    keep[by_group] = keep_by_group
    return order[keep[order]]


@torch.compiler.disable
def nms(boxes: Tensor, scores: Tensor, iou_threshold: float) -> Tensor:
    """Greedy non-maximum suppression.

    Args:
        boxes: ``[K, 4]`` ``xyxy`` boxes.
        scores: ``[K]`` scores.
        iou_threshold: a box is suppressed when its IoU with a higher-ranked *kept* box is
            strictly greater than this.

    Returns:
        int64 indices of the kept boxes, sorted by decreasing score. Equal scores are ranked
        by a stable descending sort, i.e. the box with the lower index ranks first (and so
        wins the tie). This matches torchvision's ``nms`` except on exact score ties, where
        torchvision's order is unspecified.
    """
    single_group = torch.zeros(boxes.shape[0], dtype=torch.int64, device=boxes.device)
    return _nms_impl(boxes, scores, single_group, iou_threshold)


@torch.compiler.disable
def batched_nms(boxes: Tensor, scores: Tensor, labels: Tensor, iou_threshold: float) -> Tensor:
    """Per-class NMS: like ``nms`` but boxes with different ``labels`` never suppress each other.

    Same result as running ``nms`` separately per label and merging the kept indices by
    decreasing score (stable on ties), as torchvision's ``batched_nms`` does. All classes
    go through one pass. Instead of torchvision's coordinate-offset trick (shifting each
    class's boxes apart so they cannot overlap), the overlap mask is ANDed with
    ``labels[i] == labels[j]``: the effect is the same, but it is exact (large offsets lose
    float precision) and does not break when coordinates are negative.
    """
    return _nms_impl(boxes, scores, labels, iou_threshold)
