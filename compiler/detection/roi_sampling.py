"""Fast R-CNN's RoI minibatch: which proposals train the box head, and toward what.

Girshick 2015, section 2.3 (py-faster-rcnn's ``proposal_target_layer``): per image, the
ground truths join the proposals, each RoI takes its best-overlapping ground truth, 25 %
of ``rois_per_image`` are foreground (IoU >= 0.5) and the rest background (IoU in
[0.1, 0.5)). Regression targets are R-CNN deltas divided by ``stds``. Sampling depends on
per-image counts, so it loops over images; everything inside an image is vectorised.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import Tensor

from compiler.detection.box_ops import box_iou
from compiler.detection.two_stage_decode import Stds, encode_deltas


@dataclass(frozen=True)
class SampledRoIs:
    """The RoIs a box head trains on and their targets (rows in image order).

    ``boxes``: per image ``[R_i, 4]`` ``xyxy`` pixels (foreground first, then background);
    ``labels``: ``[R]`` int64, 0 = background, 1..K; ``targets``: ``[R, 4]`` deltas toward
    the matched ground truth divided by the stds, zero rows for background; ``matched``:
    ``[R]`` int64, the index of that ground truth within its image (-1 for background),
    which a mask branch crops its targets from. ``R = sum R_i``.
    """

    boxes: list[Tensor]
    labels: Tensor
    targets: Tensor
    matched: Tensor


@dataclass(frozen=True)
class _Rule:
    """The sampling settings of :func:`sample_rois`, as one record."""

    rois_per_image: int
    foreground_fraction: float
    foreground_iou: float
    background_iou: tuple[float, float]
    stds: Stds


def _random_subset(indices: Tensor, count: int, generator: torch.Generator | None) -> Tensor:
    """``count`` of ``indices`` drawn without replacement (all of them, shuffled, if fewer)."""
    device = generator.device if generator is not None else indices.device
    order = torch.randperm(indices.numel(), generator=generator, device=device)
    return indices[order[:count].to(indices.device)]


def _sample_image(
    rois: Tensor,
    gt_boxes: Tensor,
    gt_labels: Tensor,
    rule: _Rule,
    generator: torch.Generator | None,
) -> tuple[Tensor, Tensor, Tensor, Tensor]:
    """One image's sampled RoIs ``[R_i, 4]``, labels ``[R_i]`` and targets ``[R_i, 4]``.

    Without ground truth every IoU is 0: background candidates are then the RoIs in the
    background range, which is all of them when its low end is 0. When it is above 0 none
    would qualify and the image would contribute nothing; it instead falls back to all
    proposals as background candidates, so images without objects still teach background.
    """
    low, high = rule.background_iou
    if gt_boxes.shape[0]:
        iou = box_iou(rois, gt_boxes).nan_to_num(nan=0.0)
        best_iou, matched = iou.max(dim=1)
    else:
        best_iou = rois.new_zeros(rois.shape[0])
        matched = torch.zeros(rois.shape[0], dtype=torch.int64, device=rois.device)
    foreground = torch.nonzero(best_iou >= rule.foreground_iou).flatten()
    background = torch.nonzero((best_iou >= low) & (best_iou < high)).flatten()
    if gt_boxes.shape[0] == 0 and background.numel() == 0:
        background = torch.arange(rois.shape[0], device=rois.device)
    per_image = rule.rois_per_image
    num_fg = min(round(per_image * rule.foreground_fraction), foreground.numel())
    foreground = _random_subset(foreground, num_fg, generator)
    background = _random_subset(background, per_image - num_fg, generator)
    keep = torch.cat((foreground, background))

    sampled = rois[keep]
    labels = torch.zeros(keep.numel(), dtype=torch.int64, device=rois.device)
    targets = rois.new_zeros(keep.numel(), 4)
    which = torch.full((keep.numel(),), -1, dtype=torch.int64, device=rois.device)
    if num_fg:
        fg_gt = matched[foreground]
        labels[:num_fg] = gt_labels[fg_gt]
        targets[:num_fg] = encode_deltas(gt_boxes[fg_gt], sampled[:num_fg], rule.stds)
        which[:num_fg] = fg_gt
    return sampled, labels, targets, which


def sample_rois(
    proposals: list[Tensor],
    targets: list[dict[str, Tensor]],
    *,
    rois_per_image: int = 64,
    foreground_fraction: float = 0.25,
    foreground_iou: float = 0.5,
    background_iou: tuple[float, float] = (0.1, 0.5),
    stds: Stds = (0.1, 0.1, 0.2, 0.2),
    include_gt: bool = True,
    generator: torch.Generator | None = None,
) -> SampledRoIs:
    """Sample each image's RoI minibatch for Fast R-CNN training.

    ``proposals[i]``: ``[P_i, 4]`` ``xyxy`` pixels (detached: RoIs are constants);
    ``targets[i]``: ``boxes [G_i, 4]`` and ``labels [G_i]`` (1..K). With ``include_gt`` the
    ground truths are appended to the proposals, so every object has a perfect RoI early in
    training. Foreground: IoU ``>= foreground_iou``, at most ``round(rois_per_image *
    foreground_fraction)`` chosen at random. Background: IoU in ``[lo, hi)``, filling up to
    ``rois_per_image`` at random without replacement (fewer when too few qualify).
    Deterministic for a seeded ``generator``.
    """
    rule = _Rule(rois_per_image, foreground_fraction, foreground_iou, background_iou, stds)
    boxes, labels, deltas, matched = [], [], [], []
    for image_proposals, target in zip(proposals, targets, strict=True):
        rois = image_proposals.detach().reshape(-1, 4)
        gt_boxes = target["boxes"].to(device=rois.device, dtype=rois.dtype).reshape(-1, 4)
        gt_labels = target["labels"].to(device=rois.device, dtype=torch.int64).reshape(-1)
        if include_gt:
            rois = torch.cat((rois, gt_boxes))
        image_rois, image_labels, image_targets, image_matched = _sample_image(
            rois, gt_boxes, gt_labels, rule, generator
        )
        boxes.append(image_rois)
        labels.append(image_labels)
        deltas.append(image_targets)
        matched.append(image_matched)
    if not boxes:
        none = torch.zeros(0, dtype=torch.int64)
        return SampledRoIs([], none, torch.zeros(0, 4), none)
    return SampledRoIs(boxes, torch.cat(labels), torch.cat(deltas), torch.cat(matched))
