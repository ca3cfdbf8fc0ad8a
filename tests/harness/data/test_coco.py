"""COCO instances loading on tiny fixtures written here, and the errors for broken files."""

from __future__ import annotations

import copy
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import torch
from pycocotools import mask as mask_utils

from benchmarks.data import IGNORE_INDEX, CocoDetection, DataError, make_dataset
from benchmarks.data.common import fill_polygon
from tests.harness.data.folders import ANNOTATIONS, PIXELS_A, write_images, write_json


@pytest.fixture
def coco_json(tmp_path: Path) -> Path:
    write_images(tmp_path)
    return write_json(tmp_path / "instances.json")


def test_categories_map_to_sorted_contiguous_labels(coco_json: Path) -> None:
    ds = CocoDetection(coco_json, "train", (8, 16))
    assert ds.num_classes == 3
    assert ds.class_names == ["background", "dog", "cat"]
    assert ds.category_ids == [2, 5]
    assert ds.image_size == (8, 16)
    assert [ds[i]["image_id"] for i in range(len(ds))] == [7, 3]


def test_boxes_scaled_and_crowd_skipped(coco_json: Path) -> None:
    ds = CocoDetection(coco_json, "test", (8, 16))
    first = ds[0]
    # Image 7: 8x4 -> 16x8, so x*2, y*2; [2,1,4,2] xywh is [2,1,6,3] xyxy -> [4,2,12,6].
    # The crowd box (id 101) gives no box.
    assert first["boxes"].tolist() == [[4.0, 2.0, 12.0, 6.0]]
    assert first["labels"].tolist() == [2]
    assert first["boxes"].dtype == torch.float32 and first["labels"].dtype == torch.int64
    second = ds[1]
    # Image 3: 10x10 -> 16x8, so x*1.6, y*0.8; [1,2,3,4] -> [1,2,4,6] -> [1.6,1.6,6.4,4.8].
    assert torch.allclose(second["boxes"], torch.tensor([[1.6, 1.6, 6.4, 4.8]]))
    assert second["labels"].tolist() == [1]


def test_polygon_mask_and_ignore_regions(coco_json: Path) -> None:
    ds = CocoDetection(coco_json, "train", (8, 16))
    assert ds.has_masks
    expected = np.zeros((8, 16), dtype=np.int64)
    expected[2:6, 4:12] = 2  # polygon x 4..12, y 2..6 after scaling: pixel centres inside
    expected[0:2, 0:2] = IGNORE_INDEX  # crowd annotation without polygon: its box is ignored
    assert ds[0]["mask"].numpy().tolist() == expected.tolist()
    # Image 3's object has no polygon: pixel centres inside [1.6,6.4]x[1.6,4.8] -> ignore.
    expected = np.zeros((8, 16), dtype=np.int64)
    expected[2:5, 2:6] = IGNORE_INDEX
    assert ds[1]["mask"].numpy().tolist() == expected.tolist()


def test_mask_is_all_ignore_without_polygons(tmp_path: Path) -> None:
    write_images(tmp_path)
    data = copy.deepcopy(ANNOTATIONS)
    del data["annotations"][0]["segmentation"]
    ds = CocoDetection(write_json(tmp_path / "x.json", data), "train", (4, 8))
    assert not ds.has_masks
    assert bool((ds[0]["mask"] == IGNORE_INDEX).all())
    assert ds[0]["boxes"].tolist() == [[2.0, 1.0, 6.0, 3.0]]  # native size: no scaling


def test_image_values_exact_at_native_size(coco_json: Path) -> None:
    item = CocoDetection(coco_json, "train", (4, 8))[0]
    expected = torch.from_numpy(PIXELS_A.astype(np.float32) / 255).permute(2, 0, 1)
    assert item["image"].shape == (3, 4, 8)
    assert torch.allclose(item["image"], expected, atol=1e-7)


def test_folder_layouts(tmp_path: Path) -> None:
    # DIR/annotations/instances_val.json with images in DIR/val/ ("test" reads val).
    write_images(tmp_path / "one" / "val")
    write_json(tmp_path / "one" / "annotations" / "instances_val.json")
    ds = make_dataset(f"coco:{tmp_path / 'one'}", "test", (4, 8), limit=1)
    assert isinstance(ds, CocoDetection) and len(ds) == 1
    assert ds.images[0].path == tmp_path / "one" / "val" / "a.png"
    # ... images in DIR/images/train/, and "test" falls back to val annotations.
    write_images(tmp_path / "two" / "images" / "val")
    write_json(tmp_path / "two" / "annotations" / "instances_val.json")
    ds = CocoDetection(tmp_path / "two", "test", (4, 8))
    assert ds.images[1].path == tmp_path / "two" / "images" / "val" / "b.png"
    # A bare JSON with images in an images/ folder beside it, used for every split ("val"
    # is held out of it, see test_data_holdout.py).
    write_images(tmp_path / "three" / "images")
    json_path = write_json(tmp_path / "three" / "all.json")
    for split in ("train", "test"):
        assert len(make_dataset(f"coco:{json_path}", split, (4, 8))) == 2


def test_num_classes_padding_and_minimum(coco_json: Path) -> None:
    ds = CocoDetection(coco_json, "train", (4, 8), num_classes=5)
    assert ds.num_classes == 5 and ds.class_names[3:] == ["class_3", "class_4"]
    with pytest.raises(DataError, match="at least 3"):
        CocoDetection(coco_json, "train", (4, 8), num_classes=2)


def test_fill_polygon_samples_pixel_centres() -> None:
    canvas = np.zeros((5, 5), dtype=np.uint8)
    fill_polygon(canvas, np.array([[0, 0], [4.5, 0], [0, 4.5]]), 9)
    # Centre (j+.5, i+.5) is inside x + y < 4.5 exactly when i + j <= 3.
    rows, cols = np.indices((5, 5))
    assert canvas.tolist() == np.where(rows + cols <= 3, 9, 0).tolist()


# ---- malformed data -------------------------------------------------------------------


def _broken(tmp_path: Path, edit: Any) -> tuple[Path, str]:
    """Write the fixture with ``edit`` applied to a copy of the JSON; return the error."""
    write_images(tmp_path)
    data = copy.deepcopy(ANNOTATIONS)
    edit(data)
    path = write_json(tmp_path / "instances.json", data)
    with pytest.raises(DataError) as err:
        ds = CocoDetection(path, "train", (4, 8))
        for i in range(len(ds)):
            ds[i]
    return path, str(err.value)


def test_bad_json_reports_line_and_column(tmp_path: Path) -> None:
    path = tmp_path / "instances.json"
    path.write_text('{\n  "images": [],\n  "categories": [}\n')
    with pytest.raises(DataError) as err:
        CocoDetection(path, "train", (4, 8))
    # Line 3 is '  "categories": [}': the stray '}' is the 18th character.
    assert str(err.value).startswith(f"{path}:3:18: invalid JSON")


def test_unknown_category_id(tmp_path: Path) -> None:
    path, message = _broken(tmp_path, lambda d: d["annotations"][1].update(category_id=9))
    assert message == (f"{path}: annotations[1] (id 101): unknown category_id 9 (known: 2, 5)")


def test_unknown_image_id(tmp_path: Path) -> None:
    path, message = _broken(tmp_path, lambda d: d["annotations"][2].update(image_id=99))
    assert message.startswith(f"{path}: annotations[2] (id 102): unknown image_id 99")


def test_missing_key(tmp_path: Path) -> None:
    path, message = _broken(tmp_path, lambda d: d["annotations"][0].pop("bbox"))
    assert message == f"{path}: annotations[0] (id 100): missing key 'bbox'"
    path, message = _broken(tmp_path, lambda d: d.pop("categories"))
    assert message.startswith(f"{path}: top-level key 'categories' must be a list")


def test_negative_bbox_size(tmp_path: Path) -> None:
    path, message = _broken(tmp_path, lambda d: d["annotations"][2].update(bbox=[1, 2, -3, 4]))
    assert message.startswith(f"{path}: annotations[2] (id 102): bbox has negative width")


def test_missing_image_file(tmp_path: Path) -> None:
    path, message = _broken(tmp_path, lambda d: d["images"][1].update(file_name="gone.jpg"))
    assert message.startswith(f"{path}: images[1] (id 3): image file 'gone.jpg' not found")
    assert str(tmp_path / "gone.jpg") in message


def test_image_size_disagrees_with_json(tmp_path: Path) -> None:
    _, message = _broken(tmp_path, lambda d: d["images"][0].update(width=9))
    assert message.startswith(f"{tmp_path / 'a.png'}: image is 8x4 but")
    assert "says 9x4" in message


def test_missing_annotation_file_in_folder(tmp_path: Path) -> None:
    (tmp_path / "annotations").mkdir()
    with pytest.raises(DataError) as err:
        make_dataset(f"coco:{tmp_path}", "train", (4, 8))
    expected = tmp_path / "annotations" / "instances_train.json"
    assert str(err.value) == f"{expected}: file not found"


# ---- RLE segmentations -----------------------------------------------------------------


def test_crowd_rle_is_ignore_at_its_pixels(tmp_path: Path) -> None:
    write_images(tmp_path)
    data = copy.deepcopy(ANNOTATIONS)
    # Crowd annotation 101 on image 7 (4 high x 8 wide): pixels (0, 0), (1, 0) and (3, 7).
    # Down the columns: 0 zeros, 2 ones, 2 + 6 * 4 + 3 = 29 zeros, 1 one.
    data["annotations"][1]["segmentation"] = {"size": [4, 8], "counts": [0, 2, 29, 1]}
    ds = CocoDetection(write_json(tmp_path / "x.json", data), "train", (8, 16))
    expected = np.zeros((8, 16), dtype=np.int64)
    expected[2:6, 4:12] = 2  # the polygon, as in test_polygon_mask_and_ignore_regions
    expected[0:4, 0:2] = IGNORE_INDEX  # source pixels (0..1, 0), each 2 x 2 at twice the size
    expected[6:8, 14:16] = IGNORE_INDEX  # source pixel (3, 7)
    assert ds[0]["mask"].numpy().tolist() == expected.tolist()
    assert ds[0]["boxes"].tolist() == [[4.0, 2.0, 12.0, 6.0]]  # crowd still gives no box


def test_compressed_rle_object_is_painted_and_resized(tmp_path: Path) -> None:
    write_images(tmp_path)
    data = copy.deepcopy(ANNOTATIONS)
    del data["annotations"][0]["segmentation"]  # no polygon anywhere: RLE alone gives masks
    source = np.zeros((10, 10), dtype=np.uint8)  # image 3 is 10 x 10
    source[2:7, 1:4] = 1
    source[9, 9] = 1
    counts = mask_utils.encode(np.asfortranarray(source))["counts"].decode("ascii")
    data["annotations"][2]["segmentation"] = {"size": [10, 10], "counts": counts}
    ds = CocoDetection(write_json(tmp_path / "x.json", data), "train", (4, 8))
    assert ds.has_masks
    # Nearest at pixel centres: output row i reads source floor((i + .5) * 10 / 4) = 1, 3, 6,
    # 8; column j reads floor((j + .5) * 10 / 8) = 0, 1, 3, 4, 5, 6, 8, 9. Source rows 3 and 6
    # at columns 1 and 3 are set; (9, 9) is never sampled.
    expected = np.zeros((4, 8), dtype=np.int64)
    expected[1:3, 1:3] = 1  # label 1 = "dog" (category 2)
    assert ds[1]["mask"].numpy().tolist() == expected.tolist()
