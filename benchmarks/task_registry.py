"""Which :class:`~benchmarks.tasks.Task` scores a spec: one small mapping per task."""

from __future__ import annotations

from typing import Any

import networkx as nx

from benchmarks.detection_task import DetectionTask
from benchmarks.tasks import SegmentationTask, Task
from graphspec import Spec, SpecError


def task_for(spec: Spec, dataset: Any, graph: nx.DiGraph) -> Task:
    """The task object for ``spec``; its class count must match the data's.

    Segmentation counts background as a class (``classes`` = K + 1); detection specs give
    the K object classes and the head adds background where it needs one."""
    data_classes = getattr(dataset, "num_classes", None)
    expected = spec.classes if spec.task == "segmentation" else spec.classes + 1
    if data_classes is not None and data_classes != expected:
        want = data_classes if spec.task == "segmentation" else data_classes - 1
        raise SpecError.at(
            spec.source.locate(("classes",)),
            f"class count does not match "
            f"the data (expected {want} for this dataset, got {spec.classes})",
        )
    if spec.task == "segmentation":
        return SegmentationTask(spec.classes)
    if spec.task == "detection" and "detection" in graph.graph:
        size = (spec.input.height, spec.input.width)
        return DetectionTask(spec.head, graph.graph["detection"], size)
    raise SpecError.at(
        spec.source.locate(("task",)),
        f"task '{spec.task}' cannot be "
        "benchmarked yet (expected segmentation, or detection with an ssd or yolo head)",
    )
