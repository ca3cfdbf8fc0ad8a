"""The validation split of VOC and COCO: held out of the train list, disjoint, not the test."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from benchmarks.data import CocoDetection, DataError, VOCSegmentation
from benchmarks.data.holdout import check_holdout, held_out_count, holdout_part
from tests.harness.data.folders import ANNOTATIONS, make_voc, write_images, write_json

SETS = Path("ImageSets") / "Segmentation"


def add_voc_ids(root: Path, count: int) -> list[str]:
    """Append ``count`` more ids to train.txt, copying an existing image and mask."""
    extra = [f"2009_{i:06d}" for i in range(count)]
    for voc_id in extra:
        shutil.copy(root / "JPEGImages" / "2007_000001.jpg", root / "JPEGImages" / f"{voc_id}.jpg")
        shutil.copy(
            root / "SegmentationClass" / "2007_000001.png",
            root / "SegmentationClass" / f"{voc_id}.png",
        )
    ids = ["2007_000001", "2007_000002", *extra]
    (root / SETS / "train.txt").write_text("\n".join(ids) + "\n")
    return ids


def test_voc_val_is_held_out_of_train_and_test_stays_val_txt(tmp_path: Path) -> None:
    root = make_voc(tmp_path / "voc")
    train_ids = ["2007_000001", "2007_000002"]  # train.txt of the fixture
    train = VOCSegmentation(root, "train", (4, 6), holdout=0.1).ids
    val = VOCSegmentation(root, "val", (4, 6), holdout=0.1).ids
    assert len(val) == 1  # max(1, round(0.1 * 2))
    assert not set(train) & set(val)
    assert sorted(train + val) == train_ids
    # test is still val.txt, whatever the holdout; and holdout 0 keeps train as it was.
    assert VOCSegmentation(root, "test", (4, 6), holdout=0.1).ids == ["2008_000003"]
    assert VOCSegmentation(root, "train", (4, 6)).ids == train_ids


def test_voc_holdout_size_order_independence_and_limit(tmp_path: Path) -> None:
    root = make_voc(tmp_path / "voc")
    ids = add_voc_ids(root, 18)  # 20 ids in train.txt
    train = VOCSegmentation(root, "train", (4, 6), holdout=0.1).ids
    val = VOCSegmentation(root, "val", (4, 6), holdout=0.1).ids
    assert (len(train), len(val)) == (18, 2)
    assert sorted(train + val) == sorted(ids)
    assert train == [i for i in ids if i not in val]  # the file's order is kept
    assert len(VOCSegmentation(root, "val", (4, 6), holdout=0.25).ids) == 5

    # The same ids are held out when train.txt lists them in another order.
    (root / SETS / "train.txt").write_text("\n".join(reversed(ids)) + "\n")
    assert sorted(VOCSegmentation(root, "val", (4, 6), holdout=0.1).ids) == sorted(val)
    # limit applies after the holdout, so it never moves an id across the split.
    limited = VOCSegmentation(root, "train", (4, 6), holdout=0.1, limit=3).ids
    assert limited == [i for i in reversed(ids) if i not in val][:3]


def test_voc_val_needs_a_holdout(tmp_path: Path) -> None:
    root = make_voc(tmp_path / "voc")
    with pytest.raises(DataError) as err:
        VOCSegmentation(root, "val", (4, 6))
    assert str(err.value) == (
        f"{root / SETS / 'train.txt'}: split 'val' is held out of the training list; pass "
        "holdout > 0 (e.g. 0.1) and build 'train' with the same holdout"
    )
    (root / SETS / "train.txt").write_text("2007_000001\n")
    with pytest.raises(DataError, match="holdout 0.5 of 1 ids leaves no training ids"):
        VOCSegmentation(root, "train", (4, 6), holdout=0.5)


def test_coco_val_is_held_out_of_the_train_images(tmp_path: Path) -> None:
    write_images(tmp_path)
    json_path = write_json(tmp_path / "instances.json")  # images 7 and 3, one file for all
    train = [i.image_id for i in CocoDetection(json_path, "train", (4, 8), holdout=0.1).images]
    val = [i.image_id for i in CocoDetection(json_path, "val", (4, 8), holdout=0.1).images]
    assert len(val) == 1 and not set(train) & set(val)
    assert sorted(train + val) == [3, 7]
    everything = CocoDetection(json_path, "test", (4, 8), holdout=0.1)
    assert [i.image_id for i in everything.images] == [7, 3]
    with pytest.raises(DataError, match="split 'val' is held out of the training list"):
        CocoDetection(json_path, "val", (4, 8))


def test_coco_folder_val_reads_train_annotations_and_test_reads_val(tmp_path: Path) -> None:
    # train annotations: images 7 and 3 in DIR/train/; val annotations: only image 3 in val/.
    write_images(tmp_path / "train")
    write_json(tmp_path / "annotations" / "instances_train.json")
    write_images(tmp_path / "val")
    only_b = {**ANNOTATIONS, "images": [ANNOTATIONS["images"][1]]}
    only_b["annotations"] = [a for a in ANNOTATIONS["annotations"] if a["image_id"] == 3]
    write_json(tmp_path / "annotations" / "instances_val.json", only_b)

    val = CocoDetection(tmp_path, "val", (4, 8), holdout=0.1)
    train = CocoDetection(tmp_path, "train", (4, 8), holdout=0.1)
    assert val.json_path == tmp_path / "annotations" / "instances_train.json"
    assert all(i.path is not None and i.path.parent == tmp_path / "train" for i in val.images)
    assert sorted(i.image_id for i in train.images + val.images) == [3, 7]
    test = CocoDetection(tmp_path, "test", (4, 8), holdout=0.1)
    assert [(i.image_id, i.path) for i in test.images] == [(3, tmp_path / "val" / "b.png")]


def test_holdout_part_rules() -> None:
    # round(0.1 * n) half up, at least one: 0.2, 1.4, 1.5, 2.0 and 10.0 ids.
    assert [held_out_count(n, 0.1) for n in (2, 14, 15, 20, 100)] == [1, 1, 2, 2, 10]
    assert held_out_count(50, 0.0) == 0
    with pytest.raises(DataError, match="holdout 0.1 of 0 ids leaves no training ids"):
        holdout_part([], "train", 0.1, "list")
    ids = [f"id{i}" for i in range(30)]
    val = holdout_part(ids, "val", 0.2, "list")
    train = holdout_part(ids, "train", 0.2, "list")
    assert len(val) == 6 and sorted(val + train) == sorted(ids)
    assert holdout_part(ids, "train", 0.0, "list") == ids
    # A repeated id stays on one side (the split is by id, not by position).
    doubled = holdout_part([*ids, *ids], "val", 0.2, "list")
    assert not set(doubled) & set(holdout_part([*ids, *ids], "train", 0.2, "list"))
    for bad in (1.0, -0.1, True, "0.1"):
        with pytest.raises(DataError, match=r"holdout must be a fraction in \[0, 1\)"):
            check_holdout(bad)  # type: ignore[arg-type]
