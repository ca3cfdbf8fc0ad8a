"""The training-memory estimate (graphspec.memory) and bench refusing a job that cannot fit."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pytest

import benchmarks.cost.memory_check
import benchmarks.job.build
from compiler import compile_graph
from graphspec import build_graph, load_spec
from graphspec.cli import main
from graphspec.memory import format_bytes, training_memory_bytes

TWO_LAYERS = """\
name: two
task: segmentation
input: {channels: 3, height: 8, width: 8}
classes: 2
encoder:
  - stage: b1
    layers:
      - {op: conv, out: 4, kernel: 3, padding: 1}
      - {op: maxpool, kernel: 2, stride: 2}
decoder: {upsample: unpool}
head: {type: segmentation}
"""


@pytest.fixture
def two(tmp_path: Path) -> Path:
    path = tmp_path / "two.yaml"
    path.write_text(TWO_LAYERS)
    return path


def test_estimate_of_the_encoder_by_hand(two: Path) -> None:
    graph = build_graph(load_spec(two))
    # conv 3->4, 3x3, bias: 4*3*9 + 4 = 112 parameters; maxpool none.
    # outputs per sample: input 3*8*8 = 192, conv 4*8*8 = 256, pool 4*4*4 = 64 -> 512.
    # batch 2, fp32: (4 copies * 112 + 2 * 512) * 4 bytes = (448 + 1024) * 4 = 5888.
    assert training_memory_bytes(graph, batch_size=2) == 5888
    assert training_memory_bytes(graph, batch_size=2, dtype_bytes=2) == 2944


def test_estimate_of_the_compiled_graph_by_hand(two: Path) -> None:
    graph = compile_graph(load_spec(two))
    # + unpool (4*8*8 = 256 elements, no params), decoder conv 4->4 3x3 (4*4*9+4 = 148
    # params, 256 elements), 1x1 head 4->2 (4*2+2 = 10 params, 2*8*8 = 128 elements).
    params, elements = 112 + 148 + 10, 512 + 256 + 256 + 128
    assert (params, elements) == (270, 1152)
    assert training_memory_bytes(graph, batch_size=16) == (4 * 270 + 16 * 1152) * 4 == 78048


def test_format_bytes() -> None:
    assert format_bytes(1.15e12) == "1.15 TB"
    assert format_bytes(7.6e9) == "7.6 GB"
    assert format_bytes(13536) == "13.5 kB"
    assert format_bytes(512) == "512 B"


def test_bench_refuses_a_job_that_does_not_fit_before_building_it(
    two: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture
) -> None:
    monkeypatch.setattr(benchmarks.cost.memory_check, "device_memory_bytes", lambda device: 10_000)

    def no_build(*args: object) -> None:
        raise AssertionError("the model must not be built")

    monkeypatch.setattr(benchmarks.job.build, "build_network", no_build)
    out = tmp_path / "run"
    args = ["bench", str(two), "--out", str(out), "--batch-size", "2", "--quiet", "--no-report"]
    assert main([*args, "--device", "cpu"]) == 1
    row = pd.read_csv(out / "results.csv").iloc[0]
    # compiled graph at batch 2: (4 * 270 + 2 * 1152) * 4 = 13536 bytes > 10 kB
    reason = (
        "DeviceMemoryError: needs ~13.5 kB for one training step at batch 2 (estimate), "
        "device has 10 kB"
    )
    assert row["status"] == "failed" and row["error"] == reason
    assert f"two: FAILED ({reason})" in capsys.readouterr().err  # --quiet still says why


def test_the_real_device_memory_of_the_cpu_is_the_physical_ram() -> None:
    import os

    import torch

    ram = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES")
    assert benchmarks.cost.memory_check.device_memory_bytes(torch.device("cpu")) == ram > 0
