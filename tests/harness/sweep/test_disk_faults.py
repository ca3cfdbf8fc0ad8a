"""Disk faults: a full disk, a read-only folder; and an ``--out`` that is a file (a usage
error, refused before the sweep).

Each disk fault gives one ``error: cannot write PATH: REASON`` line and exit 1, keeps the
finished rows, and leaves no partial or temp file; resuming a finished run writes nothing. Tests run
as root here, where chmod does not stop writes, so read-only folders are modelled by making
``tempfile.mkstemp`` (every atomic write starts there) raise EROFS.
"""

from __future__ import annotations

import errno
import os
import shutil
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pandas as pd
import pytest
import torch

from benchmarks.store.results import ResultsStore
from benchmarks.store.row import ResultRow
from benchmarks.sweep import runner as sweep
from benchmarks.sweep.plan import plan_jobs
from benchmarks.sweep.runner import run_sweep
from compiler.emit.weights import save_state
from graphspec import atomic
from graphspec.atomic import WriteError
from graphspec.cli import main
from tests import FIXTURES

TINY = (FIXTURES / "tiny_seg.yaml").read_text()

ENOSPC = OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))


def _bench(spec: Path, out: Path) -> int:
    args = ["bench", str(spec), "--out", str(out), "--epochs", "1", "--limit", "8"]
    return main([*args, "--batch-size", "8", "--quiet"])


def _tmp_files(folder: Path) -> list[Path]:
    return [p for p in folder.rglob("*.tmp")]


def _full_disk(*_args: object, **_kwargs: object) -> None:
    raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))


def _read_only(*_args: object, **_kwargs: object) -> None:
    raise OSError(errno.EROFS, os.strerror(errno.EROFS))


@pytest.fixture(scope="module")
def finished(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Path, Path]]:
    """(spec, run dir) of one finished tiny bench run, shared by the tests that copy it."""
    root = tmp_path_factory.mktemp("finished")
    spec = root / "tiny.yaml"
    spec.write_text(TINY)
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        assert _bench(spec, root / "run") == 0
    finally:
        torch.set_num_threads(threads)
    yield spec, root / "run"


def _copy(run: Path, tmp_path: Path) -> Path:
    return Path(shutil.copytree(run, tmp_path / "run"))


def test_out_that_is_a_file_is_one_line(tmp_path: Path, capsys) -> None:
    spec = tmp_path / "tiny.yaml"
    spec.write_text(TINY)
    out = tmp_path / "taken"
    out.write_text("not a folder")
    assert _bench(spec, out) == 2  # a wrong command line, refused before the sweep starts
    err = capsys.readouterr().err
    assert err == f"graphspec bench: --out {out}: it is a file, not a folder\n"
    assert out.read_text() == "not a folder"


@pytest.mark.parametrize(
    ("fault", "reason"), [(_full_disk, "No space left on device"), (_read_only, "Read-only")]
)
def test_unwritable_run_folder_is_one_line(tmp_path: Path, capsys, monkeypatch, fault, reason):  # noqa: ANN001, ANN201
    spec = tmp_path / "tiny.yaml"
    spec.write_text(TINY)
    out = tmp_path / "run"
    out.mkdir()
    monkeypatch.setattr(tempfile, "mkstemp", fault)  # the first write is protocol.json
    assert _bench(spec, out) == 1
    err = capsys.readouterr().err
    assert err.startswith(f"error: cannot write {out / 'protocol.json'}: {reason}")
    assert err.count("\n") == 1 and list(out.iterdir()) == []


def test_full_disk_while_saving_weights_leaves_no_file(tmp_path: Path, monkeypatch) -> None:
    monkeypatch.setattr(os, "fsync", _full_disk)
    with pytest.raises(WriteError, match="best.pt: No space left on device"):
        save_state(tmp_path / "best.pt", {"w": torch.zeros(2)})
    assert list(tmp_path.iterdir()) == []


def _jobs(tmp_path: Path, *names: str) -> list:  # noqa: ANN401
    specs = []
    for name in names:
        spec = tmp_path / f"{name}.yaml"
        spec.write_text(f"name: {name}\n")
        specs.append(spec)
    return plan_jobs(specs, [{}])


def test_full_disk_in_a_job_stops_the_sweep_and_keeps_finished_rows(tmp_path: Path) -> None:
    jobs = _jobs(tmp_path, "a", "b", "c")
    run_dir = tmp_path / "run"

    def run_one(job, job_dir):  # noqa: ANN001, ANN202 - the sweep's callback
        if job.name == "b":
            save_state(job_dir / "best.pt", {"w": torch.zeros(1)})
            raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC), str(job_dir / "last.pt"))
        return ResultRow(metrics={"miou": 0.25})

    with pytest.raises(WriteError, match="last.pt: No space left on device"):
        run_sweep(jobs, run_dir, run_one)
    assert [r["spec"] for r in ResultsStore(run_dir).rows()] == ["a"]  # c never started
    b_dir = run_dir / "jobs" / jobs[1].dir_name
    assert not (b_dir / "error.txt").exists() and _tmp_files(run_dir) == []
    summary = run_sweep(
        jobs, run_dir, lambda job, job_dir: ResultRow(metrics={"miou": 0.5})
    )  # disk freed
    assert (summary.skipped, summary.done, summary.failed) == (1, 2, 0)


def test_full_disk_while_appending_a_row_keeps_old_rows(tmp_path: Path, monkeypatch) -> None:
    jobs = _jobs(tmp_path, "a", "b")
    run_dir = tmp_path / "run"
    run_sweep(jobs[:1], run_dir, lambda job, job_dir: ResultRow(), planned=jobs)  # sweep.json stays
    monkeypatch.setattr(atomic.os, "fsync", _full_disk)
    with pytest.raises(WriteError, match="results.csv: No space left on device"):
        run_sweep(jobs, run_dir, lambda job, job_dir: ResultRow())
    monkeypatch.undo()
    assert [r["spec"] for r in ResultsStore(run_dir).rows()] == ["a"]
    assert _tmp_files(run_dir) == []


def test_error_txt_failure_does_not_mask_the_job_error(tmp_path: Path, monkeypatch) -> None:
    jobs = _jobs(tmp_path, "a")

    real = sweep.atomic_write_text

    def broken(path: Path, text: str) -> None:
        if path.name != "error.txt":
            return real(path, text)
        raise WriteError(path, "No space left on device", errno.ENOSPC)

    monkeypatch.setattr(sweep, "atomic_write_text", broken)
    summary = run_sweep(jobs, tmp_path / "run", lambda job, job_dir: 1 / 0)
    assert summary.failed == 1
    (row,) = ResultsStore(tmp_path / "run").rows()
    assert row["error"] == "ZeroDivisionError: division by zero"
    assert list((tmp_path / "run" / "jobs" / jobs[0].dir_name).iterdir()) == []


@pytest.mark.usefixtures("one_thread")  # the same thread count as the first run's protocol
def test_resuming_a_finished_run_writes_nothing(finished, tmp_path: Path, monkeypatch, capsys):  # noqa: ANN001, ANN201
    spec, run = finished
    run_dir = _copy(run, tmp_path)
    before = {p: p.stat().st_mtime_ns for p in run_dir.rglob("*")}
    monkeypatch.setattr(tempfile, "mkstemp", _read_only)  # any write would now fail
    assert _bench(spec, run_dir) == 0
    assert "0 ran, 1 skipped, 0 failed" in capsys.readouterr().err
    assert {p: p.stat().st_mtime_ns for p in run_dir.rglob("*")} == before


@pytest.mark.usefixtures("one_thread")
def test_report_on_a_corrupt_parquet_warns_and_bench_repairs(finished, tmp_path: Path, capsys):  # noqa: ANN001, ANN201
    spec, run = finished
    run_dir = _copy(run, tmp_path)
    (run_dir / "results.parquet").write_bytes(b"PAR1 broken PAR1")
    assert main(["report", str(run_dir), "--out", str(tmp_path / "rep")]) == 0
    err = capsys.readouterr().err
    assert "Traceback" not in err
    assert f"warning: {run_dir / 'results.parquet'}: unreadable" in err
    assert (tmp_path / "rep" / "report.md").read_text().count("| tiny ") >= 1
    assert _bench(spec, run_dir) == 0  # repairs, then skips the finished job
    assert "0 ran, 1 skipped" in capsys.readouterr().err
    df = pd.read_parquet(run_dir / "results.parquet")
    assert list(df["spec"]) == ["tiny"] and df["status"].tolist() == ["ok"]


def test_a_full_disk_leaves_no_half_chart_or_image(tmp_path: Path, monkeypatch) -> None:
    """Charts (report, val) and predict's PNGs go through a temp file too."""
    import errno

    import matplotlib.pyplot as plt
    import numpy as np
    from PIL import Image

    from benchmarks.figures.files import save_figure
    from benchmarks.figures.overlay import save_mask
    from graphspec.atomic import WriteError

    fig, _ = plt.subplots()
    real_fsync = os.fsync

    def full(fd: int) -> None:  # the bytes are written, then the disk is full
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(os, "fsync", full)
    with pytest.raises(WriteError, match="No space left on device"):
        save_figure(fig, tmp_path / "chart")
    with pytest.raises(WriteError, match="mask.png"):
        save_mask(np.zeros((4, 4), dtype=np.int64), tmp_path / "mask.png")
    assert list(tmp_path.iterdir()) == []  # no partial file, no temp file
    monkeypatch.setattr(os, "fsync", real_fsync)
    save_mask(np.full((4, 4), 3), tmp_path / "mask.png")
    assert np.asarray(Image.open(tmp_path / "mask.png")).tolist() == [[3] * 4] * 4
    plt.close(fig)
