"""Merging runs never loses a row: runs that differ in any setting stay apart, a job found
twice is reported once (with a note), and the header says which settings differ."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import pandas as pd
import pytest

from benchmarks.report.write import write_report
from benchmarks.store.jobs import job_key
from benchmarks.store.protocol import collect_protocol, write_protocol
from benchmarks.store.read import merge_results
from benchmarks.store.results import ResultsStore
from benchmarks.store.row import ResultRow
from benchmarks.store.settings import JobSettings

SPEC, SPEC_HASH = "fcn-small", "0123abcd0123abcd"
BASE = JobSettings(epochs=2, limit=8, lr=1e-3)


def _run(folder: Path, settings: JobSettings, miou: float, seeds: int = 1) -> Path:
    """A run folder as bench leaves it: protocol.json and one ok row per seed."""
    write_protocol(folder, collect_protocol(settings))
    for seed in range(seeds):
        job = settings.with_seed(seed).as_json()
        row = ResultRow(
            spec=SPEC,
            task="segmentation",
            status="ok",
            params=1000,
            gflops=0.5,
            latency_ms=1.0,
            image_size="32x32",
            device="cpu",
            metrics={"miou": miou + seed / 100},
            spec_file=f"specs/{SPEC}.yaml",
            spec_hash=SPEC_HASH,
            job_key=job_key(SPEC_HASH, job, SPEC),
        )
        ResultsStore(folder).append(row.with_settings(job).as_record())
    return folder


def _table(report: Path) -> list[str]:
    """The spec column of the segmentation table of report.md."""
    lines = report.read_text().splitlines()
    start = next(i for i, line in enumerate(lines) if line.startswith("| Spec |"))
    rows = []
    for line in lines[start + 2 :]:
        if not line.startswith("|"):
            break
        rows.append(line.split("|")[1].strip())
    return rows


@pytest.mark.parametrize(
    ("change", "labels", "difference"),
    [
        ({"lr": 1e-2}, ["fcn-small lr=0.01", "fcn-small lr=0.001"], "lr: 0.001 (A), 0.01 (B)"),
        (
            {"data": "voc:/data/VOC2012"},
            ["fcn-small data=voc:/data/VOC2012", "fcn-small data=shapes"],
            "data: shapes (A), voc:/data/VOC2012 (B)",
        ),
        ({"limit": 64}, ["fcn-small limit=64", "fcn-small limit=8"], "limit: 8 (A), 64 (B)"),
    ],
)
def test_runs_differing_in_one_setting_keep_both_rows(
    tmp_path: Path, change: dict[str, object], labels: list[str], difference: str
) -> None:
    a = _run(tmp_path / "A", BASE, miou=0.40)
    b = _run(tmp_path / "B", dataclasses.replace(BASE, **change), miou=0.50)
    merged = merge_results([a, b])
    assert len(merged.rows) == 2 and merged.notes == []
    written = write_report(merged, tmp_path / "report", run_dirs=[a, b])
    assert _table(written["report.md"]) == labels  # best mIoU first
    header = written["report.md"].read_text()
    named = difference.replace("(A)", f"({a})").replace("(B)", f"({b})")
    assert f"- **Settings that differ between runs**: {named}" in header
    summary = pd.read_csv(written["summary.csv"])
    assert sorted(summary["miou"]) == pytest.approx([0.40, 0.50])


def test_a_job_found_in_two_runs_is_reported_once(tmp_path: Path) -> None:
    """Two folders holding the same jobs (a shard re-run into a second folder): the later
    run's rows are reported, once each, and the runs differ in no setting."""
    a = _run(tmp_path / "A", BASE, miou=0.30, seeds=2)
    b = _run(tmp_path / "B", BASE, miou=0.40, seeds=2)
    merged = merge_results([a, b])
    assert len(merged.rows) == 2  # two seeds, each once
    assert merged.notes == [
        "2 job(s) appear in more than one of the merged runs (same spec and settings): each "
        "is reported once, from the run listed last."
    ]
    written = write_report(merged, tmp_path / "report", run_dirs=[a, b])
    text = written["report.md"].read_text()
    assert merged.notes[0] in text
    assert "- **Settings that differ between runs**: none (the runs were run alike)" in text
    # One group of two seeds: mean 0.405 ± sample std 0.00707.
    assert _table(written["report.md"]) == ["fcn-small"]
    assert "0.405 ± 0.007" in text


def test_seeds_of_one_job_fold_but_an_lr_setting_does_not(tmp_path: Path) -> None:
    """Rows that differ only in the seed are one group; in the lr setting, two."""
    a = _run(tmp_path / "A", BASE, miou=0.40, seeds=2)
    b = _run(tmp_path / "B", dataclasses.replace(BASE, lr=1e-2), miou=0.50, seeds=2)
    written = write_report(merge_results([a, b]), tmp_path / "report", run_dirs=[a, b])
    summary = pd.read_csv(written["summary.csv"])
    assert summary["seeds"].tolist() == [2, 2]
    assert sorted(summary["miou"]) == pytest.approx([0.405, 0.505])
