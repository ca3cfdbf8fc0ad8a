"""What a benchmark row reports about a model's cost: FLOPs and timing.

The static FLOP count comes from the graph (:func:`graphspec.totals`); :func:`counted_gflops`
recounts it with ``torch.utils.flop_counter`` so a wrong shape or FLOP rule shows up as a
warning in the row instead of silently skewing every chart. It counts on a model built on the
meta device, so it never runs (or changes the BatchNorm statistics of) the model that is
trained. :func:`time_model` is the timing phase after training: the trained model, in eval
mode, in the training precision and memory layout, with threads pinned and the machine's load
recorded.
"""

from __future__ import annotations

import gc
import math
import os
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass

import torch
from torch import nn
from torch.utils.flop_counter import FlopCounterMode

from benchmarks.cost.conditions import fixed_threads, load_average, noise_reason
from benchmarks.cost.cpu_share import CpuShare, cpu_window
from benchmarks.cost.peak_memory import peak_memory_mb
from benchmarks.cost.timing import (
    DEFAULT_POLICY,
    TimingPolicy,
    TimingStats,
    measure_latency,
    throughput_from_stats,
    time_forward,
)
from compiler import build_network
from graphspec import Graph
from graphspec.budget import stated_rois

__all__ = ["TimingRow", "counted_gflops", "flops_mismatch", "time_model", "with_stated_rois"]


def _stated_boxes(
    graph: Graph, images: int, device: torch.device | str, count: int | None = None
) -> list[torch.Tensor]:
    """``count`` (default: the stated RoI count) whole-image boxes per image: the RoIs a
    two-stage network is costed at when its proposals cannot be computed (meta device) or
    come from files."""
    _, height, width = graph["input"].shape
    box = torch.tensor([0.0, 0.0, float(width), float(height)], device=device)
    count = stated_rois(graph) if count is None else count
    return [box.expand(count, 4).contiguous() for _ in range(images)]


class _StatedRoIs(nn.Module):
    """``runner`` called with the stated RoIs as its proposals (see :func:`with_stated_rois`)."""

    def __init__(self, runner: nn.Module, graph: Graph) -> None:
        super().__init__()
        self.runner, self.graph = runner, graph

    def forward(self, images: torch.Tensor) -> object:
        boxes = _stated_boxes(self.graph, images.shape[0], images.device)
        return self.runner(images, proposals=boxes)


def with_stated_rois(net: nn.Module, runner: nn.Module) -> nn.Module:
    """What to time for ``net``: ``runner`` itself, or, for a two-stage network whose
    proposals come from files (it cannot make its own), ``runner`` given the stated RoI
    count of whole-image boxes per image, the count its FLOPs are stated at."""
    graph = getattr(net, "graph", None)
    layout = graph.detection.two_stage if graph is not None and graph.detection else None
    if layout is None or graph[layout.proposals].op.op != "given_proposals":
        return runner
    return _StatedRoIs(runner, graph)


def counted_gflops(graph: Graph) -> float:
    """GFLOPs per image as ``torch.utils.flop_counter`` counts them (cross-check).

    The model and its batch-1 example live on the meta device: shapes flow, nothing is
    computed, no random numbers are drawn, and eval mode keeps BatchNorm happy on 1x1 maps.
    A two-stage detector is given the stated number of RoIs (:func:`graphspec.budget.
    stated_rois`), as whole-image boxes: its own proposals are data-dependent (NMS), which
    the meta device cannot run, and the count is what the static FLOPs are stated at."""
    rois = stated_rois(graph)
    with torch.device("meta"):
        net = build_network(graph).eval()
        example = torch.empty(1, *graph["input"].shape)
    kwargs = {"proposals": _stated_boxes(graph, 1, "cpu")} if rois else {}
    layout = graph.detection.two_stage if graph.detection is not None else None
    if layout is not None and layout.masks:  # the branch runs on the detections
        kwargs["mask_boxes"] = _stated_boxes(graph, 1, "cpu", layout.mask_rois)
    counter = FlopCounterMode(display=False)
    with counter, torch.no_grad():
        net(example, **kwargs)
    return counter.get_total_flops() / 1e9


def flops_mismatch(static_gflops: float, counted: float) -> str | None:
    """A warning when the static and counted GFLOPs differ by more than 1%, else None."""
    if math.isclose(static_gflops, counted, rel_tol=0.01, abs_tol=1e-6):
        return None
    return f"static GFLOPs {static_gflops:.4f} differ from FlopCounterMode {counted:.4f}"


@dataclass(frozen=True)
class TimingRow:
    """The timing columns of a results row (see the README's Benchmarking section)."""

    latency_ms: float
    latency_iqr_ms: float
    latency_p90_ms: float
    fps: float
    throughput_ips: float
    peak_mem_mb: float
    threads: int
    load_avg: float
    timing_noisy: bool
    timing_noise_reason: str

    def as_row(self) -> dict[str, float | int | bool | str]:
        """The fields as results-row columns, in declaration order."""
        return asdict(self)


def _settle(net: nn.Module, device: torch.device) -> None:
    """Start timing from a quiet state: eval mode, training's garbage collected, the CUDA
    allocator's cached blocks released so timing does not depend on training's leftovers."""
    net.eval()
    gc.collect()
    if device.type == "cuda":
        torch.cuda.empty_cache()


def _row(
    latency: TimingStats,
    batch: TimingStats,
    batch_size: int,
    peak: float,
    threads: int,
    load_avg: float,
    cpu: CpuShare,
    device: torch.device,
) -> TimingRow:
    timings = [("latency", latency), ("throughput", batch)]
    on_cpu = device.type == "cpu"
    reason = noise_reason(timings, load_avg, os.cpu_count(), cpu=cpu, on_cpu=on_cpu)
    return TimingRow(
        latency_ms=latency.median_ms,
        latency_iqr_ms=latency.iqr_ms,
        latency_p90_ms=latency.p90_ms,
        fps=1000.0 / latency.median_ms if latency.median_ms > 0 else math.inf,
        throughput_ips=throughput_from_stats(batch_size, batch),
        peak_mem_mb=peak,
        threads=threads,
        load_avg=load_avg,
        timing_noisy=bool(reason),
        timing_noise_reason=reason,
    )


def time_model(
    net: nn.Module,
    runner: nn.Module,
    image_shape: tuple[int, int, int],
    batch_size: int,
    device: torch.device,
    *,
    amp: bool,
    channels_last: bool,
    threads: int | None = None,
    policy: TimingPolicy | None = None,
    clock: Callable[[], float] = time.perf_counter,
) -> TimingRow:
    """Latency at batch 1, throughput and peak memory at the training batch size.

    Call it after training and evaluation, as a phase of its own. ``net`` is the plain module
    (put in eval mode), ``runner`` what is called (it may be a DDP wrapper or compiled);
    ``image_shape`` is (channels, height, width). ``threads`` pins torch's intra-op threads
    for the phase (default: the current count, see :func:`fixed_threads`). ``policy`` defaults
    to this module's ``DEFAULT_POLICY``, read at call time so a test suite can patch in a
    faster one. ``load_avg`` is the larger of the 1-minute load averages before and after;
    the CPU time this process and others used is measured over the two timings.
    """
    policy = policy or DEFAULT_POLICY
    _settle(net, device)
    memory_format = torch.channels_last if channels_last else torch.contiguous_format
    one = torch.rand(1, *image_shape, device=device).contiguous(memory_format=memory_format)
    batch = torch.rand(batch_size, *image_shape, device=device).contiguous(
        memory_format=memory_format
    )
    autocast = torch.autocast(device.type, dtype=torch.bfloat16, enabled=amp)
    with fixed_threads(threads) as count, autocast:
        load_before = load_average()
        with cpu_window() as window:
            latency = measure_latency(runner, one, policy=policy, device=device, clock=clock)
            batch_stats = time_forward(runner, batch, policy=policy, device=device, clock=clock)
        with torch.inference_mode():
            peak = peak_memory_mb(lambda: runner(batch), device)
        load_avg = max(load_before, load_average())
    return _row(latency, batch_stats, batch_size, peak, count, load_avg, window[0], device)
