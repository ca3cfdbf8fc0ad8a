"""The conditions a timing was taken under, and whether they make it untrustworthy.

Two things decide whether a CPU timing can be compared with another one: how many intra-op
threads torch used, and whether other work competed for the cores. :func:`fixed_threads`
pins the first and reports it; what competed for the cores is measured over the timing
window itself (:mod:`benchmarks.cost.cpu_share`) and, lagging, by :func:`load_average`;
:func:`noise_reason` turns them, plus the spread of the samples, into the row's
``timing_noisy`` verdict.
"""

from __future__ import annotations

import math
import os
from collections.abc import Iterator, Sequence
from contextlib import contextmanager

import torch

from benchmarks.cost.cpu_share import CpuShare
from benchmarks.cost.timing import TimingStats

__all__ = [
    "MAX_OTHERS_CORES",
    "MAX_RELATIVE_IQR",
    "MIN_OWN_CORES",
    "fixed_threads",
    "load_average",
    "noise_reason",
]

MAX_RELATIVE_IQR = 0.10
"""IQR / median above which a timing is flagged noisy: the middle half of the samples spread
over more than a tenth of the typical time."""
MAX_OTHERS_CORES = 0.25
"""Cores other processes may keep busy on average while a model is timed (an idle machine
stays near 0.02); more means they competed with the timing."""
MIN_OWN_CORES = 0.8
"""On a CPU device the timing loop never sleeps, so its process runs on at least one core
for nearly all of the window; less means it waited for a CPU."""


@contextmanager
def fixed_threads(threads: int | None = None) -> Iterator[int]:
    """Run the body with ``torch.set_num_threads(threads)`` and yield the count used.

    The default (``None``) is the current ``torch.get_num_threads()``: torch's own choice (one
    per physical core, or ``OMP_NUM_THREADS`` when set), which is also what training ran with.
    ``os.cpu_count()`` would count hyper-threads and ignore CPU affinity, oversubscribing the
    cores. Setting the count explicitly still matters: it is recorded with the row, and code
    that changed it (``torch.utils.benchmark.Timer`` defaults to one thread) cannot leak in.
    The previous count is restored afterwards so the next job trains as before.
    """
    previous = torch.get_num_threads()
    count = previous if threads is None else int(threads)
    if count < 1:
        raise ValueError(f"timing threads must be at least 1, got {threads}")
    torch.set_num_threads(count)
    try:
        yield count
    finally:
        torch.set_num_threads(previous)


def load_average() -> float:
    """The machine's 1-minute load average, or NaN where the OS does not report one.

    It counts runnable threads over the last minute, *including this process's own*: timing
    with as many threads as cores on an otherwise idle machine approaches the core count, so
    anything above it means other work competed for the cores.
    """
    try:
        return float(os.getloadavg()[0])
    except (OSError, AttributeError):
        return math.nan


def noise_reason(
    timings: Sequence[tuple[str, TimingStats]],
    load_avg: float,
    cores: int | None,
    max_relative_iqr: float = MAX_RELATIVE_IQR,
    cpu: CpuShare | None = None,
    on_cpu: bool = True,
) -> str:
    """Why these timings should not be trusted, or ``""`` when nothing looks wrong.

    ``timings`` pairs a label (``"latency"``) with its statistics; a timing is noisy when its
    IQR / median exceeds ``max_relative_iqr``. ``cpu`` is what the timing window saw
    (:mod:`benchmarks.cost.cpu_share`): noisy when other processes kept more than
    :data:`MAX_OTHERS_CORES` busy, or (``on_cpu``: a CPU device) when the timed process ran
    on less than :data:`MIN_OWN_CORES`. The load average, which lags, is judged too: noisy
    above ``cores`` (``os.cpu_count()``; unknown counts or averages are not judged).
    """
    reasons = [
        f"{label} IQR/median {stats.relative_iqr:.1%} > {max_relative_iqr:.0%}"
        for label, stats in timings
        if stats.relative_iqr > max_relative_iqr
    ]
    if cpu is not None and cpu.others_cores is not None and cpu.others_cores > MAX_OTHERS_CORES:
        reasons.append(
            f"other processes kept {cpu.others_cores:.2f} cores busy while timing "
            f"(> {MAX_OTHERS_CORES:g})"
        )
    if cpu is not None and on_cpu and cpu.own_cores < MIN_OWN_CORES:
        reasons.append(
            f"the timed process was on a CPU {cpu.own_cores:.0%} of the time "
            f"(< {MIN_OWN_CORES:.0%})"
        )
    if cores is not None and not math.isnan(load_avg) and load_avg > cores:
        reasons.append(f"load average {load_avg:.2f} > {cores} cores")
    return "; ".join(reasons)
