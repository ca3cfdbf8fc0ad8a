"""Tiny VOC and COCO folders written on the fly, shared by the data tests."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np
from PIL import Image

# Image 7 is 8 wide x 4 high; image 3 is 10 x 10. Category ids 5 and 2 sort to 2 -> label 1
# ("dog"), 5 -> label 2 ("cat").
ANNOTATIONS: dict[str, Any] = {
    "images": [
        {"id": 7, "file_name": "a.png", "width": 8, "height": 4},
        {"id": 3, "file_name": "b.png", "width": 10, "height": 10},
    ],
    "categories": [{"id": 5, "name": "cat"}, {"id": 2, "name": "dog"}],
    "annotations": [
        {
            "id": 100,
            "image_id": 7,
            "category_id": 5,
            "bbox": [2, 1, 4, 2],
            "area": 8,
            "iscrowd": 0,
            "segmentation": [[2, 1, 6, 1, 6, 3, 2, 3]],
        },
        {"id": 101, "image_id": 7, "category_id": 2, "bbox": [0, 0, 1, 1], "iscrowd": 1},
        {"id": 102, "image_id": 3, "category_id": 2, "bbox": [1, 2, 3, 4], "iscrowd": 0},
    ],
}
PIXELS_A = np.arange(8 * 4 * 3, dtype=np.uint8).reshape(4, 8, 3) * 2


def write_images(folder: Path) -> None:
    folder.mkdir(parents=True, exist_ok=True)
    Image.fromarray(PIXELS_A).save(folder / "a.png")  # PNG: lossless, so values are exact
    Image.new("RGB", (10, 10), (255, 0, 51)).save(folder / "b.png")


def write_json(path: Path, data: Any = ANNOTATIONS) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(data, indent=1))
    return path


# 4 rows x 6 columns of class ids; 255 is the VOC "ignore" border value.
MASK = np.array(
    [
        [0, 1, 2, 3, 4, 5],
        [6, 7, 8, 9, 10, 11],
        [12, 13, 14, 15, 16, 17],
        [18, 19, 20, 255, 0, 1],
    ],
    dtype=np.uint8,
)
COLOURS = {"2007_000001": (200, 40, 90), "2007_000002": (10, 250, 128), "2008_000003": (0, 0, 0)}


def palette_png(path: Path, labels: np.ndarray) -> None:
    height, width = labels.shape
    img = Image.frombytes("P", (width, height), np.ascontiguousarray(labels).tobytes())
    img.putpalette([v for i in range(256) for v in (i, 255 - i, (7 * i) % 256)])
    img.save(path)


def make_voc(root: Path, *, test_txt: bool = False) -> Path:
    """Three 6x4 images: two in train, one in val; flat colours so JPEG stays exact-ish."""
    (root / "JPEGImages").mkdir(parents=True)
    (root / "SegmentationClass").mkdir()
    (root / "ImageSets" / "Segmentation").mkdir(parents=True)
    for voc_id, colour in COLOURS.items():
        Image.new("RGB", (6, 4), colour).save(root / "JPEGImages" / f"{voc_id}.jpg", quality=100)
        palette_png(root / "SegmentationClass" / f"{voc_id}.png", MASK)
    sets = root / "ImageSets" / "Segmentation"
    sets.joinpath("train.txt").write_text("2007_000001\n2007_000002\n\n")
    sets.joinpath("val.txt").write_text("2008_000003\n")
    if test_txt:
        sets.joinpath("test.txt").write_text("2007_000002\n")
    return root
