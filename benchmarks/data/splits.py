"""The data of one benchmark job: train, validation and test splits, ready to load.

Three splits, never overlapping: ``train`` (augmented), ``val`` (scored every few epochs
to pick the best epoch and decide early stopping) and ``test`` (scored once, with the best
weights, for the row). Shapes draws each split from its own seed range; VOC and COCO hold
a fixed fraction of the train list out as ``val`` (:mod:`benchmarks.data.holdout`) and
keep their own val lists as ``test``. Every split is normalised the same way; only the
train split is flipped.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from torch.utils.data import DataLoader, Dataset

from benchmarks.data import collate, make_dataset
from benchmarks.data.augment import RandomHorizontalFlip
from benchmarks.data.holdout import DEFAULT_HOLDOUT
from benchmarks.data.normalize import Normalization, NormalizedDataset, parse_normalization
from benchmarks.runtime.distributed import DistributedContext, make_loader

__all__ = ["JobData", "job_loader", "open_job_data"]


@dataclass
class JobData:
    """The three splits of a job (already wrapped) and how they were prepared."""

    train: Dataset
    val: Dataset
    test: Dataset
    normalization: Normalization
    augment: bool

    @property
    def sizes(self) -> dict[str, int]:
        """Images per split, as the row's ``train_images`` / ``val_images`` / ``eval_images``."""
        splits = {"train_images": self.train, "val_images": self.val, "eval_images": self.test}
        return {key: len(data) for key, data in splits.items()}  # type: ignore[arg-type]


def open_job_data(settings: Mapping[str, Any], size: tuple[int, int], classes: int) -> JobData:
    """Open every split (so bad data fails before training) and wrap them."""
    source, seed = settings["data"], settings["seed"]
    holdout = 0.0 if source == "shapes" else DEFAULT_HOLDOUT

    def split(name: str, limit: int | None = None) -> Dataset:
        return make_dataset(
            source, name, size, seed=seed, limit=limit, num_classes=classes, holdout=holdout
        )

    normalization = parse_normalization(settings["normalize"], source)
    train = split("train", settings["limit"])
    if settings["augment"]:
        train = RandomHorizontalFlip(train, seed=seed)
    return JobData(
        train=NormalizedDataset(train, normalization),
        val=NormalizedDataset(split(settings["val_split"], settings["limit"]), normalization),
        test=NormalizedDataset(split(settings["eval_split"]), normalization),
        normalization=normalization,
        augment=bool(settings["augment"]),
    )


def job_loader(
    dataset: Dataset,
    batch_size: int,
    settings: Mapping[str, Any],
    ctx: DistributedContext,
    *,
    shuffle: bool,
) -> DataLoader:
    """Training loaders shuffle (seeded) and drop a ragged last batch; eval loaders keep all."""
    return make_loader(
        dataset,
        batch_size,
        shuffle,
        ctx,
        workers=settings["workers"],
        collate_fn=collate,
        seed=settings["seed"],
        drop_last=shuffle and len(dataset) > batch_size,  # type: ignore[arg-type]
    )
