"""The timing phase (``time_model``): eval mode, pinned threads, load and noise in the row.

A fake clock stands in for time and ``os.getloadavg`` / ``os.cpu_count`` are faked, so every
expected number below is worked out by hand from the fake costs.
"""

from __future__ import annotations

import contextlib
import dataclasses
import os
from collections.abc import Iterator

import pytest
import torch
from torch import nn

from benchmarks.cost import measure
from benchmarks.cost.cpu_share import CpuShare
from benchmarks.cost.measure import TimingRow, time_model
from benchmarks.cost.timing import TimingPolicy

COLUMNS = [
    "latency_ms",
    "latency_iqr_ms",
    "latency_p90_ms",
    "fps",
    "throughput_ips",
    "peak_mem_mb",
    "threads",
    "load_avg",
    "timing_noisy",
    "timing_noise_reason",
]


class FakeClock:
    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


class FakeNet(nn.Module):
    """BatchNorm net whose forward costs ``0.25 s x batch`` of fake time, times ``slow`` on
    every other call, and records the mode and thread count it ran under."""

    def __init__(self, clock: FakeClock, slow: float = 1.0) -> None:
        super().__init__()
        self.bn = nn.BatchNorm2d(3)
        self.clock, self.slow, self.calls = clock, slow, 0
        self.seen: set[tuple[bool, bool, int]] = set()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        self.calls += 1
        self.seen.add((self.training, torch.is_inference_mode_enabled(), torch.get_num_threads()))
        factor = self.slow if self.calls % 2 == 0 else 1.0
        self.clock.now += 0.25 * x.shape[0] * factor
        return self.bn(x)


QUIET = CpuShare(wall_s=1.0, own_cpu_s=1.0, others_cores=0.0)
"""A timing window in which nothing else ran and the timing kept one core busy."""


def _fake_machine(
    monkeypatch: pytest.MonkeyPatch,
    loads: list[float],
    cores: int,
    window: CpuShare = QUIET,
) -> None:
    """Load averages, core count and what the timing window saw, as given (the real
    machine may be busy with other tests)."""
    readings = iter(loads)
    monkeypatch.setattr(os, "getloadavg", lambda: (next(readings), 0.0, 0.0))
    monkeypatch.setattr(os, "cpu_count", lambda: cores)

    @contextlib.contextmanager
    def fixed_window() -> Iterator[list[CpuShare]]:
        yield [window]

    monkeypatch.setattr(measure, "cpu_window", fixed_window)


def _time(net: nn.Module, clock: FakeClock, threads: int | None = 1) -> TimingRow:
    return time_model(
        net, net, (3, 4, 4), 4, torch.device("cpu"), amp=False, channels_last=False,
        threads=threads, clock=clock,
    )  # fmt: skip


def test_steady_timing_row(monkeypatch: pytest.MonkeyPatch) -> None:
    _fake_machine(monkeypatch, [0.5, 1.5], cores=2)
    clock = FakeClock()
    net = FakeNet(clock).train()
    before = torch.get_num_threads()
    row = _time(net, clock)
    # Batch 1 costs 0.25 s -> 250 ms, 4 frames/s; a batch of 4 costs 1 s -> 4 images/s.
    assert (row.latency_ms, row.latency_iqr_ms, row.latency_p90_ms) == (250.0, 0.0, 250.0)
    assert row.fps == 4.0 and row.throughput_ips == 4.0
    assert row.threads == 1 and row.load_avg == 1.5
    assert (row.timing_noisy, row.timing_noise_reason) == (False, "")
    assert row.peak_mem_mb > 0
    # Every call in eval mode, under inference mode, on the pinned single thread.
    assert net.seen == {(False, True, 1)}
    assert not net.training and torch.get_num_threads() == before
    assert list(row.as_row()) == COLUMNS == [f.name for f in dataclasses.fields(TimingRow)]


def test_spread_samples_flag_the_row(monkeypatch: pytest.MonkeyPatch) -> None:
    _fake_machine(monkeypatch, [0.0, 0.0], cores=2)
    clock = FakeClock()
    # Every other call costs 2x: blocks alternate 250 / 500 ms at batch 1, so warm-up never
    # settles and the samples' IQR/median is (500 - 250) / 375 = 66.7% for both timings.
    row = _time(FakeNet(clock, slow=2.0), clock, threads=None)
    assert row.timing_noisy
    assert row.timing_noise_reason == (
        "latency IQR/median 66.7% > 10%; throughput IQR/median 66.7% > 10%"
    )
    assert row.threads == torch.get_num_threads()


def test_high_load_flags_the_row(monkeypatch: pytest.MonkeyPatch) -> None:
    _fake_machine(monkeypatch, [3.25, 1.0], cores=2)
    clock = FakeClock()
    row = _time(FakeNet(clock), clock)
    assert row.load_avg == 3.25
    assert (row.timing_noisy, row.timing_noise_reason) == (True, "load average 3.25 > 2 cores")


def test_competing_processes_during_the_timing_flag_the_row(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """A low load average (it lags) but a window in which others kept 1.5 cores busy."""
    busy = CpuShare(wall_s=2.0, own_cpu_s=1.9, others_cores=1.5)
    _fake_machine(monkeypatch, [0.1, 0.2], cores=2, window=busy)
    clock = FakeClock()
    row = _time(FakeNet(clock), clock)
    assert (row.timing_noisy, row.timing_noise_reason) == (
        True,
        "other processes kept 1.50 cores busy while timing (> 0.25)",
    )


def test_settle_collects_garbage_and_empties_the_cuda_cache(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    calls: list[str] = []
    monkeypatch.setattr(measure.gc, "collect", lambda: calls.append("gc") or 0)
    monkeypatch.setattr(measure.torch.cuda, "empty_cache", lambda: calls.append("cuda"))
    net = nn.BatchNorm2d(3).train()
    measure._settle(net, torch.device("cpu"))
    assert calls == ["gc"] and not net.training
    measure._settle(net, torch.device("cuda"))
    assert calls == ["gc", "gc", "cuda"]


def test_the_module_default_policy_is_read_at_call_time(monkeypatch: pytest.MonkeyPatch) -> None:
    _fake_machine(monkeypatch, [0.0, 0.0], cores=2)
    fast = TimingPolicy(min_warmup_iters=3, stable_window=2, min_runs=4)
    monkeypatch.setattr(measure, "DEFAULT_POLICY", fast)
    clock = FakeClock()
    net = FakeNet(clock)
    _time(net, clock)
    # 0.25 s per call at batch 1: 3 warm-up calls (0.75 s >= 0.5 s, the last 2 agree) and 4
    # timed ones (1 s); 3 + 4 calls at batch 4 (1 s each); one more for peak memory.
    assert net.calls == 3 + 4 + 3 + 4 + 1
