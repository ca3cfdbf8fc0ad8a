"""`graphspec bench` on a COCO-format dataset written by the test (detection end to end)."""

from __future__ import annotations

import json
import math
from pathlib import Path

import pandas as pd
import torch
from PIL import Image, ImageDraw

from graphspec.cli import main
from tests import REPO

CATEGORIES = [{"id": 1, "name": "red"}, {"id": 5, "name": "green"}, {"id": 9, "name": "blue"}]
COLOURS = {1: (220, 30, 30), 5: (30, 200, 30), 9: (30, 30, 220)}


def _write_split(root: Path, split: str, count: int, seed: int) -> None:
    generator = torch.Generator().manual_seed(seed)
    images, annotations = [], []
    (root / split).mkdir(parents=True)
    for image_id in range(1, count + 1):
        image = Image.new("RGB", (64, 64), (128, 128, 128))
        draw = ImageDraw.Draw(image)
        category = CATEGORIES[image_id % 3]["id"]
        x, y = (int(v) for v in torch.randint(0, 32, (2,), generator=generator))
        w, h = (int(v) for v in torch.randint(12, 30, (2,), generator=generator))
        draw.rectangle([x, y, x + w - 1, y + h - 1], fill=COLOURS[category])
        name = f"{image_id:04d}.png"
        image.save(root / split / name)
        images.append({"id": image_id, "file_name": name, "width": 64, "height": 64})
        annotations.append(
            {
                "id": image_id,
                "image_id": image_id,
                "category_id": category,
                "bbox": [x, y, w, h],
                "area": w * h,
                "iscrowd": 0,
            }
        )
    (root / "annotations").mkdir(exist_ok=True)
    data = {"images": images, "annotations": annotations, "categories": CATEGORIES}
    (root / "annotations" / f"instances_{split}.json").write_text(json.dumps(data))


def test_ssd_bench_on_coco_json(tmp_path: Path) -> None:
    root = tmp_path / "coco"
    _write_split(root, "train", 24, seed=0)
    _write_split(root, "val", 8, seed=1)
    out = tmp_path / "run"
    spec = REPO / "specs" / "ssd-small.yaml"
    code = main(
        [
            "bench",
            str(spec),
            "--out",
            str(out),
            "--data",
            f"coco:{root}",
            "--epochs",
            "1",
            "--batch-size",
            "8",
            "--quiet",
            "--no-report",
        ]
    )
    assert code == 0
    row = pd.read_csv(out / "results.csv").iloc[0]
    assert row["status"] == "ok", row["error"]
    # 10% of the 24 train images (round(2.4) = 2) are held out as the validation split.
    assert row["train_images"] == 22 and row["val_images"] == 2
    assert row["eval_images"] == 8  # test falls back to val
    for key in ("map", "map50", "map_voc07"):
        assert math.isfinite(row[key]) and 0.0 <= row[key] <= 1.0
