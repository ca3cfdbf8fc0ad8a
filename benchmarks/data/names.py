"""Class names for pictures and per-class tables, from the data a model was trained on."""

from __future__ import annotations

from benchmarks.data.shapes import SHAPE_NAMES
from benchmarks.data.voc import VOC_CLASS_NAMES

__all__ = ["class_names"]


def class_names(data: str, classes: int) -> list[str]:
    """Names of the model's classes (index 0 is background), from the data it was trained
    on when the source names them (shapes, VOC), else ``class N``."""
    kind = data.partition(":")[0]
    known = {"shapes": ("background", *SHAPE_NAMES), "voc": VOC_CLASS_NAMES}.get(kind, ())
    return [known[i] if i < len(known) else f"class {i}" for i in range(classes)]
