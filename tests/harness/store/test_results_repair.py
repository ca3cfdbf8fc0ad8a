"""Damaged results files: the store drops what it cannot trust and rewrites both copies.

Each case damages files written by the store itself, so the expected rows are known by hand:
which rows were written, which line was cut, which file was lost.
"""

from __future__ import annotations

import csv
from pathlib import Path

import pyarrow.parquet as pq
import pytest

from benchmarks.store.results import ResultsFileError, ResultsRepairWarning, ResultsStore
from benchmarks.store.row import ResultRow
from benchmarks.sweep.plan import plan_jobs
from benchmarks.sweep.runner import run_sweep
from graphspec.cli import main


def _row(key: str, params: int) -> dict[str, object]:
    return {"job_key": key, "spec": f"s-{key}", "status": "ok", "params": params}


def _store(tmp_path: Path, count: int) -> ResultsStore:
    store = ResultsStore(tmp_path)
    for i in range(1, count + 1):
        store.append(_row(f"k{i}", params=10 * i))
    return store


def _cut_last_line(path: Path, keep: int) -> None:
    """Keep only the first ``keep`` characters of the file's last line (no newline after)."""
    text = path.read_text()
    start = text.rstrip("\n").rfind("\n") + 1
    path.write_text(text[: start + keep])


def _csv_keys(path: Path) -> list[str]:
    with path.open(newline="") as handle:
        return [row["job_key"] for row in csv.DictReader(handle)]


def _parquet_keys(path: Path) -> list[str]:
    return pq.read_table(path).column("job_key").to_pylist()


def test_csv_cut_mid_line_with_parquet_deleted(tmp_path: Path) -> None:
    store = _store(tmp_path, 2)
    store.parquet_path.unlink()
    _cut_last_line(store.csv_path, 5)  # "s-k2," : k2's row now has no job key
    found = store.check()
    assert [r["job_key"] for r in found.rows] == ["k1"]
    assert any("last line is cut off" in p for p in found.problems)
    assert any("results.parquet: missing" in p for p in found.problems)
    with pytest.warns(ResultsRepairWarning) as caught:
        store.repair()
    assert len(caught) == 2 and "cut off" in str(caught[0].message)
    assert store.csv_path.read_text().endswith("\n")
    assert _csv_keys(store.csv_path) == ["k1"]
    assert _parquet_keys(store.parquet_path) == ["k1"]
    assert store.check().problems == []  # repaired: nothing left to say
    store.append(_row("k2", params=20))
    assert _csv_keys(store.csv_path) == _parquet_keys(store.parquet_path) == ["k1", "k2"]


def test_truncated_csv_is_rewritten_from_a_good_parquet(tmp_path: Path) -> None:
    store = _store(tmp_path, 3)
    text = store.csv_path.read_text()
    second = text.index("\n", text.index("\n") + 1) + 1  # start of k2's line
    store.csv_path.write_text(text[: second + 7])  # k2's line cut, k3's gone
    found = store.check()
    assert [r["job_key"] for r in found.rows] == ["k1", "k2", "k3"]
    assert any("lacks 2 row(s)" in p for p in found.problems)
    with pytest.warns(ResultsRepairWarning):
        assert store.repair()
    assert _csv_keys(store.csv_path) == ["k1", "k2", "k3"]
    assert [r["params"] for r in store.rows()] == [10, 20, 30]


def test_corrupt_parquet_is_rebuilt_from_the_csv(tmp_path: Path) -> None:
    store = _store(tmp_path, 2)
    store.parquet_path.write_bytes(b"PAR1 this is not parquet PAR1")
    found = store.check()
    assert [(r["job_key"], r["params"]) for r in found.rows] == [("k1", 10), ("k2", 20)]
    assert any("results.parquet: unreadable" in p for p in found.problems)
    with pytest.warns(ResultsRepairWarning, match="unreadable"):
        store.repair()
    table = pq.read_table(store.parquet_path)
    assert table.column("job_key").to_pylist() == ["k1", "k2"]
    assert table.column("params").to_pylist() == [10, 20]  # typed again, not text


def test_both_copies_beyond_repair_is_one_error(tmp_path: Path, capsys) -> None:
    store = _store(tmp_path, 1)
    store.parquet_path.write_bytes(b"garbage")
    store.csv_path.write_bytes(b"\xff\xfe\x00 not text")
    with pytest.raises(ResultsFileError, match="results.parquet: .*; results.csv: "):
        store.check()
    assert main(["report", str(tmp_path)]) == 1
    err = capsys.readouterr().err
    assert err.startswith("error: cannot read results in ") and err.count("\n") == 1
    assert "Traceback" not in err


def test_rows_with_bad_field_counts_or_repeated_keys_never_count(tmp_path: Path) -> None:
    store = _store(tmp_path, 2)
    store.parquet_path.unlink()
    lines = store.csv_path.read_text().splitlines(keepends=True)
    width = lines[0].count(",") + 1
    junk = "," * (width - 1) + "\n"  # the right width but every cell empty: no job key
    store.csv_path.write_text("".join([*lines, lines[1], junk, "a,b\n"]))
    found = store.check()
    assert [r["job_key"] for r in found.rows] == ["k2", "k1"]  # k1 repeated: last copy kept
    assert len(found.problems) == 4  # repeat, short row, keyless row, missing parquet


def test_rerun_after_damage_has_exactly_the_right_rows(tmp_path: Path) -> None:
    specs = []
    for name in ("a", "b"):
        spec = tmp_path / f"{name}.yaml"
        spec.write_text(f"name: {name}\n")
        specs.append(spec)
    jobs = plan_jobs(specs, [{"epochs": 1}])
    run_dir = tmp_path / "run"
    calls: list[str] = []

    def run_one(job, job_dir):  # noqa: ANN001, ANN202 - the sweep's callback
        calls.append(job.name)
        return ResultRow(metrics={"miou": 0.5})

    assert run_sweep(jobs, run_dir, run_one).exit_code == 0
    store = ResultsStore(run_dir)
    store.parquet_path.unlink()
    _cut_last_line(store.csv_path, 3)  # b's row: "b,<cut>" without a job key
    with pytest.warns(ResultsRepairWarning):
        summary = run_sweep(jobs, run_dir, run_one)
    assert (summary.skipped, summary.done) == (1, 1)
    assert calls == ["a", "b", "b"]  # only the lost row re-ran
    assert _csv_keys(store.csv_path) == [jobs[0].key, jobs[1].key]
    assert _parquet_keys(store.parquet_path) == [jobs[0].key, jobs[1].key]
