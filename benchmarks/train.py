"""Task-agnostic training and evaluation loops used by ``graphspec bench``.

The loop is deliberately plain (AdamW, linear warm-up then cosine decay, optional grad
clipping, bf16 autocast on CUDA) so that differences between benchmarked specs come from the
architectures, not from per-model tuning. All task specifics live behind
:class:`benchmarks.tasks.Task`.

Models may be plain modules, ``torch.compile`` wrappers or DDP wrappers: the loop only uses
``parameters()``, ``train()``/``eval()`` and calls, never model-specific attributes.
"""

from __future__ import annotations

import contextlib
import math
import sys
import time
from collections.abc import Iterable, Sized
from dataclasses import dataclass, field
from typing import Any

import torch
from torch import Tensor, nn
from torch.nn.parallel import DistributedDataParallel
from torch.optim import AdamW, Optimizer
from torch.optim.lr_scheduler import LambdaLR
from tqdm import tqdm

from benchmarks.distributed import all_reduce_, current_rank, current_world_size
from benchmarks.tasks import Task, move_batch

__all__ = [
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


@dataclass
class TrainConfig:
    """Hyper-parameters shared by every spec in a sweep.

    ``batch_size`` is not read by :func:`train` (the loader decides); it is here so one
    object describes the run when the caller builds the loader and records the results.
    ``amp`` and ``channels_last`` only take effect on CUDA: bf16 autocast and NHWC have no
    benefit for fp32 CPU kernels, so CPU runs stay fp32 / NCHW and are comparable.
    ``warmup_steps`` wins over ``warmup_fraction`` (of the total steps) when set.
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

    def __post_init__(self) -> None:
        if self.epochs < 1:
            raise ValueError(f"epochs must be >= 1, got {self.epochs}")
        if not 0.0 <= self.warmup_fraction < 1.0:
            raise ValueError(f"warmup_fraction must be in [0, 1), got {self.warmup_fraction}")
        if self.warmup_steps is not None and self.warmup_steps < 0:
            raise ValueError(f"warmup_steps must be >= 0, got {self.warmup_steps}")

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


@dataclass
class TrainResult:
    """What a training run reports; ``final_loss`` is the mean loss of the last epoch."""

    train_s: float
    steps: int
    final_loss: float
    loss_history: list[float] = field(default_factory=list)
    logs: list[dict[str, float]] = field(default_factory=list)


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


def _contains_ddp(model: nn.Module) -> bool:
    # Walks submodules, so it also sees DDP inside a torch.compile wrapper.
    return any(isinstance(m, DistributedDataParallel) for m in model.modules())


def _prepare_model(model: nn.Module, device: torch.device, channels_last: bool) -> None:
    """Move a bare model to the device/layout; DDP models were prepared by ``wrap_model``."""
    if _contains_ddp(model):
        return
    memory_format = torch.channels_last if channels_last else torch.preserve_format
    model.to(device=device, memory_format=memory_format)


def _autocast(device: torch.device, enabled: bool) -> contextlib.AbstractContextManager[Any]:
    if not enabled:
        return contextlib.nullcontext()
    return torch.autocast(device_type=device.type, dtype=torch.bfloat16)


def _set_epoch(loader: Iterable[Any], epoch: int) -> None:
    """Reseed a DistributedSampler so each epoch shuffles differently but equally on ranks."""
    for sampler in (getattr(loader, "sampler", None), getattr(loader, "batch_sampler", None)):
        if hasattr(sampler, "set_epoch"):
            sampler.set_epoch(epoch)


def _progress_enabled(config: TrainConfig) -> bool:
    return config.progress and current_rank() == 0 and sys.stdout.isatty()


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
    device = config.torch_device
    channels_last = config.use_channels_last
    torch.manual_seed(config.seed + current_rank())  # independent dropout noise per rank
    _prepare_model(model, device, channels_last)
    model.train()

    if not isinstance(loader, Sized):
        raise TypeError("train() needs a loader with a length (to plan the LR schedule)")
    steps_per_epoch = len(loader)
    total_steps = config.epochs * steps_per_epoch
    if total_steps == 0:
        raise ValueError("the training loader is empty")
    params = [p for p in model.parameters() if p.requires_grad]
    optimizer = AdamW(params, lr=config.lr, weight_decay=config.weight_decay)
    scheduler = build_scheduler(optimizer, config.resolve_warmup(total_steps), total_steps)
    world_size = current_world_size()

    bar = tqdm(
        total=total_steps,
        desc=config.desc,
        unit="step",
        file=sys.stdout,
        dynamic_ncols=True,
        disable=not _progress_enabled(config),
    )
    loss_history: list[float] = []
    logs: list[dict[str, float]] = []
    step = 0
    start = time.perf_counter()
    try:
        for epoch in range(config.epochs):
            _set_epoch(loader, epoch)
            bar.set_description(f"{config.desc} ep {epoch + 1}/{config.epochs}", refresh=False)
            loss_sum = 0.0
            extra_sums: dict[str, Tensor] = {}
            for batch_index, batch in enumerate(loader):
                batch = move_batch(batch, device, channels_last)
                with _autocast(device, config.use_amp):
                    output = task.forward(model, batch)
                    losses = task.loss(output, batch)
                loss = losses["loss"]
                optimizer.zero_grad(set_to_none=True)
                loss.backward()

                logged = loss.detach().float().reshape(1)
                if world_size > 1:
                    all_reduce_([logged])
                    logged /= world_size
                loss_value = logged.item()  # the one host sync per step
                if not math.isfinite(loss_value):
                    raise NonFiniteLossError(
                        f"non-finite loss ({loss_value}) in {config.desc!r} at epoch "
                        f"{epoch + 1}/{config.epochs}, step {batch_index + 1}/{steps_per_epoch}"
                        f" (global step {step + 1}/{total_steps}); lower the lr "
                        f"({config.lr:g}) or set grad_clip"
                    )
                if config.grad_clip is not None:
                    torch.nn.utils.clip_grad_norm_(params, config.grad_clip)
                optimizer.step()
                scheduler.step()

                step += 1
                loss_sum += loss_value
                for key, value in losses.items():
                    if key != "loss":
                        detached = value.detach().float()
                        extra_sums[key] = extra_sums.get(key, 0.0) + detached
                bar.set_postfix(
                    step=f"{batch_index + 1}/{steps_per_epoch}",
                    loss=f"{loss_sum / (batch_index + 1):.4f}",
                    refresh=False,
                )
                bar.update(1)

            epoch_loss = loss_sum / steps_per_epoch
            loss_history.append(epoch_loss)
            epoch_log = {"epoch": float(epoch + 1), "loss": epoch_loss}
            epoch_log.update({k: float(v) / steps_per_epoch for k, v in extra_sums.items()})
            epoch_log["lr"] = scheduler.get_last_lr()[0]
            logs.append(epoch_log)
        if device.type == "cuda":
            torch.cuda.synchronize(device)
    finally:
        bar.close()
    train_s = time.perf_counter() - start
    return TrainResult(
        train_s=train_s,
        steps=step,
        final_loss=loss_history[-1],
        loss_history=loss_history,
        logs=logs,
    )


def evaluate(
    model: nn.Module,
    task: Task,
    loader: Iterable[Any],
    device: str | torch.device,
    amp: bool = True,
    channels_last: bool | None = None,
) -> dict[str, float]:
    """Score ``model`` on ``loader``; with DDP, every rank returns the whole-set metrics.

    Each rank evaluates its shard, then the evaluator's count tensors are summed across
    ranks before ``compute``, so the result equals a single process seeing all the data
    (when the shards do not overlap, i.e. the set size divides by the world size). The DDP
    wrapper is bypassed when it is the outer module: evaluation needs no gradient sync and
    ranks may see different numbers of batches. ``amp``/``channels_last`` apply on CUDA
    only, as in :class:`TrainConfig`.
    """
    device = torch.device(device)
    on_cuda = device.type == "cuda"
    use_channels_last = on_cuda if channels_last is None else channels_last
    _prepare_model(model, device, use_channels_last)  # before unwrapping: skips DDP models
    if isinstance(model, DistributedDataParallel):
        model = model.module
    was_training = model.training
    model.eval()
    evaluator = task.evaluator(device)
    try:
        with torch.inference_mode():
            for batch in loader:
                batch = move_batch(batch, device, use_channels_last)
                with _autocast(device, amp and on_cuda):
                    output = task.forward(model, batch)
                evaluator.update(output, batch)
            all_reduce_(evaluator.state_tensors())
            return evaluator.compute()
    finally:
        model.train(was_training)
