"""Class names for pictures, per-class tables and ``config.json``: one list per model.

Index 0 is background. Where they come from, first found: the spec's ``class_names`` (a
spec whose ``classes`` does not count background gets "background" put first), the
data's own (a COCO file's categories, a VOC folder's ``labelmap.txt``), the names of a
built-in source (shapes, VOC), else ``class N``.
"""

from __future__ import annotations

from collections.abc import Sequence

from benchmarks.data.shapes import SHAPE_NAMES
from benchmarks.data.voc import VOC_CLASS_NAMES

__all__ = ["BACKGROUND", "class_names"]

BACKGROUND = "background"


def class_names(
    data: str,
    classes: int,
    *,
    spec_names: Sequence[str] | None = None,
    data_names: Sequence[str] | None = None,
) -> list[str]:
    """The ``classes`` names (background included) of a model trained on ``data``."""
    if spec_names:
        names = list(spec_names)
        names = [BACKGROUND, *names] if len(names) == classes - 1 else names
        if len(names) == classes:
            return names
    if data_names and len(data_names) >= classes:
        return list(data_names[:classes])
    kind = data.partition(":")[0]
    known = {"shapes": (BACKGROUND, *SHAPE_NAMES), "voc": VOC_CLASS_NAMES}.get(kind, ())
    return [known[i] if i < len(known) else f"class {i}" for i in range(classes)]
