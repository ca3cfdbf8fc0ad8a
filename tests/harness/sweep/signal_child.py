"""Child process for test_signals.py: a graphspec command that pauses inside a file write.

Usage: python signal_child.py WHERE MARKER -- GRAPHSPEC ARGS...

Every :func:`graphspec.atomic.atomic_write` whose target's folder is named WHERE (``report``,
``jobs/*`` as ``job``, or any other folder name) writes its temp file, creates MARKER and
sleeps, so the test can send a signal while a temp file exists. Exits with ``main``'s code.
"""

from __future__ import annotations

import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import IO, Any

sys.path.insert(0, str(Path(__file__).resolve().parents[3]))

import graphspec.atomic as atomic  # noqa: E402
from graphspec.cli import main  # noqa: E402

Writer = Callable[[IO[Any]], object]


def _pausing(where: str, marker: Path) -> Callable[[Path, Writer, bool], None]:
    """``atomic._write_replace`` that pauses in the writes into a ``where`` folder."""
    real = atomic._write_replace

    def write_replace(path: Path, write: Writer, binary: bool) -> None:
        folder = "job" if path.parent.parent.name == "jobs" else path.parent.name

        def slow(handle: IO[Any]) -> None:
            write(handle)
            if folder == where:
                marker.touch()
                time.sleep(120)

        real(path, slow, binary)

    return write_replace


if __name__ == "__main__":
    where, marker, separator, *argv = sys.argv[1:]
    assert separator == "--"
    atomic._write_replace = _pausing(where, Path(marker))
    sys.exit(main(argv))
