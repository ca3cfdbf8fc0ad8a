"""Every bench option is refused up front: exit 2, one stderr line, nothing written."""

from __future__ import annotations

import time
from pathlib import Path

import pytest
import torch

from graphspec.cli import main

TINY = """\
name: tiny
task: segmentation
input: {channels: 3, height: 32, width: 32}
classes: 4
encoder:
  - stage: b1
    layers:
      - {op: conv, out: 8, kernel: 3, padding: 1}
      - {op: maxpool, kernel: 2, stride: 2}
      - {op: maxpool, kernel: 2, stride: 2}
decoder: {upsample: unpool}
head: {type: segmentation}
"""


def _usage_error(tmp_path: Path, capsys: pytest.CaptureFixture, *extra: str) -> str:
    """Run bench with ``extra``; assert exit 2 fast, nothing in --out; return the line."""
    spec = tmp_path / "tiny.yaml"
    spec.write_text(TINY)
    out = tmp_path / "run"
    argv = ["bench", str(spec), "--out", str(out), "--epochs", "1", "--limit", "8", *extra]
    start = time.monotonic()
    try:
        code = main(argv)
    except SystemExit as exc:  # argparse's own errors
        code = exc.code
    assert code == 2
    assert time.monotonic() - start < 20  # refused, not trained
    assert not out.exists() and not (out / "results.csv").exists()
    captured = capsys.readouterr()
    lines = captured.err.strip().splitlines()
    assert len(lines) == 1, captured.err
    assert lines[0].startswith("graphspec bench: ")
    return lines[0]


@pytest.mark.parametrize(
    ("shard", "why"),
    [
        ("3/2", "must be below n=2"),
        ("2/2", "must be below n=2"),
        ("1/0", "shard count n must be at least 1"),
        ("a/b", "expected 'i/n'"),
    ],
)
def test_bad_shards(tmp_path: Path, capsys: pytest.CaptureFixture, shard: str, why: str) -> None:
    line = _usage_error(tmp_path, capsys, "--shard", shard)
    assert f"bad shard '{shard}'" in line and why in line


@pytest.mark.parametrize("lr", ["-1", "0", "nan", "inf", "fast"])
def test_bad_learning_rates(tmp_path: Path, capsys: pytest.CaptureFixture, lr: str) -> None:
    assert "argument --lr: expected a positive number or 'auto'" in _usage_error(
        tmp_path, capsys, f"--lr={lr}"
    )


def test_negative_workers(tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    line = _usage_error(tmp_path, capsys, "--workers=-1")
    assert "argument --workers: expected an integer of at least 0, got '-1'" in line


@pytest.mark.parametrize("device", ["tpu", "cuda:x", "gpu"])
def test_unknown_devices(tmp_path: Path, capsys: pytest.CaptureFixture, device: str) -> None:
    line = _usage_error(tmp_path, capsys, "--device", device)
    assert f"expected cpu, cuda, cuda:N or mps, got '{device}'" in line


@pytest.mark.skipif(torch.cuda.is_available(), reason="needs a machine without CUDA")
@pytest.mark.parametrize("device", ["cuda", "cuda:1"])
def test_cuda_without_cuda(tmp_path: Path, capsys: pytest.CaptureFixture, device: str) -> None:
    line = _usage_error(tmp_path, capsys, "--device", device)
    assert (
        line == f"graphspec bench: --device {device}: CUDA is not available on this machine "
        "(try --device cpu)"
    )


def test_too_many_cuda_devices(
    tmp_path: Path, capsys: pytest.CaptureFixture, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
    monkeypatch.setattr(torch.cuda, "device_count", lambda: 2)
    line = _usage_error(tmp_path, capsys, "--device", "cuda:2")
    assert "this machine has 2 CUDA device(s), cuda:0..cuda:1" in line


@pytest.mark.skipif(torch.backends.mps.is_available(), reason="needs a machine without MPS")
def test_mps_without_mps(tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    assert "MPS is not available" in _usage_error(tmp_path, capsys, "--device", "mps")


def test_image_size_below_the_specs_minimum(tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    # two 2x2 pools: 4x4 -> 2x2 -> 1x1 builds, 3x3 -> 1x1 -> 0x0 does not
    line = _usage_error(tmp_path, capsys, "--image-size", "3x3")
    assert "--image-size 3x3:" in line and "tiny.yaml does not build at that size" in line
    assert "maxpool" in line and "it builds at its own 32x32" in line


def test_bad_normalize(tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    assert "bad --normalize 'bogus'" in _usage_error(tmp_path, capsys, "--normalize", "bogus")


def test_argparse_errors_are_one_line(tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    line = _usage_error(tmp_path, capsys, "--image-size", "abc")
    assert line.endswith("(see graphspec bench --help)")
