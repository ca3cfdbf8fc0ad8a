"""Whether a finished training run learned anything, and whether it had converged.

A benchmark compares architectures trained for the same budget, so a row should say
whether that budget was enough; the flags and their reasons go into the results next to
the metrics. The rules (also in ``docs/protocol.md``) are :func:`judge_learning` (the best
validation score against the task's trivial baseline) and :func:`judge_convergence` (a
run that learned nothing, or was validated too few times to tell a plateau from noise,
is never converged).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

from benchmarks.tasks.base import Baseline
from benchmarks.train.history import EpochSummary

__all__ = ["Convergence", "ConvergenceRule", "Learning", "judge_convergence", "judge_learning"]


@dataclass(frozen=True)
class ConvergenceRule:
    """The thresholds of :func:`judge_convergence`.

    ``metric_delta`` is an absolute gain of the validation metric (0.01 on a 0..1 metric
    such as mIoU or mAP); ``loss_rel`` a relative drop of the training loss (0.01 = 1 %).
    ``min_validations``: how many validated epochs (epochs, when judged on the train
    loss) a run needs before it can be called converged at all. Four is the fewest at
    which the last quarter's validation is compared with a trend of three before it
    when every epoch is validated; with two or three points, one dip after the first
    validation (a smoke test's two epochs) reads as a plateau.
    """

    metric_delta: float = 0.01
    loss_rel: float = 0.01
    min_validations: int = 4

    def __post_init__(self) -> None:
        for name in ("metric_delta", "loss_rel"):
            value = getattr(self, name)
            if not (math.isfinite(value) and value >= 0):
                raise ValueError(f"{name} must be a finite number >= 0, got {value}")
        count = self.min_validations
        if isinstance(count, bool) or not isinstance(count, int) or count < 2:
            raise ValueError(f"min_validations must be an integer >= 2, got {count!r}")


@dataclass(frozen=True)
class Convergence:
    """The verdict and a one-line reason a reader of the results can check by hand."""

    converged: bool
    reason: str


@dataclass(frozen=True)
class Learning:
    """Whether the run learned anything (None: it cannot be judged) and why."""

    learned: bool | None
    reason: str


def judge_learning(
    best: float | None,
    baseline: Baseline | None,
    margin: float,
    *,
    metric: str = "val_metric",
    higher_is_better: bool = True,
) -> Learning:
    """Whether the best validation score ``best`` beats the task's trivial ``baseline``
    (on the same validation data) by more than ``margin``, the task's ``learned_margin``.

    Higher is better: learned when ``best > baseline + margin`` (lower is better: ``best <
    baseline - margin``); a score at the trivial answer's, or within the margin of it, or
    worse, learned nothing. Not judged (None) without a baseline, a finite baseline or a
    finite best score (nothing was validated or the data held nothing to score).
    """
    if baseline is None:
        return Learning(None, "the task declares no baseline")
    if best is None or not math.isfinite(best):
        return Learning(None, f"no finite {metric} to compare with the baseline")
    if not math.isfinite(baseline.value):
        return Learning(None, "no baseline: the validation data held nothing to score")
    sign = 1.0 if higher_is_better else -1.0
    bar = baseline.value + sign * margin
    learned = sign * (best - bar) > 0
    relation = (">" if learned else "<=") if higher_is_better else ("<" if learned else ">=")
    plus = "+" if higher_is_better else "-"
    return Learning(
        learned,
        f"best {metric} {best:.4f} {relation} {bar:.4f} = baseline {baseline.value:.4f} "
        f"({baseline.what}) {plus} margin {margin:g}",
    )


def _span(start: int, end: int) -> str:
    return f"epoch {end}" if start == end else f"epochs {start}-{end}"


def _validated(history: Sequence[EpochSummary]) -> list[tuple[int, float]]:
    """(epoch, metric) of the validated epochs; a NaN metric counts as not validated."""
    return [
        (r.epoch, r.val_metric)
        for r in history
        if r.val_metric is not None and math.isfinite(r.val_metric)
    ]


def _too_few(count: int, what: str, rule: ConvergenceRule, span: str) -> Convergence:
    """Not converged: ``count`` validations (or epochs: ``what``) are too few to judge."""
    return Convergence(
        False,
        f"only {count} {what}{'' if count == 1 else 's'}: judging needs at least "
        f"{rule.min_validations}, one in the last quarter ({span}) and one before it",
    )


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
    if len(validated) < rule.min_validations:
        return _too_few(len(validated), "validation", rule, span)
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
    if len(history) < rule.min_validations:
        too_few = _too_few(len(history), "epoch", rule, span)
        return Convergence(False, f"no validation, judged on the train loss: {too_few.reason}")
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


def _by_early_stop(
    validated: list[tuple[int, float]], rule: ConvergenceRule, metric: str, higher_is_better: bool
) -> Convergence:
    """Early stopping fired: converged, if the metric was finite often enough to judge."""
    if not validated:
        return Convergence(False, f"early stopping fired but {metric} was never finite")
    if len(validated) < rule.min_validations:
        count = len(validated)
        return Convergence(
            False,
            f"early stopping fired after only {count} finite validation"
            f"{'' if count == 1 else 's'}: judging needs at least {rule.min_validations}",
        )
    sign = 1.0 if higher_is_better else -1.0
    best_epoch, best = max(validated, key=lambda item: (sign * item[1], -item[0]))
    return Convergence(
        True,
        f"early stopping: {metric} stopped improving (best {best:.4f} at epoch {best_epoch})",
    )


def judge_convergence(
    history: Sequence[EpochSummary],
    *,
    stopped_early: bool,
    rule: ConvergenceRule | None = None,
    metric: str = "val_metric",
    higher_is_better: bool = True,
    learning: Learning | None = None,
) -> Convergence:
    """Decide whether the run whose epochs are ``history`` (in order) had converged.

    The rule:

    0. A run that learned nothing (``learning.learned`` is False, see
       :func:`judge_learning`) is not converged, whatever its curve: a flat curve at the
       trivial answer's score is no settled result.
    1. Early stopping fired (``stopped_early``): converged when at least
       ``rule.min_validations`` validations had a finite metric.
    2. Otherwise, with validation (any epoch has a finite ``val_metric``): it needs at
       least ``rule.min_validations`` validated epochs, one of them inside the last
       quarter of the ``n`` epochs run (the last ``ceil(n / 4)``) and one before it.
       Converged when the best metric rose by less than ``rule.metric_delta`` (absolute)
       over that quarter: best over all epochs minus best before the quarter (for a
       metric where lower is better, ``higher_is_better=False``: by how much it fell).
    3. Without validation: the same on the train loss over at least
       ``rule.min_validations`` epochs, as a relative drop: ``(min loss before the quarter
       - min loss overall) / min loss before``, converged when below ``rule.loss_rel``;
       the reason says it was judged on the train loss.

    Not converged, with the reason, when the run cannot be judged (e.g. two epochs).
    ``metric`` names the validation metric in the reason.
    """
    if not history:
        raise ValueError("judge_convergence needs the history of at least one epoch")
    rule = rule or ConvergenceRule()
    if learning is not None and learning.learned is False:
        return Convergence(False, f"learned nothing: {learning.reason}")
    validated = _validated(history)
    if stopped_early:
        return _by_early_stop(validated, rule, metric, higher_is_better)
    quarter = math.ceil(len(history) / 4)
    start, end = history[-quarter].epoch, history[-1].epoch
    if validated:
        return _by_metric(validated, start, end, rule, metric, higher_is_better)
    return _by_loss(history, start, end, rule)
