"""Task-agnostic training loop used by ``graphspec bench`` (evaluation: :mod:`.evaluation`).

The loop is deliberately plain (the fixed recipe of :mod:`benchmarks.train.optimization`, bf16
autocast on CUDA) so that differences between benchmarked specs come from the
architectures, not from per-model tuning. All task specifics live behind
:class:`benchmarks.tasks.base.Task`.

Models may be plain modules, ``torch.compile`` wrappers or DDP wrappers: the loop only uses
``parameters()``, ``train()``/``eval()`` and calls, never model-specific attributes (the
best weights are copied from the module inside the wrappers, see
:func:`benchmarks.train.validation.plain_module`).

:func:`train` only strings epochs together: each epoch is one call that returns an
:class:`EpochRecord`, and what is decided once per epoch sits between those calls and reads
typed fields rather than log dicts: the divergence checks (:mod:`benchmarks.train.divergence`),
validation, the best epoch and early stopping (:mod:`benchmarks.train.validation`), and at the
end whether the run learned anything and had converged (:mod:`benchmarks.train.convergence`).
"""

from __future__ import annotations

import contextlib
import time
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

import torch
from torch import Tensor, nn

from benchmarks.runtime.distributed import current_rank, current_world_size
from benchmarks.runtime.placement import prepare_model
from benchmarks.tasks.base import Baseline, Task
from benchmarks.train.config import TrainConfig
from benchmarks.train.convergence import Learning, judge_convergence, judge_learning
from benchmarks.train.divergence import DivergedError, NonFiniteLossError, check_epoch
from benchmarks.train.epoch import EpochRecord, TrainingRun, steps_per_epoch, train_epoch
from benchmarks.train.evaluate import evaluate
from benchmarks.train.history import EpochSummary
from benchmarks.train.optimization import build_optimization, build_scheduler, lr_factor
from benchmarks.train.progress import Progress
from benchmarks.train.validation import BestTracker, Validation, cpu_state, validation_score

__all__ = [
    "DivergedError",
    "EpochRecord",
    "EpochSummary",
    "NonFiniteLossError",
    "TrainConfig",
    "TrainResult",
    "Validation",
    "lr_factor",
    "build_scheduler",
    "train",
    "evaluate",
]


@dataclass
class TrainResult:
    """What a training run reports; ``final_loss`` is the mean loss of the last epoch run.

    ``train_s`` is the wall time of the training epochs, validation excluded (that is
    ``val_s``), so it compares with runs that validate differently. ``history`` has one
    :class:`EpochSummary` per epoch run (``epochs_run`` of them, fewer than the configured
    epochs when ``stopped_early``). ``best_epoch``/``best_metric``/``best_state`` (a CPU
    ``state_dict`` of the plain module) are those of the best validation; ``None`` without
    validation. ``learned`` and ``learned_reason`` compare ``best_metric`` with the task's
    baseline on the validation data (``baseline``, the last validation's) as
    :func:`benchmarks.train.convergence.judge_learning` does (None: not judged, e.g.
    without validation); ``converged`` and ``convergence_reason`` follow
    :func:`benchmarks.train.convergence.judge_convergence` (never True when ``learned`` is
    False).
    """

    train_s: float
    steps: int
    final_loss: float
    loss_history: list[float] = field(default_factory=list)
    logs: list[dict[str, float]] = field(default_factory=list)
    history: list[EpochSummary] = field(default_factory=list)
    epochs_run: int = 0
    best_epoch: int | None = None
    best_metric: float | None = None
    best_state: dict[str, Tensor] | None = field(default=None, repr=False)
    stopped_early: bool = False
    converged: bool = False
    convergence_reason: str = ""
    val_s: float = 0.0
    learned: bool | None = None
    learned_reason: str = ""
    baseline: float | None = None


@dataclass
class _Epochs:
    """What the epochs of a run have produced so far, read once the loop ends."""

    tracker: BestTracker | None
    records: list[EpochRecord] = field(default_factory=list)
    history: list[EpochSummary] = field(default_factory=list)
    best_state: dict[str, Tensor] | None = None
    stopped_early: bool = False
    val_s: float = 0.0
    baseline: Baseline | None = None  # the task's, on the validation data


def _synchronize(device: torch.device) -> None:
    """Wait for queued CUDA work, so an epoch's time ends when its work does."""
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def _validate(
    run: TrainingRun, validation: Validation | None, done: _Epochs, epoch: int
) -> float | None:
    """Validate after 1-based ``epoch`` when due; copy the weights when they are the best."""
    if validation is None or done.tracker is None or not validation.due(epoch, run.config.epochs):
        return None
    start = time.perf_counter()
    score = validation_score(run.model, run.task, validation, run.config)
    done.baseline = score.baseline
    if done.tracker.observe(epoch, score.metric):
        done.best_state = cpu_state(run.model)
    done.val_s += time.perf_counter() - start
    return score.metric


def _run_epochs(run: TrainingRun, loader: Iterable[Any], validation: Validation | None) -> _Epochs:
    """Train epoch after epoch; after each, check for divergence, then validate when due.

    Divergence is checked first so a blown-up model is neither scored nor kept as best.
    """
    tracker = None
    if validation is not None:
        tracker = BestTracker(
            validation.patience, validation.min_delta, validation.higher_is_better
        )
    done = _Epochs(tracker)
    config = run.config
    for epoch in range(config.epochs):
        start = time.perf_counter()
        record = train_epoch(run, loader, epoch)
        _synchronize(run.device)
        epoch_s = time.perf_counter() - start
        done.records.append(record)
        where = f"{config.desc!r} at epoch {record.epoch}/{config.epochs}"
        check_epoch(run.model, [r.loss for r in done.records], config.divergence_factor, where)
        metric = _validate(run, validation, done, record.epoch)
        done.history.append(EpochSummary(record.epoch, record.loss, record.lr, metric, epoch_s))
        if tracker is not None and tracker.should_stop:
            done.stopped_early = True
            break
    return done


def _learning(done: _Epochs, task: Task, validation: Validation | None) -> Learning:
    """The best validation score against the task's baseline (not judged unvalidated)."""
    if validation is None or done.tracker is None:
        return Learning(None, "no validation")
    return judge_learning(
        done.tracker.best_metric,
        done.baseline,
        task.learned_margin,
        metric=validation.metric,
        higher_is_better=validation.higher_is_better,
    )


def _result(
    done: _Epochs, elapsed: float, run: TrainingRun, validation: Validation | None
) -> TrainResult:
    config = run.config
    learning = _learning(done, run.task, validation)
    verdict = judge_convergence(
        done.history,
        stopped_early=done.stopped_early,
        rule=config.convergence,
        metric="val_metric" if validation is None else validation.metric,
        higher_is_better=validation is None or validation.higher_is_better,
        learning=learning,
    )
    tracker = done.tracker
    return TrainResult(
        train_s=elapsed - done.val_s,
        steps=run.step,
        final_loss=done.records[-1].loss,
        loss_history=[record.loss for record in done.records],
        logs=[record.as_log() for record in done.records],
        history=done.history,
        epochs_run=len(done.history),
        best_epoch=None if tracker is None else tracker.best_epoch,
        best_metric=None if tracker is None else tracker.best_metric,
        best_state=done.best_state,
        stopped_early=done.stopped_early,
        converged=verdict.converged,
        convergence_reason=verdict.reason,
        val_s=done.val_s,
        learned=learning.learned,
        learned_reason=learning.reason,
        baseline=None if done.baseline is None else done.baseline.value,
    )


def train(
    model: nn.Module,
    task: Task,
    loader: Iterable[Any],
    config: TrainConfig,
    validation: Validation | None = None,
) -> TrainResult:
    """Train ``model`` in place for at most ``config.epochs`` epochs; report time and losses.

    Under DDP the logged loss is the mean over ranks (one scalar all-reduce per step); that
    also makes every rank see a NaN together, so all ranks raise instead of one hanging.
    The loss is checked after ``backward`` but before the optimizer step, so a diverged
    step never writes NaN into the weights. A bare model is moved to ``config.device`` (and
    to channels_last when enabled); a DDP model is left as ``distributed.wrap_model`` placed it,
    so pass ``channels_last`` there. ``train_s`` includes data loading and, for compiled
    models, the compilation triggered by the first step.

    With ``validation``, the model is scored when due (see :class:`Validation`), the weights
    of the best score are kept in ``best_state`` and patience may stop the run early; every
    rank gets the same score, so all ranks stop at the same epoch. The model is left with
    the weights of the last epoch run; the caller decides whether to load ``best_state``.

    Raises:
        NonFiniteLossError: as soon as a step's loss is NaN or infinite.
        DivergedError: after an epoch whose weights or buffers are not finite, or whose
            loss exceeds ``config.divergence_factor`` times the first epoch's.
    """
    device, channels_last = config.torch_device, config.use_channels_last
    torch.manual_seed(config.seed + current_rank())  # independent dropout noise per rank
    prepare_model(model, device, channels_last)
    model.train()
    per_epoch = steps_per_epoch(loader, config.epochs)
    total_steps = config.epochs * per_epoch
    optimization = build_optimization(
        model,
        lr=config.lr,
        weight_decay=config.weight_decay,
        warmup_steps=config.resolve_warmup(total_steps),
        total_steps=total_steps,
        grad_clip=config.grad_clip,
    )
    with contextlib.closing(Progress(config, total_steps)) as progress:
        run = TrainingRun(
            model=model,
            task=task,
            config=config,
            optimization=optimization,
            progress=progress,
            device=device,
            channels_last=channels_last,
            steps_per_epoch=per_epoch,
            world_size=current_world_size(),
        )
        start = time.perf_counter()
        done = _run_epochs(run, loader, validation)
    return _result(done, time.perf_counter() - start, run, validation)
