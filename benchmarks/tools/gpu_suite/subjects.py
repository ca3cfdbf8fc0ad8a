"""What the timing parts measure: a model, its training loss and a batch, built the way the
harness builds them.

A graphspec spec becomes a :class:`Subject` through the same steps as a benchmark job
(``load_spec`` -> ``compile_graph`` -> ``task_for`` -> ``build_network``), and its loss is
the task's (``task.loss(task.forward(model, batch))``), so a train-step time here is the
step ``graphspec bench`` runs. The batch comes from the built-in shapes data at the spec's
input size: real boxes and masks, so detection losses match and assign as in training.
torchvision models reuse the batch of the spec they are compared with (:mod:`.tv_subjects`).
"""

from __future__ import annotations

import copy
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch
from torch import Tensor, nn

from benchmarks.cost.memory_check import device_memory_bytes
from benchmarks.data import SHAPE_NAMES, Batch, collate, make_dataset
from benchmarks.tasks import Task, task_for
from compiler import build_network, compile_graph
from graphspec import Graph, Spec, load_spec
from graphspec.memory import training_memory_bytes

__all__ = ["SPEC_BATCHES", "Subject", "choose_batch", "spec_batch", "spec_subject"]

SPEC_BATCHES: dict[str, int] = {
    "segnet-small": 16,
    "unet-small": 16,
    "fcn-small": 16,
    "deconvnet-small": 16,
    "ssd-small": 16,
    "segnet-vgg16": 8,
    "unet": 4,
    "fcn8s-vgg16": 16,
    "ssd300-vgg16": 32,
    "yolov1": 32,
    "vgg16": 32,
}
"""Training batch per spec. The small demo specs use ``graphspec bench``'s default (16);
the reference specs about their papers' batches where memory allows (SSD 32, YOLO 64 -> 32,
U-Net at 572 x 572 a few tiles, SegNet 8 at 360 x 480), and VGG16 32 like torchvision's
comparison. :func:`choose_batch` halves any of them that would not fit the device."""

MEMORY_SHARE = 0.4
"""Largest share of the device's memory a training step may be estimated to need: the
estimate (``graphspec.memory``) is rough, and cuDNN workspaces and the compiled mode's
buffers come on top."""

DISTINCT_IMAGES = 4
"""Images rendered per batch; the rest repeat them (rendering 32 images at 572 x 572 would
cost seconds of CPU for no change in the step's work)."""


@dataclass
class Subject:
    """One model to time: how to build it, its loss and a training batch.

    ``loss(runner, batch)`` is the training loss of the (possibly compiled) ``runner``;
    ``runner(model, compile)`` makes what trains from a fresh model (default: ``compile``
    of the whole model); ``inference(model)`` the module the latency timing calls (default:
    the model itself).
    """

    name: str
    build: Callable[[], nn.Module]
    loss: Callable[[nn.Module, dict[str, Any]], Tensor]
    batch: Batch
    image_shape: tuple[int, int, int]
    runner: Callable[[nn.Module, Callable[[nn.Module], nn.Module]], nn.Module] = (
        lambda model, compile_: compile_(model)
    )
    inference: Callable[[nn.Module], nn.Module] = lambda model: model
    _base: nn.Module | None = field(default=None, repr=False)

    @property
    def train_batch(self) -> int:
        return int(self.batch["image"].shape[0])

    def fresh_model(self) -> nn.Module:
        """A copy of the subject's model with the same initial weights every time, so each
        mode starts from the same state (no optimizer state, layout or compile wrapper)."""
        if self._base is None:
            torch.manual_seed(0)
            self._base = self.build()
        return copy.deepcopy(self._base)


def choose_batch(graph: Graph, wanted: int, device: torch.device) -> int:
    """``wanted`` halved until one training step's estimated memory fits
    :data:`MEMORY_SHARE` of ``device`` (never below 1)."""
    have = device_memory_bytes(device)
    batch = max(1, wanted)
    while (
        have is not None
        and batch > 1
        and training_memory_bytes(graph, batch) > (MEMORY_SHARE * have)
    ):
        batch //= 2
    return batch


def spec_batch(spec: Spec, task: Task, size: int) -> Batch:
    """A training batch of ``size`` shapes images at the spec's input size, with as many
    classes as the data may have (the labels stay valid for any class count) and the
    image's channels fitted to the spec (grey for U-Net's one channel)."""
    height, width, channels = spec.input.height, spec.input.width, spec.input.channels
    classes = max(2, min(task.data_classes(spec), len(SHAPE_NAMES) + 1))
    data = make_dataset("shapes", "train", (height, width), num_classes=classes, limit=size)
    items = [data[i % min(size, DISTINCT_IMAGES)] for i in range(size)]
    batch = collate(items)
    if channels != batch["image"].shape[1]:
        grey = batch["image"].mean(1, keepdim=True)
        batch["image"] = grey.expand(-1, channels, -1, -1).contiguous()
    return batch


def spec_subject(path: Path, batch_size: int | None, device: torch.device) -> Subject:
    """The subject of the spec at ``path``: its network, its task's loss and a batch of
    ``batch_size`` (default: :data:`SPEC_BATCHES`, then :func:`choose_batch`)."""
    spec = load_spec(path)
    graph = compile_graph(spec)
    task = task_for(spec, graph)
    size = batch_size or choose_batch(graph, SPEC_BATCHES.get(path.stem, 16), device)

    def loss(runner: nn.Module, batch: dict[str, Any]) -> Tensor:
        return task.loss(task.forward(runner, batch), batch)["loss"]  # type: ignore[arg-type]

    shape = (spec.input.channels, spec.input.height, spec.input.width)
    return Subject(
        path.stem, lambda: build_network(graph), loss, spec_batch(spec, task, size), shape
    )
