"""Mask R-CNN's mask maths: targets cropped by RoIAlign, the loss, pasting into images.

He et al. 2017 (torchvision's ``roi_heads`` conventions): a positive RoI's target is its
matched ground-truth mask cropped by the RoI and resized to the mask size with RoIAlign
(``aligned=False``), cut at 0.5; the loss is per-pixel sigmoid cross-entropy on the map of
the ground-truth class only (the other classes' maps get no gradient, so classes do not
compete per pixel); at test time the detected class's map is pasted into its box at image
size and cut at a threshold.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor

from compiler.ops.roi import roi_align

__all__ = ["mask_loss", "mask_targets", "paste_masks"]


def mask_targets(
    gt_masks: list[Tensor], rois: list[Tensor], matched: list[Tensor], size: tuple[int, int]
) -> Tensor:
    """``[P, MH, MW]`` float 0/1 targets: image ``i``'s RoIs ``rois[i]`` ``[P_i, 4]``
    crop its ground-truth masks ``gt_masks[i]`` ``[G_i, H, W]`` at ``matched[i]`` (one
    index per RoI), resized to ``size`` by RoIAlign and cut at 0.5."""
    crops = []
    for masks, boxes, which in zip(gt_masks, rois, matched, strict=True):
        if boxes.shape[0] == 0:
            continue
        rows = torch.cat([which[:, None].to(boxes), boxes], dim=1)
        crops.append(roi_align(masks[:, None].to(boxes), rows, size, 1.0, 2, aligned=False))
    if not crops:
        return torch.zeros((0, *size))
    return (torch.cat(crops)[:, 0] >= 0.5).to(crops[0].dtype)


def mask_loss(logits: Tensor, labels: Tensor, targets: Tensor) -> Tensor:
    """Mean per-pixel sigmoid cross-entropy of each RoI's ground-truth class map:
    ``logits`` ``[P, K+1, MH, MW]``, ``labels`` ``[P]`` (1..K), ``targets`` ``[P, MH, MW]``.
    No positive RoI gives a zero that still has a gradient."""
    if labels.numel() == 0:
        return logits.sum() * 0.0
    picked = logits[torch.arange(labels.numel(), device=logits.device), labels]
    return F.binary_cross_entropy_with_logits(picked, targets.to(picked))


def paste_masks(
    masks: Tensor, boxes: Tensor, image_size: tuple[int, int], threshold: float = 0.5
) -> Tensor:
    """``[D, H, W]`` bool: each ``[MH, MW]`` probability map of ``masks`` ``[D, MH, MW]``
    stretched over its box (``[D, 4]`` xyxy pixels) by bilinear sampling at the image's
    pixel centres, zero outside the box, cut at ``threshold``."""
    height, width = image_size
    count = masks.shape[0]
    if count == 0:
        return torch.zeros((0, height, width), dtype=torch.bool, device=masks.device)
    dtype = masks.dtype if masks.is_floating_point() else torch.float32
    ys = torch.arange(height, device=masks.device, dtype=dtype) + 0.5
    xs = torch.arange(width, device=masks.device, dtype=dtype) + 0.5
    x1, y1, x2, y2 = (boxes.to(dtype)[:, i, None] for i in range(4))
    # grid_sample with align_corners=False reads -1 and 1 at the mask's outer edges.
    u = (xs[None] - x1) / (x2 - x1).clamp(min=1e-6) * 2 - 1  # [D, W]
    v = (ys[None] - y1) / (y2 - y1).clamp(min=1e-6) * 2 - 1  # [D, H]
    grid = torch.stack(
        [u[:, None, :].expand(count, height, width), v[:, :, None].expand(count, height, width)],
        dim=-1,
    )
    pasted = F.grid_sample(masks[:, None].to(dtype), grid, align_corners=False)
    return pasted[:, 0] >= threshold
