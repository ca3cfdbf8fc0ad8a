"""One subject in one mode: its training step, and its inference latency and throughput.

Both reuse the harness's instruments, so the suite's numbers mean what the results table's
do: :func:`benchmarks.cost.timing.time_callable` (warm-up until stable, then the median of
at least ``min_runs`` blocks, the device synchronised around each block),
:func:`benchmarks.cost.peak_memory.peak_memory_mb` (``torch.cuda.max_memory_allocated`` on
CUDA) and, for inference, :func:`benchmarks.cost.measure.time_model`, the timing phase of a
benchmark job (latency at batch 1, throughput and peak memory at a larger batch). The
optimizer is the harness's AdamW and schedule (:func:`build_optimization`), at a learning
rate small enough that a hundred steps on one batch stay finite.
"""

from __future__ import annotations

import gc
import math
import time
from collections.abc import Callable
from typing import Any

import torch
from torch import Tensor

from benchmarks.cost.measure import time_model
from benchmarks.cost.peak_memory import peak_memory_mb
from benchmarks.cost.timing import TimingPolicy, time_callable
from benchmarks.runtime.placement import autocast, move_batch, prepare_model
from benchmarks.tools.gpu_suite.modes import Mode, compiler_for
from benchmarks.tools.gpu_suite.subjects import Subject
from benchmarks.train.optimization import build_optimization

__all__ = ["GPU_POLICY", "QUICK_POLICY", "inference", "release", "train_step"]

GPU_POLICY = TimingPolicy(
    min_warmup_s=0.3,
    min_warmup_iters=5,
    stable_window=3,
    max_warmup_s=3.0,
    min_run_s=0.5,
    min_runs=20,
)
"""Shorter than the harness's default (which wants 1 s of samples after up to 3 s of
warm-up per number): the suite times ~60 numbers in a few minutes. Still the median of at
least 20 synchronised samples after a warm-up that waited for stable times."""

QUICK_POLICY = TimingPolicy(
    min_warmup_s=0.0,
    min_warmup_iters=2,
    stable_window=2,
    stable_tolerance=10.0,
    max_warmup_s=0.5,
    min_run_s=0.0,
    min_runs=3,
)
"""The CPU dry run's: enough calls to go through every code path, no more."""

PRE_WARM_STEPS = 3
"""Untimed steps before the timing's own warm-up. The first one compiles (it is reported as
``first_step_s``); the next ones settle what the first left (the backward graph, the
optimizer's state), so the warm-up's blocks are not minutes long."""


def _seconds(fn: Callable[[], Any], device: torch.device) -> float:
    """Wall seconds of one call of ``fn``, the device synchronised on both sides."""
    if device.type == "cuda":
        torch.cuda.synchronize(device)
    start = time.perf_counter()
    fn()
    if device.type == "cuda":
        torch.cuda.synchronize(device)
    return time.perf_counter() - start


def train_step(
    subject: Subject, mode: Mode, device: torch.device, policy: TimingPolicy, backend: str
) -> dict[str, Any]:
    """Time one optimizer step (zero_grad, forward and loss under the mode's autocast,
    backward, AdamW) of a fresh copy of ``subject``'s model; ``backend`` is the compile
    backend when ``mode`` compiles. The batch is on the device already, as in the harness
    after its non-blocking copy, so the number is the step's compute alone."""
    model = subject.fresh_model()
    prepare_model(model, device, mode.channels_last)
    model.train()
    runner = subject.runner(model, compiler_for(mode, backend))
    batch = move_batch(subject.batch, device, mode.channels_last)
    optimization = build_optimization(
        model, lr=1e-5, weight_decay=1e-4, warmup_steps=0, total_steps=1_000_000
    )

    def step() -> Tensor:
        optimization.zero_grad()
        with autocast(device, mode.amp):
            loss = subject.loss(runner, batch)
        loss.backward()
        optimization.step()
        return loss

    first = _seconds(step, device)
    for _ in range(PRE_WARM_STEPS - 1):
        step()
    stats = time_callable(step, policy=policy, device=device)
    peak = peak_memory_mb(step, device)
    loss = float(step().detach())
    return {
        "train_ms": stats.median_ms,
        "train_iqr_ms": stats.iqr_ms,
        "train_runs": stats.runs,
        "first_step_s": first,
        "peak_train_mb": peak,
        "loss_finite": math.isfinite(loss),
    }


def inference(
    subject: Subject, mode: Mode, device: torch.device, policy: TimingPolicy, batch_size: int
) -> dict[str, Any]:
    """Latency at batch 1, throughput and peak memory at ``batch_size``, in eval mode under
    the mode's precision and layout (the harness's timing phase)."""
    model = subject.fresh_model()
    prepare_model(model, device, mode.channels_last)
    net = subject.inference(model)
    row = time_model(
        net,
        net,
        subject.image_shape,
        batch_size,
        device,
        amp=mode.amp,
        channels_last=mode.channels_last,
        policy=policy,
    )
    return {
        "latency_ms": row.latency_ms,
        "throughput_ips": row.throughput_ips,
        "infer_batch": batch_size,
        "peak_infer_mb": row.peak_mem_mb,
    }


def release(device: torch.device) -> None:
    """Give back what the last unit left (its model, optimizer state, cached blocks), so
    the next unit's peak memory is its own."""
    gc.collect()
    if device.type == "cuda":
        torch.cuda.empty_cache()
