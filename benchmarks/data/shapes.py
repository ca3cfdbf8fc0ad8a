"""Synthetic "shapes" data: the built-in default, so benchmarks run with no download.

Each image holds 1-4 filled shapes (circle, square, triangle, ...) on a textured background
(smooth colour gradient, sometimes sinusoidal stripes, pixel noise). The shape *class* is
decided only by geometry; colours are random but kept well away from the background colour
so the task is learnable by a small CNN in minutes on a CPU, while the texture keeps a
constant-colour threshold from solving it.

Every item is a pure function of ``(seed, split, index)``: its generator is seeded from that
tuple through :class:`numpy.random.SeedSequence` (not Python's salted ``hash``), so item ``i``
is the same in every call, process and DataLoader worker.
"""

from __future__ import annotations

import math

import numpy as np
import torch
from torch.utils.data import Dataset

from benchmarks.data.common import DataError, Sample, check_image_size, check_split, fill_polygon

SHAPE_NAMES = (
    "circle",
    "square",
    "triangle",
    "ellipse",
    "diamond",
    "cross",
    "star",
    "ring",
    "half_disc",
)
DEFAULT_LENGTHS = {"train": 512, "val": 128, "test": 128}

_SPLIT_CODES = {"train": 0, "val": 1, "test": 2}
_STREAM = 0x5EA9E5  # keeps these streams apart from any other SeedSequence([seed, ...]) user
_SIZE_RANGE = (0.15, 0.45)  # shape diameter as a fraction of the shorter image side
_MAX_OBJECTS = 4
_PLACEMENT_TRIES = 8
_MIN_VISIBLE = 0.5  # an earlier object must keep this fraction of its pixels visible
_MIN_CONTRAST = 0.45  # RGB distance between a shape colour and the background base colour
_CACHE_LIMIT_BYTES = 256 * 2**20  # cache items while the whole split fits in this


def _rotate(u: np.ndarray, v: np.ndarray, angle: float) -> tuple[np.ndarray, np.ndarray]:
    cos, sin = math.cos(angle), math.sin(angle)
    return u * cos + v * sin, -u * sin + v * cos


def _regular_points(
    cx: float, cy: float, radii: list[float], count: int, angle: float
) -> np.ndarray:
    """Vertices of a regular polygon/star: ``count`` points cycling through ``radii``."""
    theta = angle + 2 * math.pi * np.arange(count) / count
    r = np.resize(np.asarray(radii, dtype=np.float64), count)
    return np.stack([cx + r * np.cos(theta), cy + r * np.sin(theta)], axis=1)


def shape_patch(kind: str, diameter: float, rng: np.random.Generator) -> np.ndarray:
    """Rasterise one shape (pixel-centre sampling) and crop it to its tight bounding box.

    Randomness (rotation, aspect, sub-pixel centre) comes from ``rng`` only. Squares and
    diamonds stay axis-aligned so that a rotated square never looks like a diamond."""
    r = diameter / 2
    n = math.ceil(diameter) + 3
    cx = n / 2 + rng.uniform(-0.5, 0.5)
    cy = n / 2 + rng.uniform(-0.5, 0.5)
    angle = rng.uniform(0, 2 * math.pi)
    centres = np.arange(n, dtype=np.float64) + 0.5
    u, v = centres[None, :] - cx, centres[:, None] - cy
    if kind == "circle":
        patch = u**2 + v**2 <= r**2
    elif kind == "square":
        half = 0.85 * r
        patch = (np.abs(u) <= half) & (np.abs(v) <= half)
    elif kind == "ellipse":
        ru, rv = _rotate(u, v, angle)
        minor = r * rng.uniform(0.45, 0.6)
        patch = (ru / r) ** 2 + (rv / minor) ** 2 <= 1
    elif kind == "diamond":
        patch = np.abs(u) + np.abs(v) <= r
    elif kind == "cross":
        ru, rv = _rotate(u, v, angle)
        arm = 0.33 * r
        patch = ((np.abs(ru) <= r) & (np.abs(rv) <= arm)) | (
            (np.abs(rv) <= r) & (np.abs(ru) <= arm)
        )
    elif kind == "ring":
        dist2 = u**2 + v**2
        patch = (dist2 <= r**2) & (dist2 >= (0.55 * r) ** 2)
    elif kind == "half_disc":
        ru, _ = _rotate(u, v, angle)
        patch = (u**2 + v**2 <= r**2) & (ru >= 0)
    elif kind in ("triangle", "star"):
        radii, count = ([r], 3) if kind == "triangle" else ([r, 0.45 * r], 10)
        canvas = np.zeros((n, n), dtype=np.uint8)
        fill_polygon(canvas, _regular_points(cx, cy, radii, count, angle), 1)
        patch = canvas.astype(bool)
    else:
        raise DataError(f"unknown shape kind {kind!r} (expected one of {', '.join(SHAPE_NAMES)})")
    rows, cols = np.flatnonzero(patch.any(axis=1)), np.flatnonzero(patch.any(axis=0))
    return patch[rows[0] : rows[-1] + 1, cols[0] : cols[-1] + 1]


def _colour(rng: np.random.Generator, base: np.ndarray, others: list[np.ndarray]) -> np.ndarray:
    """A random colour far from the background and not too close to other shapes' colours."""
    for _ in range(32):
        colour = rng.uniform(0.0, 1.0, size=3)
        far_from_bg = np.linalg.norm(colour - base) >= _MIN_CONTRAST
        if far_from_bg and all(np.linalg.norm(colour - o) >= 0.2 for o in others):
            return colour
    return np.where(base > 0.5, 0.05, 0.95)  # the opposite corner always contrasts


def _largest_label(owner: np.ndarray, labels: list[int]) -> int:
    """The 0-based class of the object with the most visible pixels (ties: lower class).

    ``owner`` maps each pixel to the index of the object drawn there (-1 for background);
    ``labels`` are the objects' 1-based classes. Reads no random numbers, so adding the
    label leaves every other field of an item exactly as it was."""
    visible = np.bincount(owner.ravel() + 1, minlength=len(labels) + 1)[1:]
    best = max(range(len(labels)), key=lambda obj: (int(visible[obj]), -labels[obj]))
    return labels[best] - 1


class ShapesDataset(Dataset[Sample]):
    """Deterministic synthetic segmentation, detection and classification data.

    An item's ``label`` (classification) is the class of its largest object by visible
    pixel area, in ``0..K-1`` (the detection label minus one: no background class). On a
    tie in area the lower class index wins, so the label never depends on drawing order.

    Later objects occlude earlier ones. A box is the whole shape's extent, occluded parts
    included; ``instance_masks`` row ``i`` is only object ``i``'s *visible* pixels, so it
    lies inside box ``i`` (its tight box *is* box ``i`` for the last object drawn), rows are
    disjoint, and the rows of class ``c`` together are exactly ``mask == c``. No row is empty:
    placement keeps every object at least half visible, and an object that cannot be
    placed so is dropped with its box and label.

    Args:
        split: ``"train"``, ``"val"`` or ``"test"``; splits draw from disjoint seed streams.
        image_size: ``(H, W)`` of generated images (drawn at that size, no resizing).
        num_classes: K+1 including background; K shape classes are taken in order from
            :data:`SHAPE_NAMES` (at most 9).
        length: number of items; defaults to 512 for train, 128 for val and test.
        seed: selects an independent dataset; the same seed always gives the same items.
        cache: keep generated items in memory (only when the whole split is small).
    """

    def __init__(
        self,
        split: str = "train",
        image_size: tuple[int, int] = (64, 64),
        num_classes: int = 4,
        length: int | None = None,
        seed: int = 0,
        *,
        cache: bool = True,
    ) -> None:
        self.split = check_split(split)
        self.image_size = check_image_size(image_size)
        if min(self.image_size) < 16:
            raise DataError(f"shapes: image_size must be at least 16x16, got {image_size!r}")
        if not 2 <= num_classes <= len(SHAPE_NAMES) + 1:
            raise DataError(
                f"shapes: num_classes must be 2..{len(SHAPE_NAMES) + 1} "
                f"(background + up to {len(SHAPE_NAMES)} shapes), got {num_classes}"
            )
        self.num_classes = num_classes
        self.class_names = ["background", *SHAPE_NAMES[: num_classes - 1]]
        self.length = DEFAULT_LENGTHS[split] if length is None else int(length)
        if self.length < 0:
            raise DataError(f"shapes: length must be >= 0, got {length}")
        self.seed = int(seed)
        height, width = self.image_size
        item_bytes = height * width * (3 * 4 + 8 + _MAX_OBJECTS)  # image, mask, instances
        self._cache: dict[int, Sample] | None = (
            {} if cache and item_bytes * self.length <= _CACHE_LIMIT_BYTES else None
        )
        self._ys = np.arange(height, dtype=np.float32)[:, None] / max(height - 1, 1) - 0.5
        self._xs = np.arange(width, dtype=np.float32)[None, :] / max(width - 1, 1) - 0.5

    def __len__(self) -> int:
        return self.length

    def __getitem__(self, index: int) -> Sample:
        index = int(index)  # numpy/tensor indices from samplers would leak into image_id
        if not -self.length <= index < self.length:
            raise IndexError(f"shapes {self.split}: index {index} out of range {self.length}")
        index %= self.length
        if self._cache is not None and index in self._cache:
            item = self._cache[index]
        else:
            item = self.generate(index)
            if self._cache is not None:
                self._cache[index] = item
        # Clones so a caller that edits tensors in place cannot change the cached item.
        return {
            "image": item["image"].clone(),
            "mask": item["mask"].clone(),
            "boxes": item["boxes"].clone(),
            "labels": item["labels"].clone(),
            "label": item["label"].clone(),
            "instance_masks": item["instance_masks"].clone(),
            "image_id": item["image_id"],
        }

    def rng_for(self, index: int) -> np.random.Generator:
        entropy = [self.seed % 2**64, _SPLIT_CODES[self.split], index, _STREAM]
        return np.random.default_rng(np.random.SeedSequence(entropy))

    def generate(self, index: int) -> Sample:
        """Build item ``index`` from scratch (no cache)."""
        rng = self.rng_for(index)
        height, width = self.image_size
        base = rng.uniform(0.15, 0.85, size=3).astype(np.float32)
        image = self._background(rng, base)

        owner = np.full((height, width), -1, dtype=np.int64)  # which object shows at a pixel
        areas: list[int] = []
        boxes: list[list[float]] = []
        labels: list[int] = []
        colours: list[np.ndarray] = []
        for _ in range(int(rng.integers(1, _MAX_OBJECTS + 1))):
            label = int(rng.integers(1, self.num_classes))
            diameter = rng.uniform(*_SIZE_RANGE) * min(height, width)
            patch = shape_patch(SHAPE_NAMES[label - 1], diameter, rng)
            placed = self._place(rng, patch, owner, areas)
            if placed is None:
                continue  # would hide an earlier object too much; fewer objects is fine
            top, left = placed
            ph, pw = patch.shape
            window = owner[top : top + ph, left : left + pw]
            window[patch] = len(areas)
            areas.append(int(patch.sum()))
            # Full extent (occluded parts included) of the rasterised shape, as xyxy.
            boxes.append([left, top, left + pw, top + ph])
            labels.append(label)
            colours.append(_colour(rng, base, colours))

        label_of = np.asarray([0, *labels], dtype=np.int64)
        mask = label_of[owner + 1]
        for obj, colour in enumerate(colours):
            image[owner == obj] = colour
        sigma = rng.uniform(0.02, 0.05)
        image += rng.normal(0.0, sigma, size=image.shape).astype(np.float32)
        np.clip(image, 0.0, 1.0, out=image)
        return {
            "image": torch.from_numpy(image).permute(2, 0, 1).contiguous(),
            "mask": torch.from_numpy(mask),
            "boxes": torch.tensor(boxes, dtype=torch.float32).reshape(-1, 4),
            "labels": torch.tensor(labels, dtype=torch.int64),
            "label": torch.tensor(_largest_label(owner, labels), dtype=torch.int64),
            # Visible pixels only: owner holds the last object drawn at each pixel.
            "instance_masks": torch.from_numpy(owner == np.arange(len(labels))[:, None, None]),
            "image_id": index,
        }

    def _background(self, rng: np.random.Generator, base: np.ndarray) -> np.ndarray:
        """Smooth gradient around ``base``, stripes in half the images; [H, W, 3] float32."""
        angle = rng.uniform(0, 2 * math.pi)
        ramp = self._xs * math.cos(angle) + self._ys * math.sin(angle)  # [H, W] in ~[-.7, .7]
        tilt = rng.uniform(-0.25, 0.25, size=3).astype(np.float32)
        image = base + ramp[..., None] * tilt
        if rng.random() < 0.5:
            angle = rng.uniform(0, math.pi)
            period = rng.uniform(0.06, 0.25)  # fraction of the image side
            phase = rng.uniform(0, 2 * math.pi)
            along = self._xs * math.cos(angle) + self._ys * math.sin(angle)
            wave = np.sin(along * (2 * math.pi / period) + phase)
            amplitude = rng.uniform(0.05, 0.12) * rng.uniform(0.5, 1.0, size=3)
            image = image + wave[..., None] * amplitude.astype(np.float32)
        return np.ascontiguousarray(image, dtype=np.float32)

    def _place(
        self,
        rng: np.random.Generator,
        patch: np.ndarray,
        owner: np.ndarray,
        areas: list[int],
    ) -> tuple[int, int] | None:
        """Pick a top-left corner that keeps the patch inside the image and leaves every
        earlier object at least :data:`_MIN_VISIBLE` visible, so boxes always see their object."""
        height, width = owner.shape
        ph, pw = patch.shape
        visible = np.bincount(owner.ravel() + 1, minlength=len(areas) + 1)[1:]
        for _ in range(_PLACEMENT_TRIES):
            top = int(rng.integers(0, height - ph + 1))
            left = int(rng.integers(0, width - pw + 1))
            if not areas:
                return top, left
            covered = owner[top : top + ph, left : left + pw][patch] + 1
            hidden = np.bincount(covered, minlength=len(areas) + 1)[1:]
            if np.all(visible - hidden >= _MIN_VISIBLE * np.asarray(areas)):
                return top, left
        return None
