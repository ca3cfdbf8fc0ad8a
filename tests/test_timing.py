"""Timing utilities: statistics on known samples, fake clocks, and CPU peak memory.

No assertion depends on how fast this machine really is: timed code advances a fake clock.
"""

from __future__ import annotations

import pytest
import torch
from torch import nn

from benchmarks import timing
from benchmarks.timing import (
    MIN_RUNS,
    measure_latency,
    measure_throughput,
    peak_memory_mb,
    stats_from_times,
    time_callable,
    time_forward,
)


class FakeClock:
    """A clock that only moves when the code under test 'does work'."""

    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += seconds


class CostlyModel(nn.Module):
    """Identity model whose forward costs a fixed fake time and records its context."""

    def __init__(self, clock: FakeClock, seconds_per_call: float) -> None:
        super().__init__()
        self.clock = clock
        self.seconds_per_call = seconds_per_call
        self.calls = 0
        self.saw_inference_mode: list[bool] = []
        self.saw_training: list[bool] = []

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        self.calls += 1
        self.saw_inference_mode.append(torch.is_inference_mode_enabled())
        self.saw_training.append(self.training)
        self.clock.advance(self.seconds_per_call)
        return x


def test_stats_median_and_iqr_of_known_samples() -> None:
    # 1..20 ms: median (10 + 11) / 2; linear-interpolated quartiles at positions 4.75 and
    # 14.25 of the sorted list (0-based) are 5.75 and 15.25, so the IQR is 9.5.
    stats = stats_from_times([float(v) for v in range(20, 0, -1)])
    assert stats.median_ms == pytest.approx(10.5)
    assert stats.iqr_ms == pytest.approx(9.5)
    assert stats.runs == 20
    assert stats.median_s == pytest.approx(0.0105)


def test_stats_odd_count_and_outlier_robustness() -> None:
    # Sorted: 1, 2, 3, 4, 1000 -> median 3; quartiles at positions 1 and 3 are 2 and 4.
    stats = stats_from_times([3.0, 1000.0, 1.0, 4.0, 2.0])
    assert stats.median_ms == 3.0
    assert stats.iqr_ms == 2.0
    with pytest.raises(ValueError):
        stats_from_times([])


def test_time_callable_uses_at_least_min_runs_and_per_call_times() -> None:
    clock = FakeClock()
    calls = []

    def work() -> None:
        calls.append(1)
        clock.advance(0.004)  # 4 ms: long enough for one call per sample

    stats = time_callable(work, warmup=3, runs=5, clock=clock)
    assert MIN_RUNS == 20
    assert stats.runs == MIN_RUNS and len(stats.times_ms) == MIN_RUNS
    assert stats.inner_repeats == 1
    assert stats.median_ms == pytest.approx(4.0)
    assert stats.iqr_ms == pytest.approx(0.0)
    # 3 warmup + 1 calibration + 20 timed calls.
    assert len(calls) == 3 + 1 + MIN_RUNS


def test_short_calls_are_repeated_but_reported_per_call() -> None:
    clock = FakeClock()
    stats = time_callable(lambda: clock.advance(0.0001), warmup=0, runs=25, clock=clock)
    # 0.1 ms per call -> 10 calls per sample to reach 1 ms; the reported time is per call.
    assert stats.inner_repeats == 10
    assert stats.runs == 25
    assert stats.median_ms == pytest.approx(0.1)
    assert all(t == pytest.approx(0.1) for t in stats.times_ms)


def test_cuda_device_is_synchronised_around_every_sample(monkeypatch: pytest.MonkeyPatch) -> None:
    synced: list[torch.device] = []
    monkeypatch.setattr(timing.torch.cuda, "synchronize", lambda device=None: synced.append(device))
    clock = FakeClock()
    time_callable(lambda: clock.advance(0.002), warmup=2, runs=20, device="cuda", clock=clock)
    # After warmup, after calibration, then before and after each of the 20 samples.
    assert len(synced) == 2 + 2 * 20
    assert all(d == torch.device("cuda") for d in synced)
    synced.clear()
    time_callable(lambda: clock.advance(0.002), warmup=2, runs=20, device="cpu", clock=clock)
    assert synced == []


def test_time_forward_runs_in_inference_mode_and_restores_training_flag() -> None:
    clock = FakeClock()
    model = CostlyModel(clock, 0.003).train()
    stats = time_forward(model, torch.zeros(1, 3, 4, 4), warmup=2, runs=20, clock=clock)
    assert stats.median_ms == pytest.approx(3.0)
    assert all(model.saw_inference_mode) and not any(model.saw_training)
    assert model.training, "time_forward must restore train mode"


def test_measure_latency_requires_batch_of_one() -> None:
    clock = FakeClock()
    model = CostlyModel(clock, 0.002)
    assert measure_latency(model, torch.zeros(1, 3), clock=clock).median_ms == pytest.approx(2.0)
    with pytest.raises(ValueError):
        measure_latency(model, torch.zeros(2, 3), clock=clock)


def test_measure_throughput_is_batch_over_median_seconds() -> None:
    clock = FakeClock()
    model = CostlyModel(clock, 0.005)  # 5 ms per batch of 8 -> 8 / 0.005 = 1600 images/s
    ips = measure_throughput(model, torch.zeros(8, 3, 2, 2), warmup=1, runs=20, clock=clock)
    assert ips == pytest.approx(1600.0)


def test_real_forward_records_at_least_twenty_positive_samples() -> None:
    model = nn.Sequential(nn.Conv2d(3, 4, 3, padding=1), nn.ReLU())
    stats = measure_latency(model, torch.randn(1, 3, 16, 16), warmup=1, runs=3)
    assert stats.runs >= 20 and len(stats.times_ms) == stats.runs
    assert all(t > 0 for t in stats.times_ms)
    assert stats.iqr_ms >= 0


ALLOC_MB = 128


def _allocate_and_touch() -> float:
    big = torch.ones(ALLOC_MB * 2**20 // 4, dtype=torch.float32)  # ones() writes every page
    return float(big[-1])


def test_peak_memory_grows_with_a_large_allocation_on_cpu() -> None:
    baseline = peak_memory_mb(lambda: None, "cpu")
    peak = peak_memory_mb(_allocate_and_touch, "cpu")
    assert baseline > 0
    assert peak - baseline >= 0.8 * ALLOC_MB


def test_peak_memory_high_water_mark_is_reset_between_calls() -> None:
    if not timing._reset_vm_hwm() or timing._read_vm_hwm_kb() is None:
        pytest.skip("VmHWM reset via /proc/self/clear_refs not available here")
    peak = peak_memory_mb(_allocate_and_touch, "cpu")
    after = peak_memory_mb(lambda: None, "cpu")
    # Without the reset the second reading would still include the ALLOC_MB peak.
    assert peak - after >= 0.8 * ALLOC_MB
