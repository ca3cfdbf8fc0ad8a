"""One benchmark job: compile a spec, train it, evaluate it, time it, save it.

:func:`run_job` is the ``run_one`` callback of :func:`benchmarks.sweep.runner.run_sweep`; it
returns the row of results for one (spec, settings) pair. It runs four steps, each fed by
the previous one: build (:mod:`benchmarks.job.build`: spec -> untrained model), fit
(:mod:`benchmarks.job.fit`: data, recipe, training with validation), measure (test
metrics with the best weights, then timing in its own phase, FLOPs cross-check) and row
(the results row and the job's files, :mod:`benchmarks.store.job_files`).
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch

from benchmarks.cost.conditions import fixed_threads
from benchmarks.cost.measure import TimingRow, flops_mismatch, time_model
from benchmarks.data.names import class_names
from benchmarks.job.build import Built, build
from benchmarks.job.fit import Fitted, fit
from benchmarks.job.predictions import per_class_scores, prediction_strip
from benchmarks.runtime.distributed import DistributedContext
from benchmarks.store.job_files import save_job_files, save_predictions
from benchmarks.store.jobs import Job
from benchmarks.tasks import data_classes
from benchmarks.train.loop import evaluate

__all__ = ["DEFAULTS", "run_job"]

DEFAULTS: dict[str, Any] = {
    "epochs": 10,
    "batch_size": 16,
    "image_size": None,
    "seed": 0,
    "device": "cpu",
    "data": "shapes",
    "compile": False,
    "workers": 0,
    "limit": None,
    "lr": 2e-3,
    "eval_split": "test",
    "val_split": "val",
    "val_every": 1,
    "patience": None,
    "normalize": "dataset",
    "augment": True,
    "threads": None,
}


@dataclass
class _Measured:
    """Test metrics (best weights), timing, and a warning when the FLOP counts disagree."""

    metrics: dict[str, float]
    timing: TimingRow
    warning: str | None


def _measure(built: Built, fitted: Fitted, batch_size: int, device: torch.device) -> _Measured:
    """Score the best weights on the test split, then time them in a phase of their own."""
    amp, channels_last = fitted.config.use_amp, fitted.config.use_channels_last
    metrics = evaluate(
        fitted.runner, fitted.task, fitted.test_loader, device, amp=amp, channels_last=channels_last
    )
    image_shape = (built.spec.input.channels, *built.size)
    timing = time_model(
        fitted.net,
        fitted.runner,
        image_shape,
        batch_size,
        device,
        amp=amp,
        channels_last=channels_last,
    )
    warning = flops_mismatch(built.static.gflops, built.gflops_counted)
    numbers = {k: v for k, v in metrics.items() if isinstance(v, int | float)}
    return _Measured(numbers, timing, warning)


def _row(
    built: Built,
    fitted: Fitted,
    measured: _Measured,
    settings: Mapping[str, Any],
    device: torch.device,
    world_size: int,
) -> dict[str, Any]:
    """The results row; its key order is the order of the extra columns in results.csv."""
    size, result, recipe = built.size, fitted.result, fitted.recipe
    row: dict[str, Any] = {
        "spec": built.spec.name,
        "task": built.spec.task,
        "params": built.static.params,
        "gflops": built.static.gflops,
        "gflops_counted": built.gflops_counted,
        **measured.timing.as_row(),
        "train_s": result.train_s,
        "val_s": result.val_s,
        "final_loss": result.final_loss,
        "epochs": recipe.epochs,
        "epochs_run": result.epochs_run,
        "best_epoch": result.best_epoch,
        "best_val": result.best_metric,
        "converged": result.converged,
        "convergence_reason": result.convergence_reason,
        "stopped_early": result.stopped_early,
        "lr": recipe.lr,
        "lr_source": recipe.source.lr,
        "image_size": f"{size[0]}x{size[1]}",
        "batch_size": recipe.batch_size,
        "device": str(device),
        "dtype": "bf16" if fitted.config.use_amp else "fp32",
        "seed": settings["seed"],
        "data": settings["data"],
        "encoder_init": built.encoder_init.tag if built.encoder_init else "",
        **fitted.data.sizes,
        "world_size": world_size,
        **measured.metrics,
    }
    if measured.warning is not None:
        row["warning"] = measured.warning
    return row


def _config(job: Job, settings: Mapping[str, Any], built: Built, fitted: Fitted) -> dict:
    """What config.json records beside the row: how the job was set up and trained."""
    transfer = built.encoder_init
    return {
        "spec_file": str(job.spec_file),
        "settings": dict(settings),
        "recipe": fitted.recipe.as_json(),
        "lr_finder": fitted.lr_finder.as_json() if fitted.lr_finder else None,
        "normalization": fitted.data.normalization.as_json(),
        "augment": fitted.data.augment,
        "encoder_init": dataclasses.asdict(transfer) if transfer else None,
    }


def run_job(
    job: Job,
    job_dir: Path,
    ctx: DistributedContext | None = None,
    progress: bool = True,
    sync: Callable[[], None] | None = None,
) -> dict[str, Any]:
    """Train, evaluate and time one spec under ``job.settings``; return its results row.

    Every rank of a DDP job runs all steps; only the main rank writes the job's files,
    and only once every step succeeded (a diverged run raises and leaves no weights).
    ``sync`` is called once the model is built, before training: under DDP it is where
    the ranks agree that every one of them got that far (:mod:`benchmarks.sweep.orchestrate`),
    so a rank that failed early never leaves the others waiting in a collective.
    """
    settings = {**DEFAULTS, **job.settings}
    ctx = ctx or DistributedContext()
    device = torch.device(settings["device"]) if not ctx.is_distributed else ctx.device
    with fixed_threads(settings["threads"]):
        built = build(job, settings, device)  # refuses a step that cannot fit, unbuilt
        if sync is not None:
            sync()
        fitted = fit(built, settings, ctx, device, progress=progress and ctx.is_main, desc=job.name)
        measured = _measure(built, fitted, settings["batch_size"], device)
    row = _row(built, fitted, measured, settings, device, ctx.world_size)
    if ctx.is_main:
        save_job_files(
            job_dir,
            best=fitted.net.state_dict(),
            last=fitted.last_state,
            result=fitted.result,
            config={**_config(job, settings, built, fitted), "row": row},
        )
        _save_predictions(job_dir, built, fitted, settings["data"], device)
    return row


def _save_predictions(
    job_dir: Path, built: Built, fitted: Fitted, data: str, device: torch.device
) -> None:
    """The best weights' strip of validation images and per-class test numbers (dense
    tasks only: a classifier has no mask or boxes to draw)."""
    if built.spec.task not in ("segmentation", "detection"):
        return
    names = class_names(data, data_classes(built.spec))
    normalization = fitted.data.normalization
    strip = prediction_strip(fitted.net, fitted.task, fitted.data.val, normalization, names, device)
    scores = per_class_scores(fitted.net, fitted.task, fitted.data.test, names, device)
    save_predictions(job_dir, strip, scores)
