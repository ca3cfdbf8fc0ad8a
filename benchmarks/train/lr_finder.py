"""``--lr auto``: a learning-rate range test (Smith 2017; fastai's ``lr_find``) per spec.

A fixed lr favours the specs it happens to suit; searching a grid per spec costs a full
training per point. The range test costs ~100 optimizer steps: train a throw-away copy of
the model with AdamW (as the sweep does) while the lr grows exponentially from
``start_lr`` to ``end_lr``, smooth the loss with a debiased exponential moving average,
stop once it exceeds ``divergence`` x its minimum or stops being finite, then pick

    the first lr at which the smoothed loss has made half of its fall from its value at
    the first step to its minimum.

Why this rule. It is the steepest-slope idea (the lr where the loss falls fastest, the
middle of the descent) located by a level crossing instead of a derivative: the curve is
steep there, so batch noise barely moves the crossing, while the derivative of a noisy
curve jumps between far-apart lrs. It uses the *value* of the minimum, not its place:
batch-norm networks under AdamW often plateau instead of diverging, and on a plateau the
place of the minimum wanders over decades from seed to seed, which makes ``min-loss lr /
10`` unstable. Measured on the small reference specs (shapes data, 256 images at 32x32,
64x64 for ssd-small, batch 16, 3 seeds): the picks went from 5e-4 (fcn-small) to 2e-2
(unet-small), each spec's within ~2x across seeds and within 6x of the lr with the
lowest training loss in a 4-epoch grid of half-decade steps; ``min-loss lr / 10`` varied
up to 20x across seeds for the same specs.
``smoothing`` 0.9 averages over ~10 steps (0.6 decade); fastai's 0.98 lags up to ~50
steps (3 decades) behind the curve, which moved the picks up 2-3x, past the grid's best
for the segmentation specs.

The loss logged at step ``k`` is that of the batch seen *before* the ``k``-th update, as
in fastai. When the loss hardly falls in the test, the curve says little about the lr;
``config.json`` keeps the whole curve to look at.
"""

from __future__ import annotations

import copy
import math
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from typing import Any, Literal

import torch
from torch import Tensor, nn
from torch.optim import AdamW

from benchmarks.runtime.placement import autocast, move_batch, prepare_model
from benchmarks.tasks.base import Task

__all__ = ["LRFinderResult", "RangeTest", "StepLoss", "find_lr", "pick_lr", "task_step_loss"]

StepLoss = Callable[[nn.Module, Any], Tensor]
"""``step_loss(model, batch)``: the scalar loss to minimise for one training batch."""

_RULE = "first lr at which the smoothed loss has made half its fall to its minimum"


@dataclass(frozen=True)
class RangeTest:
    """How the range test sweeps: the lr of step ``k`` of ``steps`` is
    ``start_lr * (end_lr / start_lr) ** (k / (steps - 1))``; ``smoothing`` is the EMA's
    beta; the test stops once the smoothed loss exceeds ``divergence`` x its minimum."""

    start_lr: float = 1e-6
    end_lr: float = 1.0
    steps: int = 100
    smoothing: float = 0.9
    divergence: float = 4.0

    def __post_init__(self) -> None:
        if not 0 < self.start_lr < self.end_lr < math.inf:
            raise ValueError(
                f"range test needs 0 < start_lr < end_lr, got {self.start_lr}, {self.end_lr}"
            )
        if self.steps < 2:
            raise ValueError(f"range test needs at least 2 steps, got {self.steps}")
        if not 0 <= self.smoothing < 1:
            raise ValueError(f"smoothing must be in [0, 1), got {self.smoothing}")
        if not self.divergence > 1:
            raise ValueError(f"divergence must be > 1, got {self.divergence}")

    def lr_at(self, step: int) -> float:
        return self.start_lr * (self.end_lr / self.start_lr) ** (step / (self.steps - 1))


@dataclass(frozen=True)
class LRFinderResult:
    """The chosen ``lr``, and the curve it was read from (one entry per step taken)."""

    lr: float
    lrs: tuple[float, ...]
    losses: tuple[float, ...]  # smoothed (debiased EMA)
    stop: Literal["completed", "diverged", "non_finite"]

    @property
    def min_loss_lr(self) -> float:
        return self.lrs[min(range(len(self.losses)), key=self.losses.__getitem__)]

    def as_json(self) -> dict[str, Any]:
        """For ``config.json``: the choice, the rule, and the whole curve."""
        return {
            "lr": self.lr,
            "rule": _RULE,
            "min_loss_lr": self.min_loss_lr,
            "stop": self.stop,
            "lrs": list(self.lrs),
            "losses": list(self.losses),
        }


def pick_lr(lrs: tuple[float, ...], losses: tuple[float, ...]) -> float:
    """The module docstring's rule: the first lr whose loss has made half the fall from
    ``losses[0]`` to ``min(losses)``.

    When the loss never fell the level is ``losses[0]`` itself, so the answer is the
    smallest lr tested: nothing below ``start_lr`` was measured.
    """
    if not lrs or len(lrs) != len(losses):
        raise ValueError(f"need one loss per lr, got {len(lrs)} lrs and {len(losses)} losses")
    level = losses[0] - (losses[0] - min(losses)) / 2
    return next(lr for lr, loss in zip(lrs, losses, strict=True) if loss <= level)


def task_step_loss(task: Task, device: torch.device, *, amp: bool, channels_last: bool) -> StepLoss:
    """A training step's loss as :func:`benchmarks.train.loop.train` computes it."""

    def step_loss(model: nn.Module, batch: Any) -> Tensor:
        moved = move_batch(batch, device, channels_last)
        with autocast(device, amp):
            return task.loss(task.forward(model, moved), moved)["loss"]

    return step_loss


def _cycle(loader: Iterable[Any]) -> Iterator[Any]:
    """The loader's batches, over and over (a fresh pass each time, unlike itertools.cycle,
    which would keep every batch of the first pass in memory)."""
    while True:
        empty = True
        for batch in loader:
            empty = False
            yield batch
        if empty:
            raise ValueError("the range test's loader is empty")


@dataclass
class _Curve:
    """The smoothed loss so far; ``add`` says why to stop, or None to go on."""

    test: RangeTest
    lrs: list[float]
    losses: list[float]
    average: float = 0.0
    best: float = math.inf

    def add(self, lr: float, loss: float) -> Literal["diverged", "non_finite"] | None:
        if not math.isfinite(loss):
            return "non_finite"
        beta = self.test.smoothing
        self.average = beta * self.average + (1 - beta) * loss
        smoothed = self.average / (1 - beta ** (len(self.losses) + 1))
        self.lrs.append(lr)
        self.losses.append(smoothed)
        self.best = min(self.best, smoothed)
        return "diverged" if smoothed > self.test.divergence * self.best else None


def find_lr(
    model: nn.Module,
    step_loss: StepLoss,
    loader: Iterable[Any],
    *,
    device: torch.device | str = "cpu",
    channels_last: bool = False,
    weight_decay: float = 1e-4,
    grad_clip: float | None = None,
    test: RangeTest = RangeTest(),
) -> LRFinderResult:
    """Run the range test on a deep copy of ``model`` (left untouched) and pick an lr.

    ``model`` is the plain module (not a DDP or ``torch.compile`` wrapper); the copy is
    moved to ``device`` / channels_last as training would move it.
    ``loader`` is cycled as often as ``test.steps`` needs; give it a loader of its own
    (iterating a seeded loader advances its generator, which would change the training
    run's batch order). The global RNG (dropout) is forked, so the training run that
    follows draws the same random numbers with or without the test.

    Raises:
        RuntimeError: the loss is not finite before any update (the model is broken, the
            lr is not to blame).
    """
    device = torch.device(device)
    probe = copy.deepcopy(model)
    prepare_model(probe, device, channels_last)
    probe.train()
    params = [p for p in probe.parameters() if p.requires_grad]
    optimizer = AdamW(params, lr=test.start_lr, weight_decay=weight_decay)
    curve = _Curve(test, [], [])
    stop: Literal["completed", "diverged", "non_finite"] = "completed"
    with torch.random.fork_rng(devices=[device] if device.type == "cuda" else []):
        for step, batch in zip(range(test.steps), _cycle(loader), strict=False):
            lr = test.lr_at(step)
            loss = step_loss(probe, batch)
            reason = curve.add(lr, loss.item())
            if reason is not None:
                stop = reason
                break
            for group in optimizer.param_groups:
                group["lr"] = lr
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            if grad_clip is not None:
                torch.nn.utils.clip_grad_norm_(params, grad_clip)
            optimizer.step()
    if not curve.losses:
        raise RuntimeError("range test: the loss is not finite before any update")
    lrs, losses = tuple(curve.lrs), tuple(curve.losses)
    return LRFinderResult(pick_lr(lrs, losses), lrs, losses, stop)
