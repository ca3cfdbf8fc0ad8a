"""Pictures of instances: each object's mask blended in a colour of its own.

Semantic overlays colour pixels by class (:func:`~benchmarks.figures.overlay.
segmentation_overlay`); an instance segmenter separates objects of one class, so here
each instance gets its own colour (the VOC palette by instance number) and its box and
class label are drawn on top by the detector's drawing.
"""

from __future__ import annotations

import numpy as np
from PIL import Image

from benchmarks.figures.overlay import ALPHA, palette

__all__ = ["blend_instances", "instance_ids"]


def blend_instances(image: Image.Image, masks: np.ndarray) -> Image.Image:
    """``image`` with instance ``i`` of ``masks`` (``[D, H, W]`` bool at the image's size)
    blended in colour ``i + 1``; where instances overlap the first (best scoring) shows."""
    ids = instance_ids(masks)
    colours = palette(int(ids.max()) + 1 if ids.size else 1).astype(np.float32)
    base = np.asarray(image.convert("RGB"), dtype=np.float32)
    blend = np.where((ids > 0)[..., None], (1 - ALPHA) * base + ALPHA * colours[ids], base)
    return Image.fromarray(blend.round().astype(np.uint8))


def instance_ids(masks: np.ndarray) -> np.ndarray:
    """``[H, W]`` int: 0 background, ``i + 1`` where instance ``i`` is the first to cover
    the pixel (instances in score order, so the best scoring wins an overlap)."""
    if masks.shape[0] == 0:
        return np.zeros(masks.shape[1:], dtype=np.int64)
    covered = masks.any(0)
    return np.where(covered, masks.argmax(0) + 1, 0).astype(np.int64)
