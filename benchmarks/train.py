"""Task-agnostic training loop used by ``graphspec bench`` (evaluation: :mod:`.evaluation`).

The loop is deliberately plain (the fixed recipe of :mod:`benchmarks.optimization`, bf16
autocast on CUDA) so that differences between benchmarked specs come from the
architectures, not from per-model tuning. All task specifics live behind
:class:`benchmarks.tasks.Task`.

Models may be plain modules, ``torch.compile`` wrappers or DDP wrappers: the loop only uses
``parameters()``, ``train()``/``eval()`` and calls, never model-specific attributes.

:func:`train` only strings epochs together: each epoch is one call that returns an
:class:`EpochRecord`, so whatever is decided once per epoch sits between those calls and
reads typed fields rather than log dicts.
"""

from __future__ import annotations

import contextlib
import math
import sys
import time
from collections.abc import Iterable, Sequence, Sized
from dataclasses import dataclass, field
from typing import Any

import torch
from torch import Tensor, nn
from tqdm import tqdm

from benchmarks.data import Batch
from benchmarks.distributed import all_reduce_, current_rank, current_world_size
from benchmarks.evaluation import evaluate
from benchmarks.optimization import Optimization, build_optimization, build_scheduler, lr_factor
from benchmarks.placement import autocast, prepare_model
from benchmarks.tasks import Task, move_batch
from benchmarks.train_config import TrainConfig

__all__ = [
    "EpochRecord",
    "NonFiniteLossError",
    "TrainConfig",
    "TrainResult",
    "lr_factor",
    "build_scheduler",
    "train",
    "evaluate",
]


class NonFiniteLossError(RuntimeError):
    """The loss became NaN or infinite; the run is diverged and its weights are unusable."""


@dataclass(frozen=True)
class EpochRecord:
    """What one epoch reports: its mean losses over its steps and the LR it ended on."""

    epoch: int  # 1-based
    loss: float  # mean of the optimised loss (rank mean under DDP)
    extra_losses: dict[str, float]  # means of the task's logged-only losses, by name
    lr: float

    def as_log(self) -> dict[str, float]:
        """The flat dict kept in :attr:`TrainResult.logs` (and in a job's ``config.json``)."""
        log = {"epoch": float(self.epoch), "loss": self.loss}
        log.update(self.extra_losses)
        log["lr"] = self.lr
        return log


@dataclass
class TrainResult:
    """What a training run reports; ``final_loss`` is the mean loss of the last epoch."""

    train_s: float
    steps: int
    final_loss: float
    loss_history: list[float] = field(default_factory=list)
    logs: list[dict[str, float]] = field(default_factory=list)

    @classmethod
    def from_epochs(cls, train_s: float, steps: int, epochs: Sequence[EpochRecord]) -> TrainResult:
        """The result of a run whose epochs reported ``epochs``, in order (at least one)."""
        return cls(
            train_s=train_s,
            steps=steps,
            final_loss=epochs[-1].loss,
            loss_history=[record.loss for record in epochs],
            logs=[record.as_log() for record in epochs],
        )


def _progress_enabled(config: TrainConfig) -> bool:
    return config.progress and current_rank() == 0 and sys.stdout.isatty()


class _Progress:
    """The run's step bar: shown on rank 0 on a terminal only, so logs stay free of it."""

    def __init__(self, config: TrainConfig, total_steps: int) -> None:
        self.desc, self.epochs = config.desc, config.epochs
        self.bar = tqdm(
            total=total_steps,
            desc=config.desc,
            unit="step",
            file=sys.stdout,
            dynamic_ncols=True,
            disable=not _progress_enabled(config),
        )

    def start_epoch(self, epoch: int) -> None:
        self.bar.set_description(f"{self.desc} ep {epoch + 1}/{self.epochs}", refresh=False)

    def advance(self, done: int, per_epoch: int, mean_loss: float) -> None:
        """Count one step, the ``done``-th of ``per_epoch`` in this epoch, and its mean loss."""
        self.bar.set_postfix(step=f"{done}/{per_epoch}", loss=f"{mean_loss:.4f}", refresh=False)
        self.bar.update(1)

    def close(self) -> None:
        self.bar.close()


@dataclass
class _TrainingRun:
    """What every step of one run needs, and how many optimizer steps it has taken."""

    model: nn.Module
    task: Task
    config: TrainConfig
    optimization: Optimization
    progress: _Progress
    device: torch.device
    channels_last: bool
    steps_per_epoch: int
    world_size: int
    step: int = 0  # optimizer steps taken, over all epochs

    @property
    def total_steps(self) -> int:
        return self.config.epochs * self.steps_per_epoch


def _steps_per_epoch(loader: Iterable[Any], epochs: int) -> int:
    """The loader's length, which the LR schedule needs before the first step."""
    if not isinstance(loader, Sized):
        raise TypeError("train() needs a loader with a length (to plan the LR schedule)")
    steps_per_epoch = len(loader)
    if epochs * steps_per_epoch == 0:
        raise ValueError("the training loader is empty")
    return steps_per_epoch


def _set_epoch(loader: Iterable[Any], epoch: int) -> None:
    """Reseed a DistributedSampler so each epoch shuffles differently but equally on ranks."""
    for sampler in (getattr(loader, "sampler", None), getattr(loader, "batch_sampler", None)):
        if hasattr(sampler, "set_epoch"):
            sampler.set_epoch(epoch)


def _mean_over_ranks(loss: Tensor, world_size: int) -> float:
    """The loss as a float, averaged over ranks so that every rank sees a NaN together."""
    logged = loss.detach().float().reshape(1)
    if world_size > 1:
        all_reduce_([logged])
        logged /= world_size
    return logged.item()  # the one host sync per step


def _non_finite_loss(
    run: _TrainingRun, loss: float, epoch: int, batch_index: int
) -> NonFiniteLossError:
    config = run.config
    return NonFiniteLossError(
        f"non-finite loss ({loss}) in {config.desc!r} at epoch "
        f"{epoch + 1}/{config.epochs}, step {batch_index + 1}/{run.steps_per_epoch}"
        f" (global step {run.step + 1}/{run.total_steps}); lower the lr "
        f"({config.lr:g}) or set grad_clip"
    )


def _train_step(
    run: _TrainingRun, batch: Batch, epoch: int, batch_index: int
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


def _train_epoch(run: _TrainingRun, loader: Iterable[Any], epoch: int) -> EpochRecord:
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


def train(model: nn.Module, task: Task, loader: Iterable[Any], config: TrainConfig) -> TrainResult:
    """Train ``model`` in place for ``config.epochs`` epochs and report time and losses.

    Under DDP the logged loss is the mean over ranks (one scalar all-reduce per step); that
    also makes every rank see a NaN together, so all ranks raise instead of one hanging.
    The loss is checked after ``backward`` but before the optimizer step, so a diverged
    step never writes NaN into the weights. A bare model is moved to ``config.device`` (and
    to channels_last when enabled); a DDP model is left as ``distributed.wrap_model`` placed it,
    so pass ``channels_last`` there. ``train_s`` includes data loading and, for compiled
    models, the compilation triggered by the first step.

    Raises:
        NonFiniteLossError: as soon as a step's loss is NaN or infinite.
    """
    device, channels_last = config.torch_device, config.use_channels_last
    torch.manual_seed(config.seed + current_rank())  # independent dropout noise per rank
    prepare_model(model, device, channels_last)
    model.train()
    steps_per_epoch = _steps_per_epoch(loader, config.epochs)
    total_steps = config.epochs * steps_per_epoch
    optimization = build_optimization(
        model,
        lr=config.lr,
        weight_decay=config.weight_decay,
        warmup_steps=config.resolve_warmup(total_steps),
        total_steps=total_steps,
        grad_clip=config.grad_clip,
    )
    epochs: list[EpochRecord] = []
    with contextlib.closing(_Progress(config, total_steps)) as progress:
        run = _TrainingRun(
            model=model,
            task=task,
            config=config,
            optimization=optimization,
            progress=progress,
            device=device,
            channels_last=channels_last,
            steps_per_epoch=steps_per_epoch,
            world_size=current_world_size(),
        )
        start = time.perf_counter()
        for epoch in range(config.epochs):
            epochs.append(_train_epoch(run, loader, epoch))
        if device.type == "cuda":
            torch.cuda.synchronize(device)
    return TrainResult.from_epochs(time.perf_counter() - start, run.step, epochs)
