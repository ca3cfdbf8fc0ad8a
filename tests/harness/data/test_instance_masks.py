"""Per-object ``instance_masks``: aligned with boxes/labels, consistent with the semantic mask.

Instance segmentation (Mask R-CNN) pairs row ``i`` of ``instance_masks`` with ``boxes[i]`` and
``labels[i]``; a row out of step trains the mask head on the wrong object without any error,
so these tests pin the alignment on every dataset and through flips and batching.
"""

from __future__ import annotations

import copy
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import torch

from benchmarks.data import CocoDetection, ShapesDataset, VOCSegmentation, collate
from benchmarks.data.augment import flip_sample, mirror_boxes
from tests.harness.data.folders import ANNOTATIONS, make_voc, write_images, write_json


def _tight_box(row: torch.Tensor) -> list[float]:
    """xyxy of a non-empty bool [H, W] mask, in the boxes' pixel-edge convention."""
    rows = torch.nonzero(row.any(dim=1)).flatten()
    cols = torch.nonzero(row.any(dim=0)).flatten()
    return [float(cols[0]), float(rows[0]), float(cols[-1] + 1), float(rows[-1] + 1)]


def _inside(inner: list[float], outer: list[float]) -> bool:
    return (
        inner[0] >= outer[0]
        and inner[1] >= outer[1]
        and inner[2] <= outer[2]
        and (inner[3] <= outer[3])
    )


# ---- shapes ------------------------------------------------------------------------------


def test_shapes_rows_are_visible_parts_inside_whole_shape_boxes() -> None:
    ds = ShapesDataset("train", image_size=(48, 64), num_classes=10, length=40)
    cropped = 0  # rows whose visible part is smaller than the whole shape's box
    for i in range(len(ds)):
        item = ds[i]
        masks, boxes, labels = item["instance_masks"], item["boxes"], item["labels"]
        assert masks.dtype == torch.bool and masks.shape == (len(boxes), 48, 64)
        assert len(labels) == len(boxes)
        # Occlusion leaves each pixel to one object: rows are disjoint.
        assert int(masks.sum(dim=0).max()) <= 1
        # Per class the visible parts are exactly the semantic mask; background is the rest.
        for c in range(1, ds.num_classes):
            assert torch.equal(masks[labels == c].any(dim=0), item["mask"] == c)
        assert torch.equal(masks.any(dim=0), item["mask"] > 0)
        for row, box in zip(masks, boxes.tolist(), strict=True):
            assert row.any()  # placement keeps every emitted object at least half visible
            tight = _tight_box(row)
            assert _inside(tight, box)  # box = whole shape, occluded parts included
            cropped += tight != box
        # The last object drawn is never occluded, so its row fills its box exactly.
        assert _tight_box(masks[-1]) == boxes[-1].tolist()
    assert cropped > 0  # some objects are occluded: "within", not "equal", is the rule


def test_shapes_cached_rows_survive_caller_edits() -> None:
    ds = ShapesDataset("val", image_size=(32, 32), length=2)
    first = ds[0]["instance_masks"]
    kept = first.clone()
    first.fill_(True)
    assert torch.equal(ds[0]["instance_masks"], kept)
    fresh = ShapesDataset("val", image_size=(32, 32), length=2, cache=False)
    assert torch.equal(fresh[0]["instance_masks"], kept)


# ---- COCO --------------------------------------------------------------------------------


def _coco(tmp_path: Path, image_size: tuple[int, int], data: dict[str, Any]) -> CocoDetection:
    write_images(tmp_path)
    return CocoDetection(write_json(tmp_path / "instances.json", data), "train", image_size)


def _with_rle_objects() -> dict[str, Any]:
    """The fixture plus, on image 7 (4 high x 8 wide): a non-crowd RLE object (label 1) on
    columns 5-6 of rows 0-1, overlapping the polygon object's pixel (1, 5); a crowd RLE on
    pixel (0, 0); and a polygon object wholly outside the image (no box)."""
    data = copy.deepcopy(ANNOTATIONS)
    # Column-major runs, zeros first: 20 zeros (columns 0-4), 2 ones and 2 zeros (column 5),
    # 2 ones (rows 0-1 of column 6), 6 zeros (rows 2-3 of column 6, all of column 7).
    rle = {"size": [4, 8], "counts": [20, 2, 2, 2, 6]}
    data["annotations"][1]["segmentation"] = {"size": [4, 8], "counts": [0, 1, 31]}
    data["annotations"] += [
        {"id": 103, "image_id": 7, "category_id": 2, "bbox": [5, 0, 2, 2], "iscrowd": 0,
         "segmentation": rle},
        {"id": 104, "image_id": 7, "category_id": 5, "bbox": [20, 0, 2, 2], "iscrowd": 0,
         "segmentation": [[20, 0, 22, 0, 22, 2]]},
    ]  # fmt: skip
    return data


def test_coco_polygon_and_rle_rows_at_source_size(tmp_path: Path) -> None:
    item = _coco(tmp_path, (4, 8), _with_rle_objects())[0]
    polygon = np.zeros((4, 8), dtype=bool)
    polygon[1:3, 2:6] = True  # [[2,1, 6,1, 6,3, 2,3]]: pixel centres in x 2..5, y 1..2
    rle = np.zeros((4, 8), dtype=bool)
    rle[0:2, 5:7] = True
    # Crowd 101 and the off-image 104 have no box, so no row; JSON order otherwise.
    assert item["labels"].tolist() == [2, 1]
    assert item["boxes"].tolist() == [[2.0, 1.0, 6.0, 3.0], [5.0, 0.0, 7.0, 2.0]]
    masks = item["instance_masks"]
    assert masks.dtype == torch.bool
    assert masks.numpy().tolist() == [polygon.tolist(), rle.tolist()]
    # COCO rows keep each object whole, so they may overlap; the semantic mask paints the
    # smaller RLE object last and marks the crowd pixel ignore.
    assert bool(masks[0, 1, 5] and masks[1, 1, 5])
    assert int(item["mask"][1, 5]) == 1 and int(item["mask"][0, 0]) == 255


def test_coco_rows_resized_like_the_semantic_mask(tmp_path: Path) -> None:
    item = _coco(tmp_path, (8, 16), _with_rle_objects())[0]
    polygon = np.zeros((8, 16), dtype=bool)
    polygon[2:6, 4:12] = True  # the polygon scaled by 2, filled at output size
    rle = np.zeros((8, 16), dtype=bool)
    rle[0:4, 10:14] = True  # nearest-neighbour doubling of rows 0-1, columns 5-6
    assert item["instance_masks"].numpy().tolist() == [polygon.tolist(), rle.tolist()]
    assert item["boxes"].tolist() == [[4.0, 2.0, 12.0, 6.0], [10.0, 0.0, 14.0, 4.0]]


def test_coco_object_without_segmentation_gets_an_empty_row(tmp_path: Path) -> None:
    item = _coco(tmp_path, (5, 5), ANNOTATIONS)[1]  # image 3: one box-only object
    assert item["labels"].tolist() == [1]
    assert item["instance_masks"].shape == (1, 5, 5) and not item["instance_masks"].any()


def test_coco_without_any_segmentation_has_no_key(tmp_path: Path) -> None:
    data = copy.deepcopy(ANNOTATIONS)
    del data["annotations"][0]["segmentation"]
    ds = _coco(tmp_path, (4, 8), data)
    assert all("instance_masks" not in ds[i] for i in range(len(ds)))


def test_voc_items_have_no_instance_masks(tmp_path: Path) -> None:
    assert "instance_masks" not in VOCSegmentation(make_voc(tmp_path), "train", (4, 6))[0]


# ---- flip and collate --------------------------------------------------------------------


def test_flip_mirrors_rows_with_their_boxes() -> None:
    item = ShapesDataset("train", image_size=(24, 40), length=1)[0]
    flipped = flip_sample(item)
    assert torch.equal(flipped["instance_masks"], item["instance_masks"].flip(-1))
    assert torch.equal(flipped["boxes"], mirror_boxes(item["boxes"], 40))
    for row, box in zip(flipped["instance_masks"], flipped["boxes"].tolist(), strict=True):
        assert _inside(_tight_box(row), box)
    assert torch.equal(flip_sample(flipped)["instance_masks"], item["instance_masks"])


@pytest.mark.parametrize("drop_one", [False, True])
def test_collate_keeps_a_list_per_image(drop_one: bool) -> None:
    ds = ShapesDataset("val", image_size=(24, 24), length=3)
    items = [ds[i] for i in range(3)]
    if drop_one:
        del items[1]["instance_masks"]
        assert "instance_masks" not in collate(items)
        return
    batch = collate(items)
    assert [m.shape for m in batch["instance_masks"]] == [
        (len(it["labels"]), 24, 24) for it in items
    ]
    for got, item in zip(batch["instance_masks"], items, strict=True):
        assert torch.equal(got, item["instance_masks"])
