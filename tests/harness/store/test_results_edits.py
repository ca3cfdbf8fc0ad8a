"""A results.csv edited by hand: the store compares the copies value by value, names each
edited cell in one line and rewrites the CSV from the parquet (the canonical copy).

The rows hold the awkward values a real row has (floats that need 17 digits, tiny and huge
floats, an empty string, None, booleans, a settings JSON text), so an untouched pair of
files must compare equal; the edit is made with the csv module, not through the store.
"""

from __future__ import annotations

import csv
import io
from pathlib import Path

import pyarrow.parquet as pq
import pytest

from benchmarks.store.results import ResultsRepairWarning, ResultsStore


def _row(key: str, miou: float) -> dict[str, object]:
    return {
        "job_key": key,
        "spec": f"s-{key}",
        "status": "ok",
        "params": 844,
        "miou": miou,
        "gflops": 1e-300,
        "latency_ms": 1.7976931348623157e308,
        "pixel_acc": 0.1 + 0.2,
        "encoder_init": "",
        "warning": None,
        "timing_noisy": True,
        "compile": False,
        "settings": '{"image_size":[16,16],"lr":0.002}',
    }


def _store(tmp_path: Path) -> ResultsStore:
    store = ResultsStore(tmp_path)
    for number in range(1, 13):
        store.append(_row(f"k{number}", miou=1 / (3 * number)))
    return store


def _edit(path: Path, cells: dict[tuple[str, str], str]) -> None:
    """Set the (job_key, column) cells of a CSV to the given texts, as a person would."""
    with path.open(newline="") as handle:
        rows = list(csv.DictReader(handle))
    for row in rows:
        for (key, column), text in cells.items():
            if row["job_key"] == key:
                row[column] = text
    out = io.StringIO()
    writer = csv.DictWriter(out, fieldnames=list(rows[0]), lineterminator="\n")
    writer.writeheader()
    writer.writerows(rows)
    path.write_text(out.getvalue())


def _csv_cell(path: Path, key: str, column: str) -> str:
    with path.open(newline="") as handle:
        return next(row[column] for row in csv.DictReader(handle) if row["job_key"] == key)


def test_untouched_files_agree(tmp_path: Path) -> None:
    assert _store(tmp_path).check().problems == []


def test_an_edited_value_is_named_and_repaired_from_the_parquet(tmp_path: Path) -> None:
    store = _store(tmp_path)
    canonical = pq.read_table(store.parquet_path).to_pylist()[1]["miou"]
    assert canonical == 1 / 6
    _edit(store.csv_path, {("k2", "miou"): "0.99"})
    line = (
        f"{store.csv_path}: job_key k2, column miou: 0.99 differs from results.parquet's {1 / 6!r}"
    )
    found = store.check()
    assert found.problems == [line]
    assert [row["miou"] for row in found.rows][1] == 1 / 6  # the parquet's rows are trusted
    with pytest.warns(ResultsRepairWarning) as caught:
        assert store.repair() == [line]
    assert [str(w.message) for w in caught] == [f"{line} (repaired)"]
    assert float(_csv_cell(store.csv_path, "k2", "miou")) == 1 / 6
    assert store.check().problems == []


def test_a_changed_flag_and_a_filled_empty_cell_are_edits(tmp_path: Path) -> None:
    store = _store(tmp_path)
    _edit(store.csv_path, {("k1", "timing_noisy"): "False", ("k3", "encoder_init"): "x.pt"})
    assert store.check().problems == [
        f"{store.csv_path}: job_key k1, column timing_noisy: False differs from "
        "results.parquet's True",
        f"{store.csv_path}: job_key k3, column encoder_init: 'x.pt' differs from "
        "results.parquet's None",
    ]


def test_the_same_number_written_otherwise_is_no_edit(tmp_path: Path) -> None:
    store = _store(tmp_path)
    _edit(store.csv_path, {("k1", "params"): "844.0", ("k1", "miou"): "3.333333333333333e-01"})
    assert store.check().problems == []


def test_many_edited_cells_are_counted_after_ten(tmp_path: Path) -> None:
    store = _store(tmp_path)
    _edit(store.csv_path, {(f"k{n}", "params"): "1" for n in range(1, 13)})
    problems = store.check().problems
    assert len(problems) == 11
    assert problems[9].startswith(f"{store.csv_path}: job_key k10, column params: 1 differs")
    assert problems[10] == f"{store.csv_path}: 2 more cell(s) differ from results.parquet"
