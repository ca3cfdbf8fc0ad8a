"""VOC folder loading on tiny fixtures written here, and the errors for broken folders."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from benchmarks.data import DataError, VOCSegmentation, make_dataset
from tests.harness.data.folders import MASK, make_voc, palette_png


@pytest.fixture
def voc(tmp_path: Path) -> Path:
    return make_voc(tmp_path / "VOC2012")


def test_loads_at_native_size(voc: Path) -> None:
    ds = VOCSegmentation(voc, "train", (4, 6))
    assert len(ds) == 2
    assert ds.num_classes == 21 and len(ds.class_names) == 21
    assert ds.class_names[0] == "background" and ds.class_names[15] == "person"
    assert ds.ids == ["2007_000001", "2007_000002"]
    item = ds[1]
    assert torch.equal(item["mask"], torch.from_numpy(MASK.astype(np.int64)))
    assert item["image"].shape == (3, 4, 6) and item["image"].dtype == torch.float32
    expected = torch.tensor([10, 250, 128], dtype=torch.float32).div(255).view(3, 1, 1)
    assert torch.allclose(item["image"], expected.expand(3, 4, 6), atol=3 / 255)
    assert item["boxes"].shape == (0, 4) and item["boxes"].dtype == torch.float32
    assert item["labels"].shape == (0,) and item["labels"].dtype == torch.int64
    assert item["image_id"] == 1


def test_resize_mask_nearest_and_image_bilinear(voc: Path) -> None:
    item = VOCSegmentation(voc, "train", (2, 3))[0]
    # Nearest at pixel centres: output x reads source floor((x + 0.5) * 2) -> cols 1, 3, 5,
    # rows 1, 3. No blended ids can appear.
    assert item["mask"].tolist() == [[7, 9, 11], [19, 255, 1]]
    expected = torch.tensor([200, 40, 90], dtype=torch.float32).div(255).view(3, 1, 1)
    assert item["image"].shape == (3, 2, 3)
    assert torch.allclose(item["image"], expected.expand(3, 2, 3), atol=3 / 255)


def test_upscale_repeats_mask_pixels(voc: Path) -> None:
    mask = VOCSegmentation(voc, "test", (8, 12))[0]["mask"]  # val.txt
    doubled = MASK.astype(np.int64).repeat(2, axis=0).repeat(2, axis=1)
    assert torch.equal(mask, torch.from_numpy(doubled))


def test_test_split_falls_back_to_val_then_uses_test_txt(tmp_path: Path) -> None:
    plain = make_voc(tmp_path / "a")
    assert VOCSegmentation(plain, "test", (4, 6)).ids == ["2008_000003"]
    with_test = make_voc(tmp_path / "b", test_txt=True)
    assert VOCSegmentation(with_test, "test", (4, 6)).ids == ["2007_000002"]


def test_make_dataset_voc_with_limit(voc: Path) -> None:
    ds = make_dataset(f"voc:{voc}", "train", (4, 6), limit=1)
    assert isinstance(ds, VOCSegmentation)
    assert ds.ids == ["2007_000001"] and len(ds) == 1


def _error(voc: Path, split: str = "train", num_classes: int = 21) -> str:
    """Build the dataset and load every item; return the DataError message."""
    with pytest.raises(DataError) as err:
        ds = VOCSegmentation(voc, split, (4, 6), num_classes=num_classes)
        for i in range(len(ds)):
            ds[i]
    return str(err.value)


def test_missing_mask_names_the_file(voc: Path) -> None:
    missing = voc / "SegmentationClass" / "2007_000002.png"
    missing.unlink()
    message = _error(voc)
    assert message.startswith(f"{missing}: file not found")
    assert "train.txt" in message


def test_missing_image_names_the_file(voc: Path) -> None:
    missing = voc / "JPEGImages" / "2008_000003.jpg"
    missing.unlink()
    assert _error(voc, "test").startswith(str(missing))  # listed in val.txt


def test_wrong_mask_size_names_both_sizes(voc: Path) -> None:
    mask_path = voc / "SegmentationClass" / "2007_000002.png"
    palette_png(mask_path, np.zeros((5, 6), dtype=np.uint8))
    assert _error(voc) == f"{mask_path}: mask is 6x5 but image is 6x4"


def test_missing_split_file(voc: Path) -> None:
    split_file = voc / "ImageSets" / "Segmentation" / "train.txt"
    split_file.unlink()
    assert _error(voc) == f"{split_file}: split file not found"


def test_missing_root_and_folders(tmp_path: Path, voc: Path) -> None:
    assert str(tmp_path / "nowhere") in _error(tmp_path / "nowhere")
    (voc / "SegmentationClass" / "2007_000001.png").unlink()
    (voc / "SegmentationClass" / "2007_000002.png").unlink()
    (voc / "SegmentationClass" / "2008_000003.png").unlink()
    (voc / "SegmentationClass").rmdir()
    assert _error(voc).startswith(f"{voc / 'SegmentationClass'}: mask folder not found")


def test_unreadable_image_names_the_file(voc: Path) -> None:
    broken = voc / "JPEGImages" / "2007_000001.jpg"
    broken.write_bytes(b"\xff\xd8 this is not really a jpeg")
    assert _error(voc).startswith(f"{broken}: cannot read image")


def test_class_id_beyond_num_classes(voc: Path) -> None:
    mask_path = voc / "SegmentationClass" / "2008_000003.png"
    assert "[20]" in _error(voc, "test", num_classes=20)  # id 20 needs 21 classes
    labels = MASK.copy()
    labels[0, 0] = 40
    palette_png(mask_path, labels)
    message = _error(voc, "test")
    assert message.startswith(str(mask_path)) and "[40]" in message


def test_rgb_mask_is_rejected(voc: Path) -> None:
    mask_path = voc / "SegmentationClass" / "2007_000001.png"
    Image.new("RGB", (6, 4), (128, 0, 0)).save(mask_path)
    message = _error(voc)
    assert message.startswith(str(mask_path)) and "'RGB'" in message
