"""Seeds folded per spec and setting: mean, sample std, seed count, convergence, cost columns."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest

from benchmarks.report.aggregate import aggregate_seeds, group_ids, tri_state


def _seed(spec: str, seed: int, miou: float, **values: object) -> dict[str, object]:
    row: dict[str, object] = {
        "spec": spec,
        "task": "segmentation",
        "image_size": "64x64",
        "device": "cpu",
        "seed": seed,
        "miou": miou,
        "params": 1_000_000,
        "gflops": 2.0,
        "latency_ms": 1.0,
        "job_key": f"{spec}-{seed}",
    }
    row.update(values)
    return row


@pytest.fixture
def rows() -> pd.DataFrame:
    # Worked by hand (sample std, ddof=1):
    #   a 64x64: miou 0.50, 0.60, 0.70 -> mean 0.60, std sqrt((0.01 + 0 + 0.01) / 2) = 0.1;
    #            latency 3, 9, 4 -> median 4; converged all True -> True.
    #   b 64x64: miou 0.40, 0.44 -> mean 0.42, std sqrt((0.0004 + 0.0004) / 1) = 0.028284...;
    #            latency 2, 4 -> median 3; converged True, False -> False; one noisy timing.
    #   a 96x96: one seed, miou 0.30 -> std NaN (undefined from one draw); converged unknown.
    return pd.DataFrame(
        [
            _seed("a", 0, 0.50, latency_ms=3.0, converged=True),
            _seed("b", 0, 0.40, latency_ms=2.0, converged=True, timing_noisy=False),
            _seed("a", 1, 0.60, latency_ms=9.0, converged=True),
            _seed("a", 2, 0.70, latency_ms=4.0, converged=True),
            _seed(
                "b",
                1,
                0.44,
                latency_ms=4.0,
                converged=False,
                convergence_reason="loss still falling",
                timing_noisy=True,
                timing_noise_reason="load 3.1",
            ),
            _seed("a", 0, 0.30, image_size="96x96", converged=None),
        ]
    )


def test_groups_are_spec_and_settings_without_the_seed(rows: pd.DataFrame) -> None:
    assert group_ids(rows).tolist() == [0, 1, 0, 0, 1, 2]


def test_mean_std_and_seed_count_match_hand_computed_values(rows: pd.DataFrame) -> None:
    agg = aggregate_seeds(rows, ["miou"])
    assert agg["spec"].tolist() == ["a", "b", "a"]
    assert agg["image_size"].tolist() == ["64x64", "64x64", "96x96"]
    assert agg["seeds"].tolist() == [3, 2, 1]
    assert agg["seed_list"].tolist() == ["0, 1, 2", "0, 1", "0"]
    assert agg["miou"].tolist() == pytest.approx([0.60, 0.42, 0.30])
    assert agg["miou_std"].iloc[0] == pytest.approx(0.1)
    assert agg["miou_std"].iloc[1] == pytest.approx(math.sqrt(0.0008))
    assert math.isnan(agg["miou_std"].iloc[2])  # one seed: no spread, not zero spread


def test_cost_columns_first_or_median(rows: pd.DataFrame) -> None:
    agg = aggregate_seeds(rows, ["miou"])
    assert agg["params"].tolist() == [1_000_000, 1_000_000, 1_000_000]
    assert agg["gflops"].tolist() == [2.0, 2.0, 2.0]
    assert agg["latency_ms"].tolist() == [4.0, 3.0, 1.0]


def test_converged_only_when_every_seed_converged(rows: pd.DataFrame) -> None:
    agg = aggregate_seeds(rows, ["miou"])
    assert agg["converged"].tolist() == [True, False, None]
    assert agg["convergence_reason"].tolist() == ["", "loss still falling", ""]
    assert agg["timing_noisy"].tolist() == [False, True, False]
    assert agg["timing_noise_reason"].tolist() == ["", "load 3.1", ""]


def test_rows_of_older_runs_without_new_columns() -> None:
    old = pd.DataFrame(
        {"spec": ["x", "x"], "seed": [0, 1], "miou": [0.2, 0.4], "gflops": [1.0, 1.0]}
    )
    agg = aggregate_seeds(old, ["miou", "map"])
    assert agg["miou"].tolist() == pytest.approx([0.3])
    assert "map" not in agg  # a metric no row has is not invented
    assert agg["converged"].tolist() == [None]
    assert agg["timing_noisy"].tolist() == [False]


def test_lr_is_not_a_grouping_column_but_its_range_is_kept() -> None:
    # A learning-rate range test may pick a different lr per seed: still one group.
    rows = pd.DataFrame(
        [_seed("a", 0, 0.5, lr=0.001), _seed("a", 1, 0.7, lr=0.004), _seed("a", 2, 0.6, lr=0.002)]
    )
    agg = aggregate_seeds(rows, ["miou"])
    assert len(agg) == 1
    assert (agg["lr_min"].iloc[0], agg["lr"].iloc[0], agg["lr_max"].iloc[0]) == (
        0.001,
        0.002,
        0.004,
    )


def test_settings_that_differ_only_in_dtype_of_storage_are_one_group() -> None:
    # epochs 10 (int) and 10.0 (float, as after a NaN in a parquet int column) are equal.
    rows = pd.DataFrame(
        {"spec": ["a", "a"], "epochs": pd.Series([10, 10.0], dtype=object), "miou": [0.1, 0.3]}
    )
    assert group_ids(rows).tolist() == [0, 0]


def test_tri_state_reads_parquet_csv_and_missing_values() -> None:
    values = pd.Series([True, np.bool_(False), "True", "false", None, np.nan, pd.NA, "maybe"])
    assert tri_state(values).tolist() == [True, False, True, False, None, None, None, None]


def test_empty_table() -> None:
    agg = aggregate_seeds(pd.DataFrame({"spec": [], "miou": []}), ["miou"])
    assert agg.empty and "miou" in agg and "seeds" in agg
