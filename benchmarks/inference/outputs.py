"""Where ``graphspec predict`` writes each image's pictures, decided before anything runs.

Every image gets two names in ``--out``: ``BASE.png`` (the overlay) and ``BASE_mask.png``
(the class mask; reserved for detection too, so the names never depend on the model). BASE
is the image's stem, except:

* images that share a stem (``a.png``, ``a.jpg``; compared case-insensitively, as some
  file systems do) all keep their suffix: ``a_png``, ``a_jpg``;
* a BASE whose names an earlier image already has (``x.png`` owns ``x_mask.png``, so the
  image ``x_mask.png`` cannot have it; the same file name in two folders) gets ``_2``,
  ``_3``, ... in order;
* a stem longer than :data:`OUTPUT_STEM_BYTES` bytes is cut with a hash of it.

So one run never writes a file twice. It never writes over an input either: an output name
that is an input image (the same file, whatever the path) is refused, and so is an ``--out``
that is the folder of an input image or inside a folder named as input, unless
``exist_ok`` (the outputs, PNGs themselves, would mix with the images and be read as
inputs by the next run).
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from benchmarks.inference.model import InferenceError
from graphspec.atomic import bounded_name

__all__ = ["OUTPUT_STEM_BYTES", "ImageOutputs", "OutputPlan", "plan_outputs"]

OUTPUT_STEM_BYTES = 120
"""The longest BASE before its ``_N`` (UTF-8 bytes): with ``_mask.png`` and a temp file's
additions every name stays far below the 255-byte file-name limit."""


@dataclass(frozen=True)
class ImageOutputs:
    """One input image and the two files planned for it."""

    image: Path
    overlay: Path
    mask: Path


@dataclass(frozen=True)
class OutputPlan:
    """The output folder and every image's files, in the order the images are read."""

    out: Path
    items: tuple[ImageOutputs, ...]


def _bases(images: Sequence[Path]) -> list[str]:
    """Each image's BASE (see the module docstring), all distinct case-insensitively."""
    stems: dict[str, int] = {}
    for path in images:
        stems[path.stem.casefold()] = stems.get(path.stem.casefold(), 0) + 1
    taken: set[str] = set()
    bases = []
    for path in images:
        shared = stems[path.stem.casefold()] > 1
        stem = f"{path.stem}_{path.suffix[1:]}" if shared else path.stem
        base = bounded_name(stem, OUTPUT_STEM_BYTES)
        candidate, number = base, 1
        while {f"{candidate}.png".casefold(), f"{candidate}_mask.png".casefold()} & taken:
            number += 1
            candidate = f"{base}_{number}"
        taken |= {f"{candidate}.png".casefold(), f"{candidate}_mask.png".casefold()}
        bases.append(candidate)
    return bases


def _check_folder(out: Path, named: Sequence[str | Path], images: Sequence[Path]) -> None:
    """Refuse an ``out`` that is an input image's folder or inside a folder named."""
    real = out.resolve()
    for folder in [Path(p) for p in named if Path(p).is_dir()]:
        if real.is_relative_to(folder.resolve()):
            where = "is" if real == folder.resolve() else "is inside"
            raise InferenceError(
                f"--out {out} {where} the input folder {folder}: the pictures would mix "
                "with the images (choose another folder, or pass --exist-ok)"
            )
    for image in images:
        if real == image.parent.resolve():
            raise InferenceError(
                f"--out {out} is the folder of the input image {image}: the pictures would "
                "mix with the images (choose another folder, or pass --exist-ok)"
            )


def _identity(path: Path) -> tuple[int, int] | None:
    """(device, inode) of an existing file, which names it whatever the path; else None."""
    try:
        info = os.stat(path)
    except OSError:
        return None
    return (info.st_dev, info.st_ino)


def _check_inputs(items: Sequence[ImageOutputs]) -> None:
    """Refuse a planned output that is one of the input images."""
    inputs = {_identity(item.image): item.image for item in items}
    inputs.pop(None, None)
    for item in items:
        for path in (item.overlay, item.mask):
            found = inputs.get(_identity(path))
            if found is not None:
                raise InferenceError(
                    f"{path} would be written over the input image {found} (choose another --out)"
                )


def plan_outputs(
    images: Sequence[Path],
    out: Path,
    *,
    named: Sequence[str | Path] = (),
    exist_ok: bool = False,
) -> OutputPlan:
    """Every image's output files in ``out`` (see the module docstring); ``named`` are the
    images and folders the user gave. An InferenceError (one line) for an ``out`` in an
    input folder (unless ``exist_ok``) or an output that is an input."""
    out = Path(out)
    if not exist_ok:
        _check_folder(out, named, images)
    items = tuple(
        ImageOutputs(image, out / f"{base}.png", out / f"{base}_mask.png")
        for image, base in zip(images, _bases(images), strict=True)
    )
    _check_inputs(items)
    return OutputPlan(out, items)
