"""Built-in region proposals for R-CNN / Fast R-CNN: "objectness by edge contrast".

R-CNN and Fast R-CNN classify ~2000 externally computed proposals (selective search) per
image. So that a model can compute its own proposals inside ``forward`` from nothing but the
image, ``window_proposals`` implements a cheap, deterministic stand-in in the spirit of
Alexe et al.'s objectness and EdgeBoxes:

*The rule.* Edges live on the lines of the pixel grid: the absolute difference of two
neighbouring pixels (after a 3-pixel mean along the line), summed over channels, so an
object's contour lies exactly on its tight box. Windows of several sizes and aspect ratios
slide over the image at a quarter-window stride, and integral images of the line edges give
each window, in O(1), the score ``border - ring - interior / 2 + excess / 2``: the mean edge
strength on its border band (the outer 10% of each side, at least the boundary line),
minus the mean on a ring outside it (20% of the side), minus half the mean inside the band,
plus half the *excess*, the window's edge mass above the ring's level per unit of perimeter
(which also credits contours crossing the box, like a triangle's slanted sides). A tight box
has its contour on its border, quiet surroundings and a flat interior. For each size and
ratio the windows that are local maxima of the score among their 3 x 3 neighbours rank
first; the best ``4 * count`` windows are refined by coordinate ascent on the score (each
side moves by one or two steps of 5% of the side, halving each round down to one pixel),
and greedy NMS at ``nms_iou`` keeps the best ``count``. Everything is deterministic; a
constant image scores all windows 0 and gets boxes in a fixed order.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import torch
import torch.nn.functional as F
from torch import Tensor

from compiler.detection.box_ops import nms

_BAND = 0.1  # border band thickness, fraction of the window's side
_RING = 0.2  # outside ring thickness, fraction of the window's side
_INTERIOR_WEIGHT = 0.5
_EXCESS_WEIGHT = 0.5
_SIZE_RANGE = (1 / 8, 3 / 4)  # default window sides, fraction of the shorter image side
_NUM_SIZES = 6
_STEP = 0.25  # default stride, fraction of the window's width / height
_PRE_NMS = 4  # NMS looks at the best ``_PRE_NMS * count`` windows only
_REFINE_ROUNDS = 2  # at least; more on large images, until the step is down to 1 pixel
_REFINE_STEP = 0.05  # first refinement step, fraction of the box side; halved each round
_OFFSETS = (-1, 1, -2, 2)  # refinement moves, in steps


def default_sizes(height: int, width: int) -> list[float]:
    """Window sides (pixels) from 1/8 to 3/4 of the shorter image side, geometric steps:
    object sizes are roughly log-uniform, so equal ratios give equal IoU coverage."""
    low, high = (f * min(height, width) for f in _SIZE_RANGE)
    step = (high / low) ** (1 / (_NUM_SIZES - 1))
    return [low * step**i for i in range(_NUM_SIZES)]


def _line_edges(images: Tensor) -> tuple[Tensor, Tensor]:
    """Edge strength on the pixel grid's lines, summed over channels (float32).

    Vertical lines ``[N, H, W + 1]`` hold ``|I[y, l] - I[y, l - 1]|`` (line ``l`` lies
    between columns ``l - 1`` and ``l``), horizontal lines ``[N, H + 1, W]`` the same down
    the rows. An object's contour then sits exactly on its tight box's boundary lines,
    whereas a per-pixel gradient smears it over both sides and biases boxes one pixel large
    (IoU 0.7 for a 10-pixel object). Each difference is taken on the image averaged over 3
    pixels *along* the line, which damps pixel noise without moving the edge; lines 0 and
    W (0 and H) are the image border, not edges. Slicing and pooling keep each image's
    result independent of the batch."""
    x = images.detach().float()
    along_y = F.avg_pool2d(F.pad(x, (0, 0, 1, 1), mode="replicate"), (3, 1), stride=1)
    along_x = F.avg_pool2d(F.pad(x, (1, 1, 0, 0), mode="replicate"), (1, 3), stride=1)
    vertical = (along_y[..., :, 1:] - along_y[..., :, :-1]).abs().sum(dim=1)
    horizontal = (along_x[..., 1:, :] - along_x[..., :-1, :]).abs().sum(dim=1)
    return F.pad(vertical, (1, 1)), F.pad(horizontal, (0, 0, 1, 1))


def _edge_table(images: Tensor) -> Tensor:
    """Both line maps' zero-padded integral images, flattened side by side ``[N, T]``, in
    float32 (accumulated in float64): a float32 gather is several times faster, and even
    for a 1000 x 1000 image the rounding (~1e-7 of the total) is far below the edge mass of
    any window. One table lets ``_mass`` index both maps with plain offsets."""
    tables = [
        F.pad(edges.double().cumsum(1).cumsum(2), (1, 0, 1, 0)).float().flatten(1)
        for edges in _line_edges(images)
    ]
    return torch.cat(tables, dim=1)


def _mass(table: Tensor, boxes: Tensor, height: int, width: int) -> Tensor:
    """Edge mass on the grid lines in closed integer boxes (boundary lines included):
    vertical lines ``x1..x2`` over rows ``[y1, y2)`` plus horizontal lines ``y1..y2`` over
    columns ``[x1, x2)``. ``boxes`` is planar, ``[4, K]`` (shared by all images) or
    ``[4, N, K]`` -> ``[N, K]``: eight lookups per box."""
    x1, y1, x2, y2 = boxes
    v_row, h_row = width + 2, width + 1  # row strides of the two integral images
    v_y1, v_y2 = y1 * v_row, y2 * v_row
    h_y1, h_y2 = (height + 1) * v_row + y1 * h_row, (height + 1) * v_row + (y2 + 1) * h_row
    x2v = x2 + 1

    def at(index: Tensor) -> Tensor:
        return table[:, index] if index.dim() == 1 else table.gather(1, index)

    # Eight separate lookups: cheaper than stacking the indices for one gather.
    vertical = at(v_y2 + x2v) + at(v_y1 + x1) - at(v_y1 + x2v) - at(v_y2 + x1)
    horizontal = at(h_y2 + x2) + at(h_y1 + x1) - at(h_y1 + x2) - at(h_y2 + x1)
    return vertical + horizontal


def _size(boxes: Tensor) -> Tensor:
    """Number of grid-line elements ``_mass`` sums over for each planar box."""
    w, h = boxes[2] - boxes[0], boxes[3] - boxes[1]
    return ((w + 1) * h + (h + 1) * w).float()


def _grow(boxes: Tensor, dx: Tensor, dy: Tensor, height: int, width: int) -> Tensor:
    """Planar integer boxes grown by ``dx`` / ``dy`` per side (shrunk when negative),
    clipped to the image."""
    x1, y1, x2, y2 = boxes
    return torch.stack(
        ((x1 - dx).clamp(min=0), (y1 - dy).clamp(min=0), (x2 + dx).clamp(max=width),
         (y2 + dy).clamp(max=height))
    )  # fmt: skip


def _score(table: Tensor, boxes: Tensor, height: int, width: int) -> Tensor:
    """Edge contrast of planar integer windows (``[4, K]`` or ``[4, N, K]``) -> ``[N, K]``
    float32 (module docstring). The region masses come from one ``_mass`` call."""
    w, h = boxes[2] - boxes[0], boxes[3] - boxes[1]
    band_x = torch.minimum((w * _BAND).round().long().clamp(min=1), w // 2)
    band_y = torch.minimum((h * _BAND).round().long().clamp(min=1), h // 2)
    ring_x = (w * _RING).round().long().clamp(min=1)
    ring_y = (h * _RING).round().long().clamp(min=1)
    inner = _grow(boxes, -band_x, -band_y, height, width)
    outer = _grow(boxes, ring_x, ring_y, height, width)
    regions = torch.cat((boxes, inner, outer), dim=-1)
    mass_box, mass_inner, mass_outer = _mass(table, regions, height, width).chunk(3, dim=1)
    size_box, size_inner, size_outer = _size(regions).chunk(3, dim=-1)
    border = (mass_box - mass_inner) / (size_box - size_inner).clamp(min=1)
    ring = (mass_outer - mass_box) / (size_outer - size_box).clamp(min=1)
    interior = mass_inner / size_inner.clamp(min=1)
    excess = (mass_box - ring * size_box) / (2 * (w + h)).float().clamp(min=1)
    return border - ring - _INTERIOR_WEIGHT * interior + _EXCESS_WEIGHT * excess


def _refine(
    table: Tensor, boxes: Tensor, scores: Tensor, height: int, width: int
) -> tuple[Tensor, Tensor]:
    """Coordinate ascent on the score for planar boxes ``[4, N, K]`` with their scores
    ``[N, K]``: each side in turn moves by one or two steps if that beats the current box,
    with steps halving each round (coarse to fine). Snaps grid windows onto the object's
    edges, which the grid alone only hits to within half a stride (on small objects, the
    difference between IoU 0.5 and 0.9). The number of rounds depends on the image size
    only, so an image's result does not depend on its batch."""
    offsets = torch.tensor(_OFFSETS, device=boxes.device)
    limits = (width, height)
    largest_step = _REFINE_STEP * max(height, width)
    rounds = max(_REFINE_ROUNDS, 1 + math.floor(math.log2(max(largest_step, 1.0))))
    for round_index in range(rounds):
        fraction = _REFINE_STEP / 2**round_index
        for side in range(4):
            axis = side % 2
            step = ((boxes[axis + 2] - boxes[axis]) * fraction).round().long().clamp(min=1)
            moved = boxes[side, :, :, None] + offsets * step[..., None]  # [N, K, moves]
            if side < 2:  # x1 / y1: stay >= 0 and >= 2 pixels before x2 / y2
                moved = torch.minimum(moved.clamp(min=0), boxes[side + 2, :, :, None] - 2)
            else:
                moved = torch.maximum(
                    moved.clamp(max=limits[axis]), boxes[side - 2, :, :, None] + 2
                )
            cand = boxes[:, :, :, None].repeat(1, 1, 1, len(_OFFSETS))
            cand[side] = moved
            cand_scores = _score(table, cand.flatten(2), height, width).view(moved.shape)
            best_scores, best = cand_scores.max(dim=-1)
            better = best_scores > scores
            boxes[side] = torch.where(better, moved.gather(2, best[..., None])[..., 0], boxes[side])
            scores = torch.where(better, best_scores, scores)
    return boxes, scores


def _starts(extent: int, side: int, step: float, device: torch.device) -> Tensor:
    """Integer window starts from 0 to ``extent - side``, evenly spread at most ``step``
    apart, so both image edges are touched."""
    span = extent - side
    count = math.ceil(span / step) + 1 if span > 0 else 1
    return torch.linspace(0, span, count, device=device, dtype=torch.float64).round().long()


def _window_grid(
    height: int, width: int, size: float, ratio: float, stride: float | None, device: torch.device
) -> Tensor:
    """Planar integer windows ``[4, ny, nx]``, area ~``size**2``, ``height / width = ratio``."""
    w = min(width, max(2, round(size / math.sqrt(ratio))))
    h = min(height, max(2, round(size * math.sqrt(ratio))))
    xs = _starts(width, w, stride if stride else max(1.0, _STEP * w), device)
    ys = _starts(height, h, stride if stride else max(1.0, _STEP * h), device)
    x1, y1 = xs[None, :].expand(len(ys), -1), ys[:, None].expand(-1, len(xs))
    return torch.stack((x1, y1, x1 + w, y1 + h))


def _local_max(scores: Tensor) -> Tensor:
    """``[N, ny, nx]`` -> mask of windows no 3 x 3 neighbour (same size/ratio) beats."""
    pooled = F.max_pool2d(scores[:, None], 3, stride=1, padding=1)[:, 0]
    return scores >= pooled


def _grid_scores(
    table: Tensor,
    height: int,
    width: int,
    sizes: Sequence[float] | None,
    ratios: Sequence[float],
    stride: float | None,
) -> tuple[Tensor, Tensor, Tensor]:
    """Every sliding window (planar ``[4, K]``, int64), its score ``[N, K]`` and whether it is a
    local maximum among its 3 x 3 neighbours of the same size and ratio ``[N, K]``."""
    boxes, scores, peaks = [], [], []
    for size in sizes if sizes is not None else default_sizes(height, width):
        for ratio in ratios:
            grid = _window_grid(height, width, float(size), float(ratio), stride, table.device)
            score = _score(table, grid.flatten(1), height, width).view(-1, *grid.shape[1:])
            boxes.append(grid.flatten(1))
            scores.append(score.flatten(1))
            peaks.append(_local_max(score).flatten(1))
    return torch.cat(boxes, dim=1), torch.cat(scores, dim=1), torch.cat(peaks, dim=1)


def _check(
    images: Tensor,
    count: int,
    sizes: Sequence[float] | None,
    ratios: Sequence[float],
    stride: float | None,
    nms_iou: float,
) -> None:
    """Reject arguments that would silently give no, or meaningless, windows."""
    if images.dim() != 4:
        raise ValueError(f"window_proposals: images must be [N, C, H, W], got {images.shape}")
    if min(images.shape[-2:]) < 2:
        raise ValueError(f"window_proposals: images must be at least 2 x 2, got {images.shape}")
    if count < 1:
        raise ValueError(f"window_proposals: count must be >= 1, got {count}")
    if not ratios or min(ratios) <= 0:
        raise ValueError(f"window_proposals: ratios must be positive, got {list(ratios)}")
    if sizes is not None and (not sizes or min(sizes) <= 0):
        raise ValueError(f"window_proposals: sizes must be positive, got {list(sizes)}")
    if stride is not None and stride <= 0:
        raise ValueError(f"window_proposals: stride must be positive, got {stride}")
    if not 0 < nms_iou <= 1:
        raise ValueError(f"window_proposals: nms_iou must be in (0, 1], got {nms_iou}")


@torch.no_grad()
def window_proposals(
    images: Tensor,
    *,
    count: int = 300,
    sizes: Sequence[float] | None = None,
    ratios: Sequence[float] = (0.5, 1.0, 2.0),
    stride: float | None = None,
    nms_iou: float = 0.7,
) -> list[Tensor]:
    """Class-agnostic region proposals for each image, by edge contrast (module docstring).

    Args:
        images: ``[N, C, H, W]``, any value range (only gradients matter).
        count: at most this many proposals per image.
        sizes: window sides in pixels (``sqrt`` of the area); default: six from 1/8 to 3/4
            of the shorter image side.
        ratios: window ``height / width`` ratios.
        stride: step in pixels between neighbouring windows; default a quarter of each
            window's width (horizontally) and height (vertically).
        nms_iou: windows overlapping a better kept one by more than this IoU are dropped.

    Returns:
        Per image, ``[L, 4]`` float32 ``xyxy`` pixel boxes (``L <= count``), best first,
        on the images' device. The same image gives the same boxes alone or in any batch.
    """
    _check(images, count, sizes, ratios, stride, nms_iou)
    height, width = images.shape[-2:]
    table = _edge_table(images)
    windows, scores, peaks = _grid_scores(table, height, width, sizes, ratios, stride)
    keep = min(windows.shape[1], _PRE_NMS * count)
    # Local maxima first, each group by decreasing score; stable sorts, so ties (e.g. a
    # constant image) keep the fixed window order.
    order = torch.sort(scores, dim=1, descending=True, stable=True).indices
    peak_first = torch.sort((~peaks.gather(1, order)).byte(), dim=1, stable=True).indices
    top = order.gather(1, peak_first[:, :keep])
    refined, refined_scores = _refine(table, windows[:, top], scores.gather(1, top), height, width)
    results = []
    for image_boxes, image_scores in zip(
        refined.permute(1, 2, 0).float(), refined_scores, strict=True
    ):
        results.append(image_boxes[nms(image_boxes, image_scores, nms_iou)[:count]])
    return results
