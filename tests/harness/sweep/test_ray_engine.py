"""``--engine ray`` on an embedded local Ray (:mod:`benchmarks.sweep.ray_engine`).

A two-spec sweep run both ways gives the same rows (same keys, same metrics on the same
seeds on CPU); a worker killed mid-job is run again up to ``max_retries`` times and then
recorded failed while the sweep goes on; resume skips finished jobs; a job no node can run
is refused before anything is written; Ctrl-C keeps finished rows. One Ray is started for
the module (about 5 s) and reused: the engine leaves a Ray it did not start running.
"""

from __future__ import annotations

import os
import signal
import time
from collections.abc import Iterator
from pathlib import Path

import pandas as pd
import pytest

from benchmarks.store.jobs import Job
from benchmarks.store.row import ResultRow
from benchmarks.sweep.ray_cluster import ClusterError, Demand, RayOptions, job_slots
from benchmarks.sweep.ray_engine import run_ray_sweep
from graphspec.cli import main
from tests import SPECS

ray = pytest.importorskip("ray")

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module", autouse=True)
def embedded_ray() -> Iterator[None]:
    os.environ.setdefault("RAY_AUTH_MODE", "disabled")
    ray.init(num_cpus=2, include_dashboard=False, log_to_driver=False, logging_level="ERROR")
    yield
    ray.shutdown()


def _jobs(tmp_path: Path, *names: str) -> list[Job]:
    jobs = []
    for name in names:
        spec = tmp_path / f"{name}.yaml"
        spec.write_text((SPECS / "tiny-encoder.yaml").read_text())
        jobs.append(Job(spec, {"seed": 0}))
    return jobs


def _sweep(jobs: list[Job], out: Path, work, retries: int = 2, events=None):  # type: ignore[no-untyped-def]
    return run_ray_sweep(
        jobs,
        out,
        RayOptions(max_retries=retries),
        lambda: Demand(cpus=1, gpus=0),
        on_event=events,
        work=work,
    )


def test_rows_of_a_ray_sweep_equal_a_plain_sweep(tmp_path: Path) -> None:
    specs = [str(SPECS / "fcn-small.yaml"), str(SPECS / "segnet-small.yaml")]
    common = ["--epochs", "1", "--limit", "16", "--batch-size", "8", "--threads", "1"]
    common += ["--device", "cpu", "--no-report", "--quiet", "--image-size", "32x32"]
    assert main(["bench", *specs, "--out", str(tmp_path / "plain"), *common]) == 0
    ray_args = ["--engine", "ray", "--cpus-per-job", "1"]
    assert main(["bench", *specs, "--out", str(tmp_path / "ray"), *common, *ray_args]) == 0
    plain = pd.read_csv(tmp_path / "plain" / "results.csv").set_index("job_key")
    on_ray = pd.read_csv(tmp_path / "ray" / "results.csv").set_index("job_key")
    assert sorted(plain.index) == sorted(on_ray.index)
    same = ["spec", "status", "params", "gflops", "final_loss", "best_epoch", "miou"]
    same += ["pixel_acc", "settings", "spec_hash", "train_images"]
    same = [c for c in same if c in plain.columns]
    assert {"miou", "final_loss"} <= set(same)
    pd.testing.assert_frame_equal(plain.loc[on_ray.index, same], on_ray[same])
    for job in on_ray.index:  # the driver wrote each job's files
        folder = next((tmp_path / "ray" / "jobs").glob(f"*-{job[:8]}"))
        assert {"best.pt", "config.json", "history.csv"} <= {p.name for p in folder.iterdir()}


def test_a_lost_worker_is_retried_then_recorded_failed(tmp_path: Path) -> None:
    marks = tmp_path / "marks"
    marks.mkdir()

    def dies_once(job: Job, job_dir: Path) -> ResultRow:
        mark = marks / job.name
        if job.name != "steady" and not mark.exists():
            mark.write_text("died")
            os._exit(1)  # the worker process dies, as with its node
        if job.name == "doomed":
            os._exit(1)
        return ResultRow(spec=job.name, params=1)

    jobs = _jobs(tmp_path, "flaky", "doomed", "steady")
    summary = _sweep(jobs, tmp_path / "run", dies_once, retries=1)
    rows = pd.read_csv(tmp_path / "run" / "results.csv").set_index("spec")
    assert rows.loc["flaky", "status"] == "ok"  # second attempt ran
    assert rows.loc["steady", "status"] == "ok"
    assert rows.loc["doomed", "status"] == "failed"
    assert rows.loc["doomed", "error"].startswith("Ray task lost")
    assert (summary.done, summary.failed) == (2, 1)


def test_resume_skips_finished_jobs_and_failures_keep_their_traceback(tmp_path: Path) -> None:
    def work(job: Job, job_dir: Path) -> ResultRow:
        if job.name == "bad":
            raise ValueError("no such layer")
        (job_dir / "history.csv").write_text("epoch\n1\n")
        return ResultRow(spec=job.name, params=3)

    jobs = _jobs(tmp_path, "good", "bad")
    first = _sweep(jobs, tmp_path / "run", work)
    assert (first.done, first.failed) == (1, 1)
    folders = {p.name.rsplit("-", 1)[0]: p for p in (tmp_path / "run" / "jobs").iterdir()}
    assert (folders["good"] / "history.csv").read_text() == "epoch\n1\n"
    assert "ValueError: no such layer" in (folders["bad"] / "error.txt").read_text()
    kinds: list[str] = []
    again = _sweep(jobs, tmp_path / "run", work, events=lambda e: kinds.append(e.kind))
    assert kinds == ["skip", "skip"]
    assert (again.skipped, again.skipped_failed, again.done) == (2, 1, 0)


def test_a_job_no_node_can_run_is_refused_before_anything_is_written(tmp_path: Path) -> None:
    with pytest.raises(ClusterError, match="1 CPU, 1 GPU"):
        job_slots(Demand(cpus=1, gpus=1))
    with pytest.raises(ClusterError, match="64 CPUs"):
        run_ray_sweep(_jobs(tmp_path, "a"), tmp_path / "run", RayOptions(), lambda: Demand(64, 0))
    assert not (tmp_path / "run").exists()
    assert job_slots(Demand(cpus=1, gpus=0)) == 2


def test_ctrl_c_cancels_the_running_tasks_and_keeps_finished_rows(tmp_path: Path) -> None:
    def work(job: Job, job_dir: Path) -> ResultRow:
        if job.name == "slow":
            time.sleep(120)
        return ResultRow(spec=job.name, params=1)

    def interrupt_after_the_first(event) -> None:  # type: ignore[no-untyped-def]
        if event.kind == "ok":
            os.kill(os.getpid(), signal.SIGINT)

    began = time.monotonic()
    summary = _sweep(_jobs(tmp_path, "quick", "slow"), tmp_path / "run", work,
                     events=interrupt_after_the_first)  # fmt: skip
    assert summary.interrupted and summary.exit_code == 130
    assert time.monotonic() - began < 60  # the slow task was cancelled, not awaited
    rows = pd.read_csv(tmp_path / "run" / "results.csv")
    assert rows["spec"].tolist() == ["quick"]


def test_the_cli_says_how_to_install_ray_and_which_options_need_it(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    spec = str(SPECS / "tiny-encoder.yaml")
    assert main(["bench", spec, "--out", str(tmp_path / "a"), "--address", "h:1"]) == 2
    assert "--address need(s) --engine ray" in capsys.readouterr().err
    monkeypatch.setattr("benchmarks.sweep.ray_cluster.ray_installed", lambda: False)
    assert main(["bench", spec, "--out", str(tmp_path / "b"), "--engine", "ray"]) == 2
    assert "pip install 'graphspec[ray]'" in capsys.readouterr().err
    assert not (tmp_path / "b").exists()


def test_a_search_benches_a_round_of_trials_at_once_on_ray(tmp_path: Path) -> None:
    spec = tmp_path / "knobs.yaml"
    knobs = "search:\n  layer.conv2.out: [8, 16, 32]\n  decoder.skips: [none, add]\n"
    spec.write_text((SPECS / "tiny-encoder.yaml").read_text() + knobs)
    common = ["--epochs", "1", "--limit", "8", "--image-size", "32x32", "--threads", "1"]
    common += ["--no-report", "--quiet", "--population", "2", "--trials", "3"]
    ray_args = ["--engine", "ray", "--cpus-per-job", "1"]
    assert main(["search", str(spec), "--out", str(tmp_path / "run"), *common, *ray_args]) == 0
    trials = pd.read_csv(tmp_path / "run" / "trials.csv")
    assert len(trials) >= 3 and (trials["state"] != "running").all()
    benched = trials[(trials["state"] == "complete") & trials["same_as"].isna()]
    rows = pd.read_csv(tmp_path / "run" / "results.csv")
    assert len(rows) == len(benched)  # the driver wrote one row per benched trial
    assert set(rows["spec"]) == {f"tiny-encoder-t{n:04d}" for n in benched["trial"]}
