"""Validation while training: when to validate, which epoch was best, when to stop early.

:func:`benchmarks.train.loop.train` takes an optional :class:`Validation`. After each due epoch
it scores the model on the validation loader with :func:`benchmarks.train.evaluate.evaluate`,
feeds the metric to a :class:`BestTracker`, keeps a CPU copy of the weights whenever the
metric is the best so far, and stops once the tracker says patience has run out. The
metric improves the way the task's primary metric says (higher for mIoU, mAP, top-1).
Each validation also reads the task's trivial baseline from the evaluator that scored it
(:meth:`benchmarks.tasks.base.Task.baseline`), so "learned nothing" is judged against the
very data the metric came from.
"""

from __future__ import annotations

import math
from collections.abc import Iterable
from dataclasses import dataclass, replace
from typing import Any

import torch
import torch.distributed as dist
from torch import Tensor, nn
from torch.nn.parallel import DistributedDataParallel

from benchmarks.runtime.distributed import current_world_size
from benchmarks.tasks.base import Baseline, Task
from benchmarks.train.config import TrainConfig
from benchmarks.train.evaluate import score

__all__ = [
    "BestTracker",
    "Validation",
    "ValidationScore",
    "cpu_state",
    "plain_module",
    "validation_score",
]


@dataclass(frozen=True)
class Validation:
    """How to validate during training.

    Args:
        loader: the validation data (under DDP a sharded loader, as for ``evaluate``).
        every: validate after every ``every``-th epoch, and always after the last one, so
            the final weights are compared too.
        patience: stop after this many validations in a row without an improvement of more
            than ``min_delta``; ``None`` never stops early (the epoch count is the maximum).
        metric: the key of the task's metrics to follow.
        min_delta: how much the metric must improve on the best value to reset patience.
        higher_is_better: which way the metric improves (the task's primary metric says).
    """

    loader: Iterable[Any]
    every: int = 1
    patience: int | None = None
    metric: str = "miou"
    min_delta: float = 0.0
    higher_is_better: bool = True

    def __post_init__(self) -> None:
        if isinstance(self.every, bool) or not isinstance(self.every, int) or self.every < 1:
            raise ValueError(f"validation every must be an integer >= 1, got {self.every!r}")
        if self.patience is not None and (
            isinstance(self.patience, bool)
            or not isinstance(self.patience, int)
            or self.patience < 1
        ):
            raise ValueError(f"patience must be an integer >= 1 or None, got {self.patience!r}")
        if not (math.isfinite(self.min_delta) and self.min_delta >= 0):
            raise ValueError(f"min_delta must be a finite number >= 0, got {self.min_delta}")
        if not self.metric:
            raise ValueError("validation metric must be a metric name, got an empty string")

    def due(self, epoch: int, epochs: int) -> bool:
        """Whether to validate after 1-based ``epoch`` of a run of at most ``epochs``."""
        return epoch % self.every == 0 or epoch == epochs


@dataclass
class BestTracker:
    """The best validation epoch and the early-stopping count, fed one metric at a time.

    Two notions on purpose: the *best* epoch is the best metric (the first one on ties),
    whose weights are kept; *patience* only resets on an improvement of more than
    ``min_delta`` over the reference (the metric at the last such improvement), so a slow
    creep of tiny gains still stops the run. A NaN metric is never an improvement. Higher
    is better unless ``higher_is_better`` is False.
    """

    patience: int | None = None
    min_delta: float = 0.0
    higher_is_better: bool = True
    best_metric: float | None = None
    best_epoch: int | None = None
    reference: float | None = None
    stale: int = 0  # validations since the last improvement of more than min_delta

    def _gain(self, metric: float, over: float) -> float:
        return metric - over if self.higher_is_better else over - metric

    def observe(self, epoch: int, metric: float) -> bool:
        """Record ``metric`` of ``epoch``; True when it is the best so far (keep weights)."""
        finite = math.isfinite(metric)
        best = self.best_metric
        is_best = finite and (best is None or self._gain(metric, best) > 0)
        if is_best:
            self.best_metric, self.best_epoch = metric, epoch
        reference = self.reference
        if finite and (reference is None or self._gain(metric, reference) > self.min_delta):
            self.reference, self.stale = metric, 0
        else:
            self.stale += 1
        return is_best

    @property
    def should_stop(self) -> bool:
        return self.patience is not None and self.stale >= self.patience


def plain_module(model: nn.Module) -> nn.Module:
    """The module inside DDP and ``torch.compile`` wrappers (in any nesting).

    Its ``state_dict`` keys have no ``module.`` / ``_orig_mod.`` prefix, so a kept state
    loads into the bare network the caller saves and times.
    """
    while True:
        if isinstance(model, DistributedDataParallel):
            model = model.module
        elif isinstance(getattr(model, "_orig_mod", None), nn.Module):
            model = model._orig_mod
        else:
            return model


def cpu_state(model: nn.Module) -> dict[str, Tensor]:
    """A CPU copy of the plain module's ``state_dict`` that later training cannot change."""
    return {
        key: value.detach().to("cpu", copy=True)
        for key, value in plain_module(model).state_dict().items()
    }


def _same_on_every_rank(value: float, device: torch.device) -> float:
    """Rank 0's value on every rank.

    ``evaluate`` already gives every rank the whole-set metrics (count tensors are summed
    across ranks before ``compute``; detection gathers every prediction), so the ranks
    agree; broadcasting makes that exact, since ranks that disagreed by one rounding step
    would stop at different epochs and hang in the next collective.
    """
    if current_world_size() == 1:
        return value
    tensor = torch.tensor([value], dtype=torch.float64, device=device)
    dist.broadcast(tensor, src=0)
    return tensor.item()


@dataclass(frozen=True)
class ValidationScore:
    """One validation: the followed metric, and the task's baseline on the same data."""

    metric: float
    baseline: Baseline | None


def validation_score(
    model: nn.Module, task: Task, validation: Validation, config: TrainConfig
) -> ValidationScore:
    """Score ``model`` on the validation loader: the followed metric and the baseline."""
    device = config.torch_device
    scored = score(
        model,
        task,
        validation.loader,
        device,
        amp=config.amp,
        channels_last=config.channels_last,
    )
    metrics = scored.metrics
    if validation.metric not in metrics:
        known = ", ".join(sorted(metrics))
        raise ValueError(
            f"validation metric {validation.metric!r} is not reported by the "
            f"{task.name} task (it reports: {known})"
        )
    metric = _same_on_every_rank(float(metrics[validation.metric]), device)
    baseline = task.baseline(scored.evaluator)
    if baseline is not None:
        baseline = replace(baseline, value=_same_on_every_rank(baseline.value, device))
    return ValidationScore(metric, baseline)
