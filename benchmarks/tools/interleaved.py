"""Interleaved A/B timing and allocation peaks: the measuring half of
:mod:`benchmarks.tools.vs_handwritten`.

Why interleaved: on a shared machine the load drifts over seconds, so timing A for a
while and then B for a while measures the drift as much as the code. Here each repeat
times A, B, B, A back to back, and the ratio of the A windows to the B windows is one
sample: the drift (and any first-window penalty) touches both sides and mostly cancels,
and the spread of the per-repeat ratios is the noise that remains.
"""

from __future__ import annotations

import gc
import math
import statistics
import time
from collections.abc import Callable
from dataclasses import dataclass

from torch.profiler import ProfilerActivity, profile

__all__ = ["Ratio", "calls_for", "interleaved_ratios", "peak_bytes", "time_calls"]


Clock = Callable[[], float]


def time_calls(fn: Callable[[], object], calls: int, clock: Clock = time.thread_time) -> float:
    """Seconds for ``calls`` back-to-back calls of ``fn``, the garbage collector paused
    (a collection inside one side's window would be charged to it alone).

    The default clock is this thread's CPU time: with ``torch.set_num_threads(1)`` every
    op (backward included, on CPU) runs on the calling thread, so it counts all the work
    and none of the time the thread waited for a core other processes held."""
    gc.disable()
    try:
        start = clock()
        for _ in range(calls):
            fn()
        return clock() - start
    finally:
        gc.enable()


def calls_for(fn: Callable[[], object], min_seconds: float, clock: Clock = time.thread_time) -> int:
    """How many calls make one timed sample last ``min_seconds``: short calls are
    batched so the timer's resolution and the loop's own cost stay negligible."""
    once = max(time_calls(fn, 1, clock), 1e-6)
    return max(1, math.ceil(min_seconds / once))


def interleaved_ratios(
    a: Callable[[], object],
    b: Callable[[], object],
    repeats: int,
    min_seconds: float,
    warmup: int = 2,
    clock: Clock = time.thread_time,
) -> list[float]:
    """``repeats`` samples of time(A) / time(B) after ``warmup`` untimed calls of each
    (allocator caches, lazy initialisation, oneDNN primitive caches). Each sample times
    A, B, B, A back to back and divides the two A windows by the two B windows, so a
    drift in the machine's speed during the sample falls on both sides equally; the
    garbage collection between samples is followed by an untimed call of each, so the
    cold caches it leaves are not charged to whichever window comes first."""
    for _ in range(warmup):
        a()
        b()
    calls = calls_for(b, min_seconds, clock)
    ratios = []
    for _ in range(repeats):
        gc.collect()
        a()  # the collection leaves caches cold: refill them untimed
        b()
        first_a = time_calls(a, calls, clock)
        first_b = time_calls(b, calls, clock)
        second_b = time_calls(b, calls, clock)
        second_a = time_calls(a, calls, clock)
        ratios.append((first_a + second_a) / (first_b + second_b))
    return ratios


def peak_bytes(fn: Callable[[], object]) -> int:
    """The most CPU tensor memory ``fn`` held at once beyond what was live when it
    started, in bytes.

    CPU tensors have no allocator counters like ``torch.cuda.max_memory_allocated``, so
    this runs ``fn`` under ``torch.profiler`` with ``profile_memory=True``, which records
    every allocation (+bytes) and release (-bytes) of PyTorch's CPU allocator in order;
    the peak is the largest running sum. It counts tensor storage only (not the Python
    heap, nor scratch memory a library allocates outside PyTorch) and is exact and
    repeatable for a given sequence of ops, so one run suffices. Releases of tensors made
    before ``fn`` (last step's gradients, say) count negative, as they free memory."""
    gc.collect()
    with profile(activities=[ProfilerActivity.CPU], profile_memory=True) as prof:
        fn()
    events = [e for e in prof.profiler.kineto_results.events() if e.name() == "[memory]"]
    events.sort(key=lambda e: e.start_ns())
    live = peak = 0
    for event in events:
        live += event.nbytes()
        peak = max(peak, live)
    return peak


@dataclass(frozen=True)
class Ratio:
    """One comparison line: per-repeat ratios of A over B and the band they should be in
    (``low`` None: one-sided, "at most ``high``")."""

    label: str
    values: tuple[float, ...]
    high: float
    low: float | None = None

    @property
    def median(self) -> float:
        return statistics.median(self.values)

    @property
    def noise(self) -> float:
        """Half the interquartile range of the per-repeat ratios (0 for one sample)."""
        if len(self.values) < 2:
            return 0.0
        q1, _, q3 = statistics.quantiles(self.values, n=4, method="inclusive")
        return (q3 - q1) / 2

    def allowance(self, floor: float) -> float:
        """How far past its target the median may lie and still be noise: this line's own
        spread or the A/A ``floor``, whichever is larger."""
        return max(self.noise, floor)

    def verdict(self, floor: float) -> str:
        """``ok``, or ``ABOVE``/``BELOW`` when the median misses the band by more than the
        noise allowance."""
        allowed = self.allowance(floor)
        if self.median > self.high + allowed:
            return "ABOVE"
        if self.low is not None and self.median < self.low - allowed:
            return "BELOW"
        return "ok"

    def target(self) -> str:
        if self.low is None:
            return f"<= {self.high:.2f}"
        if self.low == self.high:
            return f"~ {self.high:.2f}"
        return f"{self.low:.2f}..{self.high:.2f}"
