"""Whether a finished training run had converged: one pure rule over its epoch history.

A benchmark compares architectures trained for the same budget, so a row should say
whether that budget was enough; the flag and its reason go into the results next to the
metrics. The rule (also in ``docs/protocol.md``) is :func:`judge_convergence`.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

from benchmarks.train.history import EpochSummary

__all__ = ["Convergence", "ConvergenceRule", "judge_convergence"]


@dataclass(frozen=True)
class ConvergenceRule:
    """The thresholds of :func:`judge_convergence`.

    ``metric_delta`` is an absolute gain of the validation metric (0.01 on a 0..1 metric
    such as mIoU or mAP); ``loss_rel`` a relative drop of the training loss (0.01 = 1 %).
    """

    metric_delta: float = 0.01
    loss_rel: float = 0.01

    def __post_init__(self) -> None:
        for name in ("metric_delta", "loss_rel"):
            value = getattr(self, name)
            if not (math.isfinite(value) and value >= 0):
                raise ValueError(f"{name} must be a finite number >= 0, got {value}")


@dataclass(frozen=True)
class Convergence:
    """The verdict and a one-line reason a reader of the results can check by hand."""

    converged: bool
    reason: str


def _span(start: int, end: int) -> str:
    return f"epoch {end}" if start == end else f"epochs {start}-{end}"


def _validated(history: Sequence[EpochSummary]) -> list[tuple[int, float]]:
    """(epoch, metric) of the validated epochs; a NaN metric counts as not validated."""
    return [
        (r.epoch, r.val_metric)
        for r in history
        if r.val_metric is not None and math.isfinite(r.val_metric)
    ]


def _by_metric(
    validated: list[tuple[int, float]],
    start: int,
    end: int,
    rule: ConvergenceRule,
    metric: str,
    higher_is_better: bool,
) -> Convergence:
    span = _span(start, end)
    sign = 1.0 if higher_is_better else -1.0  # compare "better" as "higher" either way
    before = [sign * value for epoch, value in validated if epoch < start]
    if not any(epoch >= start for epoch, _ in validated):
        return Convergence(False, f"no validation in the last quarter ({span})")
    if not before:
        return Convergence(False, f"no validation before the last quarter ({span}) to compare")
    gain = max(sign * value for _, value in validated) - max(before)
    verdict = gain < rule.metric_delta
    relation = "<" if verdict else ">="
    moved = "rose" if higher_is_better else "fell"
    return Convergence(
        verdict,
        f"best {metric} {moved} {gain:.4f} ({relation} {rule.metric_delta:g}) over the last "
        f"quarter ({span})",
    )


def _by_loss(
    history: Sequence[EpochSummary], start: int, end: int, rule: ConvergenceRule
) -> Convergence:
    span = _span(start, end)
    before = [r.train_loss for r in history if r.epoch < start]
    if not before:
        return Convergence(
            False, f"no validation, and no epoch before the last quarter ({span}) to compare"
        )
    reference = min(before)
    best = min(r.train_loss for r in history)
    drop = 0.0 if reference == 0 else (reference - best) / abs(reference)
    verdict = drop < rule.loss_rel
    relation = "<" if verdict else ">="
    return Convergence(
        verdict,
        f"no validation, judged on the train loss: best loss fell {drop:.2%} "
        f"({relation} {rule.loss_rel:.2%}) over the last quarter ({span})",
    )


def judge_convergence(
    history: Sequence[EpochSummary],
    *,
    stopped_early: bool,
    rule: ConvergenceRule | None = None,
    metric: str = "val_metric",
    higher_is_better: bool = True,
) -> Convergence:
    """Decide whether the run whose epochs are ``history`` (in order) had converged.

    The rule:

    1. Early stopping fired (``stopped_early``): converged (unless the metric was never
       finite, which is no convergence).
    2. Otherwise, with validation (any epoch has a finite ``val_metric``): take the last
       quarter of the ``n`` epochs run (the last ``ceil(n / 4)``). It needs at least one
       validation inside it and one before it. Converged when the best metric so far rose
       by less than ``rule.metric_delta`` (absolute) over that quarter: best over all
       epochs minus best before the quarter (for a metric where lower is better,
       ``higher_is_better=False``: by how much the best value fell).
    3. Without validation: the same on the train loss, as a relative drop: ``(min loss
       before the quarter - min loss overall) / min loss before``, converged when below
       ``rule.loss_rel``; the reason says it was judged on the train loss.

    Not converged, with the reason, when the quarter cannot be compared (e.g. one epoch).
    ``metric`` names the validation metric in the reason.
    """
    if not history:
        raise ValueError("judge_convergence needs the history of at least one epoch")
    rule = rule or ConvergenceRule()
    validated = _validated(history)
    if stopped_early and not validated:
        return Convergence(False, f"early stopping fired but {metric} was never finite")
    if stopped_early:
        sign = 1.0 if higher_is_better else -1.0
        best_epoch, best = max(validated, key=lambda item: (sign * item[1], -item[0]))
        return Convergence(
            True,
            f"early stopping: {metric} stopped improving (best {best:.4f} at epoch {best_epoch})",
        )
    quarter = math.ceil(len(history) / 4)
    start, end = history[-quarter].epoch, history[-1].epoch
    if validated:
        return _by_metric(validated, start, end, rule, metric, higher_is_better)
    return _by_loss(history, start, end, rule)
