"""SSD box encoding and anchor-to-ground-truth matching.

Regression targets are offsets of a ground-truth box relative to an anchor, divided by
"variances" (the SSD name for fixed per-coordinate scalings that bring the centre and size
offsets to a similar range). Matching assigns every anchor either a ground-truth box or
background, batched over images with ground truths padded to a common count.
"""

from __future__ import annotations

import math

import torch
from torch import Tensor

from compiler.detection.box_ops import box_convert, box_iou

Variances = tuple[float, float]

# Largest log size ratio decode will exponentiate: keeps untrained or diverging predictions
# from overflowing to inf (the same guard torchvision uses, log(1000 / 16)).
_MAX_LOG_SCALE = math.log(1000.0 / 16)


def encode(gt_boxes: Tensor, anchors: Tensor, variances: Variances = (0.1, 0.2)) -> Tensor:
    """Offsets of ``xyxy`` boxes relative to ``cxcywh`` anchors; shapes ``[..., 4]`` broadcast.

    ``dx = (gcx - acx) / (aw * v0)``, ``dy = (gcy - acy) / (ah * v0)``,
    ``dw = log(gw / aw) / v1``, ``dh = log(gh / ah) / v1``.
    """
    gt = box_convert(gt_boxes, "xyxy", "cxcywh")
    centre = (gt[..., :2] - anchors[..., :2]) / (anchors[..., 2:] * variances[0])
    size = torch.log(gt[..., 2:] / anchors[..., 2:]) / variances[1]
    return torch.cat((centre, size), dim=-1)


def decode(offsets: Tensor, anchors: Tensor, variances: Variances = (0.1, 0.2)) -> Tensor:
    """Inverse of ``encode``: offsets ``[..., 4]`` and ``cxcywh`` anchors -> ``xyxy`` boxes.

    The log size offsets are capped at ``log(1000 / 16)`` before ``exp`` so wild predictions
    give huge-but-finite boxes rather than inf/NaN.
    """
    centre = anchors[..., :2] + offsets[..., :2] * variances[0] * anchors[..., 2:]
    log_scale = (offsets[..., 2:] * variances[1]).clamp(max=_MAX_LOG_SCALE)
    size = anchors[..., 2:] * torch.exp(log_scale)
    return box_convert(torch.cat((centre, size), dim=-1), "cxcywh", "xyxy")


def pad_targets(
    targets: list[dict[str, Tensor]],
    image_size: tuple[int, int] | None,
    device: torch.device | str | None = None,
    dtype: torch.dtype = torch.float32,
) -> tuple[Tensor, Tensor]:
    """Stack per-image targets into padded ``boxes [N, G, 4]`` and ``labels [N, G]``.

    ``targets[i]`` holds ``boxes`` (``[G_i, 4]`` ``xyxy``) and ``labels`` (``[G_i]``, 1..K).
    Boxes are divided by ``image_size = (height, width)`` to normalise them, unless
    ``image_size`` is None (boxes already normalised). ``G = max(G_i, 1)``; padding has
    label 0 and a zero box, which ``match`` ignores.
    """
    count = max([len(t["labels"]) for t in targets] + [1])
    boxes = torch.zeros(len(targets), count, 4, device=device, dtype=dtype)
    labels = torch.zeros(len(targets), count, device=device, dtype=torch.int64)
    for i, target in enumerate(targets):
        num = len(target["labels"])
        boxes[i, :num] = target["boxes"].to(device=device, dtype=dtype).reshape(num, 4)
        labels[i, :num] = target["labels"].to(device=device, dtype=torch.int64)
    if image_size is not None:
        height, width = image_size
        boxes = boxes / boxes.new_tensor([width, height, width, height])
    return boxes, labels


def _anchor_iou(gt_boxes: Tensor, anchors: Tensor, valid: Tensor) -> Tensor:
    """IoU of every ground truth with every anchor, ``[N, G, A]``, ready for ``max``.

    NaN (a zero-area box against a zero-area anchor) becomes 0, so it never counts as an
    overlap, and padded ground truths get -1, below any real IoU, so no anchor picks them.
    """
    anchors_xyxy = box_convert(anchors, "cxcywh", "xyxy")
    iou = box_iou(gt_boxes, anchors_xyxy[None])
    return iou.nan_to_num(nan=0.0).masked_fill(~valid[..., None], -1.0)


def _forced_gt(iou: Tensor, valid: Tensor) -> Tensor:
    """Per anchor, the ground truth that claims it as its best anchor, else -1: ``[N, A]``.

    This is the rule that gives every object at least one anchor, even one that no anchor
    overlaps by ``iou_threshold``. ``scatter_reduce("amax")`` of the gt index makes the later
    ground truth win deterministically when two share a best anchor; a ground truth that
    overlaps no anchor at all (best IoU 0) claims nothing.
    """
    batch, num_gt, num_anchors = iou.shape
    best_anchor_iou, best_anchor = iou.max(dim=2)  # per ground truth: [N, G]
    gt_index = torch.arange(num_gt, device=iou.device).expand(batch, num_gt)
    forcing = valid & (best_anchor_iou > 0)
    forced_gt = torch.full((batch, num_anchors), -1, dtype=torch.int64, device=iou.device)
    forced_gt.scatter_reduce_(
        1, best_anchor, torch.where(forcing, gt_index, -1), reduce="amax", include_self=True
    )
    return forced_gt


def match(
    gt_boxes: Tensor,
    gt_labels: Tensor,
    anchors: Tensor,
    iou_threshold: float = 0.5,
    valid: Tensor | None = None,
) -> tuple[Tensor, Tensor]:
    """Assign each anchor a ground-truth box or background (SSD matching), batched.

    Args:
        gt_boxes: ``[N, G, 4]`` normalised ``xyxy`` ground truths, padded per image.
        gt_labels: ``[N, G]`` labels in 1..K; padded entries have label 0.
        anchors: ``[A, 4]`` normalised ``cxcywh`` anchors.
        iou_threshold: an anchor is positive when its best IoU is ``>=`` this.
        valid: optional ``[N, G]`` bool mask of real ground truths; defaults to
            ``gt_labels > 0``.

    Returns:
        ``matched_labels [N, A]`` (0 = background) and ``matched_boxes [N, A, 4]`` (the
        matched ``xyxy`` ground truth; zeros for background anchors).

    Rules (SSD paper, "matching strategy"):

    * each anchor takes the ground truth it overlaps most, if that IoU ``>= iou_threshold``;
      among ground truths with exactly equal IoU, the one ``argmax`` returns (the first);
    * each ground truth's best anchor (``argmax`` over anchors, i.e. the first on ties) is
      forced to it even below the threshold, so every object gets at least one anchor.
      When several ground truths share a best anchor, the later one (higher index) wins.
      A ground truth overlapping no anchor at all (e.g. a degenerate box) forces nothing.
    """
    if valid is None:
        valid = gt_labels > 0
    batch, num_gt = gt_labels.shape
    num_anchors = anchors.shape[0]
    if num_gt == 0:
        return (
            gt_labels.new_zeros(batch, num_anchors),
            gt_boxes.new_zeros(batch, num_anchors, 4),
        )

    iou = _anchor_iou(gt_boxes, anchors, valid)  # [N, G, A]
    best_iou, best_gt = iou.max(dim=1)  # per anchor: [N, A]
    forced_gt = _forced_gt(iou, valid)
    is_forced = forced_gt >= 0
    best_gt = torch.where(is_forced, forced_gt, best_gt)
    positive = (best_iou >= iou_threshold) | is_forced

    matched_labels = torch.gather(gt_labels, 1, best_gt) * positive
    matched_boxes = torch.gather(gt_boxes, 1, best_gt[..., None].expand(-1, -1, 4))
    matched_boxes = torch.where(positive[..., None], matched_boxes, 0.0)
    return matched_labels, matched_boxes
