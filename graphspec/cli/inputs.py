"""The paths a command is given, checked before it starts any work.

A missing input, a folder where a file is expected or a file where a folder is expected is
a wrong command line: :class:`~graphspec.cli.errors.UsageError`, one
``graphspec COMMAND: ...`` line and exit 2. The checks live here so that every command words
them alike; what is *in* an existing file (a bad spec, damaged weights, a broken results
table) is the command's own business and exits 1. Nothing here imports torch.
"""

from __future__ import annotations

from pathlib import Path

from graphspec.cli.errors import UsageError

__all__ = ["existing", "input_dir", "input_file", "output_dir", "output_file"]


def _named(path: str | Path, option: str | None) -> str:
    """``path`` as the message names it: after its option when an option gave it."""
    return f"{option} {path}" if option else str(path)


def existing(path: str | Path, option: str | None = None) -> Path:
    """``path`` (given by ``option``, None: an argument), which must exist."""
    found = Path(path)
    if not found.exists():
        where = f"{option}: " if option else ""
        raise UsageError(f"{where}no such file or directory: {path}")
    return found


def input_file(path: str | Path, what: str, option: str | None = None) -> Path:
    """``path``, which must be an existing file; ``what`` names it ("a spec file")."""
    found = existing(path, option)
    if found.is_dir():
        raise UsageError(f"{_named(path, option)} is a folder (expected {what})")
    return found


def input_dir(path: str | Path, what: str, option: str | None = None) -> Path:
    """``path``, which must be an existing folder; ``what`` names it ("a run folder")."""
    found = existing(path, option)
    if not found.is_dir():
        raise UsageError(f"{_named(path, option)} is a file (expected {what})")
    return found


def _file_in_the_way(target: Path) -> Path | None:
    """The nearest existing path at or above ``target`` when it is a file, else None."""
    for folder in (target, *target.parents):
        if folder.exists():
            return None if folder.is_dir() else folder
    return None


def output_dir(path: str | Path, option: str = "--out") -> Path:
    """A folder to write into (``option`` gave it): it need not exist yet, but neither it
    nor any parent may be a file, or the first write would fail after the work was done."""
    target = Path(path)
    blocker = _file_in_the_way(target)
    if blocker == target:
        raise UsageError(f"{option} {path}: it is a file, not a folder")
    if blocker is not None:
        raise UsageError(f"{option} {path}: its parent {blocker} is a file, not a folder")
    return target


def output_file(path: str | Path, option: str) -> Path:
    """A file to write (``option`` gave it): not an existing folder, in an existing folder
    (a file is written beside its temp file there, which needs the folder)."""
    target = Path(path)
    if target.is_dir():
        raise UsageError(f"{option} {path}: it is a folder (expected a file name)")
    blocker = _file_in_the_way(target.parent)
    if blocker is not None:
        raise UsageError(f"{option} {path}: its parent {blocker} is a file, not a folder")
    if not target.parent.is_dir():
        raise UsageError(f"{option} {path}: no such folder: {target.parent}")
    return target
