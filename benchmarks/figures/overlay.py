"""PNG pictures of predictions: masks blended over the image, boxes drawn on it.

Drawn with Pillow alone (no figure machinery), at the original image's size, so an overlay
lines up pixel for pixel with the photograph it annotates. Class colours come from a fixed
palette (VOC's bit-interleaved one), so a class has the same colour in every picture.
Class 0 is the background: a mask overlay leaves it uncoloured, no box is of it.

A job's predictions strip shows small inputs (64x64) enlarged, with one legend under the
strip instead of one over each tile. The tasks draw its tiles through a fixed interface
(image, prediction, class names), so the strip asks for that through :func:`drawing`: within
it, every picture is first enlarged by a whole factor, nearest-neighbour (pixels stay sharp;
boxes and their labels are drawn at the larger size, so they stay thin and legible), and the
per-picture legend is left out; :func:`legend_band` draws the shared one. Outside it
(``graphspec predict``, ``val``) pictures keep their size and their legend.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from PIL import Image, ImageDraw, ImageFont

from graphspec.atomic import atomic_write

__all__ = [
    "draw_boxes",
    "drawing",
    "enlarged",
    "legend_band",
    "palette",
    "save_mask",
    "save_png",
    "segmentation_overlay",
]

ALPHA = 0.5  # weight of the class colour over the image in a segmentation overlay
BAND_FONT_SIZE = 12
"""Point size of the names in a :func:`legend_band`."""


@dataclass(frozen=True)
class _Drawing:
    """How pictures are drawn: enlarged ``scale`` times, with or without a class legend."""

    scale: int = 1
    legend: bool = True


_PLAIN = _Drawing()
_DRAWING: ContextVar[_Drawing | None] = ContextVar("drawing", default=None)


def _style() -> _Drawing:
    """The drawing asked for by the innermost :func:`drawing`, else the plain one."""
    return _DRAWING.get() or _PLAIN


@contextmanager
def drawing(scale: int = 1, legend: bool = True) -> Iterator[None]:
    """Within it, overlays and boxes are drawn on the picture enlarged ``scale`` times
    (nearest-neighbour), and with a class legend only when ``legend``."""
    if isinstance(scale, bool) or not isinstance(scale, int) or scale < 1:
        raise ValueError(f"scale must be an integer >= 1, got {scale!r}")
    token = _DRAWING.set(_Drawing(scale, legend))
    try:
        yield
    finally:
        _DRAWING.reset(token)


def enlarged(image: Image.Image, scale: int) -> Image.Image:
    """``image`` ``scale`` times larger, nearest-neighbour: each pixel a sharp square."""
    if scale == 1:
        return image
    return image.resize((image.width * scale, image.height * scale), Image.Resampling.NEAREST)


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
    """An index PNG (one value per pixel) of an ``[H, W]`` integer mask: class indices, or
    instance ids; 8-bit, or 16-bit when a value is above 255 (many instances)."""
    dtype = np.uint16 if mask.size and int(mask.max()) > 255 else np.uint8
    save_png(Image.fromarray(mask.astype(dtype)), path)


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
    a legend of the classes present (enlarged, and without the legend, within
    :func:`drawing`)."""
    style = _style()
    mask = np.asarray(mask).repeat(style.scale, axis=0).repeat(style.scale, axis=1)
    colours = palette(len(names))
    base = np.asarray(enlarged(image.convert("RGB"), style.scale), dtype=np.float32)
    colour = colours[mask].astype(np.float32)
    blend = np.where((mask > 0)[..., None], (1 - ALPHA) * base + ALPHA * colour, base)
    out = Image.fromarray(blend.round().astype(np.uint8))
    if style.legend:
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
    """``image`` with every ``[x1, y1, x2, y2]`` box (in ``image``'s pixels) outlined in its
    class colour and labelled ``name score`` (on the enlarged image within :func:`drawing`)."""
    scale = _style().scale
    out = enlarged(image.convert("RGB"), scale)
    draw = ImageDraw.Draw(out)
    colours = palette(max(len(names), 2))
    for box, label, score in zip(boxes, labels, scores, strict=True):
        colour = tuple(int(c) for c in colours[label]) if label else (255, 255, 255)
        x1, y1, x2, y2 = (float(v) * scale for v in box)
        draw.rectangle([x1, y1, x2, y2], outline=colour, width=2)
        draw.text((x1 + 2, max(0.0, y1 - 11)), f"{names[label]} {score:.2f}", fill=colour)
    return out


def _font(size: int) -> ImageFont.ImageFont | ImageFont.FreeTypeFont:
    """Pillow's own font at ``size`` (its one bitmap size before Pillow 10.1)."""
    try:
        return ImageFont.load_default(size=size)
    except TypeError:
        return ImageFont.load_default()


def legend_band(names: Sequence[str], width: int) -> Image.Image | None:
    """A white band ``width`` pixels wide naming each coloured class (1 on; class 0, the
    background, is never drawn in colour) beside a swatch of its colour, in as many rows
    as the names need; it goes under a strip of pictures instead of a legend on each. None
    when no class is drawn in colour."""
    font, colours = _font(BAND_FONT_SIZE), palette(len(names))
    line, pad, swatch = BAND_FONT_SIZE + 8, 6, BAND_FONT_SIZE - 2
    measure = ImageDraw.Draw(Image.new("RGB", (1, 1)))
    entries, x, row = [], pad, 0
    for index in range(1, len(names)):
        size = swatch + 4 + round(measure.textlength(names[index], font=font))
        if x > pad and x + size > width - pad:  # wrap onto the next row
            x, row = pad, row + 1
        entries.append((index, x, pad + row * line))
        x += size + 3 * pad
    if not entries:
        return None
    band = Image.new("RGB", (width, 2 * pad + line * (row + 1)), (255, 255, 255))
    draw = ImageDraw.Draw(band)
    for index, left, top in entries:
        box = [left, top + 3, left + swatch, top + 3 + swatch]
        draw.rectangle(box, fill=tuple(int(c) for c in colours[index]), outline=(0, 0, 0))
        draw.text((left + swatch + 4, top), names[index], fill=(0, 0, 0), font=font)
    return band
