"""Precomputed proposals from files (Fast R-CNN's convention) through the whole harness.

A tiny COCO folder is written from the shapes data at 96x96 (the spec runs at 64x64, so
every box is scaled by 2/3), with one ``STEM.npy`` of proposals per image. The proposal
reader is checked on hand-made files, flips mirror proposals with the boxes, and a
file-source Fast R-CNN spec benches, validates (with test-time views) and predicts.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from benchmarks.data import DataError, ShapesDataset, collate, make_dataset
from benchmarks.data.augment import flip_sample
from benchmarks.data.proposal_files import ProposalFiles, read_proposals
from benchmarks.inference.model import load_model
from benchmarks.inference.outputs import plan_outputs
from benchmarks.inference.predict import predict_images
from benchmarks.inference.val import validate_model
from graphspec.cli import main
from tests import SPECS

SIDE = 96


def _coco(root: Path, count: int = 12) -> Path:
    """``root/all.json`` + ``root/images/*.png`` from the shapes data, at 96x96, and
    ``root/proposals/NAME.npy``: each image's ground truth jittered, plus a corner box."""
    (root / "images").mkdir(parents=True)
    (root / "proposals").mkdir()
    shapes = ShapesDataset("train", image_size=(SIDE, SIDE), num_classes=4, length=count, seed=3)
    images, annotations = [], []
    for index in range(count):
        item = shapes[index]
        name = f"img{index:02d}"
        pixels = (item["image"].permute(1, 2, 0).numpy() * 255).round().astype(np.uint8)
        Image.fromarray(pixels).save(root / "images" / f"{name}.png")
        images.append({"id": index + 1, "file_name": f"{name}.png", "width": SIDE, "height": SIDE})
        boxes = item["boxes"].numpy()
        for box, label in zip(boxes, item["labels"].tolist(), strict=True):
            x1, y1, x2, y2 = (float(v) for v in box)
            annotations.append(
                {
                    "id": len(annotations) + 1,
                    "image_id": index + 1,
                    "category_id": label,
                    "bbox": [x1, y1, x2 - x1, y2 - y1],
                    "area": (x2 - x1) * (y2 - y1),
                    "iscrowd": 0,
                }
            )
        jitter = np.concatenate([boxes, boxes + 2.0, [[0.0, 0.0, 30.0, 30.0]]]).astype(np.float32)
        np.save(root / "proposals" / f"{name}.npy", jitter)
    categories = [{"id": c, "name": n} for c, n in ((1, "circle"), (2, "square"), (3, "triangle"))]
    path = root / "all.json"
    path.write_text(
        json.dumps({"images": images, "annotations": annotations, "categories": categories})
    )
    return path


def _spec(root: Path) -> Path:
    """fast-rcnn-small reading ``proposals/`` (relative to the spec's folder)."""
    text = (SPECS / "fast-rcnn-small.yaml").read_text()
    text = text.replace("name: fast-rcnn-small", "name: fast-rcnn-files")
    text = text.replace(
        "proposals: {source: builtin, count: 100}",
        "proposals: {source: file, folder: proposals, count: 50}",
    )
    path = root / "fast-rcnn-files.yaml"
    path.write_text(text)
    return path


def test_read_proposals_scales_clips_and_keeps_the_first_count(tmp_path: Path) -> None:
    path = tmp_path / "a.npy"
    np.save(path, np.array([[10, 20, 40, 80], [0, 0, 200, 100], [1, 1, 2, 2]], dtype=np.float64))
    boxes = read_proposals(path, 2, (100, 200), (50, 50))  # file image 200 wide, 100 high
    assert boxes.dtype == torch.float32
    assert boxes.tolist() == [[2.5, 10.0, 10.0, 40.0], [0.0, 0.0, 50.0, 50.0]]


@pytest.mark.parametrize(
    ("content", "message"),
    [
        (None, "no proposal file for this image"),
        (np.zeros((3, 5), np.float32), r"expected a numeric \[L, 4\] array"),
        (np.array([[0, 0, np.nan, 4]], np.float32), "must be finite"),
        (np.array([{"x": 1}], dtype=object), "not a NumPy .npy array"),
        (b"not numpy at all", "not a NumPy .npy array"),
    ],
)
def test_a_bad_proposal_file_is_one_data_error_naming_it(tmp_path: Path, content, message) -> None:
    path = tmp_path / "a.npy"
    if isinstance(content, bytes):
        path.write_bytes(content)
    elif content is not None:
        np.save(path, content, allow_pickle=True)
    with pytest.raises(DataError, match=message) as caught:
        read_proposals(path, 10, (8, 8), (8, 8))
    assert str(caught.value).startswith(str(path))


def test_the_shapes_data_has_no_files_to_read(tmp_path: Path) -> None:
    data = ProposalFiles(make_dataset("shapes", "train", (64, 64), limit=1), tmp_path, 5)
    with pytest.raises(DataError, match="use proposals: {source: builtin}"):
        data[0]


def test_proposals_follow_the_image_and_a_flip(tmp_path: Path) -> None:
    json_path = _coco(tmp_path, count=2)
    data = ProposalFiles(
        make_dataset(f"coco:{json_path}", "train", (64, 64)), tmp_path / "proposals", 50
    )
    item = data[0]
    saved = torch.from_numpy(np.load(tmp_path / "proposals" / f"{item['name']}.npy"))
    torch.testing.assert_close(item["proposals"], (saved * 64 / SIDE).clamp(0, 64))
    flipped = flip_sample(item)
    torch.testing.assert_close(flipped["proposals"][:, 0], 64 - item["proposals"][:, 2])
    assert collate([item, flipped])["proposals"][1] is flipped["proposals"]


@pytest.mark.usefixtures("one_thread")
def test_a_file_proposal_spec_benches_validates_and_predicts(tmp_path: Path, capsys) -> None:
    json_path = _coco(tmp_path)
    spec = _spec(tmp_path)
    run = tmp_path / "run"
    args = ["bench", str(spec), "--data", f"coco:{json_path}", "--epochs", "2", "--out", str(run)]
    assert main(args) == 0, capsys.readouterr()
    job = next((run / "jobs").iterdir())
    model = load_model(str(job), None)
    result = validate_model(model, split="test", scales=(1.0, 1.25), flip=True)
    assert 0.0 <= result.metrics["map50"] <= 1.0 and result.images > 0
    images = sorted((tmp_path / "images").glob("*.png"))[:2]
    plan = plan_outputs(images, tmp_path / "out", named=[str(p) for p in images], exist_ok=False)
    done = predict_images(model, plan, scales=(1.0,), flip=False)
    assert len(done.done) == 2 and not done.skipped
    (tmp_path / "elsewhere").mkdir()
    skipped = predict_images(
        load_model(str(job), None),
        plan_outputs(images, tmp_path / "out2", named=[str(p) for p in images], exist_ok=False),
        scales=(1.0,),
        flip=False,
        proposals=tmp_path / "elsewhere",
    )
    assert not skipped.done and "no proposal file for this image" in skipped.skipped[0].reason
