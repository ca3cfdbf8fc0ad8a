"""The winner line of a task: the best mean accuracy, and the cheapest run nearly as good.

Only runs that learned something compete: a run whose best validation score was at the
task's trivial baseline is never named (the line says how many were left out, or that no
run learned anything). A run that did not converge can still have the best mean; the line
then says so and names the best run that did converge, so the report never crowns an
unsettled run silently. When the cost is a timing (latency), runs whose timing was flagged
noisy are not the cheap alternative (they are off the frontier the line reads; the caller
may allow them), and the line says how many were left out of that comparison.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from benchmarks.report.charts.axes import CostAxis
from benchmarks.report.format import number, with_spread
from benchmarks.report.pareto import noisy_off_frontier
from benchmarks.tasks import Metric

__all__ = ["winner_sentence"]


def _score(row: pd.Series) -> str:
    """``mean ± std (n seeds)``, or the single value for one seed."""
    seeds = int(row["seeds"]) if pd.notna(row.get("seeds")) else 1
    suffix = f" ({seeds} seeds)" if seeds > 1 else ""
    return with_spread(row["acc"], row.get("acc_std")) + suffix


def _unconverged(row: pd.Series) -> str:
    """'' for converged or unknown runs; else a bold warning with the reason."""
    if row.get("converged") is not False:
        return ""
    reason = row.get("convergence_reason")
    why = f": {reason}" if isinstance(reason, str) and reason else ""
    return f" (**not converged**{why})"


def _converged_alternative(scored: pd.DataFrame, best: pd.Series, metric: Metric) -> str:
    """When the best run did not converge: the best run that did (or that none did)."""
    if best.get("converged") is not False:
        return ""
    settled = scored[scored["converged"].map(lambda state: state is not False)]
    if settled.empty:
        return f"; no run of this task converged, so no {metric.name} here is final"
    other = settled.loc[settled["score"].idxmax()]
    return f"; best converged run: **{other['label']}** at {_score(other)}"


def _cheap_alternative(
    scored: pd.DataFrame, best: pd.Series, cost: CostAxis, tolerance: float
) -> str:
    """The cheapest frontier run within ``tolerance`` of the best mean, if another one."""
    near = scored[scored["pareto"] & (scored["score"] >= best["score"] - tolerance)]
    near = near[np.isfinite(near[cost.column])]
    if near.empty:
        return ""
    cheap = near.sort_values([cost.column, "score"], ascending=[True, False]).iloc[0]
    if cheap.name == best.name:
        return f"; **{best['label']}** is also the cheapest frontier run within {tolerance:g}"
    ratio = best[cost.column] / cheap[cost.column] if cheap[cost.column] > 0 else np.nan
    saving = f" ({ratio:.1f}x less)" if np.isfinite(ratio) else ""
    return (
        f"; cheapest frontier run within {tolerance:g}: **{cheap['label']}** at "
        f"{_score(cheap)}{_unconverged(cheap)} with "
        f"{number(cheap[cost.column], 2, cost.scale)} {cost.name}{saving}"
    )


def _learners(scored: pd.DataFrame) -> pd.DataFrame:
    """The runs that learned something, or whose rows do not say (older runs)."""
    if "learned" not in scored:
        return scored
    return scored[scored["learned"].map(lambda state: state is not False)]


def _left_out(scored: pd.DataFrame, learners: pd.DataFrame) -> str:
    """How many runs learned nothing and so were not ranked ('' when none)."""
    count = len(scored) - len(learners)
    if not count:
        return ""
    runs = "run" if count == 1 else "runs"
    return f"; {count} {runs} that learned nothing (at the trivial baseline) not ranked"


def _noisy_left_out(scored: pd.DataFrame, cost: CostAxis, allow_noisy: bool) -> str:
    """How many runs a noisy timing kept out of the cost comparison ('' when none)."""
    count = int(noisy_off_frontier(scored, cost, allow_noisy).sum())
    if not count:
        return ""
    runs = "run" if count == 1 else "runs"
    return f"; {count} {runs} with a noisy timing not compared on {cost.name}"


def winner_sentence(
    task: str,
    groups: pd.DataFrame,
    metric: Metric,
    cost: CostAxis | None,
    tolerance: float,
    *,
    allow_noisy: bool = False,
) -> str:
    """One sentence on a task's groups (columns ``label``, ``acc`` = mean primary metric,
    ``score`` = the same signed so that higher is better, ``acc_std``, ``seeds``, ``pareto``,
    ``converged``, ``convergence_reason``, ``learned``, the cost, ``timing_noisy``);
    ``allow_noisy`` as the ``pareto`` column was made."""
    scored = groups[np.isfinite(groups["acc"])]
    if scored.empty:
        return f"{task.capitalize()}: no {metric.name} values among successful runs."
    learners = _learners(scored)
    if learners.empty:
        return (
            f"{task.capitalize()}: no winner: no run learned anything (every best validation "
            f"{metric.name} was at the task's trivial baseline)."
        )
    scored, left_out = learners, _left_out(scored, learners)
    best = scored.loc[scored["score"].idxmax()]
    text = (
        f"{task.capitalize()}: best mean {metric.name} is **{best['label']}** at "
        f"{_score(best)}{_unconverged(best)}"
    )
    if cost is not None:
        text += f" ({number(best[cost.column], 2, cost.scale)} {cost.name})"
    text += _converged_alternative(scored, best, metric)
    if cost is not None:
        text += _cheap_alternative(scored, best, cost, tolerance)
        text += _noisy_left_out(scored, cost, allow_noisy)
    return text + left_out + "."
