"""The optimizer and learning-rate schedule every benchmarked spec trains with.

One fixed recipe (AdamW, linear warm-up then cosine decay, optional gradient clipping) so
that differences between specs come from the architectures, not from per-model tuning. It
is kept apart from the training loop so the loop only says *when* to update, not *how*.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch
from torch import nn
from torch.optim import AdamW, Optimizer
from torch.optim.lr_scheduler import LambdaLR

__all__ = ["Optimization", "build_optimization", "build_scheduler", "lr_factor"]


def lr_factor(step: int, warmup_steps: int, total_steps: int) -> float:
    """Multiplier of the base LR used for optimizer step ``step`` (0-based).

    Linear warm-up ``(step + 1) / warmup_steps`` (so step 0 already learns), then cosine
    decay ``0.5 * (1 + cos(pi * t))`` with ``t = (step - warmup) / (total - warmup)``, which
    is 1 at the end of warm-up and approaches 0 at the last step.
    """
    if step < warmup_steps:
        return (step + 1) / warmup_steps
    decay_steps = max(1, total_steps - warmup_steps)
    progress = min(1.0, (step - warmup_steps) / decay_steps)
    return 0.5 * (1.0 + math.cos(math.pi * progress))


def build_scheduler(optimizer: Optimizer, warmup_steps: int, total_steps: int) -> LambdaLR:
    """Per-step LambdaLR implementing :func:`lr_factor`; call ``step()`` after each update."""
    return LambdaLR(optimizer, lambda step: lr_factor(step, warmup_steps, total_steps))


@dataclass
class Optimization:
    """The optimizer, its schedule and the parameters they update, advanced together.

    Bundled so one call does clipping, the update and the schedule step in the order the
    schedule assumes (the LR of step ``k`` is used by the ``k``-th update).
    """

    params: list[nn.Parameter]
    optimizer: AdamW
    scheduler: LambdaLR
    grad_clip: float | None = None

    def zero_grad(self) -> None:
        self.optimizer.zero_grad(set_to_none=True)

    def step(self) -> None:
        """Clip (when configured), update the weights, then move the schedule on one step."""
        if self.grad_clip is not None:
            torch.nn.utils.clip_grad_norm_(self.params, self.grad_clip)
        self.optimizer.step()
        self.scheduler.step()

    @property
    def lr(self) -> float:
        """The LR the next update will use (after the last one, the final scheduled value)."""
        return self.scheduler.get_last_lr()[0]


def build_optimization(
    model: nn.Module,
    *,
    lr: float,
    weight_decay: float,
    warmup_steps: int,
    total_steps: int,
    grad_clip: float | None = None,
) -> Optimization:
    """AdamW over the trainable parameters of ``model`` with the warm-up + cosine schedule."""
    params = [p for p in model.parameters() if p.requires_grad]
    optimizer = AdamW(params, lr=lr, weight_decay=weight_decay)
    scheduler = build_scheduler(optimizer, warmup_steps, total_steps)
    return Optimization(params, optimizer, scheduler, grad_clip)
