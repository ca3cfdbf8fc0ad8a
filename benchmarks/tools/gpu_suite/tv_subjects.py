"""torchvision's VGG16 and SSD300 as subjects, on the batch of the spec they are compared with.

Each takes the graphspec spec's subject (same batch, input size and training batch) and
swaps in torchvision's model (``weights=None``) and its own training loss, so the ratio
graphspec / torchvision compares the networks, not the data:

* ``vgg16``: ``torchvision.models.vgg16``, cross-entropy on the image labels.
* ``ssd300_vgg16``: ``torchvision.models.detection.ssd300_vgg16`` with the spec's classes
  plus background; in training it is called as torchvision trains it (a list of images and
  of targets; its transform, anchors, matching and loss inside). Compiled mode compiles its
  backbone and head, as ``graphspec bench --compile`` compiles the network and not the
  loss. Inference times backbone + head on a batch tensor, the work graphspec's SSD forward
  does (torchvision's full eval forward would add its resize and its decoding + NMS).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import replace
from typing import Any

import torch.nn.functional as F
from torch import Tensor, nn

from benchmarks.tools.gpu_suite.subjects import Subject

__all__ = ["PAIRS", "tv_subject"]

PAIRS = {"vgg16": "vgg16", "ssd300_vgg16": "ssd300-vgg16"}
"""torchvision model -> the graphspec spec it is compared with."""


class SSDCore(nn.Module):
    """Backbone + head of a torchvision SSD on a batch tensor: raw box regressions and
    class logits, what graphspec's SSD network returns."""

    def __init__(self, ssd: nn.Module) -> None:
        super().__init__()
        self.ssd = ssd

    def forward(self, images: Tensor) -> Any:
        features = self.ssd.backbone(images)
        return self.ssd.head(list(features.values()))


def _vgg16(tv: Any, paired: Subject, classes: int) -> Subject:
    def loss(runner: nn.Module, batch: dict[str, Any]) -> Tensor:
        return F.cross_entropy(runner(batch["image"]).float(), batch["label"])

    build = lambda: tv.models.vgg16(weights=None, num_classes=classes)  # noqa: E731
    return replace(paired, name="tv vgg16", build=build, loss=loss, _base=None)


def _ssd_runner(model: nn.Module, compile_: Callable[[nn.Module], nn.Module]) -> nn.Module:
    model.backbone = compile_(model.backbone)
    model.head = compile_(model.head)
    return model


def _ssd300(tv: Any, paired: Subject, classes: int) -> Subject:
    def loss(runner: nn.Module, batch: dict[str, Any]) -> Tensor:
        images = list(batch["image"].unbind(0))
        targets = [
            {"boxes": boxes, "labels": labels}
            for boxes, labels in zip(batch["boxes"], batch["labels"], strict=True)
        ]
        return sum(runner(images, targets).values())  # type: ignore[return-value]

    def build() -> nn.Module:
        detection = tv.models.detection
        return detection.ssd300_vgg16(weights=None, weights_backbone=None, num_classes=classes)

    return replace(
        paired,
        name="tv ssd300_vgg16",
        build=build,
        loss=loss,
        runner=_ssd_runner,
        inference=SSDCore,
        _base=None,
    )


def tv_subject(tv: Any, name: str, paired: Subject, classes: int) -> Subject:
    """torchvision's ``name`` (a key of :data:`PAIRS`) on ``paired``'s batch; ``tv`` is the
    torchvision module and ``classes`` the spec's class count (SSD adds background)."""
    if name == "vgg16":
        return _vgg16(tv, paired, classes)
    if name == "ssd300_vgg16":
        return _ssd300(tv, paired, classes + 1)
    raise ValueError(f"no torchvision subject {name!r} (known: {', '.join(PAIRS)})")
