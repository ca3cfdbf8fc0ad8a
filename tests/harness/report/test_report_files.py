"""The report and the files of a run folder: long spec names, symlinks in a shared run
folder, and job folders named by older versions."""

from __future__ import annotations

import base64
import json
import shutil
from pathlib import Path

import pytest

from benchmarks import load_run
from benchmarks.store.layout import RunFolder, find_job_folder, job_folder_name
from graphspec.cli import main
from tests import tiny_seg

STEM = "s" * 250  # "s...s.yaml" is 255 bytes: the longest file name
NAME = "n" * 300  # a valid spec name (no length limit)
BENCH = ["--epochs", "1", "--limit", "8", "--batch-size", "4", "--quiet", "--threads", "1"]
NAME_LIMIT = 160  # every file or folder name a run gets stays far below 255 bytes


def _bench(folder: Path, stem: str, name: str) -> Path:
    """A run of the tiny spec saved as ``STEM.yaml`` under ``name``; its folder."""
    spec = folder / f"{stem}.yaml"
    spec.write_text(tiny_seg(name))
    run = folder / "run"
    assert main(["bench", str(spec), "--out", str(run), *BENCH]) == 0
    return run


@pytest.fixture(scope="module")
def benched(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """One run of the tiny spec, for the tests to copy and tamper with."""
    return _bench(tmp_path_factory.mktemp("benched"), "tiny", "tiny")


def _copy(run: Path, tmp_path: Path) -> Path:
    copy = tmp_path / "run"
    shutil.copytree(run, copy, symlinks=True)
    shutil.rmtree(copy / "report")
    return copy


def _job(run: Path) -> Path:
    (job,) = (run / "jobs").iterdir()
    return job


def test_a_long_named_spec_benches_resumes_and_reports(tmp_path: Path, capsys) -> None:
    """The longest spec file name and a 300-character spec name: "File name too long" used
    to stop the sweep (a disk fault, on every resume) or the report."""
    (tmp_path / "first").mkdir()
    benched = _bench(tmp_path / "first", STEM, NAME)
    names = [p.name for p in benched.rglob("*")]
    assert max(len(n.encode()) for n in names) <= NAME_LIMIT, max(names, key=len)
    job = _job(benched)
    assert job.name.startswith("s" * 91 + "-") and len(job.name) == 109
    html = (benched / "report" / "report.html").read_text()
    strip = (job / "predictions.png").read_bytes()
    assert base64.b64encode(strip).decode() in html  # the strip is in the report
    run = _copy(benched, tmp_path)
    spec = benched.parent / f"{STEM}.yaml"
    assert main(["bench", str(spec), "--out", str(run), *BENCH]) == 0
    assert "0 ran, 1 skipped" in capsys.readouterr().err
    assert main(["report", str(run)]) == 0
    assert (load_run(run).jobs[0].config or {}).get("spec_file") == str(spec)


def test_a_symlinked_strip_or_table_is_not_copied_or_embedded(
    benched: Path, tmp_path: Path
) -> None:
    run = _copy(benched, tmp_path)
    job = _job(run)
    secret_png, secret_json = tmp_path / "secret.png", tmp_path / "secret.json"
    secret_png.write_bytes(b"\x89PNG\r\n\x1a\n" + b"private bytes " * 20)
    secret_json.write_text(json.dumps([{"index": 0, "name": "PRIVATE-CLASS", "value": 1.0}]))
    for name, target in (("predictions.png", secret_png), ("per_class.json", secret_json)):
        (job / name).unlink()
        (job / name).symlink_to(target)
    assert main(["report", str(run)]) == 0
    html = (run / "report" / "report.html").read_text()
    assert base64.b64encode(secret_png.read_bytes()).decode() not in html
    assert "PRIVATE-CLASS" not in html + (run / "report" / "report.md").read_text()
    assert not [p for p in (run / "report").iterdir() if "predictions" in p.name]


def test_a_job_folder_leading_out_of_the_run_is_not_read(benched: Path, tmp_path: Path) -> None:
    run = _copy(benched, tmp_path)
    job = _job(run)
    outside = tmp_path / "outside"
    shutil.move(job, outside)
    job.symlink_to(outside, target_is_directory=True)
    assert main(["report", str(run)]) == 0
    html = (run / "report" / "report.html").read_text()
    assert base64.b64encode((outside / "predictions.png").read_bytes()).decode() not in html
    assert "data:image/png;base64" not in html


def test_a_symlinked_report_folder_is_refused(benched: Path, tmp_path: Path, capsys) -> None:
    run = _copy(benched, tmp_path)
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    (run / "report").symlink_to(elsewhere, target_is_directory=True)
    assert main(["report", str(run)]) == 1
    err = capsys.readouterr().err
    assert err == (
        f"error: cannot write {run / 'report'}: it is a symbolic link; remove it or give a "
        "real folder with --out\n"
    )
    assert list(elsewhere.iterdir()) == []
    assert main(["report", str(run), "--out", str(tmp_path / "real")]) == 0


def test_job_folder_names_of_short_and_older_long_stems_are_found(tmp_path: Path) -> None:
    key = "0123456789abcdef"
    assert job_folder_name("segnet-small", key) == "segnet-small-01234567"  # unchanged
    assert job_folder_name("s" * 100, key) == "s" * 100 + "-01234567"  # the longest kept
    long_stem = "L" * 150  # named in full by older versions (159 bytes then)
    legacy = tmp_path / "jobs" / f"{long_stem}-01234567"
    odd = tmp_path / "jobs" / "run [1]-fedcba98"  # glob characters in the stem
    legacy.mkdir(parents=True), odd.mkdir()
    found = find_job_folder([tmp_path], f"specs/{long_stem}.yaml", key)
    assert found is not None and found.path == legacy
    assert RunFolder(tmp_path).job_of(long_stem, key).path == legacy
    assert len(job_folder_name(long_stem, key)) == 109  # new jobs get the short name
    found = find_job_folder([tmp_path], "specs/run [1].yaml", "fedcba9876543210")
    assert found is not None and found.path == odd
    assert find_job_folder([tmp_path], None, "fedcba9876543210").path == odd
