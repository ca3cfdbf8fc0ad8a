"""Latency, throughput and peak-memory measurement for compiled models.

Timings are reported as a median with an interquartile range because forward-pass times
are right-skewed (scheduler hiccups, allocator growth); the median is robust to those and
the IQR says how noisy the machine was. Very short calls are repeated inside each sample so
a single ``perf_counter`` pair never has to resolve sub-millisecond intervals.
"""

from __future__ import annotations

import gc
import math
import resource
import sys
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import nn

__all__ = [
    "MIN_RUNS",
    "TimingStats",
    "stats_from_times",
    "time_callable",
    "time_forward",
    "measure_latency",
    "measure_throughput",
    "peak_memory_mb",
]

MIN_RUNS = 20
"""Fewest timed samples we accept: fewer makes the IQR meaningless."""

MIN_SAMPLE_S = 1e-3
"""Target minimum duration of one timed sample; shorter calls are repeated within a sample."""

MAX_INNER_REPEATS = 1 << 16

_CLEAR_REFS = Path("/proc/self/clear_refs")
_STATUS = Path("/proc/self/status")


@dataclass(frozen=True)
class TimingStats:
    """Per-call timing summary.

    ``times_ms`` holds one entry per timed sample, already divided by ``inner_repeats``, so
    every field is a per-call time regardless of how many calls were batched per sample.
    """

    median_ms: float
    iqr_ms: float
    runs: int
    times_ms: list[float] = field(repr=False)
    inner_repeats: int = 1

    @property
    def median_s(self) -> float:
        return self.median_ms / 1e3


def stats_from_times(times_ms: Sequence[float], inner_repeats: int = 1) -> TimingStats:
    """Summarise per-call sample times: median and IQR (75th minus 25th percentile).

    Percentiles use numpy's default linear interpolation, the same as ``pandas.quantile``.
    """
    samples = np.asarray(times_ms, dtype=float)
    if samples.size == 0:
        raise ValueError("no timing samples")
    q25, median, q75 = np.percentile(samples, [25.0, 50.0, 75.0])
    return TimingStats(
        median_ms=float(median),
        iqr_ms=float(q75 - q25),
        runs=int(samples.size),
        times_ms=[float(t) for t in samples],
        inner_repeats=inner_repeats,
    )


def _as_device(device: torch.device | str | None) -> torch.device:
    return torch.device(device) if device is not None else torch.device("cpu")


def _sync(device: torch.device) -> None:
    """Wait for queued kernels so the host clock brackets the real work on the device."""
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def time_callable(
    fn: Callable[[], Any],
    *,
    warmup: int = 5,
    runs: int = MIN_RUNS,
    device: torch.device | str | None = None,
    clock: Callable[[], float] = time.perf_counter,
    min_sample_s: float = MIN_SAMPLE_S,
) -> TimingStats:
    """Time ``fn()`` and return per-call statistics over at least ``MIN_RUNS`` samples.

    After ``warmup`` untimed calls, one calibration call decides how many calls each sample
    makes (``inner_repeats``) so a sample lasts at least ``min_sample_s``. The device is
    synchronised before starting and after finishing each sample. ``clock`` is injectable so
    the arithmetic can be tested with a fake clock.
    """
    dev = _as_device(device)
    n_runs = max(int(runs), MIN_RUNS)
    for _ in range(max(int(warmup), 0)):
        fn()
    _sync(dev)

    start = clock()
    fn()
    _sync(dev)
    one_call_s = clock() - start
    if one_call_s >= min_sample_s:
        inner = 1
    else:
        # The small epsilon keeps float noise (1e-3 / 1e-4 = 10.000000000000002) from adding 1.
        ratio = min_sample_s / max(one_call_s, 1e-9)
        inner = int(min(MAX_INNER_REPEATS, math.ceil(ratio - 1e-9)))

    times_ms: list[float] = []
    for _ in range(n_runs):
        _sync(dev)
        start = clock()
        for _ in range(inner):
            fn()
        _sync(dev)
        times_ms.append((clock() - start) * 1e3 / inner)
    return stats_from_times(times_ms, inner_repeats=inner)


def _forward_fn(model: nn.Module, inputs: Any) -> Callable[[], Any]:
    """Call the model with a tensor, a tuple/list of positional args, or a dict of kwargs."""
    if isinstance(inputs, dict):
        return lambda: model(**inputs)
    if isinstance(inputs, tuple | list):
        return lambda: model(*inputs)
    return lambda: model(inputs)


def time_forward(
    model: nn.Module,
    inputs: Any,
    *,
    warmup: int = 5,
    runs: int = MIN_RUNS,
    device: torch.device | str | None = None,
    clock: Callable[[], float] = time.perf_counter,
) -> TimingStats:
    """Time ``model(inputs)`` under ``torch.inference_mode()`` in eval mode.

    The model is not moved: callers put model and inputs on ``device`` first; ``device`` only
    selects whether CUDA synchronisation is needed. The model's training flag is restored.
    """
    was_training = model.training
    model.eval()
    try:
        with torch.inference_mode():
            return time_callable(
                _forward_fn(model, inputs), warmup=warmup, runs=runs, device=device, clock=clock
            )
    finally:
        model.train(was_training)


def measure_latency(
    model: nn.Module,
    example_batch1: Any,
    *,
    warmup: int = 5,
    runs: int = MIN_RUNS,
    device: torch.device | str | None = None,
    clock: Callable[[], float] = time.perf_counter,
) -> TimingStats:
    """Single-image latency: ``time_forward`` on a batch of one.

    A batch-1 input is what an interactive deployment sees; throughput is measured apart.
    """
    if isinstance(example_batch1, torch.Tensor) and example_batch1.shape[0] != 1:
        raise ValueError(f"latency needs a batch of 1, got shape {tuple(example_batch1.shape)}")
    return time_forward(model, example_batch1, warmup=warmup, runs=runs, device=device, clock=clock)


def throughput_from_stats(batch_size: int, stats: TimingStats) -> float:
    """Images per second given the per-call time of one batch."""
    if stats.median_ms <= 0:
        return float("inf")
    return batch_size / stats.median_s


def measure_throughput(
    model: nn.Module,
    batch: torch.Tensor,
    *,
    warmup: int = 5,
    runs: int = MIN_RUNS,
    device: torch.device | str | None = None,
    clock: Callable[[], float] = time.perf_counter,
) -> float:
    """Images per second at the given batch size: ``batch_size / median seconds per batch``."""
    stats = time_forward(model, batch, warmup=warmup, runs=runs, device=device, clock=clock)
    return throughput_from_stats(int(batch.shape[0]), stats)


def _read_vm_hwm_kb() -> int | None:
    """Resident-set high-water mark (VmHWM) of this process in KiB, or None off Linux."""
    try:
        for line in _STATUS.read_text().splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1])
    except (OSError, ValueError, IndexError):
        return None
    return None


def _reset_vm_hwm() -> bool:
    """Reset VmHWM to the current RSS (Linux >= 4.0). Returns False when not possible."""
    try:
        _CLEAR_REFS.write_text("5")
    except OSError:
        return False
    return True


def _ru_maxrss_mb() -> float:
    """Lifetime peak RSS from getrusage; ru_maxrss is KiB on Linux but bytes on macOS."""
    maxrss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return maxrss / 2**20 if sys.platform == "darwin" else maxrss / 1024


def peak_memory_mb(fn: Callable[[], Any], device: torch.device | str | None = None) -> float:
    """Run ``fn()`` once and return the peak memory it needed, in MiB.

    Meaning depends on the device:

    * CUDA: the peak of ``torch.cuda.max_memory_allocated`` during ``fn`` after resetting the
      peak counter, i.e. tensor memory handed out by PyTorch's caching allocator (not the
      allocator's reserved pool nor the CUDA context). It includes tensors alive before
      ``fn`` (e.g. weights), since those occupy the device during the call.
    * CPU on Linux: the process's peak resident set size (VmHWM) during ``fn``, after resetting
      the high-water mark through ``/proc/self/clear_refs``. This is whole-process RSS: the
      interpreter, torch libraries and weights are included, so compare values between models
      measured the same way rather than reading them as the model's own footprint.
    * CPU elsewhere, or when the reset is not permitted: ``ru_maxrss``, the lifetime peak of
      the process, which can only overestimate the peak of ``fn``.
    """
    dev = _as_device(device)
    if dev.type == "cuda":
        torch.cuda.synchronize(dev)
        torch.cuda.reset_peak_memory_stats(dev)
        fn()
        torch.cuda.synchronize(dev)
        return torch.cuda.max_memory_allocated(dev) / 2**20

    gc.collect()
    if _reset_vm_hwm():
        fn()
        hwm_kb = _read_vm_hwm_kb()
        if hwm_kb is not None:
            return hwm_kb / 1024
    else:
        fn()
    return _ru_maxrss_mb()
