"""Ctrl-C / SIGTERM during a sweep: stop cleanly, but never in the middle of a results write.

Schedulers stop jobs with SIGTERM, people with Ctrl-C; both become :class:`SweepInterrupted`
in the main thread so the sweep can unwind like for a KeyboardInterrupt. While a finished
job's row is being written the signal is held (:meth:`InterruptGuard.deferred`) and raised
right after, so a finished job is never lost.
"""

from __future__ import annotations

import contextlib
import signal
import threading
from collections.abc import Iterator
from types import FrameType
from typing import Any

__all__ = ["SweepInterrupted", "InterruptGuard"]


class SweepInterrupted(KeyboardInterrupt):
    """Raised in the main thread on SIGINT/SIGTERM during a sweep.

    A KeyboardInterrupt subclass (a BaseException), so ``except Exception`` in job code does
    not swallow it.
    """

    def __init__(self, signum: int) -> None:
        super().__init__(f"interrupted by {signal.Signals(signum).name}")
        self.signum = signum


class InterruptGuard:
    """SIGINT/SIGTERM -> SweepInterrupted, with a deferral window around results writes."""

    SIGNALS = (signal.SIGINT, signal.SIGTERM)

    def __init__(self) -> None:
        self._previous: dict[int, Any] = {}
        self._deferring = False
        self._pending: int | None = None

    def __enter__(self) -> InterruptGuard:
        # signal.signal only works in the main thread; elsewhere the caller keeps its handlers.
        if threading.current_thread() is threading.main_thread():
            for sig in self.SIGNALS:
                self._previous[sig] = signal.signal(sig, self._handle)
        return self

    def __exit__(self, *exc: object) -> None:
        for sig, previous in self._previous.items():
            signal.signal(sig, previous if previous is not None else signal.SIG_DFL)
        self._previous.clear()

    def _handle(self, signum: int, frame: FrameType | None) -> None:
        if self._deferring:
            self._pending = signum
            return
        raise SweepInterrupted(signum)

    @contextlib.contextmanager
    def deferred(self) -> Iterator[None]:
        """Hold signals until the block is done, then raise for one that arrived meanwhile."""
        self._deferring = True
        try:
            yield
        finally:
            self._deferring = False
        if self._pending is not None:
            signum, self._pending = self._pending, None
            raise SweepInterrupted(signum)
