"""The sweep's ETA (:class:`benchmarks.sweep.runner.SweepEta`) on a fake clock: unknown until
a job ends, then the mean job time times the jobs left, less what the running one has had;
skipped jobs are neither counted nor timed. And the phase events ``run_bench`` relays."""

from __future__ import annotations

from pathlib import Path

import pytest

import benchmarks.sweep.orchestrate as orchestrate
from benchmarks.store.jobs import Job
from benchmarks.store.row import ResultRow
from benchmarks.sweep.orchestrate import SweepOptions, run_bench
from benchmarks.sweep.plan import plan_jobs
from benchmarks.sweep.runner import SweepEta, SweepEvent, run_sweep


class FakeClock:
    """A clock that moves only when a test says so."""

    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def test_eta_is_unknown_until_the_first_job_ends() -> None:
    clock = FakeClock()
    eta = SweepEta(clock=clock, left=3)
    assert eta.seconds() is None
    eta.start()
    clock.now += 50
    assert eta.seconds() is None  # 50 s into the first job: no mean yet
    eta.finish()
    assert eta.seconds() == 100  # mean 50 s x 2 jobs left


def test_eta_counts_the_running_job_and_never_goes_negative() -> None:
    clock = FakeClock()
    eta = SweepEta(clock=clock, left=3)
    eta.start()
    clock.now += 50
    eta.finish()
    eta.start()
    clock.now += 20
    assert eta.seconds() == 80  # 2 x 50 s, less the 20 s the second job has had
    clock.now += 50
    assert eta.seconds() == 30  # the second job overruns the mean
    eta.finish()  # it took 70 s: mean 60 s, one job left
    assert eta.seconds() == 60
    eta.start()
    clock.now += 90
    assert eta.seconds() == 0  # overdue, not negative
    eta.finish()
    assert eta.seconds() == 0 and eta.left == 0


def _specs(tmp_path: Path, *names: str) -> list[Path]:
    paths = []
    for name in names:
        path = tmp_path / "specs" / f"{name}.yaml"
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(f"name: {name}\n", encoding="utf-8")
        paths.append(path)
    return paths


def test_sweep_events_carry_the_eta(tmp_path: Path) -> None:
    jobs = plan_jobs(_specs(tmp_path, "a", "b", "c"), [{"seed": 0}])
    clock = FakeClock()
    took = {"a": 10.0, "b": 20.0, "c": 30.0}

    def run_one(job: Job, job_dir: Path) -> ResultRow:
        clock.now += took[job.name]
        return ResultRow(metrics={"miou": 0.5})

    events: list[SweepEvent] = []
    run_sweep(jobs, tmp_path / "run", run_one, on_event=events.append, eta=SweepEta(clock))
    assert [(e.kind, e.job.name if e.job else None, e.eta_s) for e in events] == [
        ("start", "a", None),
        ("ok", "a", 20.0),  # mean 10 s x 2 left
        ("start", "b", 20.0),
        ("ok", "b", 15.0),  # mean 15 s x 1 left
        ("start", "c", 15.0),
        ("ok", "c", 0.0),
    ]


def test_skipped_jobs_are_not_counted(tmp_path: Path) -> None:
    jobs = plan_jobs(_specs(tmp_path, "a", "b", "c"), [{"seed": 0}])
    run_dir = tmp_path / "run"
    run_sweep(jobs[:2], run_dir, lambda job, job_dir: ResultRow())  # a and b finished before
    clock = FakeClock()

    def run_one(job: Job, job_dir: Path) -> ResultRow:
        clock.now += 40
        return ResultRow()

    eta = SweepEta(clock)
    events: list[SweepEvent] = []
    run_sweep(jobs, run_dir, run_one, on_event=events.append, eta=eta)
    assert [e.kind for e in events] == ["skip", "skip", "start", "ok"]
    assert eta.durations == [40.0] and eta.left == 0  # only c ran and was timed


def test_run_bench_relays_the_jobs_phases_with_the_eta(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Each phase ``run_job`` reports becomes a ``phase`` event of the job that is running,
    and the report phase follows the jobs."""
    specs = _specs(tmp_path, "a", "b")

    def fake_run_job(job, job_dir, ctx=None, progress=True, sync=None, on_phase=None):
        for phase in ("train", "evaluate", "time"):
            on_phase(phase)
        return ResultRow(metrics={"miou": 0.5})

    monkeypatch.setattr(orchestrate, "run_job", fake_run_job)
    monkeypatch.setattr(orchestrate, "write_report", lambda *a, **k: {"report.html": Path("r")})
    events: list[SweepEvent] = []
    run_bench(specs, SweepOptions(out=tmp_path / "run", progress=False), on_event=events.append)
    phases = [(e.job.name if e.job else None, e.phase) for e in events if e.kind == "phase"]
    assert phases == [
        ("a", "train"),
        ("a", "evaluate"),
        ("a", "time"),
        ("b", "train"),
        ("b", "evaluate"),
        ("b", "time"),
        (None, "report"),
    ]
    a_train, b_train = (e for e in events if e.kind == "phase" and e.phase == "train")
    assert a_train.eta_s is None and b_train.eta_s is not None  # known once a has ended
    assert (b_train.index, b_train.total) == (1, 2)


def test_run_bench_passes_allow_noisy_to_the_report(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    seen: dict[str, object] = {}

    def fake_write_report(*args: object, **kwargs: object) -> dict[str, Path]:
        seen.update(kwargs)
        return {"report.html": Path("r")}

    monkeypatch.setattr(orchestrate, "run_job", lambda *a, **k: ResultRow())
    monkeypatch.setattr(orchestrate, "write_report", fake_write_report)
    options = SweepOptions(out=tmp_path / "run", progress=False, allow_noisy=True)
    run_bench(_specs(tmp_path, "a"), options)
    assert seen["allow_noisy"] is True
