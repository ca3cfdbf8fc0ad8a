"""Crash-safe file writes: temp file in the same folder, fsync, then ``os.replace``.

A sweep can be killed at any moment (Ctrl-C, SIGTERM from a scheduler, the OOM killer), and
readers (a report, a resumed sweep, another shard) must never see half a file. Every file the
harness writes for later reading goes through :func:`atomic_write`, so on POSIX a reader sees
either the old or the new complete file.
"""

from __future__ import annotations

import contextlib
import os
import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import IO, Any

__all__ = ["atomic_write", "atomic_write_text", "remove_stale_temp_files"]

_TMP_SUFFIX = ".tmp"


def _fsync_dir(directory: Path) -> None:
    """Make the rename itself durable (best effort: not every filesystem allows it)."""
    with contextlib.suppress(OSError):
        fd = os.open(directory, os.O_RDONLY)
        try:
            os.fsync(fd)
        finally:
            os.close(fd)


def _target_mode(path: Path) -> int:
    """Permissions for the new file: the old file's, else the usual umask-derived default.

    mkstemp creates files 0600, which would make results unreadable to other users.
    """
    with contextlib.suppress(FileNotFoundError):
        return path.stat().st_mode & 0o777
    umask = os.umask(0o022)
    os.umask(umask)
    return 0o666 & ~umask


def atomic_write(path: Path, write: Callable[[IO[Any]], object], *, binary: bool = False) -> None:
    """Write ``path`` via temp file + fsync + os.replace; ``write(handle)`` fills the file.

    On any error (including KeyboardInterrupt) the temp file is removed and ``path`` keeps its
    old content, so readers only ever see the old or the new complete file.
    """
    path = Path(path)
    fd, tmp_name = tempfile.mkstemp(prefix=f".{path.name}.", suffix=_TMP_SUFFIX, dir=path.parent)
    try:
        os.fchmod(fd, _target_mode(path))
        mode = "wb" if binary else "w"
        kwargs: dict[str, Any] = {} if binary else {"encoding": "utf-8", "newline": ""}
        with os.fdopen(fd, mode, **kwargs) as handle:
            write(handle)
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(tmp_name, path)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(tmp_name)
        raise
    _fsync_dir(path.parent)


def atomic_write_text(path: Path, text: str) -> None:
    """Atomically replace ``path`` with ``text`` (UTF-8)."""
    atomic_write(path, lambda handle: handle.write(text))


def remove_stale_temp_files(path: Path) -> None:
    """Delete temp files that a writer of ``path`` killed by SIGKILL left behind.

    Only safe while no other process is writing ``path`` (callers hold a lock).
    """
    for stale in path.parent.glob(f".{path.name}.*{_TMP_SUFFIX}"):
        with contextlib.suppress(FileNotFoundError):
            stale.unlink()
