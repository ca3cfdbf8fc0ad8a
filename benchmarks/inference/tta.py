"""Test-time augmentation: run a trained model at several scales (and mirrored), merge.

The graph has a fixed input size, so each scale compiles the spec once more at the scaled
size (rounded to a multiple of the network's total stride, so pooling and unpooling still
line up) and loads the same weights; detection anchors then follow the scaled feature maps.
Segmentation logits are resized back to the input size and averaged; detection boxes are
mapped back to input pixels, pooled and merged with per-class NMS. Scale 1 without flip is
the plain model, so :class:`TTATask` then gives exactly what ``evaluate`` gives.
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
from benchmarks.tasks.base import Task
from benchmarks.tasks.detection import DetectionEvaluator
from compiler.ops import batched_nms

__all__ = ["TTATask", "parse_scales"]

DETECTION_IOU = 0.45  # decode_ssd's NMS threshold, reused when merging the views
DETECTION_TOP_K = 200


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
class _View:
    """One scale: its network, its task (anchors at that size) and its input size."""

    net: nn.Module
    task: Task
    size: tuple[int, int]


class TTATask(Task):
    """A task whose ``forward`` runs every view of ``model`` and merges them.

    Its evaluator is the base task's, so the metrics are computed as bench computes them;
    :attr:`last_evaluator` keeps the one made last (``val`` reads per-class numbers from it).
    """

    def __init__(self, model: LoadedModel, scales: tuple[float, ...], flip: bool) -> None:
        self.base, self.flip = model.task, flip
        self.name, self.metric = self.base.name, self.base.metric
        self.input_size = model.size
        self.plain = scales == (1.0,) and not flip
        self.views = [self._view(model, s) for s in scales]
        self.last_evaluator: Any = None

    def _view(self, model: LoadedModel, scale: float) -> _View:
        if scale == 1.0:
            return _View(model.net, model.task, model.size)
        step = _stride(model)
        size = tuple(max(step, round(side * scale / step) * step) for side in model.size)
        try:
            _, net, task = compile_at(model.spec, size, model.state)  # type: ignore[arg-type]
        except ValueError as exc:
            raise InferenceError(f"scale {scale:g}: {exc}") from None
        return _View(net, task, size)  # type: ignore[arg-type]

    def loss(self, model_output: Any, batch: Batch) -> dict[str, Tensor]:
        raise NotImplementedError("test-time augmentation is for evaluation only")

    def evaluator(self, device: torch.device | str | None = None) -> Any:
        evaluator = self.base.evaluator(device)
        if isinstance(evaluator, DetectionEvaluator):
            evaluator.task = self  # type: ignore[assignment]  # it decodes through ``decode``
        self.last_evaluator = evaluator
        return evaluator

    def decode(self, model_output: Any) -> list[dict[str, Tensor]]:
        """Per-image detections: the base task's decoding, or (with views) what
        :meth:`forward` merged already."""
        return self.base.decode(model_output) if self.plain else model_output  # type: ignore[attr-defined]

    def forward(self, model: nn.Module, batch: Batch) -> Any:
        """Merged output for ``batch["image"]`` (``model`` is the scale-1 network)."""
        if self.plain:
            return self.base.forward(model, batch)
        image = batch["image"]
        if self.base.name == "segmentation":
            return self._segment(image)
        return self._detect(image)

    def _inputs(self, image: Tensor, view: _View) -> list[tuple[Tensor, bool]]:
        view.net.to(image.device)
        scaled = image
        if view.size != tuple(image.shape[-2:]):
            scaled = F.interpolate(image, size=view.size, mode="bilinear", align_corners=False)
        pairs = [(scaled, False)]
        return pairs + [(scaled.flip(-1), True)] if self.flip else pairs

    def _segment(self, image: Tensor) -> Tensor:
        total, count = None, 0
        for view in self.views:
            for x, flipped in self._inputs(image, view):
                logits = view.net(x).float()
                logits = logits.flip(-1) if flipped else logits
                logits = F.interpolate(
                    logits, size=self.input_size, mode="bilinear", align_corners=False
                )
                total, count = (logits if total is None else total + logits), count + 1
        assert total is not None
        return total / count

    def _detect(self, image: Tensor) -> list[dict[str, Tensor]]:
        per_image: list[list[dict[str, Tensor]]] = [[] for _ in range(image.shape[0])]
        height, width = self.input_size
        for view in self.views:
            sy, sx = height / view.size[0], width / view.size[1]
            for x, flipped in self._inputs(image, view):
                for found, dets in zip(per_image, view.task.decode(view.net(x)), strict=True):  # type: ignore[attr-defined]
                    boxes = dets["boxes"].float()
                    boxes = _unflip(boxes, view.size[1]) if flipped else boxes
                    scale = boxes.new_tensor([sx, sy, sx, sy])
                    found.append({**dets, "boxes": boxes * scale})
        return [_merge(found) for found in per_image]


def _unflip(boxes: Tensor, width: int) -> Tensor:
    """Boxes found on a mirrored image, mapped back onto the image: x -> width - x."""
    x1, y1, x2, y2 = boxes.unbind(1)
    return torch.stack([width - x2, y1, width - x1, y2], 1)


def _merge(found: list[dict[str, Tensor]]) -> dict[str, Tensor]:
    """One image's detections from every view, merged by per-class NMS."""
    boxes = torch.cat([d["boxes"] for d in found])
    scores = torch.cat([d["scores"].float() for d in found])
    labels = torch.cat([d["labels"] for d in found])
    keep = batched_nms(boxes, scores, labels, DETECTION_IOU)[:DETECTION_TOP_K]
    return {"boxes": boxes[keep], "scores": scores[keep], "labels": labels[keep]}
