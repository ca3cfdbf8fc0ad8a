"""Step 2 of a job: data, task, recipe (``--lr auto`` included), training with validation.

After training the plain module holds the weights of the best validation epoch, which
the test metrics and timing then use; the last epoch's weights are kept as ``last``.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.distributed as dist
from torch import Tensor, nn
from torch.utils.data import DataLoader, Dataset

from benchmarks.data.splits import JobData, job_loader, open_job_data
from benchmarks.job.build import Built, sweep_recipe
from benchmarks.runtime.distributed import DistributedContext, wrap_model
from benchmarks.store.settings import JobSettings
from benchmarks.tasks.base import Task
from benchmarks.train.loop import TrainConfig, TrainResult, train
from benchmarks.train.lr_finder import LRFinderResult, find_lr, task_step_loss
from benchmarks.train.recipe import Recipe, resolve_recipe
from benchmarks.train.validation import Validation, cpu_state, plain_module

__all__ = ["Fitted", "fit"]


@dataclass
class Fitted:
    """The trained model: ``net`` is the plain module (best weights loaded), ``runner``
    what to call (DDP-wrapped and/or compiled); plus what evaluation and the row need."""

    task: Task
    net: nn.Module
    runner: nn.Module
    config: TrainConfig
    recipe: Recipe
    result: TrainResult
    data: JobData
    test_loader: DataLoader
    last_state: dict[str, Tensor]
    lr_finder: LRFinderResult | None = None


def fit(
    built: Built,
    settings: JobSettings,
    ctx: DistributedContext,
    device: torch.device,
    *,
    progress: bool,
    desc: str,
) -> Fitted:
    """Open the splits (bad data fails before training), resolve the recipe, train."""
    task = built.task
    data = open_job_data(
        settings.data,
        built.size,
        task.data_classes(built.spec),
        seed=settings.seed,
        limit=settings.limit,
        normalize=settings.normalize,
        augment=settings.augment,
        inputs=task.with_inputs,
    )
    task.check_data(built.spec, data.train)
    recipe = resolve_recipe(sweep_recipe(settings), built.spec)
    found = None
    if recipe.needs_lr_search:
        found = _find_lr(built.model, task, data, recipe, settings, ctx, device)
        recipe = recipe.with_found_lr(found.lr)
    config = TrainConfig(
        epochs=recipe.epochs,
        batch_size=recipe.batch_size,
        lr=recipe.lr,  # type: ignore[arg-type]  # resolved above
        weight_decay=recipe.weight_decay,
        warmup_fraction=recipe.warmup_fraction,
        device=device,
        seed=settings.seed,
        progress=progress,
        desc=desc,
    )
    model = wrap_model(built.model, ctx, channels_last=config.use_channels_last)
    runner = torch.compile(model) if settings.compile else model
    validation = Validation(
        _loader(data.val, recipe, settings, ctx, shuffle=False),
        every=settings.val_every,
        patience=settings.patience,
        metric=task.metric,
        higher_is_better=task.primary.higher_is_better,
    )
    train_loader = _loader(data.train, recipe, settings, ctx, shuffle=True)
    result = train(runner, task, train_loader, config, validation)
    net = plain_module(model)
    last = cpu_state(net)
    if result.best_state is not None:
        net.load_state_dict(result.best_state)
    test_loader = _loader(data.test, recipe, settings, ctx, shuffle=False)
    return Fitted(task, net, runner, config, recipe, result, data, test_loader, last, found)


def _loader(
    dataset: Dataset,
    recipe: Recipe,
    settings: JobSettings,
    ctx: DistributedContext,
    *,
    shuffle: bool,
) -> DataLoader:
    return job_loader(
        dataset,
        recipe.batch_size,
        ctx,
        shuffle=shuffle,
        workers=settings.workers,
        seed=settings.seed,
    )


def _find_lr(
    model: nn.Module,
    task: Task,
    data: JobData,
    recipe: Recipe,
    settings: JobSettings,
    ctx: DistributedContext,
    device: torch.device,
) -> LRFinderResult:
    """The range test on a copy of the model with a loader of its own (so the training
    loader's shuffling is not advanced); under DDP every rank uses rank 0's pick."""
    probe = TrainConfig(device=device)
    loader = _loader(data.train, recipe, settings, DistributedContext(), shuffle=True)
    step_loss = task_step_loss(
        task, device, amp=probe.use_amp, channels_last=probe.use_channels_last
    )
    found = find_lr(
        model,
        step_loss,
        loader,
        device=device,
        channels_last=probe.use_channels_last,
        weight_decay=recipe.weight_decay,
    )
    if ctx.is_distributed:
        chosen = torch.tensor([found.lr], dtype=torch.float64, device=ctx.device)
        dist.broadcast(chosen, 0)
        found = LRFinderResult(float(chosen.item()), found.lrs, found.losses, found.stop)
    return found
