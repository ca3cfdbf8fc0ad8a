"""Datasets for the benchmark harness: built-in synthetic shapes, Pascal VOC and COCO.

Every dataset yields the same item layout so models and metrics never care where data came
from::

    {"image": float32 [3, H, W] in [0, 1],
     "mask": int64 [H, W]  (0 background, 1..K classes, 255 ignore),
     "boxes": float32 [M, 4] xyxy in pixels of the returned image,
     "labels": int64 [M] in 1..K,
     "image_id": int}

plus, for the synthetic shapes only, ``"label"``: int64 [] in 0..K-1, the class of the
image's largest object (what a classification spec with ``classes: K`` predicts), and, for
the shapes and for COCO files with segmentations, ``"instance_masks"``: bool [M, H, W], one
row per object, row ``i`` belonging to ``boxes[i]``/``labels[i]``, at the returned image
size (for instance segmentation). It costs M x H x W bytes per image (about 1.8 MB for
seven objects at 512x512). Shapes rows are each object's visible pixels (disjoint, and
per class they make up ``mask``); COCO rows are each object's own polygons or RLE, so they
may overlap, and crowd regions are not instances. VOC's segmentation layout has no
instance annotations, so its items have no such key. Every
dataset has ``num_classes`` (K+1), ``class_names`` (index 0 is ``"background"``) and
``image_size`` (H, W). :func:`make_dataset` builds one from a source string, and
:func:`collate` batches items for a ``DataLoader``. Bad or missing data raises
:class:`DataError` with a message that starts with the offending file.
"""

from __future__ import annotations

from torch.utils.data import Dataset

from benchmarks.data.coco import CocoDetection
from benchmarks.data.common import (
    IGNORE_INDEX,
    SPLITS,
    Batch,
    DataError,
    Sample,
    check_limit,
    collate,
)
from benchmarks.data.shapes import DEFAULT_LENGTHS, SHAPE_NAMES, ShapesDataset
from benchmarks.data.voc import VOC_CLASS_NAMES, VOCSegmentation

__all__ = [
    "IGNORE_INDEX",
    "SHAPE_NAMES",
    "SOURCE_FORMS",
    "SPLITS",
    "VOC_CLASS_NAMES",
    "Batch",
    "CocoDetection",
    "DataError",
    "Sample",
    "ShapesDataset",
    "VOCSegmentation",
    "collate",
    "make_dataset",
]

SOURCE_FORMS = ("shapes", "voc:PATH", "coco:PATH")


def make_dataset(
    source: str,
    split: str,
    image_size: tuple[int, int],
    *,
    seed: int = 0,
    limit: int | None = None,
    num_classes: int | None = None,
    holdout: float = 0.0,
) -> Dataset[Sample]:
    """Build the dataset named by ``source``: ``"shapes"``, ``"voc:PATH"`` or ``"coco:PATH"``.

    ``limit`` keeps the first N items. ``seed`` only affects the synthetic shapes (real
    datasets are fixed); ``num_classes`` is the shapes class count (default 4), the VOC class
    count (default 21) or, for COCO, at least the file's category count + 1. ``holdout`` is
    the fraction of a real dataset's train list served as ``val`` and left out of ``train``
    (:mod:`benchmarks.data.holdout`); shapes has a ``val`` split of its own.
    """
    if not isinstance(source, str):
        raise DataError(f"data source must be a string, got {source!r}")
    kind, sep, path = source.partition(":")
    limit = check_limit(limit)
    if kind == "shapes" and not sep:
        length = None if limit is None else min(limit, DEFAULT_LENGTHS.get(split, limit))
        return ShapesDataset(
            split,
            image_size=image_size,
            num_classes=4 if num_classes is None else num_classes,
            length=length,
            seed=seed,
        )
    if kind in ("voc", "coco") and sep and path:
        if kind == "voc":
            return VOCSegmentation(
                path,
                split,
                image_size,
                num_classes=21 if num_classes is None else num_classes,
                limit=limit,
                holdout=holdout,
            )
        return CocoDetection(
            path, split, image_size, num_classes=num_classes, limit=limit, holdout=holdout
        )
    raise DataError(f"unknown data source {source!r} (expected one of: {', '.join(SOURCE_FORMS)})")
