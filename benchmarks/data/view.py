"""A dataset seen through a per-item transform, keeping the attributes the harness reads.

The harness asks a dataset for ``num_classes``, ``class_names`` and ``image_size`` (see the
package docstring), and the training loop calls ``set_epoch`` before each epoch; a wrapper
that hid them would make a job fail its class-count check or repeat epoch 0's
augmentation, so every wrapper of this package derives from :class:`DatasetView`.
"""

from __future__ import annotations

from typing import Any

from torch.utils.data import Dataset

from benchmarks.data.common import Sample

__all__ = ["DatasetView"]


class DatasetView(Dataset[Sample]):
    """Base of the item-transforming wrappers: length and dataset attributes pass through."""

    def __init__(self, dataset: Dataset[Sample]) -> None:
        self.dataset = dataset

    def __len__(self) -> int:
        return len(self.dataset)  # type: ignore[arg-type]

    @property
    def num_classes(self) -> Any:
        return getattr(self.dataset, "num_classes", None)

    @property
    def class_names(self) -> Any:
        return getattr(self.dataset, "class_names", None)

    @property
    def image_size(self) -> Any:
        return getattr(self.dataset, "image_size", None)

    def set_epoch(self, epoch: int) -> None:
        """Pass the epoch on, so a per-epoch wrapper works at any depth of wrapping."""
        inner = getattr(self.dataset, "set_epoch", None)
        if inner is not None:
            inner(epoch)
