"""Pieces shared by every dataset: the error type, the item layout, batching and image I/O.

Loaders report bad or missing data as one :class:`DataError` whose message starts with the
offending file, so a benchmark run over a broken dataset folder stops with a line the user
can act on instead of a traceback from deep inside Pillow or :mod:`json`.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, TypedDict

import numpy as np
import torch
from PIL import Image

if TYPE_CHECKING:  # typing has it from Python 3.11; annotations are never evaluated here
    from typing_extensions import NotRequired

IGNORE_INDEX = 255
"""Mask value for pixels no loss or metric should count (VOC borders, unlabelled COCO)."""

SPLITS = ("train", "val", "test")


class DataError(Exception):
    """Bad or missing benchmark data; the message names the file and what is wrong."""


class Sample(TypedDict):
    """One dataset item (see the package docstring for value ranges)."""

    image: torch.Tensor  # float32 [3, H, W] in [0, 1]
    mask: torch.Tensor  # int64 [H, W]: 0 background, 1..K classes, 255 ignore
    boxes: torch.Tensor  # float32 [M, 4] xyxy, pixels of the returned image
    labels: torch.Tensor  # int64 [M] in 1..K
    label: NotRequired[torch.Tensor]  # int64 []: image class in 0..K-1 (shapes only)
    image_id: int
    name: NotRequired[str]  # the image file's stem (data read from files)
    source_size: NotRequired[tuple[int, int]]  # (H, W) of the image file
    proposals: NotRequired[torch.Tensor]  # float32 [L, 4] xyxy, pixels of the returned image
    instance_masks: NotRequired[torch.Tensor]  # bool [M, H, W], row i is object i of boxes


class Batch(TypedDict):
    """What :func:`collate` returns: images and masks stacked, per-image lists for the rest."""

    image: torch.Tensor  # float32 [N, 3, H, W]
    mask: torch.Tensor  # int64 [N, H, W]
    boxes: list[torch.Tensor]
    labels: list[torch.Tensor]
    label: NotRequired[torch.Tensor]  # int64 [N], when every item has one
    image_id: list[int]
    proposals: NotRequired[list[torch.Tensor]]  # per image, when every item has them
    instance_masks: NotRequired[list[torch.Tensor]]  # per image, when every item has them


def collate(batch: Sequence[Sample]) -> Batch:
    """Batch items for a ``DataLoader``: boxes differ in count per image, so they stay lists.

    Image-level class labels are stacked only when every item has one: datasets without
    them (VOC, COCO) batch exactly as before, and a classification task then reports the
    missing key instead of training on a half-labelled batch. Proposals and instance masks
    stay per-image lists (their first dim differs per image) and, likewise, only when every
    item has them."""
    if not batch:
        raise ValueError("collate needs at least one item")
    out: Batch = {
        "image": torch.stack([item["image"] for item in batch]),
        "mask": torch.stack([item["mask"] for item in batch]),
        "boxes": [item["boxes"] for item in batch],
        "labels": [item["labels"] for item in batch],
        "image_id": [int(item["image_id"]) for item in batch],
    }
    if all("label" in item for item in batch):
        out["label"] = torch.stack([item["label"] for item in batch])
    if all("proposals" in item for item in batch):
        out["proposals"] = [item["proposals"] for item in batch]
    if all("instance_masks" in item for item in batch):
        out["instance_masks"] = [item["instance_masks"] for item in batch]
    return out


def check_split(split: str) -> str:
    if split not in SPLITS:
        raise DataError(f"unknown split {split!r} (expected one of {', '.join(SPLITS)})")
    return split


def check_image_size(image_size: Sequence[int]) -> tuple[int, int]:
    """Validate an ``(H, W)`` pair; returned as a plain tuple of ints."""
    try:
        height, width = (int(v) for v in image_size)
    except (TypeError, ValueError):
        raise DataError(f"image_size must be (height, width), got {image_size!r}") from None
    if height <= 0 or width <= 0:
        raise DataError(f"image_size must be positive, got {height}x{width} (HxW)")
    return height, width


def check_limit(limit: int | None) -> int | None:
    if limit is not None and (isinstance(limit, bool) or not isinstance(limit, int) or limit < 0):
        raise DataError(f"limit must be a non-negative integer or None, got {limit!r}")
    return limit


def require_dir(path: Path, what: str) -> Path:
    if not path.is_dir():
        state = "is not a directory" if path.exists() else "not found"
        raise DataError(f"{path}: {what} {state}")
    return path


def open_image(path: Path, mode: str | None = None) -> Image.Image:
    """Open and fully decode an image, turning every Pillow/OS failure into a DataError.

    Decoding happens here (``load``) rather than lazily so that a truncated file fails with
    its name attached, not later inside ``resize``."""
    try:
        with Image.open(path) as img:
            img.load()
            return img.convert(mode) if mode is not None and img.mode != mode else img.copy()
    except FileNotFoundError:
        raise DataError(f"{path}: file not found") from None
    except (OSError, SyntaxError, ValueError, Image.DecompressionBombError) as exc:
        raise DataError(f"{path}: cannot read image ({exc})") from None


def image_to_tensor(img: Image.Image) -> torch.Tensor:
    """RGB PIL image -> float32 [3, H, W] in [0, 1]."""
    array = np.array(img, dtype=np.uint8)  # a writable copy; torch warns on read-only arrays
    return torch.from_numpy(array).permute(2, 0, 1).float().div_(255.0).contiguous()


def resize_rgb(img: Image.Image, image_size: tuple[int, int]) -> Image.Image:
    """Bilinear resize to ``(H, W)``; Pillow antialiases when shrinking, unlike plain lerp."""
    height, width = image_size
    if img.size == (width, height):
        return img
    return img.resize((width, height), Image.Resampling.BILINEAR)


def resize_labels(labels: np.ndarray, image_size: tuple[int, int]) -> np.ndarray:
    """Nearest-neighbour resize of a uint8 label map; never invents class ids by blending.

    Pillow samples at pixel centres (output pixel ``x`` reads source ``floor((x+0.5)*s)``),
    so shrinking 4->2 keeps source pixels 1 and 3."""
    height, width = image_size
    if labels.shape == (height, width):
        return labels
    img = Image.fromarray(np.ascontiguousarray(labels, dtype=np.uint8))  # 2-D uint8 -> "L"
    return np.asarray(img.resize((width, height), Image.Resampling.NEAREST))


def fill_polygon(
    canvas: np.ndarray, points: np.ndarray, value: int, *, offset: tuple[float, float] = (0, 0)
) -> None:
    """Paint ``value`` into ``canvas`` [H, W] wherever a pixel centre lies inside the polygon.

    ``points`` is [P, 2] (x, y) in continuous pixel coordinates, where pixel ``(i, j)`` spans
    ``[j, j+1) x [i, i+1)``; the even-odd rule decides inside. We do not use
    ``ImageDraw.polygon``: it rounds vertices to integers and also fills the right/bottom
    edge, so a COCO box polygon ``[2, 6]`` becomes 5 pixels wide instead of 4 (pycocotools
    and this function agree on 4). ``offset`` shifts the polygon by ``(-x, -y)`` first, for
    drawing into a window cut from a larger image.
    """
    pts = np.asarray(points, dtype=np.float64).reshape(-1, 2) - np.asarray(offset, np.float64)
    if len(pts) < 3:
        return
    height, width = canvas.shape
    x0 = max(int(np.floor(pts[:, 0].min())), 0)
    x1 = min(int(np.ceil(pts[:, 0].max())), width)
    y0 = max(int(np.floor(pts[:, 1].min())), 0)
    y1 = min(int(np.ceil(pts[:, 1].max())), height)
    if x0 >= x1 or y0 >= y1:
        return
    xs = np.arange(x0, x1, dtype=np.float64)[None, :] + 0.5
    ys = np.arange(y0, y1, dtype=np.float64)[:, None] + 0.5
    inside = np.zeros((y1 - y0, x1 - x0), dtype=bool)
    xa, ya = pts[:, 0], pts[:, 1]
    xb, yb = np.roll(xa, -1), np.roll(ya, -1)
    for ax, ay, bx, by in zip(xa, ya, xb, yb, strict=True):
        if ay == by:
            continue  # horizontal edges never cross a horizontal ray
        straddles = (ay > ys) != (by > ys)  # [h, 1]: half-open, so shared vertices count once
        x_cross = ax + (ys - ay) * (bx - ax) / (by - ay)  # [h, 1]
        inside ^= straddles & (xs < x_cross)
    canvas[y0:y1, x0:x1][inside] = value
