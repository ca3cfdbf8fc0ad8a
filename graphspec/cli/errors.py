"""Exit codes of the ``graphspec`` command, and the one-line messages for known errors.

Bad input never shows a traceback: spec problems print as ``file:line:col: key: message``
(their own ``str``), other user-facing errors of the harness as ``error: message``, and the
exit code says which kind of failure it was. A stop by SIGTERM (a scheduler, ``kill``)
unwinds like Ctrl-C (:func:`sigterm_as_interrupt`): temp files are removed and the exit code
is 130, whatever the command was doing.
"""

from __future__ import annotations

import contextlib
import signal
import sys
import threading
import warnings
from collections.abc import Iterator
from types import FrameType
from typing import TextIO

EXIT_OK = 0
EXIT_INVALID = 1
"""A spec, the data or a results file is bad (or a benchmark job failed)."""
EXIT_USAGE = 2
"""The command line itself is wrong: bad option, missing path."""
EXIT_INTERRUPTED = 130
"""Stopped by Ctrl-C or SIGTERM (128 + SIGINT, as shells report Ctrl-C)."""


class UsageError(Exception):
    """The command line is wrong in a way argparse cannot see (a missing input, a file where
    a folder is expected, an option value this machine or the data refuses).

    Raised by a command before it starts any work; :func:`graphspec.cli.main` prints it as
    ``graphspec COMMAND: message`` and exits :data:`EXIT_USAGE`, the same line and code as
    argparse's own errors, so every command treats a bad command line alike.
    """


def describe_error(exc: BaseException) -> str | None:
    """A one-line message for known user-facing errors (bad data, bad options), or None."""
    from benchmarks.data import DataError
    from benchmarks.store.results import ResultsFileError
    from graphspec.atomic import WriteError

    if isinstance(exc, DataError | ResultsFileError | WriteError):
        return f"error: {exc}"
    if isinstance(exc, ValueError) and str(exc).startswith("bad shard"):
        return f"error: {exc}"
    if isinstance(exc, FileNotFoundError | NotADirectoryError | PermissionError):
        return f"error: {exc}"
    return None


def internal_error(exc: BaseException) -> str:
    """The one line for an exception no check anticipated (a graphspec bug, never the
    user's input alone): what it was and how to get the traceback for a report."""
    text = " ".join(f"{type(exc).__name__}: {exc}".split())[:300]
    return f"error: internal error ({text}); GRAPHSPEC_DEBUG=1 shows the traceback to report"


def describe_os_error(exc: OSError) -> str:
    """Last resort for an OSError nothing else named: ``error: PATH: reason`` on one line."""
    reason = exc.strerror or str(exc) or type(exc).__name__
    text = f"error: {exc.filename}: {reason}" if exc.filename else f"error: {reason}"
    return " ".join(text.split())


@contextlib.contextmanager
def one_line_warnings() -> Iterator[None]:
    """Print the harness's results-repair warnings as ``warning: message`` lines.

    Python's default format adds the source line that raised it, which means nothing to a
    user whose results file was damaged.
    """

    def show(
        message: Warning | str,
        category: type[Warning],
        filename: str,
        lineno: int,
        file: TextIO | None = None,
        line: str | None = None,
    ) -> None:
        # By name: importing benchmarks.store.results here would load torch for every command.
        if category.__name__ == "ResultsRepairWarning":
            print(f"warning: {message}", file=sys.stderr)
        else:
            original(message, category, filename, lineno, file, line)

    with warnings.catch_warnings():
        original = warnings.showwarning
        warnings.showwarning = show
        yield


@contextlib.contextmanager
def sigterm_as_interrupt() -> Iterator[None]:
    """Raise SIGTERM as KeyboardInterrupt in the main thread while the block runs.

    By default SIGTERM ends the process at once (exit 143): every ``atomic_write`` in
    progress leaves its temp file behind. As an exception it unwinds instead, so each
    writer removes its temp file and the command exits 130, as for Ctrl-C. A sweep installs
    its own handler (:class:`benchmarks.sweep.interrupts.InterruptGuard`) and restores this
    one afterwards. Only the first SIGTERM is raised; later ones are ignored, so the
    cleanup they would interrupt finishes (SIGKILL still stops the process).
    """
    if threading.current_thread() is not threading.main_thread():
        yield
        return

    def handle(signum: int, frame: FrameType | None) -> None:
        signal.signal(signal.SIGTERM, signal.SIG_IGN)
        raise KeyboardInterrupt("interrupted by SIGTERM")

    previous = signal.signal(signal.SIGTERM, handle)
    try:
        yield
    finally:
        signal.signal(signal.SIGTERM, previous if previous is not None else signal.SIG_DFL)
