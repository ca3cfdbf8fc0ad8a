"""Toy data, model and settings shared by the training and DDP tests.

``BrightnessDataset`` is random images whose pixels are class 1 where the channel mean
exceeds a threshold, so a one-conv model can learn it in a few steps; its items have the
layout of :mod:`benchmarks.data` (empty boxes and labels included).
"""

from __future__ import annotations

from typing import Any

import torch
from torch import nn
from torch.utils.data import DataLoader, Dataset

from benchmarks.train.loop import TrainConfig

IGNORE = 255


class BrightnessDataset(Dataset):
    """Random images; a pixel is class 1 when its channel mean exceeds ``threshold``.

    The top row is marked ignore so the tests also exercise ``ignore_index``.
    """

    def __init__(self, count: int, size: int = 12, seed: int = 0, threshold: float = 0.6) -> None:
        generator = torch.Generator().manual_seed(seed)
        self.images = torch.rand(count, 3, size, size, generator=generator)
        masks = (self.images.mean(dim=1) > threshold).long()
        masks[:, 0, :] = IGNORE
        self.masks = masks

    def __len__(self) -> int:
        return len(self.images)

    def __getitem__(self, index: int) -> dict[str, Any]:
        return {
            "image": self.images[index],
            "mask": self.masks[index],
            "boxes": torch.zeros(0, 4),
            "labels": torch.zeros(0, dtype=torch.int64),
            "image_id": index,
        }


def collate(items: list[dict[str, Any]]) -> dict[str, Any]:
    """Same layout as ``benchmarks.data.collate`` (kept local so this test stands alone)."""
    return {
        "image": torch.stack([i["image"] for i in items]),
        "mask": torch.stack([i["mask"] for i in items]),
        "boxes": [i["boxes"] for i in items],
        "labels": [i["labels"] for i in items],
        "image_id": [i["image_id"] for i in items],
    }


def tiny_segmenter(seed: int = 0) -> nn.Module:
    torch.manual_seed(seed)
    return nn.Sequential(nn.Conv2d(3, 8, 3, padding=1), nn.ReLU(), nn.Conv2d(8, 2, 1))


def loader_for(dataset: Dataset, batch_size: int = 8, shuffle: bool = False) -> DataLoader:
    generator = torch.Generator().manual_seed(0)
    return DataLoader(
        dataset, batch_size=batch_size, shuffle=shuffle, collate_fn=collate, generator=generator
    )


def quiet_config(**overrides: Any) -> TrainConfig:
    return TrainConfig(**{"device": "cpu", "progress": False, **overrides})
