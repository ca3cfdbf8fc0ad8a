"""Test-time augmentation: run a trained model at several scales (and mirrored), merge.

The graph has a fixed input size, so each scale compiles the spec once more at the scaled
size (rounded to a multiple of the network's total stride, so pooling and unpooling still
line up) and loads the same weights; detection anchors then follow the scaled feature maps.
What a view's prediction means and how views merge is the task's
(:meth:`~benchmarks.tasks.base.Task.unview`, :meth:`~benchmarks.tasks.base.Task.merge`):
segmentation logits are resized back and averaged, detection boxes mapped back, pooled and
merged with per-class NMS. Scale 1 without flip is the plain model, so :class:`TTATask`
then gives exactly what ``evaluate`` gives.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from benchmarks.data import Batch
from benchmarks.inference.model import InferenceError, LoadedModel, compile_at
from benchmarks.tasks.base import Evaluator, Task, View

__all__ = ["TTATask", "parse_scales"]


def parse_scales(text: str) -> tuple[float, ...]:
    """``0.5,1,1.5`` -> (0.5, 1.0, 1.5); each scale finite and > 0."""
    try:
        scales = tuple(float(part) for part in text.split(","))
    except ValueError:
        scales = ()
    if not scales or not all(0 < s < math.inf for s in scales):
        raise InferenceError(f"bad --scales {text!r} (expected positive numbers, e.g. 0.5,1,1.5)")
    return scales


def _stride(model: LoadedModel) -> int:
    """The largest cumulative stride of any node: scaled sizes are multiples of it."""
    jumps = [max(node.jump) for node in model.graph if node.jump is not None]
    return max(1, math.ceil(max(jumps, default=1)))


@dataclass
class _Scale:
    """One scale: its network, its task (anchors at that size) and its input size."""

    net: nn.Module
    task: Task
    size: tuple[int, int]


class TTATask(Task):
    """A task whose ``forward`` runs every view of ``model`` and returns the merged
    predictions (its ``predict`` is then the identity); its evaluator is the base task's,
    so the metrics are computed as bench computes them."""

    def __init__(self, model: LoadedModel, scales: tuple[float, ...], flip: bool) -> None:
        self.base, self.flip = model.task, flip
        self.name = self.base.name  # reported and ranked as the base task
        self.metrics = self.base.metrics
        self.input_size = model.size
        self.plain = scales == (1.0,) and not flip
        self.scales = [self._scale(model, s) for s in scales]

    def _scale(self, model: LoadedModel, scale: float) -> _Scale:
        if scale == 1.0:
            return _Scale(model.net, model.task, model.size)
        step = _stride(model)
        height, width = (max(step, round(side * scale / step) * step) for side in model.size)
        try:
            _, net, task = compile_at(model.spec, (height, width), model.state)
        except ValueError as exc:
            raise InferenceError(f"scale {scale:g}: {exc}") from None
        return _Scale(net, task, (height, width))

    def loss(self, model_output: Any, batch: Batch) -> dict[str, Tensor]:
        raise TypeError("test-time augmentation is for evaluation only")

    def evaluator(self, device: torch.device | str | None = None) -> Evaluator:
        return self.base.evaluator(device)

    def forward(self, model: nn.Module, batch: Batch) -> Any:
        """Merged predictions for ``batch["image"]`` (``model`` is the scale-1 network)."""
        if self.plain:
            return self.base.predict(self.base.forward(model, batch))
        image = batch["image"]
        views = []
        for scale in self.scales:
            scale.net.to(image.device)
            scaled = image
            if scale.size != tuple(image.shape[-2:]):
                scaled = F.interpolate(image, size=scale.size, mode="bilinear", align_corners=False)
            for flipped in (False, True) if self.flip else (False,):
                x = scaled.flip(-1) if flipped else scaled
                view = View(scale.size, self.input_size, flipped)
                viewed = self.base.view_batch(batch, x, view)
                prediction = scale.task.predict(scale.task.forward(scale.net, viewed))
                views.append(self.base.unview(prediction, view))
        return self.base.merge(views)
