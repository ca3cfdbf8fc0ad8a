"""Timing protocol: statistics on known samples, warm-up and adaptive repetition on fake clocks.

No assertion depends on how fast this machine really is: timed code advances a fake clock.
Costs are powers of two so that sums of fake seconds are exact in floating point and the
hand-counted iteration numbers below hold without rounding slack.
"""

from __future__ import annotations

import gc
from collections.abc import Sequence

import numpy as np
import pytest
import torch
from torch import nn

from benchmarks.cost import timing
from benchmarks.cost.timing import (
    TimingPolicy,
    measure_latency,
    stats_from_times,
    throughput_from_stats,
    time_callable,
    time_forward,
    warm_up,
)


class FakeClock:
    """A clock that only moves when the code under test 'does work'."""

    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += seconds


class Work:
    """A callable whose n-th call costs ``costs(n)`` fake seconds (n counts from 1)."""

    def __init__(self, clock: FakeClock, costs: Sequence[float], then: Sequence[float]) -> None:
        self.clock, self.costs, self.then, self.calls = clock, list(costs), list(then), 0

    def __call__(self) -> None:
        self.calls += 1
        k = self.calls - 1
        cost = self.costs[k] if k < len(self.costs) else self.then[k % len(self.then)]
        self.clock.advance(cost)


class CostlyModel(nn.Module):
    """Identity model whose forward costs a fixed fake time and records its context."""

    def __init__(self, clock: FakeClock, seconds_per_call: float) -> None:
        super().__init__()
        self.clock, self.seconds_per_call, self.calls = clock, seconds_per_call, 0
        self.saw_inference_mode: list[bool] = []
        self.saw_training: list[bool] = []

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        self.calls += 1
        self.saw_inference_mode.append(torch.is_inference_mode_enabled())
        self.saw_training.append(self.training)
        self.clock.advance(self.seconds_per_call)
        return x


def test_stats_median_iqr_p90_of_known_samples() -> None:
    # 1..20 ms: median (10 + 11) / 2; linear-interpolated quantiles at 0-based positions
    # 4.75, 14.25 and 17.1 of the sorted list are 5.75, 15.25 and 18.1.
    stats = stats_from_times([float(v) for v in range(20, 0, -1)])
    assert stats.median_ms == pytest.approx(10.5)
    assert stats.iqr_ms == pytest.approx(9.5)
    assert stats.p90_ms == pytest.approx(18.1)
    assert stats.runs == 20
    assert stats.median_s == pytest.approx(0.0105)
    assert stats.relative_iqr == pytest.approx(9.5 / 10.5)


def test_stats_odd_count_and_outlier_robustness() -> None:
    # Sorted: 1, 2, 3, 4, 1000 -> median 3; quartiles at positions 1 and 3 are 2 and 4;
    # p90 at position 3.6 is 4 + 0.6 * 996.
    stats = stats_from_times([3.0, 1000.0, 1.0, 4.0, 2.0])
    assert (stats.median_ms, stats.iqr_ms) == (3.0, 2.0)
    assert stats.p90_ms == pytest.approx(601.6)
    with pytest.raises(ValueError, match="no timing samples"):
        stats_from_times([])


def test_warm_up_is_bounded_below_by_half_a_second() -> None:
    # Steady 2**-9 s calls (>= 1 ms, so one call per block) are stable from the 5th block,
    # but 0.5 s needs 0.5 / 2**-9 = 256 blocks.
    clock = FakeClock()
    warmup = warm_up(Work(clock, [], [2.0**-9]), clock=clock)
    assert (warmup.iterations, warmup.inner_repeats, warmup.stable) == (256, 1, True)
    assert warmup.seconds == 0.5


def test_warm_up_is_bounded_below_by_ten_iterations() -> None:
    # Steady 0.25 s calls pass 0.5 s after two blocks, but at least 10 are required.
    clock = FakeClock()
    work = Work(clock, [], [0.25])
    warmup = warm_up(work, clock=clock)
    assert (warmup.iterations, work.calls, warmup.stable) == (10, 10, True)
    assert warmup.seconds == 2.5


def test_warm_up_stops_as_soon_as_the_last_five_blocks_agree() -> None:
    # 12 alternating 0.125 / 0.25 s calls (ratio 2: unstable), then steady 0.125 s calls: the
    # last five blocks first agree at block 12 + 5 = 17, well past 10 blocks and 0.5 s.
    clock = FakeClock()
    work = Work(clock, [0.125, 0.25] * 6, [0.125])
    warmup = warm_up(work, clock=clock)
    assert (warmup.iterations, warmup.stable) == (17, True)
    assert warmup.seconds == 6 * 0.375 + 5 * 0.125


def test_warm_up_gives_up_at_the_cap_and_says_so() -> None:
    # Forever alternating 0.25 / 0.125 s: 3 s cap reached after 8 pairs = 16 blocks.
    clock = FakeClock()
    policy = TimingPolicy(max_warmup_s=3.0)
    warmup = warm_up(Work(clock, [], [0.25, 0.125]), policy, clock=clock)
    assert (warmup.iterations, warmup.stable, warmup.seconds) == (16, False, 3.0)


def test_warm_up_grows_blocks_for_short_calls() -> None:
    # 2**-12 s per call: ceil(1e-3 / 2**-12) = ceil(4.096) = 5 calls per 1 ms block.
    clock = FakeClock()
    work = Work(clock, [], [2.0**-12])
    warmup = warm_up(work, clock=clock)
    assert warmup.inner_repeats == 5
    assert work.calls == 1 + 5 * (warmup.iterations - 1)


def test_measurement_reaches_one_second_when_runs_are_short() -> None:
    # After a 256-block warm-up, 2**-9 s samples need 512 runs for exactly 1 s.
    clock = FakeClock()
    work = Work(clock, [], [2.0**-9])
    stats = time_callable(work, clock=clock)
    assert stats.runs == 512 and len(stats.times_ms) == 512
    assert work.calls == 256 + 512
    assert sum(stats.times_ms) / 1e3 == pytest.approx(1.0)
    assert stats.median_ms == pytest.approx(1e3 * 2.0**-9)


def test_measurement_reaches_twenty_runs_when_runs_are_long() -> None:
    # 0.25 s samples pass 1 s after 4 runs, but 20 are required: 10 warm-up + 20 timed calls.
    clock = FakeClock()
    work = Work(clock, [], [0.25])
    stats = time_callable(work, clock=clock)
    assert (stats.runs, work.calls) == (20, 30)
    assert stats.iqr_ms == 0.0 and stats.median_ms == 250.0


def test_short_calls_are_repeated_but_reported_per_call() -> None:
    clock = FakeClock()
    stats = time_callable(Work(clock, [], [2.0**-12]), clock=clock)
    assert stats.inner_repeats == 5
    assert stats.median_ms == pytest.approx(1e3 * 2.0**-12)
    assert all(t == pytest.approx(1e3 * 2.0**-12) for t in stats.times_ms)


def test_p90_and_iqr_equal_numpy_on_noisy_fake_samples() -> None:
    # Steady warm-up (10 blocks of 0.25 s), then a repeating 0.25, 0.25, 0.5, 0.125 s pattern.
    pattern = [0.25, 0.25, 0.5, 0.125]
    clock = FakeClock()
    stats = time_callable(Work(clock, [0.25] * 10, pattern), clock=clock)
    expected = [1e3 * pattern[k % 4] for k in range(10, 30)]
    assert stats.times_ms == expected
    q25, q50, q75, q90 = np.percentile(expected, [25, 50, 75, 90])
    assert stats.median_ms == q50
    assert stats.iqr_ms == pytest.approx(q75 - q25)
    assert stats.p90_ms == pytest.approx(q90)


def test_garbage_collector_is_paused_while_sampling_and_restored() -> None:
    clock = FakeClock()
    seen: list[bool] = []

    def work() -> None:
        seen.append(gc.isenabled())
        clock.advance(0.25)

    assert gc.isenabled()
    time_callable(work, clock=clock)
    assert seen[:10] == [True] * 10 and seen[10:] == [False] * 20
    assert gc.isenabled()


def test_cuda_device_is_synchronised_around_every_block(monkeypatch: pytest.MonkeyPatch) -> None:
    synced: list[torch.device] = []
    monkeypatch.setattr(timing.torch.cuda, "synchronize", lambda device=None: synced.append(device))
    clock = FakeClock()
    time_callable(Work(clock, [], [0.25]), device="cuda", clock=clock)
    # 10 warm-up blocks and 20 timed blocks, each synchronised before and after.
    assert len(synced) == 2 * (10 + 20)
    assert all(d == torch.device("cuda") for d in synced)
    synced.clear()
    time_callable(Work(clock, [], [0.25]), device="cpu", clock=clock)
    assert synced == []


def test_time_forward_runs_in_inference_mode_and_restores_training_flag() -> None:
    clock = FakeClock()
    model = CostlyModel(clock, 0.25).train()
    stats = time_forward(model, torch.zeros(1, 3, 4, 4), clock=clock)
    assert stats.median_ms == pytest.approx(250.0)
    assert all(model.saw_inference_mode) and not any(model.saw_training)
    assert model.training, "time_forward must restore train mode"


def test_measure_latency_requires_batch_of_one() -> None:
    clock = FakeClock()
    model = CostlyModel(clock, 0.25)
    assert measure_latency(model, torch.zeros(1, 3), clock=clock).median_ms == 250.0
    with pytest.raises(ValueError, match="batch of 1"):
        measure_latency(model, torch.zeros(2, 3), clock=clock)


def test_throughput_is_batch_over_median_seconds() -> None:
    stats = stats_from_times([5.0] * 20)  # 5 ms per batch of 8 -> 8 / 0.005 = 1600 images/s
    assert throughput_from_stats(8, stats) == pytest.approx(1600.0)


def test_bad_policy_is_a_clear_error() -> None:
    with pytest.raises(ValueError, match="min_runs >= 1"):
        TimingPolicy(min_runs=0)


def test_real_forward_records_positive_samples_quickly() -> None:
    model = nn.Sequential(nn.Conv2d(3, 4, 3, padding=1), nn.ReLU())
    policy = TimingPolicy(min_warmup_s=0.01, min_run_s=0.02, max_warmup_s=0.5)
    stats = measure_latency(model, torch.randn(1, 3, 16, 16), policy=policy)
    assert stats.runs >= 20 and len(stats.times_ms) == stats.runs
    assert all(t > 0 for t in stats.times_ms)
    assert stats.iqr_ms >= 0 and stats.p90_ms >= stats.median_ms
