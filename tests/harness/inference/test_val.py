"""`graphspec val` on a job that `graphspec bench` trained: it reproduces the row's metrics."""

from __future__ import annotations

import json
import math
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import torch
from PIL import Image

from benchmarks.figures.confusion import row_normalised
from benchmarks.figures.pr_curves import average_precision
from graphspec.cli import main
from tests import FIXTURES, REPO

TINY_SEG = (FIXTURES / "tiny_seg.yaml").read_text()


pytestmark = pytest.mark.usefixtures("one_thread")


@pytest.fixture(scope="module")
def trained(tmp_path_factory) -> tuple[Path, pd.Series]:
    """A tiny spec benched for one epoch: its job folder and its results row."""
    root = tmp_path_factory.mktemp("val")
    spec = root / "tiny.yaml"
    spec.write_text(TINY_SEG)
    out = root / "run"
    options = ["--epochs", "1", "--limit", "8", "--batch-size", "4", "--quiet", "--no-report"]
    assert main(["bench", str(spec), "--out", str(out), *options]) == 0
    row = pd.read_csv(out / "results.csv").iloc[0]
    assert row["status"] == "ok", row.get("error")
    return next((out / "jobs").iterdir()), row


def _val(job: Path, capsys, *extra: str) -> dict:
    assert main(["val", str(job), "--json", *extra]) == 0
    return json.loads(capsys.readouterr().out)


def test_scale_one_reproduces_the_bench_row(trained, capsys, tmp_path: Path) -> None:
    job, row = trained
    result = _val(job, capsys, "--split", "test", "--out", str(tmp_path))
    assert result["metrics"]["miou"] == float(row["miou"])
    assert result["metrics"]["pixel_acc"] == float(row["pixel_acc"])
    assert result["images"] == int(row["eval_images"])
    confusion = np.array(result["confusion"])
    assert confusion.shape == (4, 4)
    diagonal, total = np.trace(confusion), confusion.sum()
    assert diagonal / total == pytest.approx(float(row["pixel_acc"]), abs=1e-12)
    iou = [c["value"] for c in result["per_class"]]
    by_hand = [
        confusion[k, k] / (confusion[k].sum() + confusion[:, k].sum() - confusion[k, k])
        if confusion[k].sum() + confusion[:, k].sum()
        else None
        for k in range(4)
    ]
    assert iou == pytest.approx(by_hand)
    assert [c["name"] for c in result["per_class"]] == [
        "background",
        "circle",
        "square",
        "triangle",
    ]
    assert np.mean([v for v in iou if v is not None]) == pytest.approx(float(row["miou"]))
    assert Image.open(tmp_path / "confusion.png").size[0] > 100
    assert json.loads((tmp_path / "val.json").read_text())["metrics"] == result["metrics"]


def test_multi_scale_and_flip_change_the_numbers(trained, capsys) -> None:
    job, row = trained
    result = _val(job, capsys, "--scales", "0.5,1", "--flip")
    assert result["metrics"]["miou"] != float(row["miou"])
    assert 0.0 <= result["metrics"]["miou"] <= 1.0


def test_table_and_bad_options(trained, capsys) -> None:
    job, _ = trained
    assert main(["val", str(job)]) == 0
    table = capsys.readouterr().out
    assert "shapes test: 128 images" in table.splitlines()[0]
    assert any(line.split()[0] == "circle" for line in table.splitlines()[1:])
    assert main(["val", str(job), "--weights", "x.pt"]) == 2  # a usage error
    assert "is a job folder" in capsys.readouterr().err


def test_row_normalised_by_hand() -> None:
    shares = row_normalised(np.array([[3, 1], [0, 0]]))
    assert shares.tolist() == [[0.75, 0.25], [0.0, 0.0]]
    assert not math.isnan(shares.sum())


def test_detection_per_class_ap_averages_to_the_map(tmp_path: Path, capsys) -> None:
    from compiler import GraphNet, compile_graph
    from graphspec import load_spec

    spec = REPO / "specs" / "ssd-small.yaml"
    torch.manual_seed(0)
    weights = tmp_path / "w.pt"
    torch.save(GraphNet(compile_graph(load_spec(spec))).state_dict(), weights)
    result = _val(spec, capsys, "--weights", str(weights), "--data", "shapes", "--flip")
    assert [c["name"] for c in result["per_class"]] == ["circle", "square", "triangle"]
    ap = [c["value"] for c in result["per_class"]]
    assert all(0.0 <= v <= 1.0 for v in ap)  # every shape class has ground truth
    assert np.mean(ap) == pytest.approx(result["metrics"]["map"])  # COCO mAP: mean of APs
    assert result["confusion"] is None
    curves = result["pr_curves"]
    assert len(curves["recall"]) == 101 and list(curves["precision"]) == [
        "circle",
        "square",
        "triangle",
    ]
    ap50 = [average_precision(p) for p in curves["precision"].values()]
    assert np.mean(ap50) == pytest.approx(result["metrics"]["map50"])  # area under each curve
    out = tmp_path / "val"
    argv = ["val", str(spec), "--weights", str(weights), "--data", "shapes", "--out", str(out)]
    assert main(argv) == 0
    assert Image.open(out / "pr_curves.png").size[0] > 100 and not (out / "confusion.png").exists()
