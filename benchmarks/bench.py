"""One benchmark job: compile a spec, train it, evaluate it, time it, save it.

:func:`run_job` is the ``run_one`` callback of :func:`benchmarks.sweep.run_sweep`; it
returns the row of results for one (spec, settings) pair and leaves the final weights
(``weights.pt``) and a ``config.json`` in the job's folder.
"""

from __future__ import annotations

import json
import math
from pathlib import Path
from typing import Any

import torch
from torch.utils.flop_counter import FlopCounterMode

from benchmarks.data import collate, make_dataset
from benchmarks.distributed import DistributedContext, make_loader, wrap_model
from benchmarks.results import atomic_write_text
from benchmarks.task_registry import task_for
from benchmarks.tasks import Task
from benchmarks.timing import measure_latency, peak_memory_mb, time_forward
from benchmarks.train import TrainConfig, evaluate, train
from compiler import GraphNet, compile_graph
from graphspec import Spec, load_spec, totals
from graphspec.schema import InputShape

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


def counted_gflops(model: torch.nn.Module, example: torch.Tensor) -> float:
    """GFLOPs per image as ``torch.utils.flop_counter`` counts them (cross-check)."""
    counter = FlopCounterMode(display=False)
    with counter, torch.no_grad():
        model(example)
    return counter.get_total_flops() / example.shape[0] / 1e9


def run_job(
    job: Any, job_dir: Path, ctx: DistributedContext | None = None, progress: bool = True
) -> dict[str, Any]:
    """Train, evaluate and time one spec under ``job.settings``; return its results row."""
    settings = {**DEFAULTS, **job.settings}
    ctx = ctx or DistributedContext()
    device = torch.device(settings["device"]) if not ctx.is_distributed else ctx.device
    spec = load_spec(job.spec_file)
    size = _image_size(settings["image_size"], spec)
    spec = with_input_size(spec, size)
    torch.manual_seed(settings["seed"])

    # Data class counts include background; detection specs count object classes only.
    classes = spec.classes if spec.task == "segmentation" else spec.classes + 1
    train_set = make_dataset(
        settings["data"],
        "train",
        size,
        seed=settings["seed"],
        limit=settings["limit"],
        num_classes=classes,
    )
    eval_set = make_dataset(
        settings["data"], settings["eval_split"], size, seed=settings["seed"], num_classes=classes
    )
    graph = compile_graph(spec)
    task: Task = task_for(spec, train_set, graph)
    model = GraphNet(graph)
    static = totals(graph)
    example = torch.rand(1, spec.input.channels, *size)
    gflops_counted = counted_gflops(model, example)

    config = TrainConfig(
        epochs=settings["epochs"],
        batch_size=settings["batch_size"],
        lr=settings["lr"],
        device=device,
        seed=settings["seed"],
        progress=progress and ctx.is_main,
        desc=job.name,
    )
    model = wrap_model(model, ctx, channels_last=config.use_channels_last)
    runner = torch.compile(model) if settings["compile"] else model
    train_loader = make_loader(
        train_set,
        settings["batch_size"],
        True,
        ctx,
        workers=settings["workers"],
        collate_fn=collate,
        seed=settings["seed"],
        drop_last=len(train_set) > settings["batch_size"],
    )
    eval_loader = make_loader(
        eval_set,
        settings["batch_size"],
        False,
        ctx,
        workers=settings["workers"],
        collate_fn=collate,
    )
    result = train(runner, task, train_loader, config)
    metrics = evaluate(
        runner,
        task,
        eval_loader,
        device,
        amp=config.use_amp,
        channels_last=config.use_channels_last,
    )

    net = model.module if hasattr(model, "module") else model
    timing = _time_model(net, runner, spec, size, settings["batch_size"], device, config)
    row: dict[str, Any] = {
        "spec": spec.name,
        "task": spec.task,
        "params": static["params"],
        "gflops": static["flops"] / 1e9,
        "gflops_counted": gflops_counted,
        **timing,
        "train_s": result.train_s,
        "final_loss": result.final_loss,
        "epochs": settings["epochs"],
        "image_size": f"{size[0]}x{size[1]}",
        "batch_size": settings["batch_size"],
        "device": str(device),
        "dtype": "bf16" if config.use_amp else "fp32",
        "seed": settings["seed"],
        "data": settings["data"],
        "train_images": len(train_set),
        "eval_images": len(eval_set),
        "world_size": ctx.world_size,
        **{k: v for k, v in metrics.items() if isinstance(v, int | float)},
    }
    if not math.isclose(row["gflops"], gflops_counted, rel_tol=0.01, abs_tol=1e-6):
        row["warning"] = (
            f"static GFLOPs {row['gflops']:.4f} differ from FlopCounterMode {gflops_counted:.4f}"
        )
    if ctx.is_main:
        torch.save(net.state_dict(), job_dir / "weights.pt")
        config_json = {
            "spec_file": str(job.spec_file),
            "settings": settings,
            "row": row,
            "loss_history": result.loss_history,
            "logs": result.logs,
        }
        atomic_write_text(job_dir / "config.json", json.dumps(config_json, indent=2, default=str))
    return row


def _time_model(
    net: torch.nn.Module,
    runner: torch.nn.Module,
    spec: Spec,
    size: tuple[int, int],
    batch_size: int,
    device: torch.device,
    config: TrainConfig,
) -> dict[str, float]:
    """Latency at batch 1, throughput and peak memory at the training batch size."""
    memory_format = torch.channels_last if config.use_channels_last else torch.contiguous_format
    net.eval()
    one = torch.rand(1, spec.input.channels, *size, device=device).contiguous(
        memory_format=memory_format
    )
    batch = torch.rand(batch_size, spec.input.channels, *size, device=device).contiguous(
        memory_format=memory_format
    )
    autocast = torch.autocast(device.type, dtype=torch.bfloat16, enabled=config.use_amp)
    with autocast:
        latency = measure_latency(runner, one, device=device)
        stats = time_forward(runner, batch, device=device)
        with torch.inference_mode():
            peak = peak_memory_mb(lambda: runner(batch), device)
    return {
        "latency_ms": latency.median_ms,
        "latency_iqr_ms": latency.iqr_ms,
        "throughput_ips": batch_size / stats.median_s,
        "peak_mem_mb": peak,
    }
