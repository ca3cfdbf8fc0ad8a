"""The shared loader of a job folder (``val``, ``predict`` through ``load_model``,
``load_run``) on a one-job run benched here from a relative spec path, as a user in a
repository would.

Expected values are worked out independently: the spec's hash with hashlib from the file's
bytes, the job's hash from the results parquet read with pandas, the weights with a stock
``torch.load``. Tests that change files work on a copy of the whole folder (specs and run).
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
from collections.abc import Iterator
from pathlib import Path

import pandas as pd
import pytest
import torch

from benchmarks import load_run
from benchmarks.inference.model import InferenceError, load_model
from benchmarks.store.jobs import job_key
from compiler.emit.weights import WeightsError
from graphspec.cli import main
from tests import tiny_seg

pytestmark = pytest.mark.usefixtures("one_thread")

SPEC = tiny_seg("tiny-seg")


@pytest.fixture(scope="module")
def benched(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    """ROOT with ``specs/tiny-seg.yaml`` and ``runs/r`` (benched from ROOT at 16x16)."""
    root = tmp_path_factory.mktemp("loader")
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
    yield root


def _copy(root: Path, tmp_path: Path) -> tuple[Path, Path]:
    """A copy of ROOT and its job folder."""
    copy = tmp_path / "copy"
    shutil.copytree(root, copy)
    (job,) = (copy / "runs" / "r" / "jobs").iterdir()
    return copy, job


def _sha16(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()[:16]


def _row_hash(root: Path) -> str:
    return str(pd.read_parquet(root / "runs" / "r" / "results.parquet")["spec_hash"].iloc[0])


def test_an_edited_spec_is_refused_by_val_and_predict(
    benched: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys
) -> None:
    root, job = _copy(benched, tmp_path)
    spec = (root / "specs" / "tiny-seg.yaml").resolve()
    expected = _row_hash(root)
    assert expected == _sha16(spec)  # the copy is the spec the job trained
    spec.write_text(SPEC.replace("{op: relu}", "{op: gelu}"))  # same shapes: weights would fit
    message = (
        f"spec file {spec} changed since job {job.name} ran "
        f"(expected hash {expected}, got {_sha16(spec)})"
    )
    monkeypatch.chdir(tmp_path)
    with pytest.raises(InferenceError) as caught:
        load_model(job)  # what predict calls
    assert str(caught.value) == message
    assert main(["val", str(job)]) == 1
    assert capsys.readouterr().err == f"error: {message}\n"


def test_a_job_folder_loads_from_another_working_directory(
    benched: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys
) -> None:
    """The recorded ``specs/tiny-seg.yaml`` is found below an ancestor of the run folder,
    not in the working folder, which holds another spec of that name."""
    (job,) = (benched / "runs" / "r" / "jobs").iterdir()
    elsewhere = tmp_path / "elsewhere"
    (elsewhere / "specs").mkdir(parents=True)
    (elsewhere / "specs" / "tiny-seg.yaml").write_text(SPEC.replace("{op: relu}", "{op: gelu}"))
    monkeypatch.chdir(elsewhere)
    model = load_model(job)
    assert Path(model.spec.source.file).resolve() == benched / "specs" / "tiny-seg.yaml"
    assert model.size == (16, 16)
    saved = torch.load(job / "best.pt", weights_only=True)
    for key, tensor in model.net.state_dict().items():
        assert torch.equal(tensor, saved[key])
    assert main(["val", str(job), "--json"]) == 0
    assert '"miou"' in capsys.readouterr().out
    net = load_run(benched / "runs" / "r").model("tiny-seg")
    for key, tensor in net.state_dict().items():
        assert torch.equal(tensor, saved[key])
    monkeypatch.chdir(job)  # from inside the job folder itself
    assert torch.equal(load_model(".").net.state_dict()["b1_0.weight"], saved["b1_0.weight"])


def test_nan_weights_fail_val_in_one_line(benched: Path, tmp_path: Path, capsys) -> None:
    root, job = _copy(benched, tmp_path)
    state = torch.load(job / "best.pt", weights_only=True)
    nan = {
        k: torch.full_like(v, float("nan")) if v.is_floating_point() else v
        for k, v in state.items()
    }
    torch.save(nan, job / "best.pt")
    floats = [k for k, v in state.items() if v.is_floating_point()]
    listed = ", ".join(floats[:5]) + (f", ... ({len(floats) - 5} more)" if len(floats) > 5 else "")
    expected = f"weights {job / 'best.pt'} hold NaN or inf: tensors ({len(floats)}): {listed}"
    assert main(["val", str(job)]) == 1
    assert capsys.readouterr().err == f"error: {expected}\n"
    with pytest.raises(WeightsError) as caught:
        load_run(root / "runs" / "r").model("tiny-seg")
    assert str(caught.value) == expected


def test_a_job_folder_out_of_its_run_is_checked_by_its_key(
    benched: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """No results beside it: the folder name's key (which hashes the spec) is the check."""
    root, job = _copy(benched, tmp_path)
    loose = tmp_path / "loose" / "models" / job.name
    shutil.copytree(job, loose)
    monkeypatch.chdir(root)  # the recorded relative path is found as recorded
    assert load_model(loose).size == (16, 16)
    spec = root / "specs" / "tiny-seg.yaml"
    spec.write_text(SPEC.replace("{op: relu}", "{op: gelu}"))
    edited = _sha16(spec)
    settings = load_run(root / "runs" / "r").jobs[0].config["settings"]  # type: ignore[index]
    key = job_key(edited, settings, spec_name="tiny-seg")
    with pytest.raises(InferenceError) as caught:
        load_model(loose)
    assert str(caught.value) == (
        f"spec file specs/tiny-seg.yaml is not the one job {job.name} trained, or the folder "
        f"was renamed (hash {edited} gives job key {key[:8]}; no results row records the "
        "job's spec_hash)"
    )


def test_a_hash_in_config_rows_is_the_one_checked(
    benched: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """``config.json``'s row, when it records ``spec_hash``, is the job's own word."""
    root, job = _copy(benched, tmp_path)
    config = json.loads((job / "config.json").read_text())
    config["row"]["spec_hash"] = "0123456789abcdef"
    (job / "config.json").write_text(json.dumps(config))
    monkeypatch.chdir(root)
    spec = root / "specs" / "tiny-seg.yaml"
    with pytest.raises(InferenceError) as caught:
        load_model(job)
    assert str(caught.value) == (
        f"spec file specs/tiny-seg.yaml changed since job {job.name} ran "
        f"(expected hash 0123456789abcdef, got {_sha16(spec)})"
    )
