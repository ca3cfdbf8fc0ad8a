"""Pareto frontier of an accuracy-vs-compute table.

The benchmark sweep reports many (cost, score) points per task; the interesting ones are
those no other model beats on both axes at once. Cost is minimised (GFLOPs, latency,
parameters) and score is maximised (mIoU, mAP). Runs that learned nothing are kept off it
(``eligible``): a score at the trivial baseline is no trade-off worth naming. So are runs
whose timing was flagged noisy, on a frontier over a timed cost (latency), unless the
caller allows them (``allow_noisy``): a latency measured on a busy machine is no cost to
rank by. :func:`frontier_eligible` is the one place that says who may be on a frontier.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import pandas as pd

from benchmarks.report.aggregate import tri_state
from benchmarks.report.charts.axes import CostAxis

__all__ = ["frontier_eligible", "noisy_off_frontier", "pareto_frontier", "pareto_mask"]


def _flag(rows: pd.DataFrame, column: str, state: bool) -> pd.Series:
    """Where a True/False/None column holds ``state`` (False everywhere without it)."""
    if column not in rows:
        return pd.Series(False, index=rows.index, dtype=bool)
    return tri_state(rows[column]).map(lambda value: value is state).astype(bool)


def noisy_off_frontier(
    rows: pd.DataFrame, cost: CostAxis | None, allow_noisy: bool = False
) -> pd.Series:
    """Where a row is kept off the frontier over ``cost`` for its noisy timing: only on a
    timed axis (a noisy timing says nothing about GFLOPs or parameters), never when
    ``allow_noisy``; rows that do not say (older runs) are not kept off."""
    if cost is None or not cost.timed or allow_noisy:
        return pd.Series(False, index=rows.index, dtype=bool)
    return _flag(rows, "timing_noisy", True)


def frontier_eligible(
    rows: pd.DataFrame, cost: CostAxis | None, allow_noisy: bool = False
) -> np.ndarray:
    """Which rows may be on the frontier over ``cost`` (``eligible`` of :func:`pareto_mask`):
    not those that learned nothing, nor those :func:`noisy_off_frontier` keeps off."""
    kept_off = _flag(rows, "learned", False) | noisy_off_frontier(rows, cost, allow_noisy)
    return (~kept_off).to_numpy(bool)


def pareto_mask(
    costs: Sequence[float] | np.ndarray,
    scores: Sequence[float] | np.ndarray,
    eligible: Sequence[bool] | np.ndarray | None = None,
) -> np.ndarray:
    """Boolean mask of the points on the (min cost, max score) Pareto frontier.

    Only ``eligible`` points (all when None) take part: the others are never on the
    frontier and never dominate, as if their score were NaN.

    A point is on the frontier iff no other point has ``cost <=`` and ``score >=`` with at
    least one of the two strict. Consequently identical points do not dominate each other and
    are all kept, while of two points with equal cost only the higher score survives. Rows
    whose cost or score is NaN (or infinite cost) are never on the frontier and never dominate.

    The sweep sorts by cost then score so that each point only needs to be compared with the
    best score seen at strictly lower cost plus the best score within its own cost group:
    O(n log n) rather than the O(n^2) all-pairs check.
    """
    cost_arr = np.asarray(costs, dtype=float).reshape(-1)
    score_arr = np.asarray(scores, dtype=float).reshape(-1)
    if cost_arr.shape != score_arr.shape:
        raise ValueError(
            f"costs and scores must have the same length, got {cost_arr.size} and {score_arr.size}"
        )
    mask = np.zeros(cost_arr.size, dtype=bool)
    allowed = np.ones(cost_arr.size, dtype=bool) if eligible is None else np.asarray(eligible)
    if allowed.shape != cost_arr.shape:
        raise ValueError(f"eligible must have {cost_arr.size} entries, got {allowed.size}")
    valid = np.flatnonzero(np.isfinite(cost_arr) & ~np.isnan(score_arr) & allowed.astype(bool))
    if valid.size == 0:
        return mask

    # Sort valid points by cost ascending, then score descending.
    order = valid[np.lexsort((-score_arr[valid], cost_arr[valid]))]
    best_at_lower_cost = -np.inf
    start = 0
    while start < order.size:
        group_cost = cost_arr[order[start]]
        stop = start
        while stop < order.size and cost_arr[order[stop]] == group_cost:
            stop += 1
        group = order[start:stop]
        group_best = score_arr[group[0]]  # first in the group has the highest score
        # Within an equal-cost group only the top score (and its ties) survives; across groups
        # a point survives only if it strictly beats everything cheaper.
        if group_best > best_at_lower_cost:
            mask[group[score_arr[group] == group_best]] = True
        best_at_lower_cost = max(best_at_lower_cost, group_best)
        start = stop
    return mask


def pareto_frontier(df: pd.DataFrame, cost: str, score: str) -> pd.DataFrame:
    """Rows of ``df`` on the Pareto frontier of ``cost`` (minimised) vs ``score`` (maximised).

    Returned sorted by cost ascending (ties by score descending) so the result can be drawn
    directly as a step line. The original index is preserved so callers can map rows back.
    """
    if df.empty:
        return df.iloc[0:0]
    costs = pd.to_numeric(df[cost], errors="coerce").to_numpy(dtype=float)
    scores = pd.to_numeric(df[score], errors="coerce").to_numpy(dtype=float)
    frontier = df[pareto_mask(costs, scores)]
    return frontier.sort_values([cost, score], ascending=[True, False], kind="mergesort")
