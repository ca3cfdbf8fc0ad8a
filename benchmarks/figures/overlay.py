"""PNG pictures of predictions: masks blended over the image, boxes drawn on it.

Drawn with Pillow alone (no figure machinery), at the original image's size, so an overlay
lines up pixel for pixel with the photograph it annotates. Class colours come from a fixed
palette (VOC's bit-interleaved one), so a class has the same colour in every picture.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import numpy as np
from PIL import Image, ImageDraw

from graphspec.atomic import atomic_write

__all__ = ["draw_boxes", "palette", "save_mask", "save_png", "segmentation_overlay"]

ALPHA = 0.5  # weight of the class colour over the image in a segmentation overlay


def palette(classes: int) -> np.ndarray:
    """``[classes, 3]`` uint8 colours: the VOC palette (class 0 black, 1 dark red, ...)."""
    colours = np.zeros((classes, 3), dtype=np.uint8)
    for index in range(classes):
        value, shift = index, 7
        while value:
            for channel in range(3):
                colours[index, channel] |= ((value >> channel) & 1) << shift
            value, shift = value >> 3, shift - 1
    return colours


def save_mask(mask: np.ndarray, path: Path) -> None:
    """A class-index PNG (8-bit, one value per pixel) of an ``[H, W]`` integer mask."""
    save_png(Image.fromarray(mask.astype(np.uint8)), path)


def save_png(image: Image.Image, path: Path) -> None:
    """Write ``image`` as PNG through a temp file: a full disk leaves no half image."""
    atomic_write(path, lambda handle: image.save(handle, format="PNG"), binary=True)


def _legend(draw: ImageDraw.ImageDraw, names: Sequence[str], colours: np.ndarray) -> None:
    """Swatch and name of every class, top left, on a dark band so it stays readable."""
    row = 12
    width = 16 + 7 * max(len(n) for n in names)
    draw.rectangle([0, 0, width, row * len(names) + 2], fill=(0, 0, 0))
    for index, name in enumerate(names):
        top = 2 + index * row
        draw.rectangle([2, top, 10, top + 8], fill=tuple(int(c) for c in colours[index]))
        draw.text((14, top - 1), name, fill=(255, 255, 255))


def segmentation_overlay(image: Image.Image, mask: np.ndarray, names: Sequence[str]) -> Image.Image:
    """``image`` with each pixel's class colour blended in (background left as it is) and
    a legend of the classes present."""
    colours = palette(len(names))
    base = np.asarray(image.convert("RGB"), dtype=np.float32)
    colour = colours[mask].astype(np.float32)
    blend = np.where((mask > 0)[..., None], (1 - ALPHA) * base + ALPHA * colour, base)
    out = Image.fromarray(blend.round().astype(np.uint8))
    present = sorted(int(c) for c in np.unique(mask))
    _legend(ImageDraw.Draw(out), [names[c] for c in present], colours[present])
    return out


def draw_boxes(
    image: Image.Image,
    boxes: np.ndarray,
    labels: Sequence[int],
    scores: Sequence[float],
    names: Sequence[str],
) -> Image.Image:
    """``image`` with every ``[x1, y1, x2, y2]`` box outlined in its class colour and
    labelled ``name score``."""
    out = image.convert("RGB")
    draw = ImageDraw.Draw(out)
    colours = palette(max(len(names), 2))
    for box, label, score in zip(boxes, labels, scores, strict=True):
        colour = tuple(int(c) for c in colours[label]) if label else (255, 255, 255)
        x1, y1, x2, y2 = (float(v) for v in box)
        draw.rectangle([x1, y1, x2, y2], outline=colour, width=2)
        draw.text((x1 + 2, max(0.0, y1 - 11)), f"{names[label]} {score:.2f}", fill=colour)
    return out
