"""Who had the CPUs while a timing ran: this process, or others.

The 1-minute load average lags: a timing slowed 100x by a burst of other work can finish
before the load average moves. What the timing itself saw is measured instead, over the
timing window: the whole machine's busy CPU time (``/proc/stat``), this process's own CPU
time (all its threads) and the wall time. Other processes' share is the difference: cores
they kept busy on average while the model was timed. On a machine without ``/proc/stat``
only this process's own share is known.
"""

from __future__ import annotations

import os
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

__all__ = ["CpuShare", "cpu_window", "machine_busy_seconds"]

_STAT = Path("/proc/stat")
_BUSY_FIELDS = (0, 1, 2, 5, 6, 7)
"""Fields of /proc/stat's ``cpu`` line that count busy time: user, nice, system, irq,
softirq, steal (idle and iowait are not busy)."""


def machine_busy_seconds(stat: Path = _STAT) -> float | None:
    """CPU seconds every core of the machine has been busy since boot; None if unknown."""
    try:
        line = stat.read_text().splitlines()[0]
        fields = [int(v) for v in line.split()[1:]]
        ticks = os.sysconf("SC_CLK_TCK")
    except (OSError, ValueError, IndexError, AttributeError):
        return None
    if not line.startswith("cpu "):
        return None
    return sum(fields[i] for i in _BUSY_FIELDS if i < len(fields)) / ticks


@dataclass(frozen=True)
class CpuShare:
    """What a timing window saw: its wall time, this process's CPU time over it, and the
    cores other processes kept busy on average (None where the machine does not say)."""

    wall_s: float
    own_cpu_s: float
    others_cores: float | None

    @property
    def own_cores(self) -> float:
        """Cores this process kept busy on average (its threads together)."""
        return self.own_cpu_s / self.wall_s if self.wall_s > 0 else 0.0


@contextmanager
def cpu_window(
    busy: Callable[[], float | None] = machine_busy_seconds,
    own: Callable[[], float] = time.process_time,
    wall: Callable[[], float] = time.perf_counter,
) -> Iterator[list[CpuShare]]:
    """Measure the body's window; the yielded list holds its :class:`CpuShare` afterwards.

    The readers are injectable so a test can drive them; by default the machine's busy
    time, this process's CPU time and the wall clock.
    """
    result: list[CpuShare] = []
    busy0, own0, wall0 = busy(), own(), wall()
    try:
        yield result
    finally:
        busy1, own1, wall1 = busy(), own(), wall()
        wall_s, own_s = wall1 - wall0, own1 - own0
        others = None
        if busy0 is not None and busy1 is not None and wall_s > 0:
            others = max(0.0, (busy1 - busy0) - own_s) / wall_s
        result.append(CpuShare(wall_s, own_s, others))
