"""Task-agnostic evaluation loop used by ``graphspec bench`` (re-exported by ``train``).

All task specifics live behind :class:`benchmarks.tasks.base.Task` and its evaluator, so this
loop only runs the model and feeds the evaluator, whatever the task.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

import torch
from torch import nn
from torch.nn.parallel import DistributedDataParallel

from benchmarks.runtime.distributed import all_reduce_
from benchmarks.runtime.placement import autocast, move_batch, prepare_model
from benchmarks.tasks.base import Evaluator, Task

__all__ = ["Scored", "evaluate", "score"]


@dataclass
class Scored:
    """The whole-set metrics and the evaluator that computed them (its state summed over
    the ranks), for what else the task reads from it: its baseline, per-class scores."""

    metrics: dict[str, float]
    evaluator: Evaluator


def evaluate(
    model: nn.Module,
    task: Task,
    loader: Iterable[Any],
    device: str | torch.device,
    amp: bool = True,
    channels_last: bool | None = None,
) -> dict[str, float]:
    """The metrics of :func:`score`."""
    return score(model, task, loader, device, amp, channels_last).metrics


def score(
    model: nn.Module,
    task: Task,
    loader: Iterable[Any],
    device: str | torch.device,
    amp: bool = True,
    channels_last: bool | None = None,
) -> Scored:
    """Score ``model`` on ``loader``; with DDP, every rank returns the whole-set metrics.

    Each rank evaluates its shard, then the evaluator's count tensors are summed across
    ranks before ``compute``, so the result equals a single process seeing all the data
    (when the shards do not overlap, i.e. the set size divides by the world size). The DDP
    wrapper is bypassed when it is the outer module: evaluation needs no gradient sync and
    ranks may see different numbers of batches. ``amp``/``channels_last`` apply on CUDA
    only, as in :class:`benchmarks.train.config.TrainConfig`.
    """
    device = torch.device(device)
    on_cuda = device.type == "cuda"
    use_channels_last = on_cuda if channels_last is None else channels_last
    prepare_model(model, device, use_channels_last)  # before unwrapping: skips DDP models
    if isinstance(model, DistributedDataParallel):
        model = model.module
    was_training = model.training
    model.eval()
    evaluator = task.evaluator(device)
    try:
        with torch.inference_mode():
            for batch in loader:
                batch = move_batch(batch, device, use_channels_last)
                with autocast(device, amp and on_cuda):
                    output = task.forward(model, batch)
                evaluator.update(task.predict(output), batch)
            all_reduce_(evaluator.state_tensors())
            return Scored(evaluator.compute(), evaluator)
    finally:
        model.train(was_training)
