"""How long a sweep has left: the ETA every progress event carries."""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field

__all__ = ["InFlight", "SweepEta"]


@dataclass
class SweepEta:
    """The sweep's remaining time: the mean duration of the jobs finished so far times the
    jobs left to run (skipped ones not counted), less what the running one has had; None
    until a job has finished. ``clock`` is injectable, for tests."""

    clock: Callable[[], float] = time.monotonic
    left: int = 0
    durations: list[float] = field(default_factory=list)
    started: float | None = None

    def start(self) -> None:
        self.started = self.clock()

    def finish(self) -> None:
        """The running job ended (ok or failed)."""
        if self.started is not None:
            self.durations.append(self.clock() - self.started)
            self.started = None
        self.left = max(0, self.left - 1)

    def seconds(self) -> float | None:
        """Seconds until the last job is expected to end, or None while unknown."""
        if not self.durations:
            return None
        mean = sum(self.durations) / len(self.durations)
        running = 0.0 if self.started is None else self.clock() - self.started
        return max(0.0, mean * self.left - running)


@dataclass(frozen=True)
class InFlight:
    """Where a sweep that runs several jobs at once stands (``--engine ray``): jobs running,
    done and failed so far, and its ETA."""

    running: int
    done: int
    failed: int
    eta_s: float | None
