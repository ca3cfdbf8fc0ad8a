"""Results of a run written before the schema version (version 1) read, extend and report."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pytest

from benchmarks.report.aggregate import group_ids
from benchmarks.report.write import write_report
from benchmarks.store.jobs import job_key
from benchmarks.store.read import read_results
from benchmarks.store.results import ResultsStore
from benchmarks.store.row import SCHEMA_VERSION, ResultRow
from benchmarks.store.settings import JobSettings

# Two seeds of one job as the results table of a version-1 run had them: no
# schema_version and no settings column; the settings bench did not report sat in columns
# of their own, the learning rate column held the rate used.
V1_ROWS = [
    {
        "spec": "fcn-small",
        "task": "segmentation",
        "status": "ok",
        "params": 1000,
        "gflops": 0.5,
        "latency_ms": 1.0,
        "epochs": 2,
        "lr": 0.002,
        "image_size": "32x32",
        "device": "cpu",
        "seed": seed,
        "data": "shapes",
        "miou": miou,
        "compile": False,
        "limit": 8,
        "spec_file": "specs/fcn-small.yaml",
        "spec_hash": "00ff00ff00ff00ff",
        "job_key": key,
        "finished_at": "2026-11-01T10:00:00.000+00:00",
    }
    for seed, miou, key in ((0, 0.30, "a1b2c3d4e5f60718"), (1, 0.40, "0718a1b2c3d4e5f6"))
]


@pytest.fixture
def old_run(tmp_path: Path) -> Path:
    run = tmp_path / "old"
    run.mkdir()
    frame = pd.DataFrame(V1_ROWS)
    frame.to_csv(run / "results.csv", index=False)
    frame.to_parquet(run / "results.parquet", index=False)
    return run


def test_an_old_table_reads_as_version_1(old_run: Path) -> None:
    frame = read_results(old_run)
    assert frame["schema_version"].tolist() == [1, 1]
    assert [r["schema_version"] for r in ResultsStore(old_run).rows()] == [1, 1]
    assert group_ids(frame).tolist() == [0, 0]  # seeds of one job, by the legacy columns


def test_a_resume_appends_version_2_beside_the_old_rows(old_run: Path) -> None:
    settings = JobSettings(epochs=2, limit=8, seed=2).as_json()
    key = job_key("00ff00ff00ff00ff", settings, "fcn-small")
    row = ResultRow(spec="fcn-small", task="segmentation", status="ok", job_key=key)
    ResultsStore(old_run).append(row.with_settings(settings).as_record())
    rows = ResultsStore(old_run).rows()
    assert [r["schema_version"] for r in rows] == [1, 1, SCHEMA_VERSION]
    assert [r["settings"] is None for r in rows] == [True, True, False]
    assert rows[0]["miou"] == 0.30 and rows[0]["limit"] == 8  # old values kept as they were


def test_an_old_run_reports(old_run: Path, tmp_path: Path) -> None:
    written = write_report(old_run, tmp_path / "report")
    summary = pd.read_csv(written["summary.csv"])
    assert summary["seeds"].tolist() == [2]
    assert summary["miou"].tolist() == pytest.approx([0.35])
