"""DDP sweeps stay in step: rank 0 decides what runs (--retry-failed included), and a job
that fails on one rank only is dropped by every rank and recorded with that rank's reason."""

from __future__ import annotations

import time
from pathlib import Path

import pandas as pd
import pytest
import torch.multiprocessing as mp

import benchmarks.sweep.lockstep
import benchmarks.sweep.orchestrate
from graphspec.cli import main
from tests.harness.runtime.ranks import WORLD_SIZE, free_port, join_as_rank

TIMEOUT_S = 120
INJECTED = "injected failure on rank 1"

TINY = """\
name: {name}
task: segmentation
input: {{channels: 3, height: 16, width: 16}}
classes: 4
encoder:
  - stage: b1
    layers:
      - {{op: conv, out: 4, kernel: 3, padding: 1}}
      - {{op: maxpool, kernel: 2, stride: 2}}
decoder: {{upsample: unpool}}
head: {{type: segmentation}}
"""


def _specs(tmp_path: Path, *names: str) -> list[str]:
    paths = []
    for name in names:
        path = tmp_path / f"{name}.yaml"
        path.write_text(TINY.format(name=name))
        paths.append(str(path))
    return paths


def _argv(specs: list[str], out: Path) -> list[str]:
    return ["bench", *specs, "--out", str(out), "--epochs", "1", "--limit", "8"] + [
        "--batch-size",
        "4",
        "--quiet",
        "--no-report",
        "--device",
        "cpu",
    ]


def worker(rank: int, port: int, argv: list[str], out_dir: str) -> None:
    """One torchrun-like rank running `graphspec bench`; rank 1 fails job "b" on entry."""
    join_as_rank(rank, port)
    real = benchmarks.sweep.lockstep.run_job

    def run_job(job, *args, **kwargs):  # type: ignore[no-untyped-def]
        if rank == 1 and job.name == "b":
            raise RuntimeError(INJECTED)
        return real(job, *args, **kwargs)

    benchmarks.sweep.lockstep.run_job = run_job
    code = main(argv)
    (Path(out_dir) / f"exit{rank}").write_text(str(code))


def _record_a_failed(tmp_path: Path, out: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """A run dir where job "a" is stored as failed (nothing trained)."""

    def fail(job, *args, **kwargs):  # type: ignore[no-untyped-def]
        raise RuntimeError("first attempt")

    with monkeypatch.context() as patch:
        patch.setattr(benchmarks.sweep.orchestrate, "run_job", fail)
        assert main(_argv(_specs(tmp_path, "a"), out)) == 1
    assert pd.read_csv(out / "results.csv")["status"].tolist() == ["failed"]


@pytest.mark.slow
def test_ranks_agree_on_retries_and_on_a_failure_of_one_rank(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    out = tmp_path / "run"
    _record_a_failed(tmp_path, out, monkeypatch)
    argv = [*_argv(_specs(tmp_path, "a", "b", "c"), out), "--retry-failed"]
    processes = mp.spawn(
        worker, args=(free_port(), argv, str(tmp_path)), nprocs=WORLD_SIZE, join=False
    )
    deadline = time.monotonic() + TIMEOUT_S
    while not processes.join(timeout=2):
        if time.monotonic() > deadline:
            for process in processes.processes:
                process.kill()
            pytest.fail(f"the DDP ranks did not finish within {TIMEOUT_S} s (out of step?)")

    assert (tmp_path / "exit0").read_text() == "1"  # job b failed
    assert (tmp_path / "exit1").read_text() == "0"  # non-main ranks record nothing
    rows = pd.read_csv(out / "results.csv")
    assert sorted(rows["spec"]) == ["a", "b", "c"]  # the retried row replaced a's failure
    latest = rows.set_index("spec")
    assert latest.loc["a", "status"] == "ok" and latest.loc["a", "world_size"] == 2
    assert latest.loc["b", "status"] == "failed"
    assert latest.loc["b", "error"] == f"RankFailed: rank 1: RuntimeError: {INJECTED}"
    assert latest.loc["c", "status"] == "ok" and latest.loc["c", "world_size"] == 2
