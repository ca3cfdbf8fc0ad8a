"""COCO-format detection (and, where segmentations exist, semantic masks) from an instances JSON.

``CocoDetection(path, split, image_size)`` accepts either

* a folder with ``annotations/instances_<split>.json`` (``instances_<split>2017.json`` also
  works, so an unpacked COCO 2017 download loads as is) and images in ``<split>/``,
  ``images/<split>/`` or at ``file_name`` relative to the folder; or
* one ``.json`` file used for every split, with images beside it or in ``images/`` there.

Splits: ``train`` and ``test`` read their own annotations (``test`` falls back to ``val``,
since COCO's test annotations are not public); ``val`` is a held-out part of the *train*
images chosen by the ``holdout`` fraction (see :mod:`benchmarks.data.holdout`), which
``train`` then leaves out, so COCO's own val annotations stay the ``test`` data.

The JSON is validated up front (see :mod:`benchmarks.data.coco_json`), so a broken file
fails when the dataset is built, with the offending record named, not mid-training. So
does a ``test`` split without ground truth (no image with a box to score): pycocotools
would score it -1, which is no result.
"""

from __future__ import annotations

import os
import warnings
from pathlib import Path
from typing import Any

import numpy as np
import torch
from pycocotools import mask as mask_utils
from torch.utils.data import Dataset

from benchmarks.data.coco_json import (
    CocoImage,
    CocoObject,
    CocoRle,
    Records,
    load_json,
    read_annotations,
    read_categories,
    read_images,
)
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
    resize_labels,
    resize_rgb,
)
from benchmarks.data.holdout import check_holdout, holdout_part


def _load_object(json_path: Path) -> dict[str, Any]:
    """The annotation file's top-level JSON object."""
    data = load_json(json_path)
    if not isinstance(data, dict):
        raise DataError(f"{json_path}: top level must be a JSON object")
    return data


def coco_class_names(path: str | os.PathLike[str]) -> list[str] | None:
    """The class names of the COCO data at ``path``, as :class:`CocoDetection` numbers
    them (background, then the train annotations' categories by id), read without its
    images, for a model whose job did not record them; None when ``path`` is gone."""
    path = Path(path)
    if not path.exists():
        return None
    json_path, _ = CocoDetection._locate(path, "train")
    data = _load_object(json_path)
    return ["background", *read_categories(Records(json_path, data, "categories"))[1]]


class CocoDetection(Dataset[Sample]):
    """COCO instances data as boxes + labels (+ semantic mask) at a fixed ``image_size``.

    Category ids are sorted and mapped to labels ``1..K`` (``category_ids[label - 1]`` maps
    back, e.g. for pycocotools evaluation). ``image_id`` is the COCO image id. Crowd
    annotations give no boxes; zero-size boxes (after clipping to the image) are dropped since
    box losses cannot use them. If any non-crowd annotation has a segmentation (polygons or
    RLE), masks are painted with labels (largest objects first so small ones stay visible);
    crowd regions (their RLE or polygons) and the boxes of objects without a segmentation are
    255 (ignore). Without any the whole mask is 255. RLE masks are decoded by
    ``pycocotools.mask`` at the image's size and resized nearest-neighbour (pixel centres).

    With segmentations, items also carry ``instance_masks`` (bool [M, H, W], row ``i`` for
    ``boxes[i]``): each boxed object's own polygons or RLE at output size, drawn exactly as
    for the semantic mask, so rows may overlap. Crowd regions and objects without a box get
    no row; a boxed object without a segmentation gets an all-False row. The rows cost
    M x H x W bytes per item; a file without any segmentation gives no such key.

    Args:
        path: a COCO folder or an instances ``.json`` file (see the module docstring).
        split: ``train``/``val``/``test`` (a folder without ``test`` annotations uses ``val``;
            ``val`` is the held-out part of the train images).
        image_size: output ``(H, W)``; boxes are scaled to it.
        num_classes: K+1 to report; must be at least the file's category count + 1.
        limit: keep only the first ``limit`` images of the split, in JSON order.
        holdout: fraction of the train images held out as ``val`` (0 = none, so ``train``
            is all of them and ``val`` is an error); give ``train`` and ``val`` the same
            value. Ignored for ``test``.
    """

    def __init__(
        self,
        path: str | os.PathLike[str],
        split: str = "train",
        image_size: tuple[int, int] = (512, 512),
        *,
        num_classes: int | None = None,
        limit: int | None = None,
        holdout: float = 0.0,
    ) -> None:
        self.split = check_split(split)
        self.image_size = check_image_size(image_size)
        limit = check_limit(limit)
        holdout = check_holdout(holdout)
        annotations = "train" if self.split == "val" else self.split
        self.json_path, self.image_roots = self._locate(Path(path), annotations)
        data = _load_object(self.json_path)
        self.category_ids, names = read_categories(Records(self.json_path, data, "categories"))
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

        images = read_images(Records(self.json_path, data, "images"))
        self.objects = read_annotations(
            Records(self.json_path, data, "annotations"), label_of, images
        )
        self.has_masks = any(
            (obj.polygons or obj.rle) and not obj.iscrowd
            for objs in self.objects.values()
            for obj in objs
        )
        kept = list(enumerate(images))  # JSON positions, for error messages
        if self.split != "test":
            all_ids = [image.image_id for image in images]
            wanted = set(holdout_part(all_ids, self.split, holdout, self.json_path))
            kept = [(i, image) for i, image in kept if image.image_id in wanted]
        kept = kept if limit is None else kept[:limit]
        self.images = [self._resolve(i, image) for i, image in kept]
        if self.split == "test":
            self._require_ground_truth()

    def _require_ground_truth(self) -> None:
        """A split that is scored needs a box to score: an image with a non-crowd object
        of non-zero size inside the image (what :meth:`__getitem__` gives as a box)."""
        if any(_box(obj, image) for image in self.images for obj in self.objects[image.image_id]):
            return
        raise DataError(
            f"{self.json_path}: the {self.split} split has no ground truth ({len(self.images)} "
            "images, none with a non-crowd box): its mAP would be undefined"
        )

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
        # Each object's mask is decoded once and serves both the semantic and instance masks.
        shapes = [self._object_mask(obj, scale) if self.has_masks else None for obj in objects]
        boxes, labels, instances = [], [], []
        for obj, shape in zip(objects, shapes, strict=True):
            box = _box(obj, info)
            if box is None:
                continue  # crowd or empty: no box, label or instance row
            x0, y0, x1, y1 = box
            boxes.append([x0 * scale[0], y0 * scale[1], x1 * scale[0], y1 * scale[1]])
            labels.append(obj.label)
            instances.append(shape)
        item: Sample = {
            "image": image_to_tensor(resize_rgb(img, self.image_size)),
            "mask": torch.from_numpy(self._mask(objects, shapes, scale).astype(np.int64)),
            "boxes": torch.tensor(boxes, dtype=torch.float32).reshape(-1, 4),
            "labels": torch.tensor(labels, dtype=torch.int64),
            "image_id": info.image_id,
            "name": info.path.stem,
            "source_size": (info.height, info.width),
        }
        if self.has_masks:
            stacked = np.zeros((len(instances), out_h, out_w), dtype=bool)
            for row, shape in zip(stacked, instances, strict=True):
                if shape is not None:  # else no segmentation: the row stays empty
                    row[shape] = True
            item["instance_masks"] = torch.from_numpy(stacked)
        return item

    def _object_mask(self, obj: CocoObject, scale: np.ndarray) -> np.ndarray | None:
        """``obj``'s bool mask at output size: RLE decoded and resized nearest-neighbour,
        polygons scaled and filled (exact at any size); None without a segmentation."""
        if obj.rle is not None:
            return resize_labels(decode_rle(obj.rle), self.image_size) > 0
        if not obj.polygons:
            return None
        canvas = np.zeros(self.image_size, dtype=np.uint8)
        for polygon in obj.polygons:
            fill_polygon(canvas, polygon * scale, 1)
        return canvas > 0

    def _mask(
        self, objects: list[CocoObject], shapes: list[np.ndarray | None], scale: np.ndarray
    ) -> np.ndarray:
        """Semantic mask at output size from the objects' masks (``shapes``, in order);
        largest objects are painted first so small ones stay visible."""
        if not self.has_masks:
            return np.full(self.image_size, IGNORE_INDEX, dtype=np.uint8)
        mask = np.zeros(self.image_size, dtype=np.uint8)
        for i in sorted(range(len(objects)), key=lambda i: -objects[i].area):
            obj, shape = objects[i], shapes[i]
            if shape is not None:
                mask[shape] = IGNORE_INDEX if obj.iscrowd else obj.label
            else:  # no segmentation: we cannot tell which box pixels are the object
                x, y, w, h = obj.bbox
                corners = np.array([[x, y], [x + w, y], [x + w, y + h], [x, y + h]])
                fill_polygon(mask, corners * scale, IGNORE_INDEX)
        return mask


def _box(obj: CocoObject, image: CocoImage) -> tuple[float, float, float, float] | None:
    """An object's box clipped to its image, xyxy in image pixels; None for a crowd region
    or a box of zero size after clipping (box losses and mAP cannot use either)."""
    if obj.iscrowd:
        return None
    x, y, w, h = obj.bbox
    x0, y0 = max(x, 0.0), max(y, 0.0)
    x1, y1 = min(x + w, float(image.width)), min(y + h, float(image.height))
    return None if x1 <= x0 or y1 <= y0 else (x0, y0, x1, y1)


def decode_rle(rle: CocoRle) -> np.ndarray:
    """The ``[height, width]`` uint8 0/1 mask of a (validated) COCO RLE, via pycocotools."""
    size = [rle.height, rle.width]
    if isinstance(rle.counts, str):
        encoded = {"size": size, "counts": rle.counts.encode("ascii")}
    else:  # plain run lengths -> pycocotools' compressed form
        encoded = mask_utils.frPyObjects({"size": size, "counts": list(rle.counts)}, *size)
    with warnings.catch_warnings():  # pycocotools' own numpy-2 "copy keyword" deprecation
        warnings.simplefilter("ignore", DeprecationWarning)
        decoded = mask_utils.decode(encoded)
    return np.ascontiguousarray(decoded, dtype=np.uint8)
