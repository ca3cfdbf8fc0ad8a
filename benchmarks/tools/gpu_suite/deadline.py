"""A part's own time budget, so it stops starting work before the suite kills it.

The suite gives each timing part fewer seconds than its hard limit (``--budget-s``): a
torch.compile that starts with 10 s left would be killed half-way and leave nothing, while
one skipped and recorded as "skipped: time budget" leaves a clear row.
"""

from __future__ import annotations

import time
from collections.abc import Callable

__all__ = ["Deadline"]


class Deadline:
    """Seconds left of a budget that started when this object was made."""

    def __init__(self, seconds: float, clock: Callable[[], float] = time.monotonic) -> None:
        self.seconds = float(seconds)
        self._clock = clock
        self._start = clock()

    def left(self) -> float:
        """Seconds still available (negative once spent)."""
        return self.seconds - (self._clock() - self._start)

    def allows(self, needed: float) -> bool:
        """Whether a unit of work expected to take ``needed`` seconds still fits."""
        return self.left() >= needed
