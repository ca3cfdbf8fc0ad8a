"""COCO-format detection (and, where polygons exist, semantic masks) from an instances JSON.

``CocoDetection(path, split, image_size)`` accepts either

* a folder with ``annotations/instances_<split>.json`` (``instances_<split>2017.json`` also
  works, so an unpacked COCO 2017 download loads as is) and images in ``<split>/``,
  ``images/<split>/`` or at ``file_name`` relative to the folder; or
* one ``.json`` file used for every split, with images beside it or in ``images/`` there.

The JSON is validated up front and every problem is a :class:`DataError` naming the JSON file
and the offending record (``annotations[12] (id 907): unknown category_id 99 ...``), because a
mis-exported annotation file is the usual failure and a bare ``KeyError`` does not say where.
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

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
    fill_polygon,
    image_to_tensor,
    open_image,
    resize_rgb,
)


@dataclass(frozen=True)
class CocoImage:
    image_id: int
    file_name: str
    width: int
    height: int
    path: Path | None = None  # the file found on disk; set for every kept image up front


@dataclass(frozen=True)
class CocoObject:
    """One annotation with its category already mapped to a contiguous label."""

    ann_id: int
    label: int
    bbox: tuple[float, float, float, float]  # x, y, w, h in original image pixels
    iscrowd: bool
    area: float
    polygons: tuple[np.ndarray, ...]  # each [P, 2] (x, y); empty when RLE or absent


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


class _Records:
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


def _polygons(records: _Records, i: int) -> tuple[np.ndarray, ...]:
    """Polygon segmentations as [P, 2] arrays; RLE dicts are not decoded (returns none)."""
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


class CocoDetection(Dataset[Sample]):
    """COCO instances data as boxes + labels (+ semantic mask) at a fixed ``image_size``.

    Category ids are sorted and mapped to labels ``1..K`` (``category_ids[label - 1]`` maps
    back, e.g. for pycocotools evaluation). ``image_id`` is the COCO image id. Crowd
    annotations give no boxes; zero-size boxes (after clipping to the image) are dropped since
    box losses cannot use them. If any annotation has polygons, masks are painted with labels
    (largest objects first so small ones stay visible); crowd regions and objects without
    polygons are 255 (ignore). Without polygons the whole mask is 255.

    Args:
        path: a COCO folder or an instances ``.json`` file (see the module docstring).
        split: ``train``/``val``/``test`` (a folder without ``test`` annotations uses ``val``).
        image_size: output ``(H, W)``; boxes are scaled to it.
        num_classes: K+1 to report; must be at least the file's category count + 1.
        limit: keep only the first ``limit`` images, in JSON order.
    """

    def __init__(
        self,
        path: str | os.PathLike[str],
        split: str = "train",
        image_size: tuple[int, int] = (512, 512),
        *,
        num_classes: int | None = None,
        limit: int | None = None,
    ) -> None:
        self.split = check_split(split)
        self.image_size = check_image_size(image_size)
        limit = check_limit(limit)
        self.json_path, self.image_roots = self._locate(Path(path), self.split)
        data = load_json(self.json_path)
        if not isinstance(data, dict):
            raise DataError(f"{self.json_path}: top level must be a JSON object")

        self.category_ids, names = self._read_categories(
            _Records(self.json_path, data, "categories")
        )
        label_of = {cat_id: i + 1 for i, cat_id in enumerate(self.category_ids)}
        k = len(self.category_ids)
        if num_classes is not None and num_classes < k + 1:
            raise DataError(
                f"{self.json_path}: has {k} categories, so num_classes must be at least {k + 1}, "
                f"got {num_classes}"
            )
        self.num_classes = k + 1 if num_classes is None else num_classes
        self.class_names = ["background", *names]
        self.class_names += [f"class_{i}" for i in range(k + 1, self.num_classes)]

        images = self._read_images(_Records(self.json_path, data, "images"))
        self.objects = self._read_annotations(
            _Records(self.json_path, data, "annotations"), label_of, images
        )
        self.has_masks = any(
            obj.polygons and not obj.iscrowd for objs in self.objects.values() for obj in objs
        )
        kept = images if limit is None else images[:limit]
        self.images = [self._resolve(i, image) for i, image in enumerate(kept)]

    @staticmethod
    def _locate(path: Path, split: str) -> tuple[Path, list[Path]]:
        if path.suffix.lower() == ".json" or path.is_file():
            if not path.is_file():
                raise DataError(f"{path}: annotation file not found")
            return path, [path.parent, path.parent / "images"]
        if not path.is_dir():
            raise DataError(f"{path}: not found (expected a COCO folder or an instances .json)")
        names = [split, f"{split}2017"]
        if split == "test":
            names += ["val", "val2017"]  # COCO test annotations are not public
        for name in names:
            json_path = path / "annotations" / f"instances_{name}.json"
            if json_path.is_file():
                return json_path, [path / name, path / "images" / name, path]
        raise DataError(f"{path / 'annotations' / f'instances_{split}.json'}: file not found")

    @staticmethod
    def _read_categories(records: _Records) -> tuple[list[int], list[str]]:
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

    @staticmethod
    def _read_images(records: _Records) -> list[CocoImage]:
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

    @staticmethod
    def _read_annotations(
        records: _Records, label_of: dict[int, int], images: list[CocoImage]
    ) -> dict[int, list[CocoObject]]:
        objects: dict[int, list[CocoObject]] = {image.image_id: [] for image in images}
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
            label = label_of[category_id]
            obj = CocoObject(ann_id, label, (x, y, w, h), bool(iscrowd), area, polygons)
            objects[image_id].append(obj)
        return objects

    def _resolve(self, index: int, image: CocoImage) -> CocoImage:
        candidates = [root / image.file_name for root in self.image_roots]
        for candidate in candidates:
            if candidate.is_file():
                return CocoImage(
                    image.image_id, image.file_name, image.width, image.height, candidate
                )
        looked = ", ".join(str(c) for c in candidates)
        raise DataError(
            f"{self.json_path}: images[{index}] (id {image.image_id}): image file "
            f"{image.file_name!r} not found (looked for {looked})"
        )

    def __len__(self) -> int:
        return len(self.images)

    def __getitem__(self, index: int) -> Sample:
        info = self.images[index]
        assert info.path is not None
        img = open_image(info.path, "RGB")
        if img.size != (info.width, info.height):
            raise DataError(
                f"{info.path}: image is {img.size[0]}x{img.size[1]} but {self.json_path} "
                f"says {info.width}x{info.height} (image id {info.image_id})"
            )
        out_h, out_w = self.image_size
        scale = np.array([out_w / info.width, out_h / info.height])
        objects = self.objects[info.image_id]
        boxes, labels = [], []
        for obj in objects:
            if obj.iscrowd:
                continue
            x, y, w, h = obj.bbox
            x0, y0 = max(x, 0.0), max(y, 0.0)
            x1, y1 = min(x + w, float(info.width)), min(y + h, float(info.height))
            if x1 <= x0 or y1 <= y0:
                continue
            boxes.append([x0 * scale[0], y0 * scale[1], x1 * scale[0], y1 * scale[1]])
            labels.append(obj.label)
        return {
            "image": image_to_tensor(resize_rgb(img, self.image_size)),
            "mask": torch.from_numpy(self._mask(objects, scale).astype(np.int64)),
            "boxes": torch.tensor(boxes, dtype=torch.float32).reshape(-1, 4),
            "labels": torch.tensor(labels, dtype=torch.int64),
            "image_id": info.image_id,
        }

    def _mask(self, objects: list[CocoObject], scale: np.ndarray) -> np.ndarray:
        """Semantic mask at output size, drawn from scaled polygons (exact at any size)."""
        if not self.has_masks:
            return np.full(self.image_size, IGNORE_INDEX, dtype=np.uint8)
        mask = np.zeros(self.image_size, dtype=np.uint8)
        for obj in sorted(objects, key=lambda o: -o.area):
            value = IGNORE_INDEX if obj.iscrowd else obj.label
            if obj.polygons:
                for polygon in obj.polygons:
                    fill_polygon(mask, polygon * scale, value)
            else:  # RLE or no segmentation: we cannot tell which box pixels are the object
                x, y, w, h = obj.bbox
                corners = np.array([[x, y], [x + w, y], [x + w, y + h], [x, y + h]])
                fill_polygon(mask, corners * scale, IGNORE_INDEX)
        return mask
