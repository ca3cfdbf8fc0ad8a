"""Latency and throughput measurement: warm up until stable, then repeat adaptively.

The protocol follows ``torch.utils.benchmark.Timer.blocked_autorange`` but with an injectable
clock (so tests can drive it with fake time) and an explicit warm-up phase:

1. **Warm-up.** Call the function in *blocks* of ``inner`` calls, where ``inner`` grows until
   one block lasts at least ``min_sample_s`` (a single ``perf_counter`` pair cannot resolve
   sub-millisecond intervals, and CUDA synchronisation costs microseconds). Stop once at least
   ``min_warmup_iters`` blocks and ``min_warmup_s`` have passed *and* the per-call times of
   the last ``stable_window`` blocks are within ``stable_tolerance`` of each other; give up
   (``Warmup.stable`` is False) after ``max_warmup_s`` or ``max_warmup_iters``. First calls are
   slow (oneDNN primitive creation, cuDNN autotuning, allocator growth) and would skew every
   statistic if timed.
2. **Measurement.** With ``inner`` fixed, time blocks until at least ``min_runs`` samples and
   ``min_run_s`` of measured time, as ``blocked_autorange`` does. Python's garbage collector is
   paused meanwhile, as ``timeit`` does, so a collection never lands inside one sample.

Timings are summarised by the median, IQR and 90th percentile because forward-pass times are
right-skewed (scheduler hiccups); the median is robust to those, the IQR says how noisy the
machine was, and p90 what a tail-sensitive user sees.
"""

from __future__ import annotations

import gc
import math
import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import torch
from torch import nn

__all__ = [
    "DEFAULT_POLICY",
    "TimingPolicy",
    "TimingStats",
    "Warmup",
    "stats_from_times",
    "warm_up",
    "time_callable",
    "time_forward",
    "measure_latency",
    "throughput_from_stats",
]

MAX_INNER_REPEATS = 1 << 16


@dataclass(frozen=True)
class TimingPolicy:
    """How long to warm up and how much to measure; defaults are the harness protocol.

    The ``max_*`` fields are caps: a machine too noisy to settle still gets timed (and is
    flagged by :mod:`benchmarks.cost.conditions`), and a function too fast to ever fill
    ``min_run_s`` with ``MAX_INNER_REPEATS`` calls per block still ends.
    """

    min_warmup_s: float = 0.5
    min_warmup_iters: int = 10
    stable_window: int = 5
    stable_tolerance: float = 0.10
    max_warmup_s: float = 3.0
    max_warmup_iters: int = 10_000
    min_run_s: float = 1.0
    min_runs: int = 20
    max_runs: int = 100_000
    min_sample_s: float = 1e-3

    def __post_init__(self) -> None:
        if self.min_runs < 1 or self.stable_window < 2 or self.min_sample_s <= 0:
            raise ValueError(
                "timing policy needs min_runs >= 1, stable_window >= 2 and min_sample_s > 0, "
                f"got {self.min_runs}, {self.stable_window}, {self.min_sample_s}"
            )


DEFAULT_POLICY = TimingPolicy()


@dataclass(frozen=True)
class Warmup:
    """What the warm-up settled on: calls per block, blocks run, time spent, and whether the
    per-call time stabilised before the cap."""

    inner_repeats: int
    iterations: int
    seconds: float
    stable: bool


@dataclass(frozen=True)
class TimingStats:
    """Per-call timing summary.

    ``times_ms`` holds one entry per timed sample, already divided by ``inner_repeats``, so
    every field is a per-call time regardless of how many calls were batched per sample.
    """

    median_ms: float
    iqr_ms: float
    p90_ms: float
    runs: int
    times_ms: list[float] = field(repr=False)
    inner_repeats: int = 1
    warmup: Warmup | None = None

    @property
    def median_s(self) -> float:
        return self.median_ms / 1e3

    @property
    def relative_iqr(self) -> float:
        """IQR over median: the harness's noise measure (0 for a perfectly steady machine)."""
        return self.iqr_ms / self.median_ms if self.median_ms > 0 else math.inf


def stats_from_times(
    times_ms: Sequence[float], inner_repeats: int = 1, warmup: Warmup | None = None
) -> TimingStats:
    """Summarise per-call sample times: median, IQR (75th minus 25th percentile) and p90.

    Percentiles use numpy's default linear interpolation, the same as ``pandas.quantile``.
    """
    samples = np.asarray(times_ms, dtype=float)
    if samples.size == 0:
        raise ValueError("no timing samples")
    q25, median, q75, p90 = np.percentile(samples, [25.0, 50.0, 75.0, 90.0])
    return TimingStats(
        median_ms=float(median),
        iqr_ms=float(q75 - q25),
        p90_ms=float(p90),
        runs=int(samples.size),
        times_ms=[float(t) for t in samples],
        inner_repeats=inner_repeats,
        warmup=warmup,
    )


def _as_device(device: torch.device | str | None) -> torch.device:
    return torch.device(device) if device is not None else torch.device("cpu")


def _sync(device: torch.device) -> None:
    """Wait for queued kernels so the host clock brackets the real work on the device."""
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def _time_block(
    fn: Callable[[], Any], inner: int, device: torch.device, clock: Callable[[], float]
) -> float:
    """Seconds for ``inner`` calls of ``fn``, device synchronised before and after."""
    _sync(device)
    start = clock()
    for _ in range(inner):
        fn()
    _sync(device)
    return clock() - start


def _block_size(per_call_s: float, min_sample_s: float, current: int) -> int:
    """Calls per block so that one block lasts ``min_sample_s``; it only grows, so one slow
    call in the warm-up never shrinks blocks that faster calls showed were too short."""
    # The small epsilon keeps float noise (1e-3 / 1e-4 = 10.000000000000002) from adding 1.
    needed = math.ceil(min_sample_s / max(per_call_s, 1e-9) - 1e-9)
    return int(min(MAX_INNER_REPEATS, max(current, needed, 1)))


def _is_stable(per_call_s: Sequence[float], window: int, tolerance: float) -> bool:
    """The last ``window`` per-call times are within ``tolerance`` of each other."""
    if len(per_call_s) < window:
        return False
    recent = per_call_s[-window:]
    return max(recent) <= (1.0 + tolerance) * min(recent)


def warm_up(
    fn: Callable[[], Any],
    policy: TimingPolicy = DEFAULT_POLICY,
    device: torch.device | str | None = None,
    clock: Callable[[], float] = time.perf_counter,
) -> Warmup:
    """Call ``fn`` in growing blocks until its per-call time is stable (see module docstring)."""
    dev = _as_device(device)
    inner, per_call = 1, []
    start = clock()
    while True:
        per_call.append(_time_block(fn, inner, dev, clock) / inner)
        inner = _block_size(per_call[-1], policy.min_sample_s, inner)
        elapsed = clock() - start
        enough = len(per_call) >= policy.min_warmup_iters and elapsed >= policy.min_warmup_s
        if enough and _is_stable(per_call, policy.stable_window, policy.stable_tolerance):
            return Warmup(inner, len(per_call), elapsed, stable=True)
        if elapsed >= policy.max_warmup_s or len(per_call) >= policy.max_warmup_iters:
            return Warmup(inner, len(per_call), elapsed, stable=False)


@contextmanager
def _gc_paused() -> Iterator[None]:
    """Pause the cyclic garbage collector (as ``timeit`` does), restoring its previous state."""
    was_enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if was_enabled:
            gc.enable()


def time_callable(
    fn: Callable[[], Any],
    *,
    policy: TimingPolicy = DEFAULT_POLICY,
    device: torch.device | str | None = None,
    clock: Callable[[], float] = time.perf_counter,
) -> TimingStats:
    """Warm ``fn()`` up, then time blocks of it until ``policy.min_runs`` samples and
    ``policy.min_run_s`` of measured time; return per-call statistics."""
    dev = _as_device(device)
    warmup = warm_up(fn, policy, dev, clock)
    times_ms: list[float] = []
    total_s = 0.0
    with _gc_paused():
        while (total_s < policy.min_run_s or len(times_ms) < policy.min_runs) and len(
            times_ms
        ) < policy.max_runs:
            block_s = _time_block(fn, warmup.inner_repeats, dev, clock)
            total_s += block_s
            times_ms.append(block_s * 1e3 / warmup.inner_repeats)
    return stats_from_times(times_ms, inner_repeats=warmup.inner_repeats, warmup=warmup)


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
    policy: TimingPolicy = DEFAULT_POLICY,
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
            fn = _forward_fn(model, inputs)
            return time_callable(fn, policy=policy, device=device, clock=clock)
    finally:
        model.train(was_training)


def measure_latency(
    model: nn.Module,
    example_batch1: Any,
    *,
    policy: TimingPolicy = DEFAULT_POLICY,
    device: torch.device | str | None = None,
    clock: Callable[[], float] = time.perf_counter,
) -> TimingStats:
    """Single-image latency: ``time_forward`` on a batch of one.

    A batch-1 input is what an interactive deployment sees; throughput is measured apart.
    """
    if isinstance(example_batch1, torch.Tensor) and example_batch1.shape[0] != 1:
        raise ValueError(f"latency needs a batch of 1, got shape {tuple(example_batch1.shape)}")
    return time_forward(model, example_batch1, policy=policy, device=device, clock=clock)


def throughput_from_stats(batch_size: int, stats: TimingStats) -> float:
    """Images per second given the per-call time of one batch."""
    if stats.median_ms <= 0:
        return float("inf")
    return batch_size / stats.median_s
