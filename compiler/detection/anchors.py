"""SSD default boxes (anchors), following Liu et al., "SSD: Single Shot MultiBox Detector".

Default boxes are in normalised ``(cx, cy, w, h)`` coordinates (the image is the unit
square). Their order must match how a detection head flattens its conv outputs: a head
producing ``[N, boxes * 4, H, W]`` per feature map is permuted to ``[N, H, W, boxes * 4]``
and reshaped to ``[N, H * W * boxes, 4]``, then the maps are concatenated. So the boxes are
ordered by feature map, then by cell in row-major order (``y`` then ``x``), then by box
within the cell (``boxes_per_cell`` documents the within-cell order).
"""

from __future__ import annotations

import math

import torch
from torch import Tensor

from compiler.detection.cells import boxes_per_cell  # noqa: F401 (re-exported)
from graphspec.ir import DetectionHead


def ssd_scales(num_maps: int, min_scale: float, max_scale: float) -> list[float]:
    """Box scale of each feature map: ``s_k = s_min + (s_max - s_min) (k - 1) / (m - 1)``.

    The scales are spread linearly so the lowest (finest) map gets ``min_scale`` and the
    highest ``max_scale`` (SSD paper, eq. 4). A single map gets ``min_scale``.
    """
    if num_maps < 1:
        raise ValueError(f"num_maps must be >= 1, got {num_maps}")
    if num_maps == 1:
        return [float(min_scale)]
    step = (max_scale - min_scale) / (num_maps - 1)
    return [min_scale + step * k for k in range(num_maps)]


def _cell_box_sizes(
    scale: float, next_scale: float, aspect_ratios: list[float]
) -> list[tuple[float, float]]:
    """``(w, h)`` of every box of one cell, in the order documented by ``boxes_per_cell``."""
    between = math.sqrt(scale * next_scale)
    sizes = [(scale, scale), (between, between)]
    for ratio in aspect_ratios:
        root = math.sqrt(ratio)
        sizes.append((scale * root, scale / root))
        sizes.append((scale / root, scale * root))
    return sizes


def ssd_default_boxes(
    feature_sizes: list[tuple[int, int]],
    min_scale: float,
    max_scale: float,
    aspect_ratios: list[list[float]],
    *,
    clip: bool = True,
    device: torch.device | str | None = None,
    dtype: torch.dtype = torch.float32,
) -> Tensor:
    """All default boxes of an SSD head, ``[A, 4]`` normalised ``(cx, cy, w, h)``.

    Args:
        feature_sizes: ``(height, width)`` of each feature map, finest first.
        min_scale, max_scale: scales of the first and last map (``ssd_scales``).
        aspect_ratios: extra aspect ratios per map, e.g. ``[[2], [2, 3], ...]``; each ``r``
            adds both ``r`` and ``1 / r``.
        clip: clamp every ``(cx, cy, w, h)`` value to ``[0, 1]``, as the reference SSD
            implementations do. This caps boxes wider or taller than the image (the large
            ratio boxes of the coarse maps); centres are always inside already.
        device, dtype: where to create the boxes.

    The cell at row ``i``, column ``j`` of an ``H x W`` map is centred at
    ``((j + 0.5) / W, (i + 0.5) / H)``. The second ratio-1 box of map ``k`` has size
    ``sqrt(s_k * s_{k+1})``; the last map has no ``s_{m+1}``, so it uses ``1.0`` (the whole
    image), which is what the reference implementations do with ``max_scale = 0.9``.
    """
    if len(feature_sizes) != len(aspect_ratios):
        raise ValueError(
            f"got {len(feature_sizes)} feature sizes but {len(aspect_ratios)} aspect ratio lists"
        )
    scales = ssd_scales(len(feature_sizes), min_scale, max_scale) + [1.0]
    per_map = []
    for k, ((height, width), ratios) in enumerate(zip(feature_sizes, aspect_ratios, strict=True)):
        sizes = torch.tensor(
            _cell_box_sizes(scales[k], scales[k + 1], ratios), device=device, dtype=dtype
        )
        cy = (torch.arange(height, device=device, dtype=dtype) + 0.5) / height
        cx = (torch.arange(width, device=device, dtype=dtype) + 0.5) / width
        grid_y, grid_x = torch.meshgrid(cy, cx, indexing="ij")
        centres = torch.stack((grid_x, grid_y), dim=-1).reshape(-1, 1, 2)  # [H*W, 1, 2]
        boxes = torch.cat(
            (centres.expand(-1, sizes.shape[0], 2), sizes.expand(centres.shape[0], -1, 2)),
            dim=-1,
        )  # [H*W, boxes, 4]: cell-major, box within the cell fastest
        per_map.append(boxes.reshape(-1, 4))
    anchors = torch.cat(per_map)
    return anchors.clamp(min=0.0, max=1.0) if clip else anchors


def head_default_boxes(layout: DetectionHead, device: torch.device | str | None = None) -> Tensor:
    """The default boxes of the SSD head a compiled graph records (``Graph.detection``):
    the one place the harness, the loss and the ONNX export read the anchor layout from."""
    if layout.anchors is None:
        raise ValueError(f"a {layout.type} head has no default boxes")
    return ssd_default_boxes(
        list(layout.feature_sizes),
        layout.anchors.min_scale,
        layout.anchors.max_scale,
        [list(r) for r in layout.anchors.aspect_ratios],
        device=device,
    )
