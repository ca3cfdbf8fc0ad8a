"""The transfer path of examples/transfer.sh, in-process with tiny settings: train
classifier-small, slide it over a larger image, start a segmentation encoder from its
run's checkpoint, and fail loudly (check and bench) when that checkpoint is wrong."""

from __future__ import annotations

import importlib.util
from pathlib import Path
from types import ModuleType

import pandas as pd
import pytest
import torch
from PIL import Image

from benchmarks.data.normalize import SHAPES
from compiler import GraphNet, compile_graph
from compiler.transfer import load_encoder_weights
from graphspec import load_spec
from graphspec.cli import main
from tests import REPO

EXAMPLES = REPO / "examples"
ENCODER_KEYS = sorted(
    [f"conv{i}.{p}" for i in (1, 2, 3) for p in ("weight", "bias")]
    + [
        f"bn{i}.{p}"
        for i in (1, 2, 3)
        for p in ("weight", "bias", "running_mean", "running_var", "num_batches_tracked")
    ]
)
TRAINABLE_ENCODER = [k for k in ENCODER_KEYS if k.split(".")[1] in ("weight", "bias")]


pytestmark = pytest.mark.usefixtures("one_thread")


def _bench(spec: Path, out: Path) -> int:
    args = ["bench", str(spec), "--out", str(out), "--epochs", "1", "--limit", "16"]
    return main([*args, "--batch-size", "8", "--quiet", "--no-report"])


def _job_dir(out: Path) -> Path:
    (job,) = (out / "jobs").iterdir()
    return job


def _checkpoint_of(job: Path) -> Path:
    """The run's plain state_dict: best.pt where the harness keeps the best epoch."""
    return job / "best.pt"


def _segmentation_spec(folder: Path, checkpoint: str, name: str = "seg") -> Path:
    """examples/segnet-transfer.yaml with its checkpoint path replaced (and frozen)."""
    text = (EXAMPLES / "segnet-transfer.yaml").read_text()
    line = next(x for x in text.splitlines() if x.startswith("encoder_init:"))
    text = text.replace(line, f"encoder_init: {{checkpoint: {checkpoint}, freeze: true}}")
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / f"{name}.yaml"
    path.write_text(text)
    return path


def _init_line(spec: Path) -> int:
    lines = spec.read_text().splitlines()
    return next(i for i, x in enumerate(lines, 1) if x.startswith("encoder_init:"))


def _heatmap_script() -> ModuleType:
    spec = importlib.util.spec_from_file_location("heatmap", EXAMPLES / "heatmap.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.fixture(scope="module")
def classifier(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """One epoch of classifier-small on 16 images; its run's checkpoint file."""
    out = tmp_path_factory.mktemp("transfer") / "classifier"
    assert _bench(REPO / "specs" / "classifier-small.yaml", out) == 0
    row = pd.read_csv(out / "results.csv").iloc[0]
    assert row["status"] == "ok" and row["task"] == "classification"
    assert 0.0 <= row["top1"] <= 1.0
    return _checkpoint_of(_job_dir(out))


def test_segmentation_encoder_starts_from_the_classifier_and_stays_frozen(
    classifier: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    state = torch.load(classifier, weights_only=True)
    # The run's checkpoint named as it lies, relative to the spec's folder (a sibling of
    # the run's folder), while the working directory is somewhere else.
    run = classifier.parents[2]
    relative = Path("..", *classifier.relative_to(run.parent).parts).as_posix()
    spec_path = _segmentation_spec(run.parent / "specs", relative)
    monkeypatch.chdir(tmp_path)
    assert main(["check", str(spec_path)]) == 0

    # Before the first step: a fresh model, as bench builds it (same seed), gets the
    # classifier's encoder tensors; its fc layers have nowhere to go.
    spec = load_spec(spec_path)
    torch.manual_seed(0)
    fresh = GraphNet(compile_graph(spec))
    report = load_encoder_weights(fresh, spec)
    assert sorted(report.loaded) == ENCODER_KEYS
    assert report.missing == [] and report.unexpected == ["fc.bias", "fc.weight"]
    assert report.frozen == len(TRAINABLE_ENCODER)
    for key in ENCODER_KEYS:
        assert torch.equal(fresh.state_dict()[key], state[key]), key

    out = tmp_path / "seg-run"
    assert _bench(spec_path, out) == 0
    row = pd.read_csv(out / "results.csv").iloc[0]
    assert row["status"] == "ok" and 0.0 <= row["miou"] <= 1.0
    trained = torch.load(_checkpoint_of(_job_dir(out)), weights_only=True)
    for key in TRAINABLE_ENCODER:
        assert torch.equal(trained[key], state[key]), key
    assert not torch.equal(trained["head.weight"], fresh.state_dict()["head.weight"])


def test_the_classifier_slides_over_a_larger_image_as_a_heat_map(
    classifier: Path, tmp_path: Path
) -> None:
    """64x64 training input -> 8x8 map, pooled by an 8x8 window with stride 1. A 96x128
    input gives a 12x16 map, so (12-8+1) x (16-8+1) = 5x9 scores per class."""
    script = _heatmap_script()
    spec = REPO / "specs" / "classifier-small.yaml"
    image, scores, names = script.heatmap(spec, classifier, (96, 128), SHAPES)
    assert image.shape == (3, 96, 128)
    assert scores.shape == (4, 5, 9)
    torch.testing.assert_close(scores.sum(dim=0), torch.ones(5, 9))
    assert names == ["circle", "square", "triangle", "ellipse"]
    png = tmp_path / "heat.png"
    args = [str(spec), str(classifier), "--size", "96x128", "--out", str(png)]
    assert script.main(args) == 0
    with Image.open(png) as img:
        assert img.format == "PNG"


@pytest.mark.parametrize(
    ("checkpoint", "reason"),
    [("nowhere/missing.pt", "checkpoint not found"), ("other.pt", "matches none")],
    ids=["missing", "non-matching"],
)
def test_a_bad_checkpoint_fails_check_and_bench_at_its_line(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], checkpoint: str, reason: str
) -> None:
    torch.save({"backbone.0.weight": torch.zeros(16, 3, 3, 3)}, tmp_path / "other.pt")
    spec = _segmentation_spec(tmp_path, checkpoint)
    where = f"{spec}:{_init_line(spec)}:"
    capsys.readouterr()
    assert main(["check", str(spec)]) == 1
    printed = capsys.readouterr().out
    assert where in printed and reason in printed and "encoder_init.checkpoint" in printed

    out = tmp_path / "run"
    assert _bench(spec, out) == 1
    row = pd.read_csv(out / "results.csv").iloc[0]
    assert row["status"] == "failed"
    assert where in row["error"] and reason in row["error"]
    assert not any(_job_dir(out).glob("*.pt"))  # nothing was trained
