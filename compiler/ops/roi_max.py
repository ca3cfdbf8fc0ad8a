"""RoI max pooling over a 2-D sparse table of window maxima.

Bins differ in size from RoI to RoI, so a padded window per bin would cost (RoIs x
channels x the largest bin's area). Instead the map's maxima over every ``2**p x 2**q``
window are tabulated once (``p``, ``q`` up to the largest bin extent), and a bin of
extent ``h x w`` is the maximum of four (overlapping) table entries at ``p =
floor(log2 h)``, ``q = floor(log2 w)``: four lookups per bin and channel, whatever the
bin's size. Each entry also carries the flat position of its maximum so that ties go to
the first position in row-major order, as in the kernels' strict ``>`` scan. The tables
are built without autograd (from the detached map); the winning positions then gather
the output from the map itself, so autograd sends a bin's gradient to that position
alone, and the backward is one scatter instead of a pass back through every table.
"""

from __future__ import annotations

import torch
from torch import Tensor

__all__ = ["bin_edges", "pool_bins", "round_half_away"]


def round_half_away(value: Tensor) -> Tensor:
    """C's ``round``: halves go away from zero (``torch.round`` sends 0.5 to 0). Exact:
    ``value - trunc(value)`` is computed without rounding."""
    whole = value.trunc()
    return whole + torch.where((value - whole).abs() >= 0.5, value.sign(), 0.0)


def bin_edges(start: Tensor, end: Tensor, pooled: int, size: int) -> tuple[Tensor, Tensor]:
    """First and one-past-last cell ``[K, pooled]`` of each bin on one axis, clipped to
    ``[0, size]``, from the rounded RoI ends (the end cell included)."""
    dtype = torch.promote_types(start.dtype, torch.float32)
    length = (end - start + 1).clamp(min=1).long()
    bin_size = length.to(dtype) / pooled
    bins = torch.arange(pooled, device=start.device, dtype=dtype)
    offset = start.long()[:, None]
    low = (bins * bin_size[:, None]).floor().long() + offset
    high = ((bins + 1) * bin_size[:, None]).ceil().long() + offset
    return low.clamp(0, size), high.clamp(0, size)


def _best(a: tuple[Tensor, Tensor], b: tuple[Tensor, Tensor]) -> tuple[Tensor, Tensor]:
    """The larger of two (value, position) entries; equal values keep the lower position."""
    take_b = (b[0] > a[0]) | ((b[0] == a[0]) & (b[1] < a[1]))
    return torch.where(take_b, b[0], a[0]), torch.where(take_b, b[1], a[1])


def _double(entry: tuple[Tensor, Tensor], dim: int, shift: int) -> tuple[Tensor, Tensor]:
    """Next level along ``dim``: windows twice as long; the last ``shift`` entries would
    reach past the map and are never looked up, so they are kept as they are."""
    size = entry[0].shape[dim]
    head = _best(
        tuple(t.narrow(dim, 0, size - shift) for t in entry),  # type: ignore[arg-type]
        tuple(t.narrow(dim, shift, size - shift) for t in entry),  # type: ignore[arg-type]
    )
    tail = [t.narrow(dim, size - shift, shift) for t in entry]
    return torch.cat([head[0], tail[0]], dim), torch.cat([head[1], tail[1]], dim)


def _tables(x: Tensor, levels_h: int, levels_w: int) -> tuple[Tensor, Tensor]:
    """Window maxima and their flat positions, ``[levels_h * levels_w * N * H * W, C]``
    (row ``((p * levels_w + q) * N + n) * H * W + h * W + w`` covers rows ``[h, h + 2**p)``
    and columns ``[w, w + 2**q)`` of image ``n``); channels last, so a lookup is one row."""
    images, channels, height, width = x.shape
    flat = torch.arange(height * width, device=x.device, dtype=torch.int32)
    entry = (x.permute(0, 2, 3, 1), flat.view(1, height, width, 1).expand(images, -1, -1, channels))
    levels = []
    for p in range(levels_h):
        if p:
            entry = _double(entry, 1, 2 ** (p - 1))
        across = entry
        for q in range(levels_w):
            if q:
                across = _double(across, 2, 2 ** (q - 1))
            levels.append(across)
    values = torch.stack([v for v, _ in levels]).reshape(-1, channels)
    positions = torch.stack([i for _, i in levels]).reshape(-1, channels)
    return values, positions


def _level(extent: Tensor, levels: int) -> Tensor:
    """``floor(log2(extent))`` for integer extents >= 1, by comparisons (exact)."""
    powers = 2 ** torch.arange(1, levels, device=extent.device)
    return (extent[..., None] >= powers).sum(-1)


def _levels(extent: Tensor, size: int) -> int:
    """Table levels for one axis: enough for the largest bin when running eagerly; when
    tracing or on the meta device (shapes only: a FLOP count), the map's size (a shape
    may not depend on the boxes there)."""
    if torch.compiler.is_compiling() or extent.numel() == 0 or extent.is_meta:
        return max(size, 1).bit_length()
    return int(extent.max()).bit_length()


def pool_bins(x: Tensor, rois: Tensor, output_size: tuple[int, int], scale: float) -> Tensor:
    """RoI max pooling of ``x`` ``[N, C, H, W]`` over ``rois`` ``[K, 5]``: ``[K, C, PH, PW]``."""
    images, channels, height, width = x.shape
    out_h, out_w = output_size
    ends = round_half_away(rois[:, 1:] * scale)  # kernel: round(x1 * spatial_scale)...
    top, bottom = bin_edges(ends[:, 1], ends[:, 3], out_h, height)
    left, right = bin_edges(ends[:, 0], ends[:, 2], out_w, width)
    empty = (bottom <= top)[:, :, None] | (right <= left)[:, None, :]  # [K, PH, PW]
    extent_h = (bottom - top).clamp(min=1)  # an empty bin reads a valid cell, then is 0
    extent_w = (right - left).clamp(min=1)
    top, left = top.clamp(max=height - 1), left.clamp(max=width - 1)
    levels_h, levels_w = _levels(extent_h, height), _levels(extent_w, width)
    values, positions = _tables(x.detach(), levels_h, levels_w)
    p, q = _level(extent_h, levels_h), _level(extent_w, levels_w)
    rows = torch.stack([top, top + extent_h - 2**p], -1)[:, :, None, :, None]  # [K,PH,1,2,1]
    columns = torch.stack([left, left + extent_w - 2**q], -1)[:, None, :, None, :]
    level = (p[:, :, None] * levels_w + q[:, None, :])[..., None, None]
    image = rois[:, 0].long()[:, None, None, None, None]
    index = (((level * images + image) * height + rows) * width + columns).reshape(-1)
    shape = (rois.shape[0], out_h, out_w, 4, channels)  # corners: (top|bottom, left|right)
    value = values.index_select(0, index).view(shape)
    position = positions.index_select(0, index).view(shape)
    upper = _best((value[..., 0, :], position[..., 0, :]), (value[..., 1, :], position[..., 1, :]))
    lower = _best((value[..., 2, :], position[..., 2, :]), (value[..., 3, :], position[..., 3, :]))
    best = _best(upper, lower)[1].long() + rois[:, 0].long()[:, None, None, None] * (height * width)
    out = x.permute(0, 2, 3, 1).reshape(-1, channels).gather(0, best.view(-1, channels))
    out = torch.where(empty[..., None], 0.0, out.view(best.shape))
    return out.permute(0, 3, 1, 2).contiguous()
