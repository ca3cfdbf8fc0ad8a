"""A sweep says what each job is doing: its phase (training, evaluating, timing) with the
sweep's ETA on stderr, then its result line, then the report phase; ``--quiet`` keeps only
results and errors; ``--format json`` ends with one JSON document on stdout. Tiny real
benches (``--epochs 1 --limit 8 --batch-size 4``)."""

from __future__ import annotations

import json
import re
from collections.abc import Callable
from pathlib import Path

import pytest
import torch

from benchmarks.job.run import run_job
from benchmarks.runtime.distributed import DistributedContext
from benchmarks.store.settings import JobSettings
from benchmarks.sweep.plan import plan_jobs
from graphspec.cli import main
from graphspec.cli.sweep_output import format_eta

TINY = ["--epochs", "1", "--limit", "8", "--batch-size", "4", "--threads", "1"]

pytestmark = pytest.mark.usefixtures("one_thread")


def test_phase_lines_with_the_eta_then_the_result(
    tiny_seg_spec: Callable[..., Path], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    specs = [str(tiny_seg_spec("first")), str(tiny_seg_spec("second"))]
    assert main(["bench", *specs, "--out", str(tmp_path / "run"), *TINY]) == 0
    captured = capsys.readouterr()
    lines = captured.err.splitlines()
    assert lines[:4] == [
        "[1/2] first: training (ETA unknown)",
        "[1/2] first: evaluating (ETA unknown)",
        "[1/2] first: timing (ETA unknown)",
        lines[3],
    ]
    assert lines[3].startswith("[1/2] first: ok: mIoU ")
    eta = r"\(ETA (\d+m \d\ds|\d+s)\)"  # known once the first job has ended
    for line, phase in zip(lines[4:7], ("training", "evaluating", "timing"), strict=True):
        assert re.fullmatch(rf"\[2/2\] second: {phase} {eta}", line), line
    assert lines[7].startswith("[2/2] second: ok: mIoU ")
    assert lines[8:] == [
        f"2 ran, 0 skipped, 0 failed -> {tmp_path / 'run' / 'results.csv'}",
        "writing the report ...",
    ]
    assert captured.out == f"report: {tmp_path / 'run' / 'report' / 'report.html'}\n"


def test_quiet_prints_only_results_and_errors(
    tiny_seg_spec: Callable[..., Path], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    spec = str(tiny_seg_spec("quiet"))
    assert main(["bench", spec, "--out", str(tmp_path / "run"), *TINY, "--quiet"]) == 0
    captured = capsys.readouterr()
    assert captured.err == f"1 ran, 0 skipped, 0 failed -> {tmp_path / 'run' / 'results.csv'}\n"
    assert captured.out.startswith("report: ")


def test_format_json_ends_with_the_rows_key_facts(
    tiny_seg_spec: Callable[..., Path], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    spec = str(tiny_seg_spec("facts"))
    run = tmp_path / "run"
    argv = ["bench", spec, "--out", str(run), *TINY, "--format", "json", "--no-report"]
    assert main(argv) == 0
    captured = capsys.readouterr()
    document = json.loads(captured.out)
    assert document["results"] == str(run / "results.csv") and document["report"] is None
    assert (document["ran"], document["skipped"], document["failed"]) == (1, 0, 0)
    (row,) = document["rows"]
    assert row["spec"] == "facts" and row["status"] == "ok" and row["error"] is None
    assert (run / "jobs" / row["job"]).is_dir()
    assert set(row["metrics"]) == {"miou", "pixel_acc"} and row["gflops"] > 0
    assert "[1/1] facts: evaluating (ETA unknown)" in captured.err.splitlines()
    assert main(argv) == 0  # resumed: nothing ran, no rows, still one document
    assert json.loads(capsys.readouterr().out)["rows"] == []


def test_only_the_main_rank_reports_phases(
    tiny_seg_spec: Callable[..., Path], tmp_path: Path
) -> None:
    settings = JobSettings(epochs=1, limit=8, batch_size=4, device="cpu", threads=1)
    (job,) = plan_jobs([tiny_seg_spec("ranks")], [settings.as_json()])
    for rank, expected in ((1, []), (0, ["train", "evaluate", "time"])):
        heard: list[str] = []
        ctx = DistributedContext(rank=rank, device=torch.device("cpu"))
        job_dir = tmp_path / f"rank{rank}"
        job_dir.mkdir()
        run_job(job, job_dir, ctx, progress=False, on_phase=heard.append)
        assert heard == expected


@pytest.mark.parametrize(
    ("seconds", "text"),
    [
        (None, "ETA unknown"),
        (0.4, "ETA 0s"),
        (45, "ETA 45s"),
        (190, "ETA 3m 10s"),
        (3725, "ETA 1h 02m"),
    ],
)
def test_eta_text(seconds: float | None, text: str) -> None:
    assert format_eta(seconds) == text
