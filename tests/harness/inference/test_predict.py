"""`graphspec predict` on shapes images of another size than the spec's (in-process, CPU)."""

from __future__ import annotations

import itertools
import json
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from benchmarks.data import ShapesDataset
from compiler import GraphNet, compile_graph
from graphspec import load_spec
from graphspec.cli import main
from tests import FIXTURES, SPECS

TINY_SEG = (FIXTURES / "tiny_seg.yaml").read_text()


pytestmark = pytest.mark.usefixtures("one_thread")


def _weights(spec: Path, tmp_path: Path) -> Path:
    """Seeded (untrained) weights of ``spec``: predict only needs weights that fit. Biases
    are zeroed so the classes depend on the pixels, not on one dominant bias."""
    torch.manual_seed(0)
    path = tmp_path / "w.pt"
    state = GraphNet(compile_graph(load_spec(spec))).state_dict()
    zeroed = {k: v * 0 if k.endswith(".bias") else v for k, v in state.items()}
    torch.save(zeroed, path)
    return path


def _images(tmp_path: Path, size: tuple[int, int]) -> Path:
    """Two shapes images of ``size`` (H, W) written as PNG."""
    folder = tmp_path / "images"
    folder.mkdir()
    data = ShapesDataset("test", image_size=size, length=2, seed=3)
    for index in range(2):
        array = (data[index]["image"].permute(1, 2, 0).numpy() * 255).round().astype(np.uint8)
        Image.fromarray(array).save(folder / f"img{index}.png")
    return folder


def _predict(spec: Path, weights: Path, images: Path, out: Path, *extra: str) -> int:
    args = ["predict", str(spec), str(images), "--weights", str(weights), "--out", str(out)]
    return main([*args, *extra])


def test_segmentation_masks_have_the_original_size(tmp_path: Path) -> None:
    spec = tmp_path / "tiny.yaml"
    spec.write_text(TINY_SEG)
    weights, images = _weights(spec, tmp_path), _images(tmp_path, (40, 56))
    assert _predict(spec, weights, images, tmp_path / "plain") == 0
    masks = {}
    for name in ("img0", "img1"):
        mask = np.asarray(Image.open(tmp_path / "plain" / f"{name}_mask.png"))
        assert mask.shape == (40, 56)  # original H x W, not the spec's 32 x 32
        assert set(np.unique(mask).tolist()) <= {0, 1, 2, 3}
        overlay = Image.open(tmp_path / "plain" / f"{name}.png")
        assert overlay.size == (56, 40) and overlay.mode == "RGB"
        masks[name] = mask
    assert _predict(spec, weights, images, tmp_path / "tta", "--scales", "0.5,1", "--flip") == 0
    tta = np.asarray(Image.open(tmp_path / "tta" / "img0_mask.png"))
    assert tta.shape == (40, 56)
    assert (tta != masks["img0"]).any()  # averaging 4 views moves at least one argmax


def test_detection_writes_coco_results(tmp_path: Path) -> None:
    spec = SPECS / "ssd-small.yaml"
    weights, images = _weights(spec, tmp_path), _images(tmp_path, (80, 100))
    assert _predict(spec, weights, images, tmp_path / "plain", "--conf", "0.01") == 0
    plain = json.loads((tmp_path / "plain" / "predictions.json").read_text())
    entries = json.loads((tmp_path / "plain" / "images.json").read_text())
    assert [e["file_name"] for e in entries] == ["img0.png", "img1.png"]
    assert all(e["width"] == 100 and e["height"] == 80 for e in entries)
    assert plain, "untrained SSD still scores boxes above 0.01"
    for det in plain:
        assert set(det) == {"image_id", "category_id", "bbox", "score"}
        assert det["image_id"] in (1, 2) and det["category_id"] in (1, 2, 3)
        x, y, w, h = det["bbox"]
        assert w >= 0 and h >= 0 and x >= 0 and y >= 0
        assert x + w <= 100 + 1e-3 and y + h <= 80 + 1e-3  # mapped back to the 100x80 image
        assert 0 < det["score"] <= 1
    assert Image.open(tmp_path / "plain" / "img0.png").size == (100, 80)
    tta_args = ("--scales", "0.5,1", "--flip", "--conf", "0.01")
    assert _predict(spec, weights, images, tmp_path / "tta", *tta_args) == 0
    tta = json.loads((tmp_path / "tta" / "predictions.json").read_text())
    assert tta != plain


def _best(entries: list[dict], conf: float, max_det: int) -> list[dict]:
    """Each image's entries scoring at least ``conf``, the ``max_det`` best, by hand."""
    kept = []
    for image_id in sorted({e["image_id"] for e in entries}):
        mine = [e for e in entries if e["image_id"] == image_id and e["score"] >= conf]
        kept += sorted(mine, key=lambda e: -e["score"])[:max_det]
    return kept


def _key(entry: dict) -> tuple:
    return (entry["image_id"], entry["score"], entry["category_id"], tuple(entry["bbox"]))


def test_detection_conf_and_max_det_filter_what_is_drawn_and_written(tmp_path: Path) -> None:
    spec = SPECS / "ssd-small.yaml"
    weights, images = _weights(spec, tmp_path), _images(tmp_path, (80, 100))
    assert _predict(spec, weights, images, tmp_path / "all", "--conf", "0", "--max-det", "999") == 0
    every = json.loads((tmp_path / "all" / "predictions.json").read_text())
    assert len([e for e in every if e["image_id"] == 1]) == 200  # decoding's top 200
    scores = sorted({e["score"] for e in every})
    # About half of them, half-way between two scores 1e-4 apart: the 5 decimals written
    # cannot put a score on the other side of it.
    upper = scores[len(scores) // 2 :]
    low, high = next((a, b) for a, b in itertools.pairwise(upper) if b - a >= 1e-4)
    conf = (low + high) / 2
    for name, args, want in (
        ("default", (), _best(every, 0.25, 100)),
        ("conf", ("--conf", str(conf)), _best(every, conf, 100)),
        ("top3", ("--conf", "0", "--max-det", "3"), _best(every, 0.0, 3)),
    ):
        assert _predict(spec, weights, images, tmp_path / name, *args) == 0
        got = json.loads((tmp_path / name / "predictions.json").read_text())
        assert sorted(map(_key, got)) == sorted(map(_key, want)), name
    top3 = json.loads((tmp_path / "top3" / "predictions.json").read_text())
    assert [e["score"] for e in top3 if e["image_id"] == 1] == sorted(
        (e["score"] for e in every if e["image_id"] == 1), reverse=True
    )[:3]


def test_confident_detections_by_hand() -> None:
    from benchmarks.tasks.detection import YOLOTask
    from graphspec import DetectionHead
    from graphspec.schema import YOLOHead

    task = YOLOTask(YOLOHead(), DetectionHead("yolo", 3, grid=2, boxes=1), (10, 10))
    boxes = torch.arange(20, dtype=torch.float32).reshape(5, 4)
    found = [
        {
            "boxes": boxes,
            "scores": torch.tensor([0.1, 0.9, 0.3, 0.25, 0.9]),
            "labels": torch.tensor([1, 2, 3, 1, 2]),
        }
    ]
    (kept,) = task.confident(found, 0.25, 3)
    # at least 0.25: indices 1, 4 (0.9, ties in decoded order), 2 (0.3), 3 (0.25); best 3
    assert kept["scores"].tolist() == pytest.approx([0.9, 0.9, 0.3])
    assert kept["labels"].tolist() == [2, 2, 3]
    assert kept["boxes"].tolist() == [boxes[1].tolist(), boxes[4].tolist(), boxes[2].tolist()]
    (none,) = task.confident(found, 0.95, 3)
    assert none["boxes"].shape == (0, 4) and none["labels"].tolist() == []


def test_bad_conf_and_max_det_are_usage_errors(tmp_path: Path, capsys) -> None:
    spec = tmp_path / "tiny.yaml"
    spec.write_text(TINY_SEG)
    for args, why in (
        (("--conf", "1.5"), "argument --conf: expected a score from 0 to 1, got '1.5'"),
        (("--conf", "x"), "argument --conf: expected a score from 0 to 1, got 'x'"),
        (("--max-det", "0"), "argument --max-det: expected a positive integer, got '0'"),
    ):
        with pytest.raises(SystemExit) as stop:
            main(["predict", str(spec), "a.png", "--out", "o", *args])
        assert stop.value.code == 2
        assert (
            capsys.readouterr().err
            == f"graphspec predict: error: {why} (see graphspec predict --help)\n"
        )
