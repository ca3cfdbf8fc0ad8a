"""A scored split without ground truth is a one-line DataError when the data is opened.

pycocotools scores a COCO split without ground truth -1 and an empty VOC list scores NaN;
either used to become an ``ok`` row. The dataset now refuses it when it is built, so a job
fails with the reason before it trains.
"""

from __future__ import annotations

import copy
from pathlib import Path
from typing import Any

import pytest

from benchmarks.data import CocoDetection, DataError, VOCSegmentation
from benchmarks.data.splits import open_job_data
from tests.harness.data.folders import ANNOTATIONS, make_voc, write_images, write_json


def _coco(tmp_path: Path, annotations: list[dict[str, Any]]) -> Path:
    data = copy.deepcopy(ANNOTATIONS)
    data["annotations"] = annotations
    write_images(tmp_path)
    return write_json(tmp_path / "instances.json", data)


def _message(path: Path) -> str:
    return (
        f"{path}: the test split has no ground truth (2 images, none with a non-crowd box): "
        "its mAP would be undefined"
    )


def test_coco_test_split_without_annotations(tmp_path: Path) -> None:
    path = _coco(tmp_path, [])
    with pytest.raises(DataError) as err:
        CocoDetection(path, "test", (8, 8))
    assert str(err.value) == _message(path)
    assert len(CocoDetection(path, "train", (8, 8))) == 2  # a split that is not scored loads


def test_coco_test_split_with_only_crowd_or_empty_boxes(tmp_path: Path) -> None:
    # Image 7 (8 x 4) has a crowd region; image 3 (10 x 10) a box that lies wholly right
    # of the image (x 12..14), so clipping leaves it no width: neither is a box to score.
    crowd = dict(ANNOTATIONS["annotations"][1])
    outside = {"id": 9, "image_id": 3, "category_id": 2, "bbox": [12, 1, 2, 2], "iscrowd": 0}
    path = _coco(tmp_path, [crowd, outside])
    with pytest.raises(DataError) as err:
        CocoDetection(path, "test", (8, 8))
    assert str(err.value) == _message(path)


def test_coco_test_split_with_one_box_loads(tmp_path: Path) -> None:
    box = {"id": 9, "image_id": 3, "category_id": 2, "bbox": [1, 1, 2, 2], "iscrowd": 0}
    ds = CocoDetection(_coco(tmp_path, [box]), "test", (10, 10))
    assert [len(ds[i]["boxes"]) for i in range(len(ds))] == [0, 1]


def test_coco_limit_that_leaves_only_unannotated_images(tmp_path: Path) -> None:
    # Only image 3 (the second in JSON order) has a box; limit 1 keeps image 7 alone.
    box = {"id": 9, "image_id": 3, "category_id": 2, "bbox": [1, 1, 2, 2], "iscrowd": 0}
    path = _coco(tmp_path, [box])
    with pytest.raises(DataError, match=r"no ground truth \(1 images, none with"):
        CocoDetection(path, "test", (8, 8), limit=1)


def test_voc_list_without_ids(tmp_path: Path) -> None:
    voc = make_voc(tmp_path / "VOC2012")
    val = voc / "ImageSets" / "Segmentation" / "val.txt"
    val.write_text("\n\n")  # blank lines only: no id
    with pytest.raises(DataError) as err:
        VOCSegmentation(voc, "test", (4, 6))
    assert str(err.value) == f"{val}: lists no image ids, so the test split has no ground truth"
    train = voc / "ImageSets" / "Segmentation" / "train.txt"
    train.write_text("")
    with pytest.raises(DataError, match="lists no image ids, so the train split"):
        VOCSegmentation(voc, "train", (4, 6))


def test_opening_a_jobs_data_fails_on_the_test_split(tmp_path: Path) -> None:
    # The train annotations are fine; the test (val) annotations hold no object.
    root = tmp_path / "coco"
    for split, objects in (("train", ANNOTATIONS["annotations"]), ("val", [])):
        write_images(root / split)
        data = {**copy.deepcopy(ANNOTATIONS), "annotations": objects}
        write_json(root / "annotations" / f"instances_{split}.json", data)
    with pytest.raises(DataError) as err:
        open_job_data(
            f"coco:{root}", (8, 8), 3, seed=0, limit=None, normalize="none", augment=False
        )
    assert str(err.value) == _message(root / "annotations" / "instances_val.json")
