"""Crash-safe file writes: temp file in the same folder, fsync, then ``os.replace``.

A sweep can be killed at any moment (Ctrl-C, SIGTERM from a scheduler, the OOM killer), and
readers (a report, a resumed sweep, another shard) must never see half a file. Every file the
harness writes for later reading goes through :func:`atomic_write`, so on POSIX a reader sees
either the old or the new complete file.

Disk faults (a full disk, a read-only folder, a path that is a file) surface as one
:class:`WriteError` naming the path and the reason, so the command line can print one line
and exit 1 instead of a traceback. The temp file is gone whatever happened.
:func:`write_text_if_changed` leaves a file (and its mtime) alone when its content would not
change, so resuming a finished run writes nothing.

Names derived from user text (a spec file's stem, a spec's name, an image's stem) can be as
long as a file name may be, and the harness adds prefixes and suffixes to them, so
:func:`bounded_name` cuts such a name to a byte budget with a short hash of the whole, and
a temp file's name is bounded the same way: a long target name never turns into a "File
name too long" (a disk fault that would stop a sweep). A writer killed by SIGKILL leaves
its temp file behind; :func:`remove_stale_temp_files` and :func:`remove_temp_files` sweep
them (a killed writer cannot).
"""

from __future__ import annotations

import contextlib
import errno
import glob
import hashlib
import os
import re
import stat
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import IO, Any

__all__ = [
    "DISK_FAULTS",
    "WriteError",
    "atomic_write",
    "atomic_write_text",
    "bounded_name",
    "ensure_dir",
    "is_disk_fault",
    "remove_stale_temp_files",
    "remove_temp_files",
    "write_text_if_changed",
]

_TMP_SUFFIX = ".tmp"
TEMP_NAME_BYTES = 200
"""Bytes of the target's name kept in its temp file's name: with the dot, mkstemp's 8
random characters and ``.tmp`` the temp name stays under the 255-byte file-name limit."""
_TEMP_NAME = re.compile(r"^\..+\.[a-z0-9_]{8}\.tmp$", re.DOTALL)
"""What :func:`atomic_write`'s temp files are named: ``.NAME.XXXXXXXX.tmp``."""
HASH_CHARS = 8

DISK_FAULTS = frozenset({errno.ENOSPC, errno.EDQUOT, errno.EROFS, errno.EIO, errno.EFBIG})
"""errno values that mean the disk, not the job, is at fault: a sweep stops on them."""


class WriteError(OSError):
    """A file or folder of a run could not be written: ``cannot write PATH: REASON``.

    An OSError subclass, so code that already handles OSError keeps working; ``errno`` is
    the original one (None when the cause had none).
    """

    def __init__(self, path: str | os.PathLike[str], reason: str, code: int | None = None) -> None:
        super().__init__(f"cannot write {path}: {reason}")
        self.path = Path(path)
        self.reason = reason
        self.code = code

    @classmethod
    def wrap(cls, path: str | os.PathLike[str], exc: OSError) -> WriteError:
        """The WriteError of ``exc`` at ``path`` (``exc`` itself if it already is one)."""
        if isinstance(exc, WriteError):
            return exc
        return cls(path, exc.strerror or str(exc) or type(exc).__name__, exc.errno)


def is_disk_fault(exc: BaseException) -> bool:
    """Whether ``exc`` is a disk fault rather than a job's own failure.

    Any WriteError counts (the run folder cannot take the job's files), and so does a bare
    OSError with a DISK_FAULTS errno raised by code that does not use :func:`atomic_write`.
    """
    return isinstance(exc, WriteError) or (isinstance(exc, OSError) and exc.errno in DISK_FAULTS)


def _utf8_size(text: str) -> int:
    return len(text.encode("utf-8", "surrogatepass"))


def bounded_name(name: str, limit: int, sep: str = "-") -> str:
    """``name`` itself when its UTF-8 form has at most ``limit`` bytes, else its longest
    prefix (whole characters) that fits with ``sep`` and 8 hex digits of the whole name's
    sha256 appended.

    A short name is never changed, so files named before this existed are found again; the
    hash keeps two long names that share their first ``limit`` bytes apart.
    """
    if _utf8_size(name) <= limit:
        return name
    budget, used, head = limit - _utf8_size(sep) - HASH_CHARS, 0, []
    for char in name:
        used += _utf8_size(char)
        if used > budget:
            break
        head.append(char)
    digest = hashlib.sha256(name.encode("utf-8", "surrogatepass")).hexdigest()[:HASH_CHARS]
    return f"{''.join(head)}{sep}{digest}"


def _temp_prefix(path: Path) -> str:
    """``.NAME.`` with NAME bounded (:data:`TEMP_NAME_BYTES`): the start of every temp file
    name of ``path``."""
    return f".{bounded_name(path.name, TEMP_NAME_BYTES)}."


def ensure_dir(path: str | os.PathLike[str]) -> Path:
    """Create folder ``path`` (and parents) if needed; a WriteError if it cannot be one.

    An existing file there is reported as such rather than as a bare FileExistsError.
    """
    path = Path(path)
    if path.exists() and not path.is_dir():
        raise WriteError(path, "it is a file, not a folder", errno.ENOTDIR)
    try:
        path.mkdir(parents=True, exist_ok=True)
    except FileExistsError as exc:  # a parent is a file
        raise WriteError(path, "a parent is a file, not a folder", errno.ENOTDIR) from exc
    except OSError as exc:
        raise WriteError.wrap(path, exc) from exc
    return path


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
    old content, so readers only ever see the old or the new complete file. An OSError
    (full disk, read-only folder) is raised as a :class:`WriteError` naming ``path``.
    """
    path = Path(path)
    try:
        _write_replace(path, write, binary)
    except OSError as exc:
        raise WriteError.wrap(path, exc) from exc
    _fsync_dir(path.parent)


def _write_replace(path: Path, write: Callable[[IO[Any]], object], binary: bool) -> None:
    """Temp file, fill, fsync, replace; the temp file is removed on any failure."""
    fd, tmp_name = tempfile.mkstemp(prefix=_temp_prefix(path), suffix=_TMP_SUFFIX, dir=path.parent)
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


def atomic_write_text(path: Path, text: str) -> None:
    """Atomically replace ``path`` with ``text`` (UTF-8)."""
    atomic_write(path, lambda handle: handle.write(text))


def write_text_if_changed(path: Path, text: str) -> bool:
    """Atomically write ``text`` unless ``path`` already holds exactly it; True if written.

    Keeps a finished run's files (and mtimes) untouched on resume, which also lets a resume
    of a finished run succeed in a read-only folder.
    """
    path = Path(path)
    with contextlib.suppress(OSError, UnicodeDecodeError):
        if path.read_text(encoding="utf-8") == text:
            return False
    atomic_write_text(path, text)
    return True


def remove_stale_temp_files(path: Path) -> None:
    """Delete temp files that a writer of ``path`` killed by SIGKILL left behind.

    Only safe while no other process is writing ``path`` (callers hold a lock).
    """
    pattern = glob.escape(_temp_prefix(path)) + "*" + _TMP_SUFFIX
    for stale in path.parent.glob(pattern):
        with contextlib.suppress(FileNotFoundError):
            stale.unlink()


def remove_temp_files(folder: Path, older_than_s: float = 0.0) -> list[Path]:
    """Delete the temp files of :func:`atomic_write` in ``folder`` that were last written
    more than ``older_than_s`` seconds ago; returns those deleted.

    A writer writes its temp file until it renames it, so one left unchanged for a while
    belongs to a writer that was killed; the age spares the temp files of another process
    (a shard sharing the run folder) that is writing right now. Only regular files are
    touched, and a folder that is missing or cannot be changed (a finished run resumed
    read-only) is left as it is.
    """
    removed: list[Path] = []
    try:
        entries = list(os.scandir(folder))
    except OSError:
        return removed
    deadline = time.time() - older_than_s
    for entry in entries:
        if not _TEMP_NAME.match(entry.name):
            continue
        with contextlib.suppress(OSError):
            info = entry.stat(follow_symlinks=False)
            if stat.S_ISREG(info.st_mode) and info.st_mtime <= deadline:
                os.unlink(entry.path)
                removed.append(Path(entry.path))
    return removed
