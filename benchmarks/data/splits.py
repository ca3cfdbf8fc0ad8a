"""The data of one benchmark job: train, validation and test splits, ready to load.

Three splits, never overlapping: ``train`` (augmented), ``val`` (scored every few epochs
to pick the best epoch and decide early stopping) and ``test`` (scored once, with the best
weights, for the row). Shapes draws each split from its own seed range; VOC and COCO hold
a fixed fraction of the train list out as ``val`` (:mod:`benchmarks.data.holdout`) and
keep their own val lists as ``test``. Every split is normalised the same way; only the
train split is flipped.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from torch.utils.data import DataLoader, Dataset

from benchmarks.data import collate, make_dataset
from benchmarks.data.augment import RandomHorizontalFlip
from benchmarks.data.holdout import DEFAULT_HOLDOUT
from benchmarks.data.normalize import Normalization, NormalizedDataset, parse_normalization
from benchmarks.runtime.distributed import DistributedContext, make_loader

__all__ = ["TEST_SPLIT", "TRAIN_SPLIT", "VAL_SPLIT", "JobData", "job_loader", "open_job_data"]


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


TRAIN_SPLIT, VAL_SPLIT, TEST_SPLIT = "train", "val", "test"
"""The split names every source serves (:data:`benchmarks.data.SPLITS`)."""


def open_job_data(
    source: str,
    size: tuple[int, int],
    classes: int,
    *,
    seed: int,
    limit: int | None,
    normalize: str,
    augment: bool,
    inputs: Callable[[Dataset], Dataset] | None = None,
) -> JobData:
    """Open every split of ``source`` at ``size`` (so bad data, a test split without ground
    truth included, fails with one :class:`~benchmarks.data.DataError` before training) and
    wrap them: ``limit`` caps the training and validation images, ``normalize`` is bench's
    ``--normalize``, ``augment`` flips the training images, ``inputs`` adds what else the
    task's network reads (:meth:`~benchmarks.tasks.base.Task.with_inputs`, before the
    flips, which mirror it too)."""
    holdout = 0.0 if source == "shapes" else DEFAULT_HOLDOUT

    def split(name: str, limit: int | None = None) -> Dataset:
        data = make_dataset(
            source, name, size, seed=seed, limit=limit, num_classes=classes, holdout=holdout
        )
        return data if inputs is None else inputs(data)

    normalization = parse_normalization(normalize, source)
    train = split(TRAIN_SPLIT, limit)
    if augment:
        train = RandomHorizontalFlip(train, seed=seed)
    return JobData(
        train=NormalizedDataset(train, normalization),
        val=NormalizedDataset(split(VAL_SPLIT, limit), normalization),
        test=NormalizedDataset(split(TEST_SPLIT), normalization),
        normalization=normalization,
        augment=augment,
    )


def job_loader(
    dataset: Dataset,
    batch_size: int,
    ctx: DistributedContext,
    *,
    shuffle: bool,
    workers: int,
    seed: int,
) -> DataLoader:
    """Training loaders shuffle (seeded) and drop a ragged last batch; eval loaders keep all."""
    return make_loader(
        dataset,
        batch_size,
        shuffle,
        ctx,
        workers=workers,
        collate_fn=collate,
        seed=seed,
        drop_last=shuffle and len(dataset) > batch_size,  # type: ignore[arg-type]
    )
