"""Finding spec files on disk for ``graphspec check`` and ``bench``."""

from __future__ import annotations

from pathlib import Path

SPEC_SUFFIXES = (".yaml", ".yml")


def find_specs(paths: list[str]) -> tuple[list[Path], list[str]]:
    """Expand files and folders (recursively) into spec files, sorted per folder.

    Returns the files and a list of paths that do not exist."""
    files: list[Path] = []
    missing: list[str] = []
    for raw in paths:
        path = Path(raw)
        if path.is_dir():
            files.extend(
                sorted(p for p in path.rglob("*") if p.suffix in SPEC_SUFFIXES and p.is_file())
            )
        elif path.is_file():
            files.append(path)
        else:
            missing.append(raw)
    return files, missing
