"""Tests for benchmarks.sweep.runner: planning, shards, failure isolation, interrupts and resume."""

from __future__ import annotations

import csv
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from benchmarks.store.jobs import Job, file_hash
from benchmarks.store.plan_file import read_plan
from benchmarks.store.results import ResultsStore
from benchmarks.store.row import ResultRow
from benchmarks.sweep.interrupts import SweepInterrupted
from benchmarks.sweep.plan import plan_jobs, select_shard
from benchmarks.sweep.runner import SweepEvent, SweepSummary, run_sweep
from tests.harness.sweep.sweep_child import SEEDS, SPEC_NAMES, expected_params

CHILD = Path(__file__).with_name("sweep_child.py")


class NonFiniteLossError(RuntimeError):
    """Stand-in for the trainer's error on a NaN/inf loss."""


def _specs(tmp_path: Path, *names: str) -> list[Path]:
    paths = []
    for name in names:
        path = tmp_path / "specs" / f"{name}.yaml"
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(f"name: {name}\n", encoding="utf-8")
        paths.append(path)
    return paths


def test_plan_jobs_is_ordered_product_without_duplicates(tmp_path: Path) -> None:
    a, b = _specs(tmp_path, "a", "b")
    settings = [{"seed": 0}, {"seed": 1}, {"seed": 0}]
    jobs = plan_jobs([a, b, a], settings)
    assert [(j.name, j.settings["seed"]) for j in jobs] == [("a", 0), ("a", 1), ("b", 0), ("b", 1)]
    assert len({j.key for j in jobs}) == 4
    assert jobs[0].spec_hash == file_hash(a)
    assert jobs[0].dir_name == f"a-{jobs[0].key[:8]}"


def test_job_key_follows_spec_content_and_settings(tmp_path: Path) -> None:
    (spec,) = _specs(tmp_path, "a")
    key = Job(spec, {"epochs": 1}).key
    assert Job(spec, {"epochs": 1}).key == key
    assert Job(spec, {"epochs": 2}).key != key
    spec.write_text("name: a\nwidth: 2\n", encoding="utf-8")
    assert Job(spec, {"epochs": 1}).key != key
    copy = spec.with_name("b.yaml")
    copy.write_bytes(spec.read_bytes())
    assert Job(copy, {"epochs": 1}).key != Job(spec, {"epochs": 1}).key


@pytest.mark.parametrize("count", [1, 2, 3, 4])
def test_select_shard_partitions_jobs(tmp_path: Path, count: int) -> None:
    jobs = plan_jobs(_specs(tmp_path, *"abcdefg"), [{"seed": 0}])
    shards = [select_shard(jobs, f"{i}/{count}") for i in range(count)]
    keys = [[j.key for j in shard] for shard in shards]
    flat = [k for shard in keys for k in shard]
    assert sorted(flat) == sorted(j.key for j in jobs)  # union is everything...
    assert len(flat) == len(set(flat))  # ...and shards are disjoint
    assert max(map(len, keys)) - min(map(len, keys)) <= 1
    assert keys[0][0] == jobs[0].key


@pytest.mark.parametrize("bad", ["3/2", "2/2", "a/b", "0/0", "-1/2", "1", "", "1/2/3", "1.0/2"])
def test_select_shard_rejects_bad_strings(tmp_path: Path, bad: str) -> None:
    jobs = plan_jobs(_specs(tmp_path, "a"), [{}])
    with pytest.raises(ValueError, match="bad shard"):
        select_shard(jobs, bad)


def test_exit_codes() -> None:
    assert SweepSummary(total=2, done=2).exit_code == 0
    assert SweepSummary(total=2, done=1, failed=1).exit_code == 1
    assert SweepSummary(total=2, skipped=2, skipped_failed=1).exit_code == 1
    assert SweepSummary(total=2, failed=1, interrupted=True).exit_code == 130


def test_failures_are_recorded_and_sweep_goes_on(tmp_path: Path) -> None:
    jobs = plan_jobs(_specs(tmp_path, "crash", "nan", "good", "notarow"), [{"epochs": 3}])
    calls: list[str] = []

    def run_one(job: Job, job_dir: Path) -> ResultRow:
        calls.append(job.name)
        if job.name == "crash":
            raise ValueError("bad kernel\nsize " + "x" * 1000)
        if job.name == "nan":
            raise NonFiniteLossError("loss is nan at step 3")
        if job.name == "notarow":
            return None  # type: ignore[return-value]
        return ResultRow(params=42, device="cpu")

    run_dir = tmp_path / "run"
    summary = run_sweep(jobs, run_dir, run_one)
    assert calls == ["crash", "nan", "good", "notarow"]
    assert (summary.done, summary.failed, summary.skipped, summary.interrupted) == (1, 3, 0, False)
    assert summary.exit_code == 1

    rows = {row["spec"]: row for row in ResultsStore(run_dir).rows()}
    assert rows["good"]["status"] == "ok" and rows["good"]["params"] == 42
    assert rows["good"]["error"] is None
    assert rows["nan"]["status"] == "failed"
    assert rows["nan"]["error"] == "NonFiniteLossError: loss is nan at step 3"
    crash_error = rows["crash"]["error"]
    assert crash_error.startswith("ValueError: bad kernel size xxx")
    assert "\n" not in crash_error and len(crash_error) <= 500
    assert rows["notarow"]["error"].startswith("TypeError: run_one returned NoneType")
    for row in rows.values():
        assert row["epochs"] == 3  # settings are recorded on failed rows too
    crash_job = next(j for j in jobs if j.name == "crash")
    traceback_text = (run_dir / "jobs" / crash_job.dir_name / "error.txt").read_text()
    assert "Traceback" in traceback_text and "bad kernel" in traceback_text


def test_resume_skips_failed_unless_retry_failed(tmp_path: Path) -> None:
    jobs = plan_jobs(_specs(tmp_path, "a", "b"), [{"seed": 0}])
    run_dir = tmp_path / "run"
    fail = {"a"}
    calls: list[str] = []

    def run_one(job: Job, job_dir: Path) -> ResultRow:
        calls.append(job.name)
        if job.name in fail:
            raise RuntimeError("CUDA out of memory")
        return ResultRow(params=1)

    assert run_sweep(jobs, run_dir, run_one).exit_code == 1
    calls.clear()
    summary = run_sweep(jobs, run_dir, run_one)
    assert calls == []
    assert (summary.skipped, summary.skipped_failed, summary.exit_code) == (2, 1, 1)

    fail.clear()
    summary = run_sweep(jobs, run_dir, run_one, retry_failed=True)
    assert calls == ["a"]
    assert (summary.done, summary.skipped, summary.exit_code) == (1, 1, 0)
    rows = ResultsStore(run_dir).rows()
    assert sorted((r["spec"], r["status"]) for r in rows) == [("a", "ok"), ("b", "ok")]


def test_runner_fills_identity_and_settings(tmp_path: Path) -> None:
    (spec,) = _specs(tmp_path, "unet")
    jobs = plan_jobs([spec], [{"epochs": 2, "device": "auto", "compile": False}])
    seen_dirs: list[Path] = []

    def run_one(job: Job, job_dir: Path) -> ResultRow:
        seen_dirs.append(job_dir)
        assert job_dir.is_dir()
        return ResultRow(device="cpu", status="bogus", job_key="bogus", metrics={"miou": 0.25})

    events: list[SweepEvent] = []
    run_dir = tmp_path / "run"
    run_sweep(jobs, run_dir, run_one, on_event=events.append)
    (row,) = ResultsStore(run_dir).rows()
    assert row["spec"] == "unet"
    assert row["spec_file"] == str(spec)
    assert row["spec_hash"] == file_hash(spec)
    assert row["job_key"] == jobs[0].key
    assert row["status"] == "ok"
    assert row["device"] == "cpu"  # run_one's effective value wins over the setting
    assert row["epochs"] == 2 and row["compile"] is False and row["miou"] == 0.25
    assert row["finished_at"].endswith("+00:00")
    assert seen_dirs == [run_dir / "jobs" / f"unet-{jobs[0].key[:8]}"]
    assert [e.kind for e in events] == ["start", "ok"]

    plan = json.loads((run_dir / "sweep.json").read_text())
    assert [j["key"] for j in plan["jobs"]] == [jobs[0].key]
    assert plan["jobs"][0]["settings"] == {"epochs": 2, "device": "auto", "compile": False}


def test_planned_jobs_are_recorded_for_shards(tmp_path: Path) -> None:
    jobs = plan_jobs(_specs(tmp_path, "a", "b", "c"), [{}])
    shard = select_shard(jobs, "1/2")
    run_sweep(shard, tmp_path / "run", lambda job, d: {}, planned=jobs)
    assert read_plan(tmp_path / "run") == [j.describe() for j in jobs]
    assert [r["spec"] for r in ResultsStore(tmp_path / "run").rows()] == ["b"]


def test_sigterm_stops_sweep_and_restores_handler(tmp_path: Path) -> None:
    jobs = plan_jobs(_specs(tmp_path, "a", "b", "c"), [{}])
    calls: list[str] = []

    def run_one(job: Job, job_dir: Path) -> ResultRow:
        calls.append(job.name)
        if job.name == "b":
            os.kill(os.getpid(), signal.SIGTERM)
            time.sleep(10)  # interrupted by the handler long before this ends
        return ResultRow(params=1)

    previous = signal.getsignal(signal.SIGTERM)
    started = time.monotonic()
    summary = run_sweep(jobs, tmp_path / "run", run_one)
    assert time.monotonic() - started < 5
    assert signal.getsignal(signal.SIGTERM) is previous
    assert signal.getsignal(signal.SIGINT) is signal.default_int_handler
    assert calls == ["a", "b"]
    assert summary.interrupted and summary.done == 1 and summary.exit_code == 130
    assert [r["spec"] for r in ResultsStore(tmp_path / "run").rows()] == ["a"]


def test_keyboard_interrupt_in_job_records_nothing_for_it(tmp_path: Path) -> None:
    jobs = plan_jobs(_specs(tmp_path, "a", "b"), [{}])

    def run_one(job: Job, job_dir: Path) -> ResultRow:
        raise KeyboardInterrupt

    summary = run_sweep(jobs, tmp_path / "run", run_one)
    assert summary.interrupted and summary.done == 0 and summary.failed == 0
    assert ResultsStore(tmp_path / "run").rows() == []


def test_signal_during_results_write_keeps_the_finished_row(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    jobs = plan_jobs(_specs(tmp_path, "a", "b"), [{}])
    real_append = ResultsStore.append

    def append_with_ctrl_c(self: ResultsStore, row: dict[str, object]) -> None:
        os.kill(os.getpid(), signal.SIGINT)  # arrives while the row is being written
        real_append(self, row)

    monkeypatch.setattr(ResultsStore, "append", append_with_ctrl_c)
    calls: list[str] = []
    summary = run_sweep(
        jobs, tmp_path / "run", lambda job, d: calls.append(job.name) or ResultRow()
    )
    monkeypatch.undo()
    assert calls == ["a"]
    assert summary.interrupted and summary.done == 1
    assert [r["spec"] for r in ResultsStore(tmp_path / "run").rows()] == ["a"]


def test_sweep_interrupted_is_not_an_exception() -> None:
    assert not issubclass(SweepInterrupted, Exception)
    assert issubclass(SweepInterrupted, KeyboardInterrupt)


def _csv_row_count(path: Path) -> int:
    try:
        with path.open(newline="") as handle:
            return len(list(csv.DictReader(handle)))
    except FileNotFoundError:
        return 0


def _run_child(run_dir: Path, specs: Path, log: Path) -> subprocess.Popen[bytes]:
    args = [sys.executable, str(CHILD), str(run_dir), str(specs), str(log), "0.3"]
    return subprocess.Popen(args, stdout=subprocess.PIPE, stderr=subprocess.PIPE)


@pytest.mark.parametrize("sig", [signal.SIGINT, signal.SIGTERM], ids=["SIGINT", "SIGTERM"])
def test_killed_sweep_resumes_without_rerunning_finished_jobs(
    tmp_path: Path, sig: signal.Signals
) -> None:
    run_dir, specs, log = tmp_path / "run", tmp_path / "specs", tmp_path / "calls.log"
    all_jobs = {(name, seed) for name in SPEC_NAMES for seed in SEEDS}
    proc = _run_child(run_dir, specs, log)
    deadline = time.monotonic() + 30
    while _csv_row_count(run_dir / "results.csv") < 2:
        assert proc.poll() is None, proc.communicate()
        assert time.monotonic() < deadline, "child made no progress"
        time.sleep(0.02)
    proc.send_signal(sig)
    _, stderr = proc.communicate(timeout=30)
    assert proc.returncode == 130, stderr.decode()

    store = ResultsStore(run_dir)
    first_rows = store.rows()
    assert 2 <= len(first_rows) < len(all_jobs)
    assert _csv_row_count(store.csv_path) == len(first_rows)
    assert len({r["job_key"] for r in first_rows}) == len(first_rows)
    for row in first_rows:  # complete rows only
        assert row["status"] == "ok" and row["finished_at"]
        assert row["params"] == expected_params(row["spec"], row["seed"])
    assert not [p for p in run_dir.iterdir() if p.name.endswith(".tmp")]
    first_calls = log.read_text().splitlines()
    finished = {(r["spec"], r["seed"]) for r in first_rows}

    proc = _run_child(run_dir, specs, log)
    _, stderr = proc.communicate(timeout=30)
    assert proc.returncode == 0, stderr.decode()
    second_calls = {
        tuple(line.split()) for line in log.read_text().splitlines()[len(first_calls) :]
    }
    second_calls = {(name, int(seed)) for name, seed in second_calls}
    assert second_calls == all_jobs - finished  # finished jobs were not run again

    final_rows = store.rows()
    assert sorted((r["spec"], r["seed"]) for r in final_rows) == sorted(all_jobs)
    before = {r["job_key"]: r["finished_at"] for r in first_rows}
    after = {r["job_key"]: r["finished_at"] for r in final_rows}
    assert {k: after[k] for k in before} == before
    for row in final_rows:
        assert row["params"] == expected_params(row["spec"], row["seed"])
