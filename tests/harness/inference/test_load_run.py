"""benchmarks.load_run on a tiny bench run made here: rows, job folders, trained models.

The reference network is built by hand (the spec text at the bench's image size, a stock
``torch.load`` + ``load_state_dict``), so a wrong size, file or weight choice shows.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pytest
import torch

from benchmarks import RunError, load_run
from compiler import GraphNet, compile_graph
from graphspec import load_spec
from graphspec.cli import main
from tests import tiny_seg

SPEC = tiny_seg("tiny-seg")


@pytest.fixture(scope="module")
def run_dir(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    """A one-job run benched at 16x16 from a relative spec path, as a user in a repo would."""
    root = tmp_path_factory.mktemp("bench")
    (root / "specs").mkdir()
    (root / "specs" / "tiny-seg.yaml").write_text(SPEC)
    here = Path.cwd()
    os.chdir(root)
    try:
        args = ["bench", "specs/tiny-seg.yaml", "--out", "runs/r", "--image-size", "16x16"]
        extra = ["--epochs", "1", "--limit", "8", "--batch-size", "4", "--quiet", "--no-report"]
        assert main([*args, *extra]) == 0
    finally:
        os.chdir(here)
    yield root / "runs" / "r"


def _by_hand(root: Path, weights: str) -> GraphNet:
    """The same network at 16x16 from an edited copy of the spec text, weights via torch."""
    path = root / "by-hand.yaml"
    path.write_text(SPEC.replace("height: 32, width: 32", "height: 16, width: 16"))
    net = GraphNet(compile_graph(load_spec(path)))
    state = torch.load(weights, map_location="cpu", weights_only=True)
    net.load_state_dict(state, strict=True)
    return net.eval()


def test_rows_and_jobs(run_dir: Path) -> None:
    run = load_run(run_dir)
    assert list(run.rows["spec"]) == ["tiny-seg"]
    (job,) = run.jobs
    assert job.name.startswith("tiny-seg-") and len(job.name) == len("tiny-seg-") + 8
    assert job.dir == run_dir / "jobs" / job.name
    assert (job.dir / "best.pt").is_file()
    assert job.spec_file.resolve() == (run_dir.parent.parent / "specs" / "tiny-seg.yaml")
    assert job.config is not None and job.config["settings"]["image_size"] == [16, 16]


@pytest.mark.parametrize("which", ["best", "last"])
def test_model_matches_hand_loaded(run_dir: Path, tmp_path: Path, which: str) -> None:
    run = load_run(run_dir)
    net = run.model("tiny-seg", which=which)
    assert not net.training
    reference = _by_hand(tmp_path, str(run.jobs[0].dir / f"{which}.pt"))
    x = torch.rand(2, 3, 16, 16, generator=torch.Generator().manual_seed(0))
    with torch.no_grad():
        got, want = net(x), reference(x)
    assert got.shape == (2, 4, 16, 16)
    torch.testing.assert_close(got, want, rtol=0, atol=0)


def test_model_by_job_and_folder_name(run_dir: Path) -> None:
    run = load_run(run_dir)
    (job,) = run.jobs
    state = torch.load(job.dir / "best.pt", weights_only=True)
    for net in (run.model(job), run.model(job.name)):
        for key, tensor in net.state_dict().items():
            torch.testing.assert_close(tensor, state[key], rtol=0, atol=0)


def test_unknown_job_and_bad_choice(run_dir: Path) -> None:
    run = load_run(run_dir)
    with pytest.raises(RunError, match="'nope' is no spec or job folder"):
        run.model("nope")
    with pytest.raises(RunError, match="which must be 'best' or 'last'"):
        run.model("tiny-seg", which="middle")  # type: ignore[arg-type]


def test_edited_spec_is_refused(run_dir: Path, tmp_path: Path) -> None:
    run = load_run(run_dir)
    spec_file = run.jobs[0].spec_file
    original = spec_file.read_text()
    spec_file.write_text(original.replace("{op: relu}", "{op: gelu}"))
    try:
        with pytest.raises(RunError, match="changed since job tiny-seg-"):
            run.model("tiny-seg")
    finally:
        spec_file.write_text(original)


def test_missing_run_folder(tmp_path: Path) -> None:
    with pytest.raises(RunError, match="run folder not found"):
        load_run(tmp_path / "absent")
    with pytest.raises(RunError, match="no results.parquet or results.csv"):
        load_run(tmp_path)
