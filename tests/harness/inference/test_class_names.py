"""Class names in ``val`` and ``predict``: a job's record, a spec's ``class_names``, a VOC
folder's ``labelmap.txt``, the built-in names, and the one-line errors.

Expected names are literals written into the files here. ``predict``'s names are the ones
handed to the drawing (the overlay's legend), caught by wrapping the drawing function.
"""

from __future__ import annotations

import importlib
import json
import shutil
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import torch
from PIL import Image

from benchmarks.inference.model import load_model
from compiler import GraphNet, compile_graph
from graphspec import load_spec
from graphspec.cli import main
from tests import SPECS, tiny_seg
from tests.harness.data.folders import MASK, make_voc, palette_png

pytestmark = pytest.mark.usefixtures("one_thread")

SPEC_NAMES = ["sky", "tree", "car", "bus"]
RECORDED = ["nothing", "one", "two", "three"]
OWN = ["background", "road", "kerb", "lane marking"]
SHAPES = ["background", "circle", "square", "triangle"]


@pytest.fixture(scope="module")
def run(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A run of two tiny shapes jobs at 16x16: ``plain`` (no class_names) and ``named``."""
    root = tmp_path_factory.mktemp("names")
    (root / "plain.yaml").write_text(tiny_seg("plain"))
    (root / "named.yaml").write_text(tiny_seg("named") + f"class_names: {SPEC_NAMES}\n")
    specs = [str(root / "plain.yaml"), str(root / "named.yaml")]
    options = ["--epochs", "1", "--limit", "8", "--batch-size", "4", "--image-size", "16x16"]
    out = ["--out", str(root / "run"), "--quiet", "--no-report"]
    assert main(["bench", *specs, *options, *out]) == 0
    return root / "run"


def _job(run: Path, tmp_path: Path, spec: str, names: object = None) -> Path:
    """A copy of ``run``'s job of ``spec`` whose config.json records ``names`` (None: no
    record, as a job folder from before bench kept them)."""
    copy = tmp_path / "run"
    shutil.copytree(run, copy)
    (job,) = (copy / "jobs").glob(f"{spec}-*")
    config = json.loads((job / "config.json").read_text())
    config.pop("class_names", None)
    if names is not None:
        config["class_names"] = names
    (job / "config.json").write_text(json.dumps(config))
    return job


def _val_names(capsys: pytest.CaptureFixture[str], *argv: str) -> list[str]:
    assert main(["val", *argv, "--json"]) == 0
    return [c["name"] for c in json.loads(capsys.readouterr().out)["per_class"]]


def _spy(monkeypatch: pytest.MonkeyPatch, module: str, name: str) -> list[list[str]]:
    """Record the ``names`` every call of ``module.name`` (a drawing) is given."""
    target = importlib.import_module(module)
    drawn: list[list[str]] = []
    real: Callable[..., Any] = getattr(target, name)

    def spy(*args: Any) -> Any:
        drawn.append(list(args[-1]))
        return real(*args)

    monkeypatch.setattr(target, name, spy)
    return drawn


def _images(tmp_path: Path) -> Path:
    folder = tmp_path / "images"
    folder.mkdir()
    Image.new("RGB", (20, 12), (200, 30, 60)).save(folder / "a.png")
    return folder


def _weights(spec: Path, tmp_path: Path) -> Path:
    torch.manual_seed(0)
    path = tmp_path / f"{spec.stem}.pt"
    torch.save(GraphNet(compile_graph(load_spec(spec))).state_dict(), path)
    return path


def _voc(tmp_path: Path, labelmap: str) -> Path:
    """A VOC-layout folder whose masks hold ids 0..3, with ``labelmap`` as labelmap.txt."""
    root = make_voc(tmp_path / "own")
    for mask in (root / "SegmentationClass").iterdir():
        palette_png(mask, np.where(MASK == 255, 255, MASK % 4).astype(np.uint8))
    (root / "labelmap.txt").write_text(labelmap)
    return root


LABELMAP = "# label:color_rgb:parts:actions\n" + "".join(f"{n}:0,0,0::\n" for n in OWN)


def test_val_names_a_voc_folders_classes_from_its_labelmap(
    run: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    voc = f"voc:{_voc(tmp_path, LABELMAP)}"
    spec = tmp_path / "plain.yaml"
    spec.write_text(tiny_seg("plain"))
    weights = str(_weights(spec, tmp_path))
    assert main(["val", str(spec), "--weights", weights, "--data", voc]) == 0
    table = capsys.readouterr().out.splitlines()
    assert [line.strip().rsplit(None, 1)[0] for line in table[-4:]] == OWN
    assert _val_names(capsys, str(spec), "--weights", weights, "--data", voc) == OWN
    # Without a split opened (predict), the names are read from the folder itself.
    assert load_model(spec, weights, data=voc).class_names() == OWN
    # A job trained on shapes, scored on the folder: the folder's own names.
    job = _job(run, tmp_path, "plain", RECORDED)
    assert _val_names(capsys, str(job), "--data", voc) == OWN


def test_a_spec_names_label_predicts_overlays_and_vals_table(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    spec = tmp_path / "named.yaml"
    spec.write_text(tiny_seg("named") + f"class_names: {SPEC_NAMES}\n")
    weights, images = str(_weights(spec, tmp_path)), str(_images(tmp_path))
    drawn = _spy(monkeypatch, "benchmarks.tasks.segmentation", "segmentation_overlay")
    argv = [str(spec), images, "--weights", weights, "--out", str(tmp_path / "o")]
    assert main(["predict", *argv]) == 0
    assert drawn == [SPEC_NAMES]
    capsys.readouterr()
    assert _val_names(capsys, str(spec), "--weights", weights) == SPEC_NAMES
    # A detector's spec names its objects only; background comes first in the legend.
    ssd = tmp_path / "ssd.yaml"
    ssd.write_text((SPECS / "ssd-small.yaml").read_text() + "class_names: [ring, box, wedge]\n")
    boxes = _spy(monkeypatch, "benchmarks.tasks.detection", "draw_boxes")
    argv = ["--weights", str(_weights(ssd, tmp_path)), "--out", str(tmp_path / "d")]
    assert main(["predict", str(ssd), images, *argv]) == 0
    assert boxes == [["background", "ring", "box", "wedge"]]


def test_a_job_folders_recorded_names_serve_val_and_predict(
    run: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    job = _job(run, tmp_path, "plain", RECORDED)  # its spec names no classes
    assert _val_names(capsys, str(job)) == RECORDED
    drawn = _spy(monkeypatch, "benchmarks.tasks.segmentation", "segmentation_overlay")
    assert main(["predict", str(job), str(_images(tmp_path)), "--out", str(tmp_path / "o")]) == 0
    assert drawn == [RECORDED]


def test_an_older_job_folder_falls_back_to_spec_then_built_in_names(
    run: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert _val_names(capsys, str(_job(run, tmp_path / "a", "named"))) == SPEC_NAMES
    assert _val_names(capsys, str(_job(run, tmp_path / "b", "plain"))) == SHAPES


@pytest.mark.parametrize(
    ("names", "why"),
    [
        (["a", "b", "c"], "'class_names' names 3 classes, but the model has 4 (background first)"),
        ("abcd", "'class_names' is not a list of names"),
        (["a", "b", "", "d"], "'class_names' is not a list of names"),
    ],
)
def test_recorded_names_that_do_not_fit_fail_in_one_line(
    run: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str], names: object, why: str
) -> None:
    job = _job(run, tmp_path, "plain", names)
    assert main(["val", str(job)]) == 1
    assert capsys.readouterr().err == f"error: {job / 'config.json'}: {why}\n"


def test_a_malformed_labelmap_fails_val_in_one_line(
    run: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    root = _voc(tmp_path, "background:0,0,0::\nroad:0,0\n")
    job = _job(run, tmp_path, "plain", RECORDED)
    # --data is opened before anything runs: a usage error (exit 2), in one line.
    assert main(["val", str(job), "--data", f"voc:{root}"]) == 2
    path = root / "labelmap.txt"
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and err.endswith(
        f"{path}:2: bad label line 'road:0,0': 2 ':'-separated fields (expected 4) "
        "(expected name:r,g,b:parts:actions)\n"
    )
