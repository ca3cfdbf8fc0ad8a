"""`graphspec predict` on shapes images of another size than the spec's (in-process, CPU)."""

from __future__ import annotations

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
    assert _predict(spec, weights, images, tmp_path / "plain") == 0
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
    assert _predict(spec, weights, images, tmp_path / "tta", "--scales", "0.5,1", "--flip") == 0
    tta = json.loads((tmp_path / "tta" / "predictions.json").read_text())
    assert tta != plain


def test_bad_input_is_one_line(tmp_path: Path, capsys) -> None:
    spec = tmp_path / "tiny.yaml"
    spec.write_text(TINY_SEG)
    images = _images(tmp_path, (32, 32))
    assert main(["predict", str(spec), str(images), "--out", str(tmp_path / "o")]) == 1
    assert "give its trained weights with --weights" in capsys.readouterr().err
    weights = _weights(spec, tmp_path)
    assert _predict(spec, weights, images, tmp_path / "o", "--scales", "0,1") == 1
    assert "bad --scales '0,1'" in capsys.readouterr().err


def test_voc_palette_and_unflip_by_hand() -> None:
    from benchmarks.figures.overlay import palette
    from benchmarks.tasks.base import View
    from benchmarks.tasks.detection import YOLOTask
    from graphspec import DetectionHead
    from graphspec.schema import YOLOHead

    colours = palette(16).tolist()  # the VOC devkit's colour map
    assert colours[:4] == [[0, 0, 0], [128, 0, 0], [0, 128, 0], [128, 128, 0]]
    assert colours[15] == [192, 128, 128]  # VOC "person"
    task = YOLOTask(YOLOHead(), DetectionHead("yolo", 1, grid=2, boxes=1), (10, 20))
    found = [{"boxes": torch.tensor([[1.0, 2.0, 5.0, 6.0]]), "scores": torch.ones(1)}]
    # Found on a mirrored 10 px wide view of a 10 x 20 image: x -> 10 - x, then x 2.
    view = View(size=(10, 10), input_size=(10, 20), flipped=True)
    assert task.unview(found, view)[0]["boxes"].tolist() == [[10.0, 2.0, 18.0, 6.0]]
