"""Step 1 of a job: the spec at the job's size, compiled, as an untrained model.

The seed is set before the model is built so its initial weights follow the job's seed;
``encoder_init`` then loads exactly as in :func:`compiler.compile_spec` (a bad checkpoint
is a :class:`~graphspec.SpecError`, so the job fails instead of training from scratch).
FLOPs are counted on the meta device, so the model that trains is never touched.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import torch
from torch import nn

from benchmarks.classification_task import ClassificationTask
from benchmarks.detection_task import DetectionTask
from benchmarks.measure import counted_gflops
from benchmarks.memory_check import check_memory
from benchmarks.plan import Job
from benchmarks.recipe import resolve_recipe
from benchmarks.tasks import SegmentationTask, Task
from compiler import GraphNet, compile_graph
from compiler.transfer import TransferReport, load_encoder_weights
from graphspec import Graph, Spec, SpecError, Totals, load_spec, totals
from graphspec.schema import InputShape, SSDHead, YOLOHead

__all__ = ["Built", "build", "data_classes", "job_image_size", "task_for", "with_input_size"]


def with_input_size(spec: Spec, size: tuple[int, int] | None) -> Spec:
    """The same spec at another input size (the sweep's ``--image-size``)."""
    if size is None or (spec.input.height, spec.input.width) == tuple(size):
        return spec
    shape = InputShape(channels=spec.input.channels, height=size[0], width=size[1])
    resized = spec.model_copy(update={"input": shape})
    resized._source = spec.source
    return resized


def job_image_size(value: Any, spec: Spec) -> tuple[int, int]:
    """The (H, W) a job trains at: its --image-size setting, else the spec's input size."""
    if value is None:
        return (spec.input.height, spec.input.width)
    if isinstance(value, int):
        return (value, value)
    return (int(value[0]), int(value[1]))


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


@dataclass
class Built:
    """A spec compiled at the job's input size, its untrained model and its cost on paper."""

    spec: Spec
    size: tuple[int, int]
    graph: Graph
    model: nn.Module
    static: Totals
    gflops_counted: float
    encoder_init: TransferReport | None = None  # what loading spec.encoder_init did


def build(job: Job, settings: Mapping[str, Any], device: torch.device | None = None) -> Built:
    """Load the spec at the job's size, compile it and build its (seeded) model; with a
    ``device``, first refuse a training step that cannot fit it (``memory_check``)."""
    spec = load_spec(job.spec_file)
    size = job_image_size(settings["image_size"], spec)
    spec = with_input_size(spec, size)
    torch.manual_seed(settings["seed"])
    graph = compile_graph(spec)
    if device is not None:
        check_memory(graph, resolve_recipe(settings, spec).batch_size, device)
    model = GraphNet(graph)
    transfer = None if spec.encoder_init is None else load_encoder_weights(model, spec)
    return Built(spec, size, graph, model, totals(graph), counted_gflops(graph), transfer)
