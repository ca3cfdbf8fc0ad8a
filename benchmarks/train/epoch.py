"""One training epoch: the optimizer steps over a loader and the :class:`EpochRecord` of it.

Split from :mod:`benchmarks.train.loop`, which strings epochs together and decides between them
(divergence, validation, early stopping); this module only knows how to take steps.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Sized
from dataclasses import dataclass
from typing import Any

import torch
from torch import Tensor, nn

from benchmarks.data import Batch
from benchmarks.runtime.distributed import all_reduce_
from benchmarks.runtime.placement import autocast, move_batch
from benchmarks.tasks.base import Task
from benchmarks.train.config import TrainConfig
from benchmarks.train.divergence import NonFiniteLossError
from benchmarks.train.optimization import Optimization
from benchmarks.train.progress import Progress

__all__ = ["EpochRecord", "TrainingRun", "steps_per_epoch", "train_epoch"]


@dataclass(frozen=True)
class EpochRecord:
    """What one epoch reports: its mean losses over its steps and the LR it ended on."""

    epoch: int  # 1-based
    loss: float  # mean of the optimised loss (rank mean under DDP)
    extra_losses: dict[str, float]  # means of the task's logged-only losses, by name
    lr: float

    def as_log(self) -> dict[str, float]:
        """The flat dict kept in ``TrainResult.logs`` (and in a job's ``config.json``)."""
        log = {"epoch": float(self.epoch), "loss": self.loss}
        log.update(self.extra_losses)
        log["lr"] = self.lr
        return log


@dataclass
class TrainingRun:
    """What every step of one run needs, and how many optimizer steps it has taken."""

    model: nn.Module
    task: Task
    config: TrainConfig
    optimization: Optimization
    progress: Progress
    device: torch.device
    channels_last: bool
    steps_per_epoch: int
    world_size: int
    step: int = 0  # optimizer steps taken, over all epochs

    @property
    def total_steps(self) -> int:
        return self.config.epochs * self.steps_per_epoch


def steps_per_epoch(loader: Iterable[Any], epochs: int) -> int:
    """The loader's length, which the LR schedule needs before the first step."""
    if not isinstance(loader, Sized):
        raise TypeError("train() needs a loader with a length (to plan the LR schedule)")
    steps_per_epoch = len(loader)
    if epochs * steps_per_epoch == 0:
        raise ValueError("the training loader is empty")
    return steps_per_epoch


def _set_epoch(loader: Iterable[Any], epoch: int) -> None:
    """Reseed a DistributedSampler so each epoch shuffles differently but equally on ranks,
    and tell an augmenting dataset the epoch so each epoch flips different images."""
    for part in ("sampler", "batch_sampler", "dataset"):
        target = getattr(loader, part, None)
        if hasattr(target, "set_epoch"):
            target.set_epoch(epoch)


def _mean_over_ranks(loss: Tensor, world_size: int) -> float:
    """The loss as a float, averaged over ranks so that every rank sees a NaN together."""
    logged = loss.detach().float().reshape(1)
    if world_size > 1:
        all_reduce_([logged])
        logged /= world_size
    return logged.item()  # the one host sync per step


def _non_finite_loss(
    run: TrainingRun, loss: float, epoch: int, batch_index: int
) -> NonFiniteLossError:
    config = run.config
    return NonFiniteLossError(
        f"non-finite loss ({loss}) in {config.desc!r} at epoch "
        f"{epoch + 1}/{config.epochs}, step {batch_index + 1}/{run.steps_per_epoch}"
        f" (global step {run.step + 1}/{run.total_steps}); lower the lr "
        f"({config.lr:g}) or set grad_clip"
    )


def _train_step(
    run: TrainingRun, batch: Batch, epoch: int, batch_index: int
) -> tuple[float, dict[str, Tensor]]:
    """One optimizer update; returns the rank-mean loss and every loss the task reported."""
    batch = move_batch(batch, run.device, run.channels_last)
    with autocast(run.device, run.config.use_amp):
        output = run.task.forward(run.model, batch)
        losses = run.task.loss(output, batch)
    loss = losses["loss"]
    run.optimization.zero_grad()
    loss.backward()
    loss_value = _mean_over_ranks(loss, run.world_size)
    if not math.isfinite(loss_value):
        raise _non_finite_loss(run, loss_value, epoch, batch_index)
    run.optimization.step()
    run.step += 1
    return loss_value, losses


def train_epoch(run: TrainingRun, loader: Iterable[Any], epoch: int) -> EpochRecord:
    """One pass over ``loader`` as epoch ``epoch`` (0-based), averaging the losses of its steps.

    Logged-only losses are summed as tensors, so they add no host sync to the step.
    """
    _set_epoch(loader, epoch)
    run.progress.start_epoch(epoch)
    loss_sum = 0.0
    extra_sums: dict[str, Tensor] = {}
    for batch_index, batch in enumerate(loader):
        loss_value, losses = _train_step(run, batch, epoch, batch_index)
        loss_sum += loss_value
        for key, value in losses.items():
            if key != "loss":
                extra_sums[key] = extra_sums.get(key, 0.0) + value.detach().float()
        run.progress.advance(batch_index + 1, run.steps_per_epoch, loss_sum / (batch_index + 1))
    steps = run.steps_per_epoch
    return EpochRecord(
        epoch=epoch + 1,
        loss=loss_sum / steps,
        extra_losses={key: float(value) / steps for key, value in extra_sums.items()},
        lr=run.optimization.lr,
    )
