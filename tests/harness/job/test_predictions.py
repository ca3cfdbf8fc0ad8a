"""A bench run leaves a prediction strip and per-class numbers; the report shows both."""

from __future__ import annotations

import json
import math
from pathlib import Path

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


def _mean_defined(entries: list[dict]) -> float:
    values = [e["value"] for e in entries if e["value"] is not None]
    return sum(values) / len(values)


def test_segmentation_job_leaves_strip_and_per_class(tmp_path: Path) -> None:
    spec = tmp_path / "seg_strip.yaml"
    spec.write_text(TINY_SEG)
    row = _bench(spec, tmp_path / "run")
    folder = _job(tmp_path / "run")
    with Image.open(folder / "predictions.png") as strip:
        assert strip.format == "PNG"
        # 3 columns (input, truth, prediction) of 32 px; 4 rows (min(4, 8 val images)).
        assert strip.size == (3 * 32, 4 * 32)
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
    with Image.open(folder / "predictions.png") as strip:
        assert strip.size == (3 * 32, 4 * 32)
    entries = json.loads((folder / "per_class.json").read_text())
    assert [e["index"] for e in entries] == [1, 2, 3]  # classes: 3, background not scored
    defined = [e for e in entries if e["value"] is not None]
    expected = row["map"] if defined else -1.0  # COCOeval: a mean over no class is -1
    mean = _mean_defined(entries) if defined else -1.0
    assert not math.isnan(mean) and mean == pytest.approx(expected, abs=1e-6)
