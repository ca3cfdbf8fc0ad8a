"""Class names for pictures, per-class tables and ``config.json``: one list per model.

Index 0 is background. Where they come from, first found: the spec's ``class_names`` (a
spec whose ``classes`` does not count background gets "background" put first), the
data's own (a COCO file's categories, a VOC folder's ``labelmap.txt``), the names of a
built-in source (shapes, VOC), else ``class N``.

A bench job records the names it trained with in its ``config.json``
(:func:`job_class_names`), so ``val``, ``predict`` and the report label a model as its
job did even when the data is gone; :func:`source_class_names` reads a source's own names
for a job folder that predates the record.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any, Protocol

from benchmarks.data.coco import coco_class_names
from benchmarks.data.labelmap import read_labelmap
from benchmarks.data.shapes import SHAPE_NAMES
from benchmarks.data.voc import VOC_CLASS_NAMES

__all__ = [
    "BACKGROUND",
    "class_names",
    "job_class_names",
    "source_class_names",
    "spec_class_names",
]

BACKGROUND = "background"


class NamedSpec(Protocol):
    """What is read of a spec (:class:`graphspec.Spec`): its own names, if any."""

    @property
    def class_names(self) -> Sequence[str] | None: ...


class ClassCounter(Protocol):
    """What is read of a task (:class:`benchmarks.tasks.Task`): its data's class count."""

    def data_classes(self, spec: Any) -> int: ...


def spec_class_names(spec_names: Sequence[str] | None, classes: int) -> list[str] | None:
    """The spec's names for ``classes`` data classes, background first (put first when the
    spec does not count it); None when the spec names none, or not that many."""
    if not spec_names:
        return None
    names = list(spec_names)
    names = [BACKGROUND, *names] if len(names) == classes - 1 else names
    return names if len(names) == classes else None


def class_names(
    data: str,
    classes: int,
    *,
    spec_names: Sequence[str] | None = None,
    data_names: Sequence[str] | None = None,
) -> list[str]:
    """The ``classes`` names (background included) of a model trained on ``data``."""
    named = spec_class_names(spec_names, classes)
    if named is not None:
        return named
    if data_names and len(data_names) >= classes:
        return list(data_names[:classes])
    kind = data.partition(":")[0]
    known = {"shapes": (BACKGROUND, *SHAPE_NAMES), "voc": VOC_CLASS_NAMES}.get(kind, ())
    return [known[i] if i < len(known) else f"class {i}" for i in range(classes)]


def job_class_names(spec: NamedSpec, task: ClassCounter, data: str, dataset: object) -> list[str]:
    """The names a bench job trains ``spec`` with on ``data``, whose training split is
    ``dataset``: what its ``config.json`` records, and what its pictures and
    ``per_class.json`` are labelled with."""
    own = getattr(dataset, "class_names", None)
    classes = task.data_classes(spec)
    return class_names(data, classes, spec_names=spec.class_names, data_names=own)


def source_class_names(data: str) -> list[str] | None:
    """The own names of the data source ``data`` without opening a split (a VOC folder's
    ``labelmap.txt``, a COCO folder's categories), background first; None for a built-in
    source, a VOC folder without a label map, or data that is not there (then the
    built-in names serve)."""
    kind, sep, path = data.partition(":")
    if not (sep and path):
        return None
    if kind == "voc":
        return read_labelmap(Path(path)) if Path(path).is_dir() else None
    if kind == "coco":
        return coco_class_names(path)
    return None
