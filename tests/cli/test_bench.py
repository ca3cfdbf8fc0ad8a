"""End-to-end `graphspec bench` / `report` runs on tiny specs (in-process, CPU)."""

from __future__ import annotations

import dataclasses
import json
import math
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import torch

from benchmarks.data.splits import open_job_data
from benchmarks.store.row import ResultRow
from graphspec import load_spec
from graphspec.cli import main
from graphspec.cli.sweep_output import describe_row
from tests import tiny_seg


def _spec(tmp_path: Path, name: str, classes: int = 4) -> Path:
    path = tmp_path / f"{name}.yaml"
    path.write_text(tiny_seg(name, classes))
    return path


def _bench(specs: list[Path], out: Path, *extra: str) -> int:
    args = [
        "bench",
        *map(str, specs),
        "--out",
        str(out),
        "--epochs",
        "1",
        "--limit",
        "16",
        "--batch-size",
        "8",
        "--quiet",
        *extra,
    ]
    return main(args)


pytestmark = pytest.mark.usefixtures("one_thread")


def test_bench_writes_rows_weights_config_and_report(tmp_path: Path) -> None:
    spec = _spec(tmp_path, "tiny")
    out = tmp_path / "run"
    assert _bench([spec], out) == 0
    df = pd.read_parquet(out / "results.parquet")
    assert len(df) == 1
    row = df.iloc[0]
    assert row["status"] == "ok" and row["spec"] == "tiny"
    assert 0.0 <= row["miou"] <= 1.0 and 0.0 <= row["pixel_acc"] <= 1.0
    # Static count: conv 3->8 (224) + decoder transposed conv 8->8 (584) + head 8->4 (36).
    assert row["params"] == 3 * 8 * 9 + 8 + 8 * 8 * 9 + 8 + 8 * 4 + 4
    assert math.isclose(row["gflops"], row["gflops_counted"], rel_tol=1e-9)
    assert row["latency_ms"] > 0 and row["throughput_ips"] > 0 and row["peak_mem_mb"] > 0
    job_dir = next((out / "jobs").iterdir())
    config = json.loads((job_dir / "config.json").read_text())
    assert config["settings"]["epochs"] == 1
    assert config["recipe"]["lr"] == row["lr"] and config["augment"] is True
    assert config["normalization"]["name"] == "shapes"
    for name in ("best.pt", "last.pt"):  # plain state_dicts: usable as encoder_init
        state = torch.load(job_dir / name, weights_only=True)
        assert state["head.weight"].shape == (4, 8, 1, 1)
    history = pd.read_csv(job_dir / "history.csv")
    assert list(history["epoch"]) == [1] and row["epochs_run"] == 1 and row["best_epoch"] == 1
    assert (out / "report" / "report.html").is_file()
    assert any(p.suffix == ".png" for p in (out / "report").iterdir())
    # Same command again: nothing re-runs, the row is kept once.
    finished = row["finished_at"]
    assert _bench([spec], out) == 0
    again = pd.read_parquet(out / "results.parquet")
    assert len(again) == 1 and again.iloc[0]["finished_at"] == finished


def test_a_run_that_learned_nothing_says_so(tmp_path: Path, capsys) -> None:
    # At lr 1e-9 the weights keep their random start: every validation scores below the
    # mIoU of answering the majority class everywhere.
    spec = _spec(tmp_path, "frozen")
    out = tmp_path / "run"
    args = ["bench", str(spec), "--out", str(out), "--epochs", "1", "--limit", "16"]
    assert main([*args, "--batch-size", "8", "--lr", "1e-9", "--no-report"]) == 0
    row = pd.read_csv(out / "results.csv").iloc[0]
    # The baseline by hand, from the job's validation masks (same data, size, seed, limit).
    size = (load_spec(spec).input.height, load_spec(spec).input.width)
    val = open_job_data("shapes", size, 4, seed=0, limit=16, normalize="none", augment=False).val
    masks = np.stack([val[i]["mask"].numpy() for i in range(len(val))]).ravel()
    counts = np.bincount(masks[masks != 255], minlength=4)
    baseline = counts.max() / counts.sum() / np.count_nonzero(counts)
    reason = (
        f"best miou {row['best_val']:.4f} <= {baseline + 0.01:.4f} = baseline {baseline:.4f} "
        "(majority class everywhere) + margin 0.01"
    )
    assert (str(row["learned"]), row["learned_reason"]) == ("False", reason)
    assert (str(row["converged"]), row["convergence_reason"]) == (
        "False",
        f"learned nothing: {reason}",
    )
    line = next(x for x in capsys.readouterr().err.splitlines() if x.startswith("[1/1] frozen: ok"))
    assert line.endswith("best epoch 1/1, NOT CONVERGED, LEARNED NOTHING") or line.endswith(
        "best epoch 1/1, NOT CONVERGED, LEARNED NOTHING, timing noisy"
    )


def test_the_console_line_flags_a_run_that_learned_nothing() -> None:
    row = ResultRow(
        status="ok",
        task="segmentation",
        metrics={"miou": 0.013, "pixel_acc": 0.2},
        gflops=0.042,
        latency_ms=0.54,
        train_s=0.2,
        best_epoch=1,
        epochs_run=2,
        converged=False,
        learned=False,
    )
    assert describe_row(row) == (
        "ok: mIoU 0.013, 0.042 GFLOPs, 0.54 ms, train 0 s, best epoch 1/2, NOT CONVERGED, "
        "LEARNED NOTHING"
    )
    learned = dataclasses.replace(row, learned=True, converged=True)
    assert describe_row(learned).endswith("best epoch 1/2")


def test_failures_are_recorded_and_the_sweep_goes_on(tmp_path: Path, monkeypatch) -> None:
    import benchmarks.job.build as job_build
    from compiler.emit import GraphNet

    class NaNNet(GraphNet):
        """Forced divergence for the spec named 'diverges'."""

        def forward(self, x):
            out = super().forward(x)
            return out * float("nan") if self.spec_name == "diverges" else out

    monkeypatch.setattr(job_build, "build_network", NaNNet)
    broken = _spec(tmp_path, "broken", classes=11)  # the shapes data has at most 10 classes
    diverges = _spec(tmp_path, "diverges")
    good = _spec(tmp_path, "good")
    out = tmp_path / "run"
    assert _bench([broken, diverges, good], out) == 1
    df = pd.read_csv(out / "results.csv").set_index("spec")
    assert df.loc["broken", "status"] == "failed"
    assert "DataError" in df.loc["broken", "error"]
    assert df.loc["diverges", "status"] == "failed"
    assert "NonFiniteLossError" in df.loc["diverges", "error"]
    assert df.loc["good", "status"] == "ok"
    report = (out / "report" / "report.md").read_text()
    assert "broken" in report and "NonFiniteLossError" in report


def test_report_merges_shards(tmp_path: Path) -> None:
    specs = [_spec(tmp_path, "a"), _spec(tmp_path, "b")]
    assert _bench(specs, tmp_path / "s0", "--shard", "0/2", "--no-report") == 0
    assert _bench(specs, tmp_path / "s1", "--shard", "1/2", "--no-report") == 0
    assert len(pd.read_csv(tmp_path / "s0" / "results.csv")) == 1
    assert (
        main(
            [
                "report",
                str(tmp_path / "s0"),
                str(tmp_path / "s1"),
                "--out",
                str(tmp_path / "merged"),
            ]
        )
        == 0
    )
    html = (tmp_path / "merged" / "report.html").read_text()
    assert "a" in html and "<svg" in html


def test_bench_usage_errors(tmp_path: Path, capsys) -> None:
    assert main(["bench", str(tmp_path / "missing.yaml"), "--out", str(tmp_path)]) == 2
    spec = _spec(tmp_path, "x")
    with pytest.raises(SystemExit) as exc:
        main(["bench", str(spec), "--out", str(tmp_path), "--image-size", "abc"])
    assert exc.value.code == 2
    assert main(["bench", str(spec), "--out", str(tmp_path / "r"), "--shard", "3/2"]) == 2
    assert "bad shard" in capsys.readouterr().err
    bad_data = main(
        [
            "bench",
            str(spec),
            "--out",
            str(tmp_path / "v"),
            "--data",
            f"voc:{tmp_path / 'nowhere'}",
            "--quiet",
            "--no-report",
        ]
    )
    assert bad_data == 2  # refused before any job: not one failed row per job
    assert not (tmp_path / "v").exists()
    assert f"--data voc:{tmp_path / 'nowhere'}: " in capsys.readouterr().err


@pytest.mark.slow
def test_bench_under_torchrun_trains_with_ddp_and_rank0_writes(tmp_path: Path) -> None:
    """Two gloo processes on the CPU: one results row, written once, with world_size 2."""
    import os
    import subprocess
    import sys

    spec = _spec(tmp_path, "ddp")
    out = tmp_path / "run"
    import socket

    with socket.socket() as sock:  # a free port for the rendezvous
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    cmd = [
        sys.executable,
        "-m",
        "torch.distributed.run",
        "--nproc_per_node",
        "2",
        "--master_addr",
        "127.0.0.1",
        "--master_port",
        str(port),
        "-m",
        "graphspec.cli",
        "bench",
        str(spec),
        "--out",
        str(out),
        "--epochs",
        "1",
        "--limit",
        "16",
        "--batch-size",
        "4",
        "--quiet",
        "--no-report",
    ]
    done = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=240)
    assert done.returncode == 0, done.stderr[-2000:]
    df = pd.read_csv(out / "results.csv")
    assert len(df) == 1
    row = df.iloc[0]
    assert row["status"] == "ok" and row["world_size"] == 2
    # Each rank evaluated half of the 128 test images; the reduced metrics cover all.
    assert row["eval_images"] == 128 and 0.0 <= row["miou"] <= 1.0
