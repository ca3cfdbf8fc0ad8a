"""SIGTERM anywhere in a command (training, the report, predict) exits 130 and leaves no
temp file; temp files a SIGKILL left are swept when a bench starts."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from benchmarks.store.jobs import Job
from benchmarks.store.row import ResultRow
from benchmarks.sweep.plan import plan_jobs
from benchmarks.sweep.runner import STALE_TEMP_S, run_sweep
from compiler import GraphNet, compile_graph
from graphspec import load_spec
from tests import tiny_seg

CHILD = Path(__file__).with_name("signal_child.py")
BENCH = ["--epochs", "1", "--limit", "8", "--batch-size", "4", "--quiet", "--threads", "1"]


def _temp_files(folder: Path) -> list[Path]:
    return [p for p in folder.rglob(".*.tmp")]


def _stop_while_writing(tmp_path: Path, where: str, argv: list[str]) -> tuple[int, str]:
    """Run ``graphspec ARGV`` in a child paused in a write into a ``where`` folder, send it
    SIGTERM there; its exit code and stderr."""
    marker = tmp_path / "writing"
    args = [sys.executable, str(CHILD), where, str(marker), "--", *argv]
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    proc = subprocess.Popen(args, stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=env)
    deadline = time.monotonic() + 240
    while not marker.exists():
        assert proc.poll() is None, proc.communicate()
        assert time.monotonic() < deadline, "the child never reached the write"
        time.sleep(0.05)
    assert _temp_files(tmp_path), "a temp file exists while the write pauses"
    proc.send_signal(signal.SIGTERM)
    _, stderr = proc.communicate(timeout=60)
    return proc.returncode, stderr.decode()


@pytest.fixture
def spec(tmp_path: Path) -> Path:
    path = tmp_path / "tiny.yaml"
    path.write_text(tiny_seg())
    return path


@pytest.mark.parametrize("where", ["job", "report"], ids=["training", "report"])
def test_sigterm_in_bench_exits_130_without_temp_files(
    tmp_path: Path, spec: Path, where: str
) -> None:
    run = tmp_path / "run"
    code, err = _stop_while_writing(
        tmp_path, where, ["bench", str(spec), "--out", str(run), *BENCH]
    )
    assert code == 130, err
    if where == "job":  # the sweep stops; the job records nothing
        last = f"interrupted: 0 finished rows kept in {run}; re-run the same command to resume"
        assert err.splitlines()[-1] == last
    else:  # the row was written before the report
        assert err.splitlines()[-1] == "interrupted"
        assert (run / "results.parquet").is_file()
    assert _temp_files(tmp_path) == []


def test_sigterm_in_predict_exits_130_without_temp_files(tmp_path: Path, spec: Path) -> None:
    weights = tmp_path / "w.pt"
    torch.save(GraphNet(compile_graph(load_spec(spec))).state_dict(), weights)
    (tmp_path / "photos").mkdir()
    Image.fromarray(np.zeros((30, 40, 3), dtype=np.uint8)).save(tmp_path / "photos" / "a.png")
    out = tmp_path / "preds"
    argv = ["predict", str(spec), str(tmp_path / "photos"), "--weights", str(weights)]
    code, err = _stop_while_writing(tmp_path, "preds", [*argv, "--out", str(out)])
    assert code == 130, err
    assert err == "interrupted\n"
    assert _temp_files(tmp_path) == [] and list(out.iterdir()) == []


def _age(path: Path, seconds: float) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("half a file")
    then = time.time() - seconds
    os.utime(path, (then, then))
    return path


def test_a_bench_start_sweeps_temp_files_a_sigkill_left(tmp_path: Path) -> None:
    spec = tmp_path / "alpha.yaml"
    spec.write_text("name: alpha\nlayers: []\n")
    (job,) = plan_jobs([spec], [{"seed": 0}])
    run = tmp_path / "run"
    old = STALE_TEMP_S + 60
    gone = [
        _age(run / "report" / ".report.html.k2j_9x0a.tmp", old),
        _age(run / "jobs" / "beta-12345678" / ".best.pt.abcdefgh.tmp", old),
        _age(run / "jobs" / job.dir_name / ".best.pt.qwertyui.tmp", 1),  # the job to run
        _age(run / ".protocol.json.abcdefgh.tmp", old),
    ]
    kept = [  # young: maybe another shard's write in progress; or not a temp file at all
        _age(run / "report" / ".report.md.zz11yy22.tmp", 1),
        _age(run / "jobs" / "beta-12345678" / ".last.pt.abcdefgh.tmp", 1),
        _age(run / "report" / "notes.tmp", old),
    ]

    def run_one(job: Job, job_dir: Path) -> ResultRow:
        return ResultRow(params=1)

    assert run_sweep([job], run, run_one).exit_code == 0
    assert [p for p in gone if p.exists()] == []
    assert all(p.exists() for p in kept)
