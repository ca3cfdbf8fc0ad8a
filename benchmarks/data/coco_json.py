"""Reading and validating a COCO instances JSON into typed records.

Every problem is a :class:`DataError` naming the JSON file and the offending record
(``annotations[12] (id 907): unknown category_id 99 ...``), because a mis-exported annotation
file is the usual failure and a bare ``KeyError`` does not say where. The dataset in
:mod:`benchmarks.data.coco` only sees records that passed these checks.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from benchmarks.data.common import DataError

__all__ = [
    "CocoImage",
    "CocoObject",
    "CocoRle",
    "Records",
    "load_json",
    "read_annotations",
    "read_categories",
    "read_images",
]


@dataclass(frozen=True)
class CocoImage:
    """One ``images`` record; ``path`` is filled in once the file is found on disk."""

    image_id: int
    file_name: str
    width: int
    height: int
    path: Path | None = None  # the file found on disk; set for every kept image up front


@dataclass(frozen=True)
class CocoRle:
    """A run-length-encoded mask as COCO stores it (``iscrowd`` regions, mostly).

    ``counts`` is either pycocotools' compressed string or the plain run lengths: column-major
    (down each column, then the next), alternating zeros and ones, starting with zeros. Kept
    encoded because decoding every mask up front would hold COCO's masks in memory at once.
    """

    height: int
    width: int
    counts: str | tuple[int, ...]


@dataclass(frozen=True)
class CocoObject:
    """One annotation with its category already mapped to a contiguous label."""

    ann_id: int
    label: int
    bbox: tuple[float, float, float, float]  # x, y, w, h in original image pixels
    iscrowd: bool
    area: float
    polygons: tuple[np.ndarray, ...]  # each [P, 2] (x, y); empty when RLE or absent
    rle: CocoRle | None = None  # the mask when the segmentation is RLE rather than polygons


def _is_int(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def _is_number(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool)


def load_json(path: Path) -> Any:
    """Parse a JSON file; syntax errors carry ``file:line:col`` so editors can jump there."""
    try:
        with path.open("r", encoding="utf-8") as handle:
            return json.load(handle)
    except FileNotFoundError:
        raise DataError(f"{path}: file not found") from None
    except json.JSONDecodeError as exc:
        raise DataError(f"{path}:{exc.lineno}:{exc.colno}: invalid JSON: {exc.msg}") from None
    except UnicodeDecodeError as exc:
        raise DataError(f"{path}: not UTF-8 text (byte offset {exc.start})") from None
    except OSError as exc:
        raise DataError(f"{path}: cannot read file ({exc.strerror or exc})") from None


class Records:
    """Typed access to a list of JSON records that reports errors as ``file: where: what``."""

    def __init__(self, json_path: Path, data: dict[str, Any], key: str) -> None:
        self.json_path = json_path
        self.key = key
        records = data.get(key)
        if not isinstance(records, list):
            found = "missing" if records is None else f"a {type(records).__name__}"
            raise DataError(f"{json_path}: top-level key {key!r} must be a list, got {found}")
        for i, record in enumerate(records):
            if not isinstance(record, dict):
                raise DataError(f"{json_path}: {key}[{i}] must be an object")
        self.items: list[dict[str, Any]] = records

    def where(self, i: int) -> str:
        rid = self.items[i].get("id")
        return f"{self.key}[{i}]" + (f" (id {rid})" if _is_int(rid) else "")

    def error(self, i: int, message: str) -> DataError:
        return DataError(f"{self.json_path}: {self.where(i)}: {message}")

    def get(self, i: int, name: str, kind: str, *, default: Any = ...) -> Any:
        record = self.items[i]
        if name not in record:
            if default is not ...:
                return default
            raise self.error(i, f"missing key {name!r}")
        value = record[name]
        ok = {
            "int": _is_int(value),
            "number": _is_number(value),
            "str": isinstance(value, str),
            "list": isinstance(value, list),
        }[kind]
        if not ok:
            raise self.error(i, f"{name!r} must be a {kind}, got {value!r}")
        return value


def compressed_runs(counts: str) -> list[int] | None:
    """The run lengths in pycocotools' compressed RLE string, or ``None`` if it is malformed.

    Each run is 5-bit groups in characters ``0``..``o`` (bit 0x20: another group follows,
    0x10 in the last: negative); from the third run on the value is a delta on the run two
    back. pycocotools decodes these in C without checking the total, and a total that is
    not ``height * width`` writes past its buffer, so the loader checks it here first.
    """
    runs: list[int] = []
    value, shift, more = 0, 0, False
    for char in counts:
        code = ord(char) - 48
        if not 0 <= code < 64:
            return None
        value |= (code & 0x1F) << shift
        shift += 5
        more = bool(code & 0x20)
        if more:
            continue
        if code & 0x10:
            value -= 1 << shift
        run = value + (runs[-2] if len(runs) > 2 else 0)
        if run < 0:
            return None
        runs.append(run)
        value, shift = 0, 0
    return None if more else runs


def _rle(records: Records, i: int, seg: dict[str, Any], image: CocoImage) -> CocoRle:
    """Check an RLE segmentation's size against its image and its runs against the size."""
    size = seg.get("size")
    if not (isinstance(size, list) and len(size) == 2 and all(_is_int(v) for v in size)):
        raise records.error(i, f"RLE segmentation 'size' must be [height, width], got {size!r}")
    if size != [image.height, image.width]:
        raise records.error(
            i, f"RLE size {size} is not its image's [height, width] {[image.height, image.width]}"
        )
    counts = seg.get("counts")
    if isinstance(counts, str):
        runs = compressed_runs(counts)
        if runs is None:
            raise records.error(i, "RLE 'counts' is not a valid compressed RLE string")
    elif isinstance(counts, list) and all(_is_int(v) and v >= 0 for v in counts):
        runs = counts
    else:
        raise records.error(i, "RLE 'counts' must be a string or a list of non-negative ints")
    if sum(runs) != image.height * image.width:
        raise records.error(
            i, f"RLE runs cover {sum(runs)} pixels, not {image.height}x{image.width}"
        )
    return CocoRle(image.height, image.width, counts if isinstance(counts, str) else tuple(runs))


def _polygons(records: Records, i: int) -> tuple[np.ndarray, ...]:
    """Polygon segmentations as [P, 2] arrays (none when the segmentation is absent or RLE)."""
    seg = records.items[i].get("segmentation")
    if not isinstance(seg, list):
        return ()
    polygons = []
    for k, poly in enumerate(seg):
        if (
            not isinstance(poly, list)
            or len(poly) < 6
            or len(poly) % 2
            or not all(_is_number(v) for v in poly)
        ):
            raise records.error(i, f"segmentation[{k}] must be a flat list of at least 3 x,y pairs")
        polygons.append(np.asarray(poly, dtype=np.float64).reshape(-1, 2))
    return tuple(polygons)


def read_categories(records: Records) -> tuple[list[int], list[str]]:
    """Sorted category ids and their names; label ``k`` is ``ids[k - 1]``, so ids may be sparse."""
    by_id: dict[int, str] = {}
    for i in range(len(records.items)):
        cat_id = records.get(i, "id", "int")
        if cat_id in by_id:
            raise records.error(i, f"duplicate category id {cat_id}")
        by_id[cat_id] = records.get(i, "name", "str")
    if not by_id:
        raise DataError(f"{records.json_path}: 'categories' is empty")
    ids = sorted(by_id)
    return ids, [by_id[cat_id] for cat_id in ids]


def read_images(records: Records) -> list[CocoImage]:
    """Image records in JSON order (which ``limit`` cuts), with unique ids and sizes."""
    images: list[CocoImage] = []
    seen: set[int] = set()
    for i in range(len(records.items)):
        image_id = records.get(i, "id", "int")
        if image_id in seen:
            raise records.error(i, f"duplicate image id {image_id}")
        seen.add(image_id)
        width, height = records.get(i, "width", "int"), records.get(i, "height", "int")
        if width <= 0 or height <= 0:
            raise records.error(i, f"width and height must be positive, got {width}x{height}")
        images.append(CocoImage(image_id, records.get(i, "file_name", "str"), width, height))
    return images


def read_annotations(
    records: Records, label_of: dict[int, int], images: list[CocoImage]
) -> dict[int, list[CocoObject]]:
    """Annotations grouped by image id, each checked against the images and categories."""
    objects: dict[int, list[CocoObject]] = {image.image_id: [] for image in images}
    image_of = {image.image_id: image for image in images}
    known_cats = ", ".join(str(c) for c in label_of)
    for i in range(len(records.items)):
        ann_id = records.get(i, "id", "int")
        image_id = records.get(i, "image_id", "int")
        if image_id not in objects:
            raise records.error(i, f"unknown image_id {image_id} (not in 'images')")
        category_id = records.get(i, "category_id", "int")
        if category_id not in label_of:
            raise records.error(i, f"unknown category_id {category_id} (known: {known_cats})")
        bbox = records.get(i, "bbox", "list")
        if len(bbox) != 4 or not all(_is_number(v) for v in bbox):
            raise records.error(i, f"bbox must be 4 numbers [x, y, w, h], got {bbox!r}")
        x, y, w, h = (float(v) for v in bbox)
        if w < 0 or h < 0:
            raise records.error(i, f"bbox has negative width or height: {bbox!r}")
        iscrowd = records.get(i, "iscrowd", "int", default=0)
        area = float(records.get(i, "area", "number", default=w * h))
        polygons = _polygons(records, i)
        seg = records.items[i].get("segmentation")
        rle = _rle(records, i, seg, image_of[image_id]) if isinstance(seg, dict) else None
        label = label_of[category_id]
        obj = CocoObject(ann_id, label, (x, y, w, h), bool(iscrowd), area, polygons, rle)
        objects[image_id].append(obj)
    return objects
