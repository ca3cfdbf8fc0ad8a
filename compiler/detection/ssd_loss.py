"""The SSD multibox loss: softmax classification with hard negative mining plus box regression.

Liu et al., "SSD: Single Shot MultiBox Detector", section 2.2. Everything after padding the
targets is batched over images and anchors (no Python loops), so it runs on any device and
traces under ``torch.compile``.
"""

from __future__ import annotations

from typing import Literal

import torch
import torch.nn.functional as F
from torch import Tensor

from compiler.detection.box_coding import Variances, encode, match, pad_targets
from compiler.detection.box_ops import box_convert

BoxLoss = Literal["smooth_l1", "mse"]


def hard_negative_mask(background_loss: Tensor, positive: Tensor, neg_pos_ratio: int) -> Tensor:
    """Pick the hardest negatives per image: ``[N, A]`` bool.

    Args:
        background_loss: ``[N, A]`` classification loss of each anchor against background;
            only its order matters (pass it detached).
        positive: ``[N, A]`` bool, anchors matched to an object.
        neg_pos_ratio: negatives kept per positive.

    Image ``i`` keeps its ``min(neg_pos_ratio * max(P_i, 1), negatives_i)`` negatives with
    the highest background loss, where ``P_i`` is its positive count. The ``max(P_i, 1)``
    is the rule for images without objects: they count as one positive, so they still
    teach the classifier what background looks like through their ``neg_pos_ratio`` hardest
    anchors, without flooding the loss with easy ones.

    Batched with the double-sort trick: sorting the losses (descending, stable so that
    equal losses favour the lower anchor index) gives each anchor a rank, and an anchor is
    mined when its rank is below its image's negative budget.
    """
    num_pos = positive.sum(dim=1)
    num_available = (~positive).sum(dim=1)
    budget = torch.minimum(neg_pos_ratio * num_pos.clamp(min=1), num_available)
    ranked = background_loss.masked_fill(positive, float("-inf"))
    order = ranked.sort(dim=1, descending=True, stable=True).indices
    # Invert the permutation: rank[n, order[n, r]] = r.
    positions = torch.arange(order.shape[1], device=order.device).expand_as(order)
    rank = torch.empty_like(order).scatter_(1, order, positions)
    return (rank < budget[:, None]) & ~positive


def _classification_loss(
    cls_logits: Tensor, matched_labels: Tensor, neg_pos_ratio: int, normaliser: Tensor
) -> tuple[Tensor, Tensor]:
    """Cross-entropy summed over positives and mined negatives, over ``normaliser``.

    Returns the loss and the mined negatives' ``[N, A]`` mask. Every anchor's cross-entropy
    is computed once: for a negative anchor it *is* its background loss, so the same values
    rank the negatives (detached, so mining picks anchors without being differentiated).
    """
    batch, num_anchors, num_classes = cls_logits.shape
    positive = matched_labels > 0
    cross_entropy = F.cross_entropy(
        cls_logits.reshape(-1, num_classes), matched_labels.reshape(-1), reduction="none"
    ).reshape(batch, num_anchors)
    negative = hard_negative_mask(cross_entropy.detach(), positive, neg_pos_ratio)
    cls_loss = torch.where(positive | negative, cross_entropy, 0.0).sum() / normaliser
    return cls_loss, negative


def _regression_loss(
    box_preds: Tensor,
    matched_boxes: Tensor,
    anchors: Tensor,
    positive: Tensor,
    box_loss: BoxLoss,
    variances: Variances,
    normaliser: Tensor,
) -> Tensor:
    """Box loss on the encoded offsets, summed over positive anchors, over ``normaliser``.

    Background anchors get their own box as a stand-in target: it encodes to finite
    offsets, so masking the loss afterwards cannot let a NaN or inf leak into gradients.
    """
    anchors_xyxy = box_convert(anchors, "cxcywh", "xyxy").expand_as(matched_boxes)
    safe_boxes = torch.where(positive[..., None], matched_boxes, anchors_xyxy)
    target_offsets = encode(safe_boxes, anchors, variances)
    if box_loss == "smooth_l1":
        per_coord = F.smooth_l1_loss(box_preds, target_offsets, reduction="none", beta=1.0)
    else:
        per_coord = F.mse_loss(box_preds, target_offsets, reduction="none")
    return torch.where(positive[..., None], per_coord, 0.0).sum() / normaliser


def multibox_loss(
    cls_logits: Tensor,
    box_preds: Tensor,
    anchors: Tensor,
    targets: list[dict[str, Tensor]],
    *,
    image_size: tuple[int, int] | None,
    box_loss: BoxLoss = "smooth_l1",
    box_weight: float = 1.0,
    neg_pos_ratio: int = 3,
    iou_threshold: float = 0.5,
    variances: Variances = (0.1, 0.2),
) -> dict[str, Tensor]:
    """SSD loss for a batch.

    Args:
        cls_logits: ``[N, A, C + 1]`` class logits, index 0 = background.
        box_preds: ``[N, A, 4]`` predicted offsets (``encode`` convention).
        anchors: ``[A, 4]`` normalised ``cxcywh`` default boxes.
        targets: per image, ``boxes`` ``[G_i, 4]`` ``xyxy`` and ``labels`` ``[G_i]`` in 1..C.
        image_size: ``(height, width)`` the target boxes are measured in (pixels); None
            when they are already normalised to ``[0, 1]``.
        box_loss: ``"smooth_l1"`` (the paper's, beta 1) or ``"mse"``, summed over the four
            offsets.
        box_weight: weight of the box term (the paper's alpha).
        neg_pos_ratio: hard negatives kept per positive (see ``hard_negative_mask``).
        iou_threshold: matching threshold (see ``box_coding.match``).
        variances: encoding variances.

    Returns:
        ``loss = cls_loss + box_weight * box_loss``; ``cls_loss`` sums cross-entropy over
        positives and mined negatives, ``box_loss`` sums the regression loss over positives;
        both are divided by the batch's total positive count (at least 1). Also ``num_pos``
        and ``num_neg`` (int64 totals over the batch).
    """
    if box_loss not in ("smooth_l1", "mse"):
        raise ValueError(f"box_loss must be 'smooth_l1' or 'mse', got {box_loss!r}")
    batch = cls_logits.shape[0]
    if len(targets) != batch:
        raise ValueError(f"got {len(targets)} targets for a batch of {batch}")
    anchors = anchors.to(device=box_preds.device, dtype=box_preds.dtype)

    gt_boxes, gt_labels = pad_targets(targets, image_size, box_preds.device, box_preds.dtype)
    matched_labels, matched_boxes = match(gt_boxes, gt_labels, anchors, iou_threshold)
    positive = matched_labels > 0
    total_pos = positive.sum()
    normaliser = total_pos.clamp(min=1).to(box_preds.dtype)

    cls_loss, negative = _classification_loss(cls_logits, matched_labels, neg_pos_ratio, normaliser)
    reg_loss = _regression_loss(
        box_preds, matched_boxes, anchors, positive, box_loss, variances, normaliser
    )
    return {
        "loss": cls_loss + box_weight * reg_loss,
        "cls_loss": cls_loss,
        "box_loss": reg_loss,
        "num_pos": total_pos,
        "num_neg": negative.sum(),
    }
