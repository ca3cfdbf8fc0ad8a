"""Pascal VOC semantic segmentation read from the standard VOCdevkit folder layout.

Expected under ``root`` (e.g. ``VOCdevkit/VOC2012``)::

    JPEGImages/<id>.jpg
    SegmentationClass/<id>.png           palette PNG; pixel index = class id, 255 = border
    ImageSets/Segmentation/train.txt     one id per line (also val.txt, optional test.txt)
    labelmap.txt                         optional: the class names (CVAT/Datumaro format)

The class names are the folder's own when it has a ``labelmap.txt``
(:mod:`benchmarks.data.labelmap`), else VOC's 21.

Splits: ``test`` is ``test.txt`` or else ``val.txt`` (VOC ships no public test masks);
``train`` is ``train.txt``; ``val`` is a held-out part of ``train.txt`` chosen by the
``holdout`` fraction (see :mod:`benchmarks.data.holdout`), which ``train`` then leaves out.

The whole split is checked for missing files when the dataset is built, so a broken folder
fails before training starts (so does a split list without ids: it has no ground truth);
per-image problems (size mismatch, unknown class ids, unreadable files) are reported when
the item is loaded.
"""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import torch
from torch.utils.data import Dataset

from benchmarks.data.common import (
    IGNORE_INDEX,
    DataError,
    Sample,
    check_image_size,
    check_limit,
    check_split,
    image_to_tensor,
    open_image,
    require_dir,
    resize_labels,
    resize_rgb,
)
from benchmarks.data.holdout import check_holdout, holdout_part
from benchmarks.data.labelmap import read_labelmap

VOC_CLASS_NAMES = (
    "background",
    "aeroplane",
    "bicycle",
    "bird",
    "boat",
    "bottle",
    "bus",
    "car",
    "cat",
    "chair",
    "cow",
    "diningtable",
    "dog",
    "horse",
    "motorbike",
    "person",
    "pottedplant",
    "sheep",
    "sofa",
    "train",
    "tvmonitor",
)


def _class_names(num_classes: int, own: list[str] | None) -> list[str]:
    """The folder's own names (its ``labelmap.txt``), else VOC's; truncated or padded
    with ``class_<i>`` to ``num_classes``."""
    names = list((VOC_CLASS_NAMES if own is None else own)[:num_classes])
    names += [f"class_{i}" for i in range(len(names), num_classes)]
    return names


class VOCSegmentation(Dataset[Sample]):
    """VOC-layout segmentation data resized to ``image_size``.

    Images are resized bilinearly and masks nearest-neighbour (so no new class ids appear);
    ``boxes``/``labels`` are always empty because VOC segmentation has no instance boxes,
    and items have no ``instance_masks``: this layout (``SegmentationClass``) has no
    per-object annotations.
    ``image_id`` is the item's position in :attr:`ids`; ``ids[image_id]`` is its VOC id.

    Args:
        root: folder holding ``JPEGImages``, ``SegmentationClass`` and ``ImageSets``.
        split: ``train``/``val``/``test``; ``test`` reads ``test.txt`` or else ``val.txt``,
            ``val`` is the held-out part of ``train.txt``.
        image_size: output ``(H, W)``.
        num_classes: K+1 including background (21 for VOC); mask ids above K are an error.
        limit: keep only the first ``limit`` ids of the split (after the holdout).
        holdout: fraction of ``train.txt`` held out as ``val`` (0 = none, so ``train`` is
            all of it and ``val`` is an error); give ``train`` and ``val`` the same value.
            Ignored for ``test``.
    """

    def __init__(
        self,
        root: str | os.PathLike[str],
        split: str = "train",
        image_size: tuple[int, int] = (512, 512),
        *,
        num_classes: int = 21,
        limit: int | None = None,
        holdout: float = 0.0,
    ) -> None:
        self.root = Path(root)
        self.split = check_split(split)
        self.image_size = check_image_size(image_size)
        if num_classes < 2 or num_classes > IGNORE_INDEX:
            raise DataError(f"voc: num_classes must be 2..{IGNORE_INDEX}, got {num_classes}")
        self.num_classes = num_classes
        limit = check_limit(limit)
        holdout = check_holdout(holdout)

        require_dir(self.root, "VOC root folder")
        self.class_names = _class_names(num_classes, read_labelmap(self.root))
        self.image_dir = require_dir(self.root / "JPEGImages", "image folder")
        self.mask_dir = require_dir(self.root / "SegmentationClass", "mask folder")
        self.split_file = self._split_file()
        ids = self._read_ids(self.split_file)
        if not ids:
            raise DataError(
                f"{self.split_file}: lists no image ids, so the {self.split} split has no "
                "ground truth"
            )
        if self.split != "test":
            ids = holdout_part(ids, self.split, holdout, self.split_file)
        self.ids = ids if limit is None else ids[:limit]
        for voc_id in self.ids:
            for path in (self.image_path(voc_id), self.mask_path(voc_id)):
                if not path.is_file():
                    raise DataError(
                        f"{path}: file not found (id {voc_id!r} is listed in {self.split_file})"
                    )

    def _split_file(self) -> Path:
        sets = self.root / "ImageSets" / "Segmentation"
        candidates = [sets / ("train.txt" if self.split == "val" else f"{self.split}.txt")]
        if self.split == "test":
            candidates.append(sets / "val.txt")  # VOC ships no public test masks
        for path in candidates:
            if path.is_file():
                return path
        raise DataError(f"{candidates[0]}: split file not found")

    @staticmethod
    def _read_ids(path: Path) -> list[str]:
        try:
            text = path.read_text(encoding="utf-8")
        except (OSError, UnicodeDecodeError) as exc:
            raise DataError(f"{path}: cannot read split file ({exc})") from None
        ids: list[str] = []
        for line in text.splitlines():
            # Some VOC-style lists carry a second column (e.g. " 1" / "-1" flags); keep the id.
            parts = line.split()
            if parts:
                ids.append(parts[0])
        return ids

    def image_path(self, voc_id: str) -> Path:
        return self.image_dir / f"{voc_id}.jpg"

    def mask_path(self, voc_id: str) -> Path:
        return self.mask_dir / f"{voc_id}.png"

    def __len__(self) -> int:
        return len(self.ids)

    def __getitem__(self, index: int) -> Sample:
        voc_id = self.ids[index]
        index %= len(self.ids)
        image_path, mask_path = self.image_path(voc_id), self.mask_path(voc_id)
        image = open_image(image_path, "RGB")
        mask_img = open_image(mask_path)
        if mask_img.mode not in ("P", "L"):
            raise DataError(
                f"{mask_path}: mask must be a palette ('P') or grayscale ('L') PNG of class "
                f"indices, got mode {mask_img.mode!r}"
            )
        if mask_img.size != image.size:
            mw, mh = mask_img.size
            iw, ih = image.size
            raise DataError(f"{mask_path}: mask is {mw}x{mh} but image is {iw}x{ih}")
        labels = np.asarray(mask_img, dtype=np.uint8)
        present = np.unique(labels)
        bad = present[(present >= self.num_classes) & (present != IGNORE_INDEX)]
        if bad.size:
            raise DataError(
                f"{mask_path}: mask has class ids {bad.tolist()} but num_classes is "
                f"{self.num_classes} (valid ids 0..{self.num_classes - 1} and {IGNORE_INDEX})"
            )
        mask = resize_labels(labels, self.image_size)
        return {
            "image": image_to_tensor(resize_rgb(image, self.image_size)),
            "mask": torch.from_numpy(mask.astype(np.int64)),
            "boxes": torch.zeros((0, 4), dtype=torch.float32),
            "labels": torch.zeros((0,), dtype=torch.int64),
            "image_id": index,
            "name": image_path.stem,
            "source_size": (image.height, image.width),
        }
