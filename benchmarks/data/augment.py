"""Light training augmentation, the same for every spec: random horizontal flips.

Only flips: they are label-preserving for every dataset here (no class is defined by its
left-right orientation), keep the image size, and map masks and boxes exactly, so
segmentation and detection specs see the same augmented data. Heavier schemes (crops,
colour jitter) would favour the architectures that happen to profit from them.

Whether item ``i`` is flipped in epoch ``e`` is a pure function of ``(seed, e, i)``, so
runs are reproducible whatever the worker count. The epoch lives in a shared-memory
tensor: the loaders keep their workers between epochs (``persistent_workers``), and a
plain attribute set in the main process would never reach them.
"""

from __future__ import annotations

import numpy as np
import torch
from torch.utils.data import Dataset

from benchmarks.data.common import Sample
from benchmarks.data.view import DatasetView

__all__ = ["FLIP_PROBABILITY", "RandomHorizontalFlip", "flip_sample", "mirror_boxes"]

FLIP_PROBABILITY = 0.5
_STREAM = 0xF11F  # keeps these draws apart from any other SeedSequence([seed, ...]) user


def flip_sample(item: Sample) -> Sample:
    """``item`` mirrored left-right: image, mask and instance mask columns reversed, boxes
    (and proposals) mirrored, so every key still describes the same pixels.

    Pixel ``j`` spans ``[j, j + 1)``, so in an image ``W`` pixels wide the mirror of ``x``
    is ``W - x`` and a box ``[x1, y1, x2, y2]`` becomes ``[W - x2, y1, W - x1, y2]``.
    """
    width = item["image"].shape[-1]
    flipped: Sample = {
        **item,
        "image": torch.flip(item["image"], dims=(-1,)),
        "mask": torch.flip(item["mask"], dims=(-1,)),
        "boxes": mirror_boxes(item["boxes"], width),
    }
    if "proposals" in item:
        flipped["proposals"] = mirror_boxes(item["proposals"], width)
    if "instance_masks" in item:
        flipped["instance_masks"] = torch.flip(item["instance_masks"], dims=(-1,))
    return flipped


def mirror_boxes(boxes: torch.Tensor, width: float) -> torch.Tensor:
    """``[x1, y1, x2, y2]`` rows mirrored in an image ``width`` pixels wide."""
    mirrored = boxes.clone()
    mirrored[:, 0] = width - boxes[:, 2]
    mirrored[:, 2] = width - boxes[:, 0]
    return mirrored


class RandomHorizontalFlip(DatasetView):
    """``dataset`` (a training split) with each item flipped with probability 1/2 per epoch.

    Call :meth:`set_epoch` before each epoch's pass (as for a ``DistributedSampler``);
    without it every epoch repeats epoch 0's flips.
    """

    def __init__(self, dataset: Dataset[Sample], seed: int = 0) -> None:
        super().__init__(dataset)
        self.seed = seed
        self._epoch = torch.zeros((), dtype=torch.int64).share_memory_()

    @property
    def epoch(self) -> int:
        return int(self._epoch.item())

    def set_epoch(self, epoch: int) -> None:
        """Draw the flips of ``epoch`` from now on, in this process and in its workers."""
        if epoch < 0:
            raise ValueError(f"epoch must be >= 0, got {epoch}")
        self._epoch.fill_(epoch)
        super().set_epoch(epoch)

    def flips(self, index: int) -> bool:
        """Whether item ``index`` is flipped in the current epoch."""
        entropy = [self.seed % 2**64, self.epoch, index, _STREAM]
        return bool(
            np.random.default_rng(np.random.SeedSequence(entropy)).random() < FLIP_PROBABILITY
        )

    def __getitem__(self, index: int) -> Sample:
        item = self.dataset[index]
        return flip_sample(item) if self.flips(index) else item
