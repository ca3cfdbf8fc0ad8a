"""The hyper-parameters of a training run, shared by every spec of a sweep.

Kept apart from the loop in :mod:`benchmarks.train.loop` because callers build it long before
training (from the CLI and sweep settings) and record it with the results.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import torch

from benchmarks.train.convergence import ConvergenceRule
from benchmarks.train.divergence import DEFAULT_DIVERGENCE_FACTOR

__all__ = ["TrainConfig"]


@dataclass
class TrainConfig:
    """Hyper-parameters shared by every spec in a sweep.

    ``batch_size`` is not read by :func:`train` (the loader decides); it is here so one
    object describes the run when the caller builds the loader and records the results.
    ``amp`` and ``channels_last`` only take effect on CUDA: bf16 autocast and NHWC have no
    benefit for fp32 CPU kernels, so CPU runs stay fp32 / NCHW and are comparable.
    ``warmup_steps`` wins over ``warmup_fraction`` (of the total steps) when set.
    ``epochs`` is the maximum: early stopping (see :class:`benchmarks.train.validation.Validation`)
    may end the run sooner. ``divergence_factor``: an epoch loss above this multiple of the
    first epoch's fails the run (``None`` turns that check off; see
    :mod:`benchmarks.train.divergence`). ``convergence`` holds the thresholds of the convergence
    flag (:func:`benchmarks.train.convergence.judge_convergence`).
    """

    epochs: int = 1
    batch_size: int = 8
    lr: float = 2e-3
    weight_decay: float = 1e-4
    warmup_steps: int | None = None
    warmup_fraction: float = 0.05
    device: str | torch.device = "cpu"
    amp: bool = True
    channels_last: bool | None = None
    grad_clip: float | None = None
    seed: int = 0
    progress: bool = True
    desc: str = "train"
    divergence_factor: float | None = DEFAULT_DIVERGENCE_FACTOR
    convergence: ConvergenceRule = field(default_factory=ConvergenceRule)

    def __post_init__(self) -> None:
        if self.epochs < 1:
            raise ValueError(f"epochs must be >= 1, got {self.epochs}")
        if not 0.0 <= self.warmup_fraction < 1.0:
            raise ValueError(f"warmup_fraction must be in [0, 1), got {self.warmup_fraction}")
        if self.warmup_steps is not None and self.warmup_steps < 0:
            raise ValueError(f"warmup_steps must be >= 0, got {self.warmup_steps}")
        factor = self.divergence_factor
        if factor is not None and not (math.isfinite(factor) and factor > 1):
            raise ValueError(f"divergence_factor must be a number > 1 or None, got {factor}")

    @property
    def torch_device(self) -> torch.device:
        return torch.device(self.device)

    @property
    def use_amp(self) -> bool:
        return self.amp and self.torch_device.type == "cuda"

    @property
    def use_channels_last(self) -> bool:
        on_cuda = self.torch_device.type == "cuda"
        return on_cuda if self.channels_last is None else self.channels_last

    def resolve_warmup(self, total_steps: int) -> int:
        """Warm-up length in optimizer steps for a run of ``total_steps``."""
        if self.warmup_steps is not None:
            return min(self.warmup_steps, total_steps)
        return round(self.warmup_fraction * total_steps)
