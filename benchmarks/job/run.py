"""One benchmark job: compile a spec, train it, evaluate it, time it, save it.

:func:`run_job` is the ``run_one`` callback of :func:`benchmarks.sweep.runner.run_sweep`; it
returns the :class:`~benchmarks.store.row.ResultRow` of one (spec, settings) pair. It runs
four steps, each fed by the previous one: build (:mod:`benchmarks.job.build`: spec ->
untrained model and its task), fit (:mod:`benchmarks.job.fit`: data, recipe, training with
validation), measure (test metrics with the best weights, then timing in its own phase,
FLOPs cross-check) and row (the results row and the job's files,
:mod:`benchmarks.store.job_files`). A test metric that is no score (NaN, or pycocotools'
-1 for "no ground truth") fails the job with :class:`UndefinedMetricError` instead of
becoming an ``ok`` row that the report would chart and rank.

``on_phase`` hears the job enter each of its long phases (:data:`JobPhase`: train,
evaluate, time), so a sweep can say what a job is doing while no step bar is shown.
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

import torch

from benchmarks.cost.conditions import fixed_threads
from benchmarks.cost.measure import TimingRow, flops_mismatch, time_model, with_stated_rois
from benchmarks.data.names import job_class_names
from benchmarks.job.build import Built, build
from benchmarks.job.fit import Fitted, fit
from benchmarks.job.predictions import per_class_scores, prediction_strip
from benchmarks.runtime.distributed import DistributedContext
from benchmarks.store.job_files import save_job_files, save_predictions
from benchmarks.store.jobs import Job
from benchmarks.store.row import ResultRow
from benchmarks.store.settings import JobSettings
from benchmarks.tasks.base import Task
from benchmarks.train.loop import evaluate

__all__ = ["NO_GROUND_TRUTH", "JobPhase", "OnPhase", "UndefinedMetricError", "run_job"]

JobPhase = Literal["train", "evaluate", "time"]
"""A job's long phases, in order: training (with validation), scoring the best weights on
the test split, timing them."""
OnPhase = Callable[[JobPhase], None]

NO_GROUND_TRUTH = -1.0
"""What pycocotools' COCOeval reports for a metric when no image has ground truth; no
declared metric (a fraction or an error) is ever negative, so -1 is never a score."""


class UndefinedMetricError(RuntimeError):
    """A declared test metric is no score (NaN or :data:`NO_GROUND_TRUTH`)."""


def check_defined(task: Task, metrics: dict[str, float]) -> None:
    """Raise :class:`UndefinedMetricError` (one line) when a declared metric of ``task``
    in the test ``metrics`` is NaN, infinite or -1: the test split scored nothing."""
    for metric in task.metrics:
        value = metrics.get(metric.column)
        if value is None or (math.isfinite(value) and value != NO_GROUND_TRUTH):
            continue
        why = "no ground truth" if value == NO_GROUND_TRUTH else "nothing was scored"
        raise UndefinedMetricError(
            f"test {metric.name} is {value:g} ({why} in the test split): not a score, so "
            "no ok row is recorded"
        )


@dataclass
class _Measured:
    """Test metrics (best weights), timing, and a warning when the FLOP counts disagree."""

    metrics: dict[str, float]
    timing: TimingRow
    warning: str | None


def _measure(
    built: Built, fitted: Fitted, batch_size: int, device: torch.device, on_phase: OnPhase
) -> _Measured:
    """Score the best weights on the test split (a metric that is no score fails the job
    before timing), then time them in a phase of their own."""
    amp, channels_last = fitted.config.use_amp, fitted.config.use_channels_last
    on_phase("evaluate")
    metrics = evaluate(
        fitted.runner, fitted.task, fitted.test_loader, device, amp=amp, channels_last=channels_last
    )
    numbers = {k: float(v) for k, v in metrics.items() if isinstance(v, int | float)}
    check_defined(fitted.task, numbers)
    image_shape = (built.spec.input.channels, *built.size)
    on_phase("time")
    timing = time_model(
        fitted.net,
        with_stated_rois(fitted.net, fitted.runner),
        image_shape,
        batch_size,
        device,
        amp=amp,
        channels_last=channels_last,
    )
    warning = flops_mismatch(built.static.gflops, built.gflops_counted)
    return _Measured(numbers, timing, warning)


def _row(
    built: Built,
    fitted: Fitted,
    measured: _Measured,
    settings: JobSettings,
    device: torch.device,
    world_size: int,
) -> ResultRow:
    """The results row of a finished job: what it measured and the values it ran with."""
    size, result, recipe = built.size, fitted.result, fitted.recipe
    declared = {metric.column for metric in built.task.metrics}
    row = ResultRow(
        spec=built.spec.name,
        task=built.task.name,
        params=built.static.params,
        gflops=built.static.gflops,
        gflops_counted=built.gflops_counted,
        **measured.timing.as_row(),
        train_s=result.train_s,
        val_s=result.val_s,
        final_loss=result.final_loss,
        epochs=recipe.epochs,
        epochs_run=result.epochs_run,
        best_epoch=result.best_epoch,
        best_val=result.best_metric,
        converged=result.converged,
        convergence_reason=result.convergence_reason,
        learned=result.learned,
        learned_reason=result.learned_reason or None,
        stopped_early=result.stopped_early,
        lr=recipe.lr,
        lr_source=recipe.source.lr,
        image_size=f"{size[0]}x{size[1]}",
        batch_size=recipe.batch_size,
        device=str(device),
        dtype="bf16" if fitted.config.use_amp else "fp32",
        encoder_init=built.encoder_init.tag if built.encoder_init else "",
        **fitted.data.sizes,
        world_size=world_size,
        metrics={k: v for k, v in measured.metrics.items() if k in declared},
        warning=measured.warning,
        extra={k: v for k, v in measured.metrics.items() if k not in declared},
    )
    return row.with_settings(settings.as_json())


def _config(job: Job, settings: JobSettings, built: Built, fitted: Fitted) -> dict[str, Any]:
    """What config.json records beside the row: how the job was set up and trained."""
    transfer = built.encoder_init
    return {
        "spec_file": str(job.spec_file),
        "settings": settings.as_json(),
        "recipe": fitted.recipe.as_json(),
        "lr_finder": fitted.lr_finder.as_json() if fitted.lr_finder else None,
        "normalization": fitted.data.normalization.as_json(),
        "augment": fitted.data.augment,
        "encoder_init": dataclasses.asdict(transfer) if transfer else None,
        "class_names": job_class_names(built.spec, built.task, settings.data, fitted.data.train),
    }


def run_job(
    job: Job,
    job_dir: Path,
    ctx: DistributedContext | None = None,
    progress: bool = True,
    sync: Callable[[], None] | None = None,
    on_phase: OnPhase | None = None,
) -> ResultRow:
    """Train, evaluate and time one spec under ``job.settings``; return its results row.

    Every rank of a DDP job runs all steps; only the main rank writes the job's files,
    and only once every step succeeded (a diverged run raises and leaves no weights).
    ``sync`` is called once the model is built, before training: under DDP it is where
    the ranks agree that every one of them got that far (:mod:`benchmarks.sweep.orchestrate`),
    so a rank that failed early never leaves the others waiting in a collective.
    ``on_phase`` hears each :data:`JobPhase` as the job enters it, on the main rank only
    (one line per phase, not one per rank).
    """
    settings = JobSettings.from_json(job.settings)
    ctx = ctx or DistributedContext()
    device = torch.device(settings.device) if not ctx.is_distributed else ctx.device
    with fixed_threads(settings.threads):
        built = build(job, settings, device)  # refuses a step that cannot fit, unbuilt
        if sync is not None:
            sync()
        phase = on_phase if on_phase is not None and ctx.is_main else _no_phase
        phase("train")
        fitted = fit(built, settings, ctx, device, progress=progress and ctx.is_main, desc=job.name)
        measured = _measure(built, fitted, settings.batch_size, device, phase)
    row = _row(built, fitted, measured, settings, device, ctx.world_size)
    if ctx.is_main:
        save_job_files(
            job_dir,
            best=fitted.net.state_dict(),
            last=fitted.last_state,
            result=fitted.result,
            config={**_config(job, settings, built, fitted), "row": row.as_record()},
        )
        _save_predictions(job_dir, built, fitted, settings.data, device)
    return row


def _no_phase(phase: JobPhase) -> None:
    """The ``on_phase`` of a job nobody watches."""


def _save_predictions(
    job_dir: Path, built: Built, fitted: Fitted, data: str, device: torch.device
) -> None:
    """The best weights' strip of validation images and per-class test numbers (tasks
    with a per-class score only: a classifier has no mask or boxes to draw)."""
    task = built.task
    if task.per_class_name is None:
        return
    names = job_class_names(built.spec, task, data, fitted.data.train)
    normalization = fitted.data.normalization
    strip = prediction_strip(fitted.net, task, fitted.data.val, normalization, names, device)
    scores = per_class_scores(fitted.net, task, fitted.data.test, names, device)
    save_predictions(job_dir, strip, scores)
