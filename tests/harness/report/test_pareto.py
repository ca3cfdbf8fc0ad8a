"""Pareto frontier: hand-checked cases plus a brute-force cross-check on random ties."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from benchmarks.report.aggregate import aggregate_seeds
from benchmarks.report.pareto import pareto_frontier, pareto_mask


def brute_force_mask(costs: np.ndarray, scores: np.ndarray) -> np.ndarray:
    """Definition, literally: no other valid point with cost <=, score >=, one strict."""
    n = len(costs)
    valid = np.isfinite(costs) & ~np.isnan(scores)
    mask = np.zeros(n, dtype=bool)
    for i in range(n):
        if not valid[i]:
            continue
        dominated = False
        for j in range(n):
            if j == i or not valid[j]:
                continue
            no_worse = costs[j] <= costs[i] and scores[j] >= scores[i]
            strictly_better = costs[j] < costs[i] or scores[j] > scores[i]
            if no_worse and strictly_better:
                dominated = True
                break
        mask[i] = not dominated
    return mask


@pytest.fixture
def table() -> pd.DataFrame:
    # Worked by hand, cost minimised and score maximised:
    #   a (1, 10)  frontier: cheapest
    #   b (1,  8)  dominated by a (same cost, lower score)
    #   c (2, 20)  frontier, and d is an identical copy: both kept
    #   d (2, 20)  frontier
    #   e (3, 20)  dominated by c/d (same score, higher cost)
    #   f (4, 15)  dominated by c (cheaper and better)
    #   g (5, 30)  frontier: best score
    #   h (NaN cost)   never on the frontier, although its score would win
    #   i (NaN score)  never on the frontier, although it is the cheapest
    #   j (6, 30)  dominated by g (same score, higher cost)
    return pd.DataFrame(
        {
            "spec": list("abcdefghij"),
            "gflops": [1.0, 1.0, 2.0, 2.0, 3.0, 4.0, 5.0, np.nan, 0.5, 6.0],
            "miou": [10.0, 8.0, 20.0, 20.0, 20.0, 15.0, 30.0, 99.0, np.nan, 30.0],
        }
    )


def test_mask_matches_hand_worked_table(table: pd.DataFrame) -> None:
    mask = pareto_mask(table["gflops"], table["miou"])
    assert list(table["spec"][mask]) == ["a", "c", "d", "g"]


def test_frontier_rows_sorted_by_cost_with_index_kept(table: pd.DataFrame) -> None:
    shuffled = table.sample(frac=1.0, random_state=3)
    front = pareto_frontier(shuffled, "gflops", "miou")
    assert sorted(front["spec"][:1]) == ["a"]
    assert sorted(front["spec"][1:3]) == ["c", "d"]
    assert list(front["spec"][3:]) == ["g"]
    assert list(front["gflops"]) == [1.0, 2.0, 2.0, 5.0]
    # Index labels still point at the original rows.
    assert list(table.loc[front.index, "spec"]) == list(front["spec"])


def test_all_identical_points_are_all_kept() -> None:
    assert pareto_mask([3.0, 3.0, 3.0], [7.0, 7.0, 7.0]).tolist() == [True, True, True]


def test_equal_scores_keep_only_the_cheapest() -> None:
    assert pareto_mask([4.0, 1.0, 2.0], [5.0, 5.0, 5.0]).tolist() == [False, True, False]


def test_equal_costs_keep_only_the_best() -> None:
    assert pareto_mask([2.0, 2.0, 2.0], [1.0, 3.0, 2.0]).tolist() == [False, True, False]


def test_nan_rows_never_on_frontier_and_never_dominate() -> None:
    costs = [np.nan, 1.0, 2.0, np.inf]
    scores = [100.0, np.nan, 5.0, 50.0]
    # Only the point at cost 2 is valid, so it is the frontier on its own.
    assert pareto_mask(costs, scores).tolist() == [False, False, True, False]
    assert pareto_mask([np.nan, np.nan], [np.nan, 1.0]).tolist() == [False, False]


def test_empty_and_mismatched_input() -> None:
    assert pareto_mask([], []).tolist() == []
    with pytest.raises(ValueError):
        pareto_mask([1.0, 2.0], [1.0])
    empty = pd.DataFrame({"gflops": [], "miou": []})
    assert pareto_frontier(empty, "gflops", "miou").empty


def test_frontier_coerces_non_numeric_values_to_nan() -> None:
    df = pd.DataFrame({"cost": ["1", "x", "3"], "score": [1.0, 9.0, 2.0]})
    front = pareto_frontier(df, "cost", "score")
    assert front.index.tolist() == [0, 2]


@pytest.mark.parametrize("seed", range(5))
def test_matches_brute_force_on_random_grids(seed: int) -> None:
    rng = np.random.default_rng(seed)
    n = 60
    # Small integer grids force many equal costs, equal scores and duplicates.
    costs = rng.integers(0, 8, n).astype(float)
    scores = rng.integers(0, 8, n).astype(float)
    costs[rng.random(n) < 0.1] = np.nan
    scores[rng.random(n) < 0.1] = np.nan
    np.testing.assert_array_equal(pareto_mask(costs, scores), brute_force_mask(costs, scores))


def test_frontier_of_seed_means_not_of_single_seeds() -> None:
    # Worked by hand: "lucky" has one 0.9 seed and one 0.1 seed (mean 0.5); "steady" is
    # dearer at 0.6 and 0.62 (mean 0.61); "dear" costs most at 0.55 and 0.57 (mean 0.56).
    # Per seed, lucky's 0.9 would dominate everything else; by the mean, steady is on the
    # frontier and dear is dominated by it.
    rows = pd.DataFrame(
        {
            "spec": ["lucky", "lucky", "steady", "steady", "dear", "dear"],
            "seed": [0, 1, 0, 1, 0, 1],
            "gflops": [1.0, 1.0, 2.0, 2.0, 3.0, 3.0],
            "miou": [0.9, 0.1, 0.6, 0.62, 0.55, 0.57],
        }
    )
    assert list(rows["spec"][pareto_mask(rows["gflops"], rows["miou"])]) == ["lucky"]
    means = aggregate_seeds(rows, ["miou"])
    assert means["miou"].tolist() == pytest.approx([0.5, 0.61, 0.56])
    assert list(pareto_frontier(means, "gflops", "miou")["spec"]) == ["lucky", "steady"]
