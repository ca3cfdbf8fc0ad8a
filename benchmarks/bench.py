"""One benchmark job: compile a spec, train it, evaluate it, time it, save it.

:func:`run_job` is the ``run_one`` callback of :func:`benchmarks.sweep.run_sweep`; it
returns the row of results for one (spec, settings) pair and leaves the final weights
(``weights.pt``) and a ``config.json`` in the job's folder. It runs four steps, each fed
by the previous one: build (spec -> untrained model), fit (data, task, training), measure
(held-out metrics, timing, FLOPs cross-check) and row (the results row and job files).
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch
from torch import nn
from torch.utils.data import DataLoader, Dataset

from benchmarks.atomic import atomic_write_text
from benchmarks.data import collate, make_dataset
from benchmarks.detection_task import DetectionTask
from benchmarks.distributed import DistributedContext, make_loader, wrap_model
from benchmarks.measure import counted_gflops, flops_mismatch, time_model
from benchmarks.plan import Job
from benchmarks.tasks import SegmentationTask, Task
from benchmarks.train import TrainConfig, TrainResult, evaluate, train
from compiler import GraphNet, compile_graph
from graphspec import Graph, Spec, SpecError, Totals, load_spec, totals
from graphspec.schema import InputShape, SSDHead, YOLOHead

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
}


def with_input_size(spec: Spec, size: tuple[int, int] | None) -> Spec:
    """The same spec at another input size (the sweep's ``--image-size``)."""
    if size is None or (spec.input.height, spec.input.width) == tuple(size):
        return spec
    shape = InputShape(channels=spec.input.channels, height=size[0], width=size[1])
    resized = spec.model_copy(update={"input": shape})
    resized._source = spec.source
    return resized


def _image_size(value: Any, spec: Spec) -> tuple[int, int]:
    if value is None:
        return (spec.input.height, spec.input.width)
    if isinstance(value, int):
        return (value, value)
    return (int(value[0]), int(value[1]))


def _data_classes(spec: Spec) -> int:
    """Classes the data must have: background included, which detection specs leave out."""
    return spec.classes if spec.task == "segmentation" else spec.classes + 1


def task_for(spec: Spec, dataset: Any, graph: Graph) -> Task:
    """The task object for ``spec``; its class count must match the data's.

    Segmentation counts background as a class (``classes`` = K + 1); detection specs give
    the K object classes and the head adds background where it needs one."""
    data_classes = getattr(dataset, "num_classes", None)
    if data_classes is not None and data_classes != _data_classes(spec):
        want = data_classes if spec.task == "segmentation" else data_classes - 1
        raise SpecError.at(
            spec.source.locate(("classes",)),
            f"class count does not match "
            f"the data (expected {want} for this dataset, got {spec.classes})",
        )
    if spec.task == "segmentation":
        return SegmentationTask(spec.classes)
    if spec.task == "detection" and graph.detection is not None:
        assert isinstance(spec.head, SSDHead | YOLOHead)
        size = (spec.input.height, spec.input.width)
        return DetectionTask(spec.head, graph.detection, size)
    raise SpecError.at(
        spec.source.locate(("task",)),
        f"task '{spec.task}' cannot be "
        "benchmarked yet (expected segmentation, or detection with an ssd or yolo head)",
    )


@dataclass
class _Built:
    """A spec compiled at the job's input size, its untrained model and its cost on paper."""

    spec: Spec
    size: tuple[int, int]
    graph: Graph
    model: nn.Module
    static: Totals
    gflops_counted: float


@dataclass
class _Fitted:
    """The trained model: ``net`` is the plain module (weights, timing), ``runner`` what to
    call (DDP-wrapped and/or compiled); plus what evaluation and the row need."""

    task: Task
    net: nn.Module
    runner: nn.Module
    config: TrainConfig
    result: TrainResult
    eval_loader: DataLoader
    train_images: int
    eval_images: int


@dataclass
class _Measured:
    """Held-out metrics, timing, and a warning when the two FLOP counts disagree."""

    metrics: dict[str, float]
    timing: dict[str, float]
    warning: str | None


def _build(job: Job, settings: Mapping[str, Any]) -> _Built:
    """Load the spec at the job's size, compile it and build its model.

    The seed is set before the model is built so its initial weights follow ``seed``. FLOPs
    are counted here, on the fresh CPU model before DDP or torch.compile wrap it; the random
    example drawn for that comes before training, so training's random stream follows it.
    """
    spec = load_spec(job.spec_file)
    size = _image_size(settings["image_size"], spec)
    spec = with_input_size(spec, size)
    torch.manual_seed(settings["seed"])
    graph = compile_graph(spec)
    model = GraphNet(graph)
    example = torch.rand(1, spec.input.channels, *size)
    return _Built(spec, size, graph, model, totals(graph), counted_gflops(model, example))


def _loader(
    dataset: Dataset, settings: Mapping[str, Any], ctx: DistributedContext, shuffle: bool
) -> DataLoader:
    """Training loaders shuffle (seeded) and drop a ragged last batch; eval loaders keep all."""
    batch_size = settings["batch_size"]
    return make_loader(
        dataset,
        batch_size,
        shuffle,
        ctx,
        workers=settings["workers"],
        collate_fn=collate,
        seed=settings["seed"],
        drop_last=shuffle and len(dataset) > batch_size,
    )


def _fit(
    built: _Built,
    settings: Mapping[str, Any],
    ctx: DistributedContext,
    device: torch.device,
    progress: bool,
    desc: str,
) -> _Fitted:
    """Open both data splits (so bad data fails before training), pick the task, train."""
    data, seed, classes = settings["data"], settings["seed"], _data_classes(built.spec)
    train_set = make_dataset(
        data, "train", built.size, seed=seed, limit=settings["limit"], num_classes=classes
    )
    eval_set = make_dataset(
        data, settings["eval_split"], built.size, seed=seed, num_classes=classes
    )
    task = task_for(built.spec, train_set, built.graph)
    config = TrainConfig(
        epochs=settings["epochs"],
        batch_size=settings["batch_size"],
        lr=settings["lr"],
        device=device,
        seed=seed,
        progress=progress,
        desc=desc,
    )
    model = wrap_model(built.model, ctx, channels_last=config.use_channels_last)
    runner = torch.compile(model) if settings["compile"] else model
    train_loader = _loader(train_set, settings, ctx, shuffle=True)
    eval_loader = _loader(eval_set, settings, ctx, shuffle=False)
    result = train(runner, task, train_loader, config)
    net = model.module if hasattr(model, "module") else model
    return _Fitted(task, net, runner, config, result, eval_loader, len(train_set), len(eval_set))


def _measure(built: _Built, fitted: _Fitted, batch_size: int, device: torch.device) -> _Measured:
    """Score the trained model on the held-out split, time it, cross-check the FLOPs."""
    amp, channels_last = fitted.config.use_amp, fitted.config.use_channels_last
    runner = fitted.runner
    metrics = evaluate(
        runner, fitted.task, fitted.eval_loader, device, amp=amp, channels_last=channels_last
    )
    image_shape = (built.spec.input.channels, *built.size)
    timing = time_model(
        fitted.net, runner, image_shape, batch_size, device, amp=amp, channels_last=channels_last
    )
    warning = flops_mismatch(built.static.gflops, built.gflops_counted)
    numbers = {k: v for k, v in metrics.items() if isinstance(v, int | float)}
    return _Measured(numbers, timing, warning)


def _row(
    built: _Built,
    fitted: _Fitted,
    measured: _Measured,
    settings: Mapping[str, Any],
    device: torch.device,
    world_size: int,
) -> dict[str, Any]:
    """The results row; its key order is the order of the extra columns in results.csv."""
    size = built.size
    row: dict[str, Any] = {
        "spec": built.spec.name,
        "task": built.spec.task,
        "params": built.static.params,
        "gflops": built.static.gflops,
        "gflops_counted": built.gflops_counted,
        **measured.timing,
        "train_s": fitted.result.train_s,
        "final_loss": fitted.result.final_loss,
        "epochs": settings["epochs"],
        "image_size": f"{size[0]}x{size[1]}",
        "batch_size": settings["batch_size"],
        "device": str(device),
        "dtype": "bf16" if fitted.config.use_amp else "fp32",
        "seed": settings["seed"],
        "data": settings["data"],
        "train_images": fitted.train_images,
        "eval_images": fitted.eval_images,
        "world_size": world_size,
        **measured.metrics,
    }
    if measured.warning is not None:
        row["warning"] = measured.warning
    return row


def _save_job_files(
    job: Job, job_dir: Path, settings: Mapping[str, Any], row: dict[str, Any], fitted: _Fitted
) -> None:
    """Final weights and a config.json with the settings, the row and the training logs."""
    torch.save(fitted.net.state_dict(), job_dir / "weights.pt")
    config_json = {
        "spec_file": str(job.spec_file),
        "settings": settings,
        "row": row,
        "loss_history": fitted.result.loss_history,
        "logs": fitted.result.logs,
    }
    atomic_write_text(job_dir / "config.json", json.dumps(config_json, indent=2, default=str))


def run_job(
    job: Job, job_dir: Path, ctx: DistributedContext | None = None, progress: bool = True
) -> dict[str, Any]:
    """Train, evaluate and time one spec under ``job.settings``; return its results row.

    Every rank of a DDP job runs all steps; only the main rank writes the job's files.
    """
    settings = {**DEFAULTS, **job.settings}
    ctx = ctx or DistributedContext()
    device = torch.device(settings["device"]) if not ctx.is_distributed else ctx.device
    built = _build(job, settings)
    fitted = _fit(built, settings, ctx, device, progress=progress and ctx.is_main, desc=job.name)
    measured = _measure(built, fitted, settings["batch_size"], device)
    row = _row(built, fitted, measured, settings, device, ctx.world_size)
    if ctx.is_main:
        _save_job_files(job, job_dir, settings, row, fitted)
    return row
