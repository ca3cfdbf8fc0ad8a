"""How many SSD default boxes a cell has: the one piece of the anchor layout the compiler's
SSD head pass needs (its conv widths), kept free of torch so ``graphspec check`` compiles
detection specs without importing it (``anchors`` builds the boxes themselves)."""

from __future__ import annotations

__all__ = ["boxes_per_cell"]


def boxes_per_cell(aspect_ratios: list[float]) -> int:
    """Number of default boxes per cell for a map with the given extra aspect ratios.

    Within a cell, boxes come in this order: aspect ratio 1 at scale ``s_k``; aspect ratio 1
    at ``sqrt(s_k * s_{k+1})``; then for each listed ratio ``r``, the box of ratio ``r``
    (wide: ``w = s_k sqrt(r)``, ``h = s_k / sqrt(r)``) followed by ``1 / r`` (tall).
    """
    return 2 + 2 * len(aspect_ratios)
