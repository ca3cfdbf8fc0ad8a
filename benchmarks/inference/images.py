"""The image files ``graphspec predict`` reads: found in folders, capped in size, made RGB.

An image file is data from anywhere, so reading one is bounded before anything is decoded:
the size in its header (read without decoding the pixels) must be at most
:data:`MAX_IMAGE_PIXELS`, since a few kilobytes of PNG can claim 12000 x 12000 pixels and a
prediction holds several float copies of the image (and the class scores) at its own size.
Only PNG, JPEG and BMP are opened, recognised by their content, not their suffix. Whatever
the file's mode, the result is 8-bit RGB scaled as the file means it: 16-bit grey is divided
by 257 (``convert("RGB")`` would clip it, so every pixel above 255 turned white), palette,
grey, grey + alpha, CMYK and RGBA are converted by Pillow (alpha is dropped). A file that
cannot be read raises :class:`ImageError`, one line naming it, so a caller can skip it.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from pathlib import Path

import numpy as np
from PIL import Image

from benchmarks.inference.limits import MAX_IMAGE_PIXELS
from benchmarks.inference.model import InferenceError

__all__ = [
    "IMAGE_FORMATS",
    "IMAGE_SUFFIXES",
    "MAX_IMAGE_PIXELS",
    "ImageError",
    "find_images",
    "read_image",
    "to_rgb8",
]

IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg", ".bmp")
IMAGE_FORMATS = ("PNG", "JPEG", "BMP")
WIDE_MODES = ("I", "I;16", "I;16L", "I;16B", "I;16N")
"""Pillow's modes of a 16-bit grey file (``I`` in Pillow before 10): values 0..65535."""


class ImageError(InferenceError):
    """One image that cannot be used (unreadable, not an image, too large): one line."""


def find_images(paths: list[str]) -> list[Path]:
    """Image files named, or found (sorted, by suffix) in the folders named; a file named
    twice (or also found in a folder named) is kept once, where it first appears."""
    found: list[Path] = []
    for text in paths:
        path = Path(text)
        if path.is_dir():
            found += sorted(p for p in path.iterdir() if p.suffix.lower() in IMAGE_SUFFIXES)
        elif path.is_file():
            found.append(path)
        else:
            raise InferenceError(f"no such image or folder: {path}")
    if not found:
        raise InferenceError(f"no images found (expected {', '.join(IMAGE_SUFFIXES)} files)")
    unique: dict[Path, Path] = {}
    for path in found:
        unique.setdefault(path.resolve(), path)
    return list(unique.values())


@contextlib.contextmanager
def _own_size_check() -> Iterator[None]:
    """Pillow's decompression-bomb check off while a header is read: :func:`read_image`
    applies its own, lower cap and can then name the image's size (Pillow raises above
    179 megapixels without saying it)."""
    saved = Image.MAX_IMAGE_PIXELS
    Image.MAX_IMAGE_PIXELS = None
    try:
        yield
    finally:
        Image.MAX_IMAGE_PIXELS = saved


def to_rgb8(image: Image.Image) -> Image.Image:
    """``image`` as 8-bit RGB with its values scaled, not clipped (see the module doc)."""
    if image.mode in WIDE_MODES:
        values = np.asarray(image, dtype=np.float64)
        grey = np.clip(np.rint(values / 257.0), 0, 255).astype(np.uint8)
        return Image.fromarray(grey, "L").convert("RGB")
    return image.convert("RGB")


def _reason(exc: BaseException) -> str:
    """An exception's message on one line (its type's name when it has none)."""
    return " ".join(str(exc).split()) or type(exc).__name__


def read_image(path: Path) -> Image.Image:
    """The image at ``path`` as 8-bit RGB; :class:`ImageError` if it is larger than
    :data:`MAX_IMAGE_PIXELS` (checked from the header, before decoding) or cannot be read."""
    try:
        with _own_size_check():
            opened = Image.open(path, formats=IMAGE_FORMATS)
        with opened:
            width, height = opened.size
            if width * height > MAX_IMAGE_PIXELS:
                raise ImageError(
                    f"image {path} is too large: {width}x{height} is "
                    f"{width * height / 1e6:.1f} megapixels (at most "
                    f"{MAX_IMAGE_PIXELS / 1e6:.0f}); downscale it first"
                )
            opened.load()
            return to_rgb8(opened)
    except ImageError:
        raise
    except Exception as exc:  # Pillow's decoders raise OSError, SyntaxError, ValueError, ...
        raise ImageError(f"cannot read image {path} ({_reason(exc)})") from None
