"""What a benchmark row reports about a model's cost: FLOPs and timing.

The static FLOP count comes from the graph (:func:`graphspec.totals`); :func:`counted_gflops`
recounts it with ``torch.utils.flop_counter`` so a wrong shape or FLOP rule shows up as a
warning in the row instead of silently skewing every chart. :func:`time_model` runs the
trained model the way it is deployed: in eval mode, in the training precision and memory
layout.
"""

from __future__ import annotations

import math

import torch
from torch import nn
from torch.utils.flop_counter import FlopCounterMode

from benchmarks.timing import measure_latency, peak_memory_mb, time_forward

__all__ = ["counted_gflops", "flops_mismatch", "time_model"]


def counted_gflops(model: nn.Module, example: torch.Tensor) -> float:
    """GFLOPs per image as ``torch.utils.flop_counter`` counts them (cross-check)."""
    counter = FlopCounterMode(display=False)
    with counter, torch.no_grad():
        model(example)
    return counter.get_total_flops() / example.shape[0] / 1e9


def flops_mismatch(static_gflops: float, counted: float) -> str | None:
    """A warning when the static and counted GFLOPs differ by more than 1%, else None."""
    if math.isclose(static_gflops, counted, rel_tol=0.01, abs_tol=1e-6):
        return None
    return f"static GFLOPs {static_gflops:.4f} differ from FlopCounterMode {counted:.4f}"


def time_model(
    net: nn.Module,
    runner: nn.Module,
    image_shape: tuple[int, int, int],
    batch_size: int,
    device: torch.device,
    *,
    amp: bool,
    channels_last: bool,
) -> dict[str, float]:
    """Latency at batch 1, throughput and peak memory at the training batch size.

    ``net`` is the plain module (put in eval mode), ``runner`` what is called (it may be a
    DDP wrapper or compiled); ``image_shape`` is (channels, height, width).
    """
    memory_format = torch.channels_last if channels_last else torch.contiguous_format
    net.eval()
    one = torch.rand(1, *image_shape, device=device).contiguous(memory_format=memory_format)
    batch = torch.rand(batch_size, *image_shape, device=device).contiguous(
        memory_format=memory_format
    )
    autocast = torch.autocast(device.type, dtype=torch.bfloat16, enabled=amp)
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
