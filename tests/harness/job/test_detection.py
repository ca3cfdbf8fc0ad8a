"""`graphspec bench` and `graphspec report` on a detection spec (in-process, CPU)."""

from __future__ import annotations

import math
import shutil
from pathlib import Path

import pandas as pd
import pytest
import torch

from graphspec.cli import main
from tests import REPO

SSD_SMALL = REPO / "specs" / "ssd-small.yaml"


def ssd_small_params() -> int:
    """specs/ssd-small.yaml counted by hand: bias-free convs + batch norms, then the head."""
    convs = [(3, 16), (16, 32), (32, 64), (64, 64), (64, 64), (64, 64)]  # all 3x3, no bias
    total = sum(cin * cout * 9 + 2 * cout for cin, cout in convs)  # + BN weight and bias
    boxes, classes = 4, 3 + 1
    head = 64 * boxes * classes * 9 + boxes * classes + 64 * boxes * 4 * 9 + boxes * 4
    return total + 3 * head  # three source maps of 64 channels


pytestmark = pytest.mark.usefixtures("one_thread")


def test_bench_and_report_a_detection_spec(tmp_path: Path, capsys) -> None:
    out = tmp_path / "run"
    options = ["--epochs", "1", "--limit", "32", "--batch-size", "16", "--quiet"]
    args = ["bench", str(SSD_SMALL), "--out", str(out), *options]
    assert main(args) == 0

    df = pd.read_csv(out / "results.csv")
    assert len(df) == 1
    row = df.iloc[0]
    assert row["status"] == "ok", row.get("error")
    assert row["spec"] == "ssd-small" and row["task"] == "detection"
    for column in ("map", "map50", "map_voc07"):
        value = float(row[column])
        assert math.isfinite(value) and 0.0 <= value <= 1.0, (column, value)
    assert math.isnan(row["miou"])  # no segmentation metrics on a detection row
    assert row["params"] == ssd_small_params() == 190_064
    assert row["train_images"] == 32 and row["eval_images"] == 128 and row["epochs"] == 1
    assert math.isfinite(row["final_loss"]) and row["final_loss"] > 0

    job_dir = next((out / "jobs").iterdir())
    state = torch.load(job_dir / "best.pt", weights_only=True)
    assert state["ssd_cls_map8.weight"].shape == (4 * (3 + 1), 64, 3, 3)
    assert state["ssd_box_map2.weight"].shape == (4 * 4, 64, 3, 3)

    # `graphspec report` on the run folder rebuilds the report from results alone.
    report_dir = out / "report"
    assert (report_dir / "report.html").is_file()  # bench wrote one already
    shutil.rmtree(report_dir)
    capsys.readouterr()
    assert main(["report", str(out)]) == 0
    assert str(report_dir / "report.html") in capsys.readouterr().out
    charts = [p.name for p in report_dir.iterdir() if p.suffix in (".png", ".svg")]
    detection_charts = [name for name in charts if "map" in name and "detection" in name]
    assert any(name.endswith(".png") for name in detection_charts), charts
    assert any(name.endswith(".svg") for name in detection_charts), charts
    html = (report_dir / "report.html").read_text(encoding="utf-8")
    assert "mAP" in html and "ssd-small" in html
