"""Tasks: what a model is asked to do, and how its answers are scored.

One file per task (:mod:`.segmentation`, :mod:`.detection`, :mod:`.classification`), each a
:class:`~benchmarks.tasks.base.Task`; :func:`task_for` picks the one a spec asks for.
"""

from __future__ import annotations

from typing import Any

from benchmarks.tasks.base import Task
from benchmarks.tasks.classification import ClassificationTask
from benchmarks.tasks.detection import DetectionTask
from benchmarks.tasks.segmentation import SegmentationTask
from graphspec import Graph, Spec, SpecError
from graphspec.schema import SSDHead, YOLOHead

__all__ = ["Task", "data_classes", "task_for"]


def data_classes(spec: Spec) -> int:
    """Classes the data must have, background included (only segmentation specs count it)."""
    return spec.classes if spec.task == "segmentation" else spec.classes + 1


def task_for(spec: Spec, dataset: Any, graph: Graph) -> Task:
    """The task object for ``spec``; its class count must match the data's.

    Segmentation counts background as a class (``classes`` = K + 1); detection and
    classification specs give the K object classes (a detection head adds background)."""
    have = getattr(dataset, "num_classes", None)
    if have is not None and have != data_classes(spec):
        want = have if spec.task == "segmentation" else have - 1
        raise SpecError.at(
            spec.source.locate(("classes",)),
            f"class count does not match "
            f"the data (expected {want} for this dataset, got {spec.classes})",
        )
    if spec.task == "segmentation":
        return SegmentationTask(spec.classes)
    if spec.task == "classification":
        return ClassificationTask(spec.classes)
    if spec.task == "detection" and graph.detection is not None:
        assert isinstance(spec.head, SSDHead | YOLOHead)
        size = (spec.input.height, spec.input.width)
        return DetectionTask(spec.head, graph.detection, size)
    raise SpecError.at(
        spec.source.locate(("task",)),
        f"task '{spec.task}' cannot be benchmarked yet (expected segmentation, "
        "classification, or detection with an ssd or yolo head)",
    )
