"""Precomputed region proposals, one file per image (Fast R-CNN's convention).

R-CNN and Fast R-CNN read proposals computed beforehand (selective search) instead of
computing them. A two-stage spec with ``proposals: {source: file, folder: DIR}`` reads,
for the image file ``…/2007_000032.jpg``, ``DIR/2007_000032.npy``: a float array
``[L, 4]`` of ``x1, y1, x2, y2`` boxes in that image's pixels, best first. The first
``count`` rows are scaled to the size the data is served at (as the ground-truth boxes
are) and clipped to it. A file is bounded before it is read (size, rows, a plain float
array without pickles), so a damaged or hostile file is a one-line
:class:`~benchmarks.data.common.DataError` naming it, never a huge allocation.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import torch
from torch.utils.data import Dataset

from benchmarks.data.common import DataError, Sample
from benchmarks.data.view import DatasetView

__all__ = ["MAX_PROPOSAL_BYTES", "ProposalFiles", "read_proposals"]

SUFFIX = ".npy"
MAX_PROPOSAL_BYTES = 64 * 2**20
"""The largest proposal file read: 64 MiB (2M boxes as float64)."""


def read_proposals(
    path: Path, count: int, source_size: tuple[int, int], size: tuple[int, int]
) -> torch.Tensor:
    """The first ``count`` boxes of ``path`` (pixels of an image ``source_size`` (H, W))
    as float32 ``[L, 4]`` in pixels of the image served at ``size``, clipped to it."""
    if not path.is_file():
        raise DataError(f"{path}: no proposal file for this image (expected {path.name})")
    if path.stat().st_size > MAX_PROPOSAL_BYTES:
        raise DataError(
            f"{path}: {path.stat().st_size:,} bytes (expected at most {MAX_PROPOSAL_BYTES:,})"
        )
    try:
        array = np.load(path, allow_pickle=False, mmap_mode="r")
    except (OSError, ValueError) as exc:
        raise DataError(f"{path}: not a NumPy .npy array ({exc})") from None
    if array.ndim != 2 or array.shape[1] != 4 or array.dtype.kind not in "fiu":
        raise DataError(
            f"{path}: expected a numeric [L, 4] array of x1, y1, x2, y2 rows, got "
            f"{array.dtype} {list(array.shape)}"
        )
    boxes = torch.from_numpy(np.array(array[:count], dtype=np.float32))
    if not torch.isfinite(boxes).all():
        raise DataError(f"{path}: boxes must be finite numbers")
    (source_h, source_w), (height, width) = source_size, size
    boxes = boxes * torch.tensor([width / source_w, height / source_h] * 2)
    limits = torch.tensor([width, height] * 2, dtype=torch.float32)
    return torch.minimum(boxes.clamp(min=0), limits)


class ProposalFiles(DatasetView):
    """``dataset`` with each item's ``proposals`` read from ``folder`` (see the module
    docstring). Data without image files (the built-in shapes) has nothing to name a
    file by: that is a DataError saying to use the built-in proposals."""

    def __init__(self, dataset: Dataset[Sample], folder: Path, count: int) -> None:
        super().__init__(dataset)
        self.folder, self.count = Path(folder), count
        if not self.folder.is_dir():
            raise DataError(f"{self.folder}: proposal folder not found (proposals.folder)")

    def __getitem__(self, index: int) -> Sample:
        item = self.dataset[index]
        if "name" not in item or "source_size" not in item:
            raise DataError(
                f"{self.folder}: this data has no image files to read proposals for (the "
                "built-in shapes are generated; use proposals: {source: builtin})"
            )
        size = (int(item["image"].shape[-2]), int(item["image"].shape[-1]))
        path = self.folder / f"{item['name']}{SUFFIX}"
        proposals = read_proposals(path, self.count, item["source_size"], size)
        return {**item, "proposals": proposals}
