"""RoIAlign's bilinear samples as per-RoI interpolation matrices, and their application.

A RoIAlign sample at ``(y, x)`` weighs row ``y_low`` by ``hy`` and row ``y_high`` by
``ly``, column ``x_low`` by ``hx`` and ``x_high`` by ``lx``, and the kernels' corner
weights are the products (``w1 = hy * hx``...); a sample out of range is 0 when either
coordinate is. So a bin's average is ``rows[ph] @ map @ columns[pw].T`` with ``rows``
``[PH, H]`` summing the row weights of the bin's samples and ``columns`` ``[PW, W]``
likewise: the sampling grid only shapes these small matrices (no channel axis), and the
map is read once per RoI by two matrix products, whatever the grid.
"""

from __future__ import annotations

import contextlib

import torch
from torch import Tensor

__all__ = ["axis_weights", "contract"]


def _first_slots(base: Tensor, bin_size: Tensor, grid: Tensor) -> Tensor:
    """The padded adaptive grid's first slot per bin: two slots before the first sample
    at or past -1 on its axis (the earlier ones are all 0; the spare slots and float64
    absorb rounding), so a RoI reaching far above the map still lands in the window."""
    step = (bin_size.double() / grid.double())[:, None]
    step = torch.where(grid[:, None] > 0, step, 1.0)
    first = (-1.0 - base.double()) / step - 0.5
    return (first.floor() - 2).clamp(0, 2.0**40).long()


def _adaptive_slots(grid: Tensor, size: int) -> int:
    """Slots of the padded adaptive grid: ``2 * size + 8`` cover every sample that can
    fall on the map (see :func:`axis_weights`). Running eagerly, the largest grid, when
    smaller, is enough (RoIs of ordinary size need a handful of slots, not ~2 H); on
    the meta device (a FLOP count) there are no values to read."""
    window = 2 * size + 8
    if torch.compiler.is_compiling() or grid.numel() == 0 or grid.is_meta:
        return window
    return max(1, min(window, int(grid.max())))


def axis_weights(
    start: Tensor, length: Tensor, pooled: int, size: int, sampling_ratio: int
) -> tuple[Tensor, Tensor]:
    """Row (or column) interpolation weights ``[K, pooled, size]`` summed over each bin's
    samples on this axis, and the grid ``[K]`` (samples per bin on this axis).

    A fixed grid has ``sampling_ratio`` slots. The adaptive grid, ``ceil(length /
    pooled)``, is data-dependent, so it is padded to a window of ``2 * size + 8`` slots
    starting just before the map (or to the largest grid, when smaller and not tracing),
    masked by ``slot < grid``: its samples are more than 0.5 apart, so at most ``2 *
    size + 2`` of them fall in ``[-1, size]`` and every other one is 0 anyway. The window
    keeps shapes static when tracing (ONNX) and memory bounded for a RoI of any size."""
    dtype = start.dtype
    bins = torch.arange(pooled, device=start.device, dtype=dtype)
    bin_size = length / pooled
    base = start[:, None] + bins * bin_size[:, None]  # kernel: roi_start + ph * bin_size
    if sampling_ratio > 0:
        grid = torch.full_like(start, sampling_ratio, dtype=torch.long)
        first = torch.zeros_like(base, dtype=torch.long)
        slots = sampling_ratio
    else:
        grid = bin_size.ceil().long()  # kernel: ceil(roi_height / pooled_height)
        first = _first_slots(base, bin_size, grid)
        slots = _adaptive_slots(grid, size)
    index = first[..., None] + torch.arange(slots, device=start.device)  # [K, P, S]
    # kernel: static_cast<T>(iy + .5f) * bin_size / static_cast<T>(grid), in that order
    spread = (index.to(dtype) + 0.5) * bin_size[:, None, None] / grid.to(dtype)[:, None, None]
    position = base[..., None] + spread
    valid = (index < grid[:, None, None]) & (position >= -1.0) & (position <= size)
    position = torch.where(valid, position.clamp(min=0.0), 0.0)
    low = position.floor().long()
    top = low >= size - 1  # the last row is used alone, at weight 1
    high = torch.where(top, size - 1, low + 1)
    low = torch.where(top, size - 1, low)
    frac = torch.where(top, 0.0, position - low.to(dtype))
    zero = torch.zeros((), device=start.device, dtype=dtype)
    weights = torch.zeros((*base.shape, size), device=start.device, dtype=dtype)
    weights = weights.scatter_add(2, low, torch.where(valid, 1.0 - frac, zero))
    weights = weights.scatter_add(2, high, torch.where(valid, frac, zero))
    return weights, grid


def _fold_batch(weights: Tensor, batch: Tensor, images: int) -> Tensor:
    """``[K, P, H] -> [K * P, N * H]``: each RoI's weights placed in its image's block, so
    one matrix product reads every RoI from its own image."""
    pick = batch[:, None] == torch.arange(images, device=batch.device)
    folded = torch.where(pick[:, None, :, None], weights[:, :, None, :], 0.0)
    return folded.reshape(weights.shape[0] * weights.shape[1], images * weights.shape[2])


def _by_image(rows: Tensor, by_row: Tensor, batch: Tensor, images: int) -> Tensor:
    """``[K * PH, C * W]``: each RoI's rows times its own image's ``[H, C * W]`` block,
    one product per image (eager, several images: the folded product of
    :func:`_fold_batch` would read every image for every RoI)."""
    count, pooled_h, height = rows.shape
    out = rows.new_empty((count, pooled_h, by_row.shape[1]))
    blocks = by_row.view(images, height, -1)
    for image in range(images):
        index = (batch == image).nonzero().flatten()
        if index.numel():
            out.index_copy_(0, index, rows.index_select(0, index) @ blocks[image])
    return out.view(count * pooled_h, by_row.shape[1])


def _rows_first(x: Tensor, rows: Tensor, columns: Tensor, batch: Tensor) -> Tensor:
    """``[K, C, PH, PW]`` as (rows @ map) @ columns.T, the intermediate ``[K, PH, C, W]``."""
    images, channels, height, width = x.shape
    count, pooled_h = rows.shape[:2]
    by_row = x.permute(0, 2, 1, 3).reshape(images * height, channels * width)
    if images > 1 and not torch.compiler.is_compiling() and not x.is_meta:
        partial = _by_image(rows, by_row, batch, images)
    else:
        partial = _fold_batch(rows, batch, images) @ by_row  # [K * PH, C * W]
    out = partial.view(count, pooled_h * channels, width) @ columns.transpose(1, 2)
    return out.view(count, pooled_h, channels, columns.shape[1]).permute(0, 2, 1, 3)


def contract(x: Tensor, rows: Tensor, columns: Tensor, batch: Tensor) -> Tensor:
    """``out[k, c] = rows[k] @ x[batch[k], c] @ columns[k].T``, ``[K, C, PH, PW]``.

    The axis reduced first is the one whose intermediate (``PH * W`` or ``PW * H`` per RoI
    and channel) is smaller. Autocast would run the products in bfloat16 / float16 and
    round the weights, so it is switched off here (torchvision's kernels upcast too)."""
    pooled_h, pooled_w = rows.shape[1], columns.shape[1]
    height, width = x.shape[2:]
    autocast = x.device.type != "meta" and torch.is_autocast_enabled(x.device.type)
    off = torch.autocast(x.device.type, enabled=False) if autocast else contextlib.nullcontext()
    with off:
        if pooled_h * width <= pooled_w * height:
            out = _rows_first(x, rows, columns, batch)
        else:
            out = _rows_first(x.transpose(2, 3), columns, rows, batch).transpose(2, 3)
    return out.contiguous()
