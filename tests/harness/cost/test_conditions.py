"""Pinned threads, the load average, and the noisy-timing verdict (fake clock, fake load)."""

from __future__ import annotations

import math

import pytest
import torch

from benchmarks.cost import conditions as timing_conditions
from benchmarks.cost.conditions import fixed_threads, load_average, noise_reason
from benchmarks.cost.timing import stats_from_times

STEADY = stats_from_times([250.0] * 20)
# 10 x 250 ms and 10 x 500 ms: quartiles 250 and 500, median 375 -> IQR/median = 2/3.
SPREAD = stats_from_times([250.0, 500.0] * 10)


def test_fixed_threads_sets_yields_and_restores() -> None:
    before = torch.get_num_threads()
    with fixed_threads(1) as count:
        assert count == 1 and torch.get_num_threads() == 1
    assert torch.get_num_threads() == before


def test_fixed_threads_defaults_to_the_current_count() -> None:
    before = torch.get_num_threads()
    with fixed_threads() as count:
        assert count == before and torch.get_num_threads() == before


def test_fixed_threads_rejects_a_non_positive_count() -> None:
    with pytest.raises(ValueError, match="at least 1, got 0"), fixed_threads(0):
        pass


def test_load_average_reads_the_one_minute_value(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(timing_conditions.os, "getloadavg", lambda: (3.5, 2.0, 1.0))
    assert load_average() == 3.5


def test_load_average_is_nan_where_unavailable(monkeypatch: pytest.MonkeyPatch) -> None:
    def unavailable() -> tuple[float, float, float]:
        raise OSError("no load average")

    monkeypatch.setattr(timing_conditions.os, "getloadavg", unavailable)
    assert math.isnan(load_average())


def test_steady_timing_on_a_quiet_machine_is_not_noisy() -> None:
    assert noise_reason([("latency", STEADY), ("throughput", STEADY)], 0.5, 2) == ""


def test_wide_iqr_is_noisy_with_its_reason() -> None:
    reason = noise_reason([("latency", SPREAD), ("throughput", STEADY)], 0.5, 2)
    assert reason == "latency IQR/median 66.7% > 10%"


def test_iqr_just_under_the_threshold_is_not_noisy() -> None:
    # 10 x 100 ms and 10 x 110 ms: q25 = 100, q75 = 110, median 105 -> 10 / 105 = 9.5%.
    edge = stats_from_times([100.0, 110.0] * 10)
    assert noise_reason([("latency", edge)], 0.0, 2) == ""


def test_load_above_the_core_count_is_noisy() -> None:
    assert noise_reason([("latency", STEADY)], 2.5, 2) == "load average 2.50 > 2 cores"
    assert noise_reason([("latency", STEADY)], 2.0, 2) == ""


def test_both_reasons_are_reported_and_unknowns_are_not_judged() -> None:
    both = noise_reason([("throughput", SPREAD)], 9.0, 4)
    assert both == "throughput IQR/median 66.7% > 10%; load average 9.00 > 4 cores"
    assert noise_reason([("latency", STEADY)], math.nan, 2) == ""
    assert noise_reason([("latency", STEADY)], 9.0, None) == ""
