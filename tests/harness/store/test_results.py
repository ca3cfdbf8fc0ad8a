"""benchmarks.store.results: row replace semantics, CSV/parquet agreement, atomic writes."""

from __future__ import annotations

import csv
import multiprocessing
import os
from pathlib import Path

import pyarrow.parquet as pq
import pytest

from benchmarks.store import results
from benchmarks.store.jobs import file_hash, job_key
from benchmarks.store.results import ResultsStore
from benchmarks.store.row import SCHEMA_VERSION, ResultRow, column_kinds, result_columns


def _row(key: str, **values: object) -> dict[str, object]:
    return {"job_key": key, "status": "ok", **values}


def _tmp_files(directory: Path) -> list[str]:
    return sorted(p.name for p in directory.iterdir() if p.name.endswith(".tmp"))


def test_empty_store_has_all_columns(tmp_path: Path) -> None:
    store = ResultsStore(tmp_path / "run")
    frame = store.load()
    assert list(frame.columns) == result_columns()
    assert len(frame) == 0
    assert store.rows() == []
    assert store.done_keys() == set()


def test_result_columns_order() -> None:
    columns = result_columns()
    assert columns[:4] == ["spec", "task", "status", "error"]
    assert columns[-5:] == ["spec_file", "spec_hash", "job_key", "finished_at", "schema_version"]
    assert len(set(columns)) == len(columns)
    # Every task's metrics are columns, between the run's values and its identity.
    metrics = ["miou", "pixel_acc", "map", "map50", "map_voc07", "top1"]
    assert [c for c in columns if c in metrics] == metrics
    assert columns.index("world_size") < columns.index("miou") < columns.index("spec_file")


def test_column_kinds_follow_the_row_fields() -> None:
    kinds = column_kinds()
    assert kinds["image_size"] == "text"  # "64x64", never an integer
    assert (kinds["params"], kinds["latency_ms"], kinds["converged"]) == ("int", "float", "bool")
    assert kinds["map50"] == kinds["top1"] == "float"
    assert (kinds["settings"], kinds["schema_version"]) == ("text", "int")


def test_a_row_record_flattens_metrics_and_keeps_extras_last() -> None:
    row = ResultRow(spec="a", metrics={"miou": 0.5}, extra={"map75": 0.1}, job_key="k")
    record = row.as_record()
    declared = [c for c in result_columns() if c in record]
    assert list(record) == [*declared, "map75"]
    assert "map" not in record  # another task's metric is no value of this row
    assert (record["miou"], record["map75"]) == (0.5, 0.1)
    assert record["schema_version"] == SCHEMA_VERSION


def test_flag_columns_stay_boolean(tmp_path: Path) -> None:
    """converged / timing_noisy keep a boolean type through parquet, nulls included."""
    store = ResultsStore(tmp_path)
    store.append(_row("k1", converged=True, timing_noisy=False))
    store.append(_row("k2", converged=None, timing_noisy=True))
    rows = store.rows()
    assert [r["converged"] for r in rows] == [True, None]
    assert [r["timing_noisy"] for r in rows] == [False, True]


def test_append_replaces_row_with_same_key(tmp_path: Path) -> None:
    store = ResultsStore(tmp_path)
    store.append(_row("k1", spec="a", params=10, latency_ms=1.5))
    store.append(_row("k2", spec="b", params=20, latency_ms=2.5))
    store.append(_row("k1", spec="a", params=11, latency_ms=3.0))
    rows = store.rows()
    assert [r["job_key"] for r in rows] == ["k2", "k1"]
    assert rows[1]["params"] == 11
    assert rows[1]["latency_ms"] == 3.0
    assert rows[0]["params"] == 20
    assert len(store.load()) == 2


def test_done_keys_and_retry_failed(tmp_path: Path) -> None:
    store = ResultsStore(tmp_path)
    store.append(_row("ok1"))
    store.append({"job_key": "bad1", "status": "failed", "error": "ValueError: x"})
    assert store.done_keys() == {"ok1", "bad1"}
    assert store.done_keys(include_failed=False) == {"ok1"}
    store.append(_row("bad1"))  # a successful retry replaces the failure
    assert store.done_keys(include_failed=False) == {"ok1", "bad1"}
    assert len(store.rows()) == 2


def test_append_requires_job_key(tmp_path: Path) -> None:
    store = ResultsStore(tmp_path)
    with pytest.raises(ValueError, match="job_key"):
        store.append({"spec": "a"})
    assert not store.csv_path.exists()


def test_csv_and_parquet_hold_the_same_rows(tmp_path: Path) -> None:
    store = ResultsStore(tmp_path)
    store.append(_row("k1", spec="unet", params=123456, latency_ms=0.1 + 0.2, miou=0.5, seed=0))
    store.append({"job_key": "k2", "status": "failed", "error": "RuntimeError: oom, retry"})
    store.append(_row("k3", spec="fpn", compile=True, note="has, comma"))

    with store.csv_path.open(newline="") as handle:
        csv_rows = list(csv.DictReader(handle))
    parquet_rows = pq.read_table(store.parquet_path).to_pylist()
    assert len(csv_rows) == len(parquet_rows) == 3
    assert list(csv_rows[0]) == result_columns() + ["note"]
    assert pq.read_table(store.parquet_path).column_names == list(csv_rows[0])
    for text_row, typed_row in zip(csv_rows, parquet_rows, strict=True):
        for name, text in text_row.items():
            value = typed_row[name]
            if value is None:
                assert text == "", name
            elif isinstance(value, bool):
                assert text == str(value)
            elif isinstance(value, (int, float)):
                assert float(text) == value, name  # floats round-trip exactly
            else:
                assert text == value, name
    assert parquet_rows[0]["latency_ms"] == 0.1 + 0.2
    assert parquet_rows[0]["params"] == 123456
    assert parquet_rows[2]["note"] == "has, comma"


def test_hex_strings_stay_strings_and_odd_values_are_stored(tmp_path: Path) -> None:
    store = ResultsStore(tmp_path)
    store.append(_row("0123456789012345", spec_hash="1e10", image_size=[512, 384], params=None))
    store.append(_row("k2", spec_hash="00ab", image_size=224, params=7))
    row = store.rows()[0]
    assert row["job_key"] == "0123456789012345"
    assert row["spec_hash"] == "1e10"
    assert row["image_size"] == "[512, 384]"  # a list cannot share an int column: kept as text
    # The CSV fallback (parquet missing) must not turn these into numbers either.
    store.parquet_path.unlink()
    csv_rows = store.rows()
    assert csv_rows[0]["job_key"] == "0123456789012345"
    assert csv_rows[0]["spec_hash"] == "1e10"
    assert csv_rows[1]["params"] == 7
    assert csv_rows[0]["params"] is None


@pytest.mark.parametrize("fail_on_call", [1, 2])
def test_failed_replace_keeps_old_files_intact(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, fail_on_call: int
) -> None:
    store = ResultsStore(tmp_path)
    store.append(_row("k1", params=1))
    old_csv = store.csv_path.read_bytes()
    old_parquet = store.parquet_path.read_bytes()

    real_replace = os.replace
    calls = {"n": 0}

    def flaky_replace(src: str, dst: str) -> None:
        calls["n"] += 1
        if calls["n"] == fail_on_call:
            raise OSError("disk went away")
        real_replace(src, dst)

    monkeypatch.setattr(os, "replace", flaky_replace)
    with pytest.raises(OSError, match="disk went away"):
        store.append(_row("k2", params=2))
    monkeypatch.undo()

    assert _tmp_files(tmp_path) == []
    assert store.parquet_path.read_bytes() == old_parquet  # the commit point was not reached
    if fail_on_call == 1:
        assert store.csv_path.read_bytes() == old_csv
    assert [r["job_key"] for r in store.rows()] == ["k1"]
    with store.csv_path.open(newline="") as handle:
        assert len(list(csv.DictReader(handle))) in (1, 2)  # complete either way


def test_failure_while_writing_temp_file_cleans_up(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    store = ResultsStore(tmp_path)
    store.append(_row("k1"))
    old_csv = store.csv_path.read_bytes()

    def broken_fsync(fd: int) -> None:
        raise KeyboardInterrupt  # e.g. Ctrl-C in the middle of a write

    monkeypatch.setattr(os, "fsync", broken_fsync)
    with pytest.raises(KeyboardInterrupt):
        store.append(_row("k2"))
    monkeypatch.undo()
    assert _tmp_files(tmp_path) == []
    assert store.csv_path.read_bytes() == old_csv
    assert store.done_keys() == {"k1"}


def test_stale_temp_files_are_removed_on_append(tmp_path: Path) -> None:
    store = ResultsStore(tmp_path)
    stale = tmp_path / ".results.csv.abc123.tmp"
    stale.write_text("half a fi")
    other = tmp_path / "notes.tmp"
    other.write_text("not ours")
    store.append(_row("k1"))
    assert not stale.exists()
    assert other.exists()


def test_files_are_readable_by_others(tmp_path: Path) -> None:
    store = ResultsStore(tmp_path)
    old_umask = os.umask(0o022)
    try:
        store.append(_row("k1"))
    finally:
        os.umask(old_umask)
    assert store.csv_path.stat().st_mode & 0o777 == 0o644
    assert store.parquet_path.stat().st_mode & 0o777 == 0o644


def _append_many(run_dir: str, prefix: str, count: int) -> None:
    store = ResultsStore(run_dir)
    for i in range(count):
        store.append(_row(f"{prefix}{i}", params=i))


def test_concurrent_appenders_lose_no_rows(tmp_path: Path) -> None:
    ctx = multiprocessing.get_context("fork")
    procs = [ctx.Process(target=_append_many, args=(str(tmp_path), prefix, 8)) for prefix in "ab"]
    for proc in procs:
        proc.start()
    for proc in procs:
        proc.join(timeout=60)
        assert proc.exitcode == 0
    keys = [r["job_key"] for r in ResultsStore(tmp_path).rows()]
    assert sorted(keys) == sorted([f"a{i}" for i in range(8)] + [f"b{i}" for i in range(8)])


def test_unreadable_results_raise_instead_of_dropping_rows(tmp_path: Path) -> None:
    store = ResultsStore(tmp_path)
    store.parquet_path.write_bytes(b"not parquet")
    with pytest.raises(results.ResultsFileError, match="cannot read results"):
        store.append(_row("k1"))
    assert store.parquet_path.read_bytes() == b"not parquet"


def test_file_hash_is_sha256_prefix(tmp_path: Path) -> None:
    path = tmp_path / "spec.yaml"
    path.write_bytes(b"abc")
    assert file_hash(path) == "ba7816bf8f01cfea"  # sha256("abc") from FIPS 180-2
    path.write_bytes(b"abd")
    assert file_hash(path) != "ba7816bf8f01cfea"


def test_job_key_stable_and_sensitive() -> None:
    settings = {"epochs": 2, "batch_size": 8, "device": "cpu", "extra": {"b": 1, "a": 2}}
    reordered = {"extra": {"a": 2, "b": 1}, "device": "cpu", "batch_size": 8, "epochs": 2}
    key = job_key("ba7816bf8f01cfea", settings)
    assert key == job_key("ba7816bf8f01cfea", reordered)
    assert len(key) == 16 and int(key, 16) >= 0
    different = {
        job_key("ba7816bf8f01cfeb", settings),
        job_key("ba7816bf8f01cfea", {**settings, "epochs": 3}),
        job_key("ba7816bf8f01cfea", {**settings, "seed": 0}),
        job_key("ba7816bf8f01cfea", settings, spec_name="copy"),
    }
    assert key not in different and len(different) == 4
