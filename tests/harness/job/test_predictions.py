"""A bench run leaves a prediction strip and per-class numbers; the report shows both."""

from __future__ import annotations

import json
import math
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from PIL import Image

from graphspec.cli import main
from tests import FIXTURES, tiny_seg

RUNNABLE = FIXTURES / "runnable"

TINY_SEG = tiny_seg("seg_strip", classes=3)


pytestmark = pytest.mark.usefixtures("one_thread")


def _bench(spec: Path, out: Path) -> pd.Series:
    args = ["bench", str(spec), "--out", str(out), "--epochs", "1", "--limit", "8"]
    assert main([*args, "--batch-size", "4", "--quiet"]) == 0
    return pd.read_csv(out / "results.csv").iloc[0]


def _job(out: Path) -> Path:
    (folder,) = (out / "jobs").iterdir()
    return folder


def _check_strip(path: Path) -> None:
    """A strip of 32 px inputs: 4 rows of 3 tiles enlarged 4 times (128 px, at least the
    128 px a tile must have), 2 px apart, then 2 px and the legend band under them."""
    with Image.open(path) as strip:
        assert strip.format == "PNG"
        pixels = np.asarray(strip.convert("RGB"))
    tile, gap = 4 * 32, 2
    grid_height = 4 * tile + 3 * gap
    assert pixels.shape[1] == 3 * tile + 2 * gap
    band = pixels[grid_height + gap :]
    assert len(band) > 12  # room for a line of class names
    assert (pixels[grid_height : grid_height + gap] == 255).all()  # the gap above the band
    assert (pixels[:grid_height, tile : tile + gap] == 255).all()  # between the columns
    picture = pixels[:tile, :tile]  # the input, enlarged nearest-neighbour...
    assert np.array_equal(picture, picture[::4, ::4].repeat(4, axis=0).repeat(4, axis=1))
    # ...with no legend on it (the per-tile legend drew black boxes at the top left) ...
    truth = pixels[:tile, tile + gap : 2 * tile + gap]
    assert (truth[:24, :40] == 0).all(axis=-1).mean() < 0.05
    # ...and the legend under them, in the classes' colours (VOC palette: 1 dark red).
    assert ((band == (128, 0, 0)).all(axis=-1)).any()


def _mean_defined(entries: list[dict]) -> float:
    values = [e["value"] for e in entries if e["value"] is not None]
    return sum(values) / len(values)


def test_segmentation_job_leaves_strip_and_per_class(tmp_path: Path) -> None:
    spec = tmp_path / "seg_strip.yaml"
    spec.write_text(TINY_SEG)
    row = _bench(spec, tmp_path / "run")
    folder = _job(tmp_path / "run")
    _check_strip(folder / "predictions.png")  # 4 rows: min(4, 8 val images)
    entries = json.loads((folder / "per_class.json").read_text())
    assert [e["index"] for e in entries] == [0, 1, 2]
    assert entries[0]["name"] == "background"
    assert _mean_defined(entries) == pytest.approx(row["miou"], abs=1e-9)

    report = (tmp_path / "run" / "report" / "report.md").read_text()
    images = [p.name for p in (tmp_path / "run" / "report").glob("*predictions*.png")]
    assert len(images) == 1 and f"]({images[0]})" in report
    for entry in entries:
        value = "–" if entry["value"] is None else f"{entry['value']:.3f}"
        assert f"| {entry['name']} | {value} |" in report
    html = (tmp_path / "run" / "report" / "report.html").read_text()
    assert 'src="data:image/png;base64,' in html
    assert f"<td>{entries[0]['name']}</td>" in html


def test_detection_per_class_mean_is_map(tmp_path: Path) -> None:
    row = _bench(RUNNABLE / "det_ssd_ok.yaml", tmp_path / "run")
    folder = _job(tmp_path / "run")
    _check_strip(folder / "predictions.png")
    entries = json.loads((folder / "per_class.json").read_text())
    assert [e["index"] for e in entries] == [1, 2, 3]  # classes: 3, background not scored
    defined = [e for e in entries if e["value"] is not None]
    expected = row["map"] if defined else -1.0  # COCOeval: a mean over no class is -1
    mean = _mean_defined(entries) if defined else -1.0
    assert not math.isnan(mean) and mean == pytest.approx(expected, abs=1e-6)
