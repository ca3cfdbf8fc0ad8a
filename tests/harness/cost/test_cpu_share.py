"""Noise judged from the timing window itself: other processes' CPU and this process's own."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path

import pytest

from benchmarks.cost.conditions import noise_reason
from benchmarks.cost.cpu_share import CpuShare, cpu_window, machine_busy_seconds
from benchmarks.cost.timing import TimingStats, stats_from_times


def _steady() -> TimingStats:
    return stats_from_times([10.0] * 20)


def test_proc_stat_busy_time_by_hand(tmp_path: Path) -> None:
    """user 100 + nice 20 + system 30 + irq 4 + softirq 5 + steal 1 = 160 ticks busy;
    idle 900 and iowait 50 are not."""
    stat = tmp_path / "stat"
    stat.write_text("cpu  100 20 30 900 50 4 5 1 0 0\ncpu0 1 2 3 4 5 6 7 8 0 0\n")
    assert machine_busy_seconds(stat) == pytest.approx(160 / os.sysconf("SC_CLK_TCK"))
    stat.write_text("intr 1 2 3\n")
    assert machine_busy_seconds(stat) is None
    assert machine_busy_seconds(tmp_path / "missing") is None


def test_window_subtracts_this_process_from_the_machine() -> None:
    """Driven by hand: in 2 s the machine was busy 3.5 CPU-seconds, 1.5 of them ours, so
    others kept 1.0 core busy and we ran on 0.75 cores."""
    busy, own, wall = iter([10.0, 13.5]), iter([4.0, 5.5]), iter([100.0, 102.0])
    with cpu_window(lambda: next(busy), lambda: next(own), lambda: next(wall)) as window:
        pass
    (share,) = window
    assert share == CpuShare(wall_s=2.0, own_cpu_s=1.5, others_cores=1.0)
    assert share.own_cores == pytest.approx(0.75)


def test_unknown_machine_time_judges_only_the_process() -> None:
    own, wall = iter([0.0, 0.5]), iter([0.0, 1.0])
    with cpu_window(lambda: None, lambda: next(own), lambda: next(wall)) as window:
        pass
    assert window[0].others_cores is None and window[0].own_cores == 0.5


def test_reasons_from_the_window() -> None:
    steady = [("latency", _steady())]
    quiet = CpuShare(wall_s=1.0, own_cpu_s=1.0, others_cores=0.05)
    assert noise_reason(steady, 0.1, 2, cpu=quiet) == ""
    busy = CpuShare(wall_s=1.0, own_cpu_s=0.6, others_cores=1.2)
    assert noise_reason(steady, 0.1, 2, cpu=busy) == (
        "other processes kept 1.20 cores busy while timing (> 0.25); "
        "the timed process was on a CPU 60% of the time (< 80%)"
    )
    # On a GPU the host thread waits on the device: its own share says nothing.
    assert noise_reason(steady, 0.1, 2, cpu=busy, on_cpu=False) == (
        "other processes kept 1.20 cores busy while timing (> 0.25)"
    )


@pytest.mark.skipif(machine_busy_seconds() is None, reason="no /proc/stat")
def test_a_busy_neighbour_is_seen_at_once(tmp_path: Path) -> None:
    """A process spinning one core during a 0.6 s window: the load average barely moves in
    that time, the window sees about one busy core of others."""
    spin = subprocess.Popen([sys.executable, "-c", "while True: pass"])
    try:
        time.sleep(0.3)  # let it start
        with cpu_window() as window:
            end = time.perf_counter() + 0.6
            while time.perf_counter() < end:
                pass
    finally:
        spin.kill()
        spin.wait()
    assert window[0].others_cores is not None and window[0].others_cores > 0.5
