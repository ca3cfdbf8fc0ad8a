"""RoI max pooling and RoIAlign: torchvision's signatures and results, in plain torch.

Generated sources may import only ``torch`` and :mod:`compiler.ops`, and torchvision's
wheels link CUDA libraries and pin a torch build, so the two ops are re-derived here from
the reference kernels (torchvision's CPU/CUDA ``roi_pool`` / ``roi_align`` and the Caffe
layer; ``shared/design/two-stage.md``). Every coordinate is computed with the kernels'
formulas, in their order, in the input's float type (float32 for float16 / bfloat16), so
the bins and samples come out exactly where the kernels put them.

Both ops are vectorised over RoIs and bins (no Python loop over either) and trace: no
data-dependent shape under ``torch.compile`` / ``torch.export``, so ``torch.onnx.export``
(dynamo) decomposes them into standard ONNX ops. As in torchvision, the boxes get no
gradient (they are detached).

Where the results can differ from the kernels: NaN inputs (the kernels' ``>`` scan skips
them; here they are unspecified); a non-empty max-pool bin holding only ``-inf`` (the
kernels give ``-FLT_MAX``); a batch index out of range (the kernels read past the
input; here an error or zeros); RoIAlign sums in another order (float rounding only).
Costs: RoIAlign reads the whole map for each RoI (two products, ``~2 K PH N H C W``
multiply-adds; every image for every RoI when ``N > 1``), cheap next to the detector's
convolutions at conv5 sizes, not at FPN P2 sizes. Max pooling builds
``(log2 extent + 1)^2`` channel-last copies of the map; when tracing, the extent is the
map's size (a shape may not depend on the boxes there).
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
from torch import Tensor

from compiler.ops.roi_bilinear import axis_weights, contract
from compiler.ops.roi_max import pool_bins

__all__ = ["as_rois", "pair", "roi_align", "roi_pool"]


def pair(output_size: int | Sequence[int]) -> tuple[int, int]:
    """``(PH, PW)`` from an int or a pair, as torchvision's ``_pair`` reads ``output_size``."""
    if isinstance(output_size, int):
        return (output_size, output_size)
    height, width = output_size
    return (int(height), int(width))


def _coordinate_dtype(input: Tensor) -> torch.dtype:
    """float64 stays float64 (gradcheck), everything narrower computes in float32: the
    kernels' coordinate maths in float16 would move bin edges by whole cells."""
    return torch.promote_types(input.dtype, torch.float32)


def as_rois(boxes: Tensor | Sequence[Tensor], input: Tensor) -> Tensor:
    """``[K, 5]`` rows ``(batch_index, x1, y1, x2, y2)`` from either accepted box format,
    detached, on ``input``'s device, in its coordinate dtype.

    A list holds one ``[L, 4]`` tensor per image (image ``i``'s rows get batch index
    ``i``, torchvision's ``convert_boxes_to_roi_format``); an empty list is zero RoIs."""
    dtype = _coordinate_dtype(input)
    if isinstance(boxes, Tensor):
        if boxes.dim() != 2 or boxes.shape[1] != 5:
            raise ValueError(f"boxes tensor must be [K, 5], got {list(boxes.shape)}")
        return boxes.detach().to(device=input.device, dtype=dtype)
    rows = []
    for index, image_boxes in enumerate(boxes):
        if image_boxes.dim() != 2 or image_boxes.shape[1] != 4:
            raise ValueError(f"boxes[{index}] must be [L, 4], got {list(image_boxes.shape)}")
        image_boxes = image_boxes.detach().to(device=input.device, dtype=dtype)
        rows.append(torch.cat([torch.full_like(image_boxes[:, :1], index), image_boxes], 1))
    if not rows:
        return torch.zeros((0, 5), device=input.device, dtype=dtype)
    return torch.cat(rows)


def _check_input(input: Tensor) -> None:
    if input.dim() != 4:
        raise ValueError(f"input must be [N, C, H, W], got {list(input.shape)}")


def roi_pool(
    input: Tensor,
    boxes: Tensor | Sequence[Tensor],
    output_size: int | Sequence[int],
    spatial_scale: float = 1.0,
) -> Tensor:
    """Fast R-CNN's RoI max pooling, ``torchvision.ops.roi_pool``: ``[K, C, PH, PW]``.

    Box corners are scaled and rounded half away from zero (C ``round``; ``torch.round``
    rounds half to even), the end cell is included, bin ``i`` of ``n`` over a length ``L``
    spans ``[floor(i L / n), ceil((i + 1) L / n))`` (neighbours may overlap), bins are
    clipped to the map, an empty bin is 0, and the gradient goes to the first maximum in
    row-major order only. Batch indices must be in range."""
    _check_input(input)
    rois = as_rois(boxes, input)
    return pool_bins(input, rois, pair(output_size), spatial_scale)


def roi_align(
    input: Tensor,
    boxes: Tensor | Sequence[Tensor],
    output_size: int | Sequence[int],
    spatial_scale: float = 1.0,
    sampling_ratio: int = -1,
    aligned: bool = False,
) -> Tensor:
    """Mask R-CNN's RoIAlign, ``torchvision.ops.roi_align``: ``[K, C, PH, PW]``.

    ``aligned`` shifts the scaled box by half a cell (pixel centres); otherwise the RoI's
    height and width are clamped to at least 1. Each bin averages a ``gh x gw`` grid of
    bilinear samples: ``sampling_ratio`` each way, or ``ceil(roi size / bins)`` when it is
    <= 0. A sample above -1 / beyond H (W) is 0 but still counted in the average.

    Bilinear sampling is separable, so the samples become two small interpolation
    matrices per RoI, ``[PH, H]`` and ``[PW, W]`` (any grid size costs the same), applied
    to the map with two matrix products. The products run with autocast off, in the
    input's type (float32 for float16 / bfloat16); TF32 matmuls (``allow_tf32``) would
    round them to ~1e-3."""
    _check_input(input)
    rois = as_rois(boxes, input)
    dtype = rois.dtype
    out_h, out_w = pair(output_size)
    offset = 0.5 if aligned else 0.0
    start_w, start_h, end_w, end_h = (rois[:, 1:] * spatial_scale - offset).unbind(1)
    length_w, length_h = end_w - start_w, end_h - start_h
    if not aligned:  # the kernels force malformed RoIs to 1 x 1
        length_w, length_h = length_w.clamp(min=1.0), length_h.clamp(min=1.0)
    height, width = input.shape[2:]
    rows, grid_h = axis_weights(start_h, length_h, out_h, height, sampling_ratio)
    columns, grid_w = axis_weights(start_w, length_w, out_w, width, sampling_ratio)
    count = (grid_h * grid_w).clamp(min=1).to(dtype)
    rows = rows / count[:, None, None]
    out = contract(input.to(dtype), rows, columns, rois[:, 0].long())
    return out.to(input.dtype)
