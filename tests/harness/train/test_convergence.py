"""The convergence rule on hand-made epoch histories (rising, flat and noisy curves, too
few validations), and the learned-nothing rule on hand-worked baselines."""

from __future__ import annotations

import math

import pytest

from benchmarks.tasks.base import Baseline
from benchmarks.train.convergence import (
    Convergence,
    ConvergenceRule,
    Learning,
    judge_convergence,
    judge_learning,
)
from benchmarks.train.history import EpochSummary


def with_metrics(metrics: list[float | None], losses: list[float] | None = None) -> list:
    """A history whose epoch k (1-based) has ``metrics[k - 1]`` as its validation metric."""
    losses = losses or [1.0] * len(metrics)
    return [
        EpochSummary(epoch=k + 1, train_loss=loss, lr=1e-3, val_metric=metric, epoch_s=0.5)
        for k, (metric, loss) in enumerate(zip(metrics, losses, strict=True))
    ]


def with_losses(losses: list[float]) -> list:
    return with_metrics([None] * len(losses), losses)


def judge(
    history: list, stopped_early: bool = False, learning: Learning | None = None, **rule: float
) -> Convergence:
    return judge_convergence(
        history,
        stopped_early=stopped_early,
        rule=ConvergenceRule(**rule),  # type: ignore[arg-type]
        metric="miou",
        learning=learning,
    )


def test_rising_curve_has_not_converged() -> None:
    # 8 epochs: the last quarter is epochs 7-8; best before it 0.6, best overall 0.8.
    verdict = judge(with_metrics([0.1, 0.2, 0.3, 0.4, 0.5, 0.6, 0.7, 0.8]))
    assert verdict == Convergence(
        False, "best miou rose 0.2000 (>= 0.01) over the last quarter (epochs 7-8)"
    )


def test_flat_curve_has_converged() -> None:
    # Best before epoch 7 is 0.76, best overall 0.768: a gain of 0.008 < 0.01.
    verdict = judge(with_metrics([0.1, 0.4, 0.6, 0.7, 0.75, 0.76, 0.765, 0.768]))
    assert verdict == Convergence(
        True, "best miou rose 0.0080 (< 0.01) over the last quarter (epochs 7-8)"
    )
    # A stricter threshold turns the same curve into "not converged".
    assert not judge(
        with_metrics([0.1, 0.4, 0.6, 0.7, 0.75, 0.76, 0.765, 0.768]), metric_delta=0.005
    ).converged


def test_noisy_plateau_has_converged() -> None:
    # The best (0.63, epoch 5) comes before the last quarter; epochs 7-8 wobble below it.
    verdict = judge(with_metrics([0.2, 0.5, 0.62, 0.58, 0.63, 0.60, 0.625, 0.61]))
    assert verdict.converged
    assert "rose 0.0000" in verdict.reason


def test_noisy_but_still_rising_has_not_converged() -> None:
    # Best before epoch 7 is 0.35 (epoch 6); epoch 8 reaches 0.45: a gain of 0.10.
    verdict = judge(with_metrics([0.2, 0.25, 0.22, 0.3, 0.28, 0.35, 0.33, 0.45]))
    assert not verdict.converged
    assert "rose 0.1000 (>= 0.01)" in verdict.reason


def test_quarter_rounds_up_and_skipped_epochs_count_as_not_validated() -> None:
    # 10 epochs -> last quarter is ceil(10 / 4) = 3 epochs, 8-10; validated at 3, 6, 9, 10.
    metrics = [None, None, 0.3, None, None, 0.5, None, None, 0.55, 0.552]
    verdict = judge(with_metrics(metrics))
    assert verdict == Convergence(
        False, "best miou rose 0.0520 (>= 0.01) over the last quarter (epochs 8-10)"
    )


def test_needs_a_validation_inside_and_before_the_last_quarter() -> None:
    # Four validations (enough), but none in epochs 7-8.
    inside_missing = judge(with_metrics([0.1, 0.2, 0.25, 0.3, None, None, None, None]))
    assert inside_missing == Convergence(False, "no validation in the last quarter (epochs 7-8)")
    # 13 epochs: the last quarter is ceil(13 / 4) = 4 epochs, 10-13, and holds all four.
    before_missing = judge(with_metrics([None] * 9 + [0.1, 0.2, 0.3, 0.31]))
    assert before_missing == Convergence(
        False, "no validation before the last quarter (epochs 10-13) to compare"
    )
    one_epoch = judge(with_metrics([0.4]))
    assert one_epoch == Convergence(
        False,
        "only 1 validation: judging needs at least 4, one in the last quarter (epoch 1) and "
        "one before it",
    )


def test_two_validated_epochs_are_too_few_to_converge() -> None:
    # The README's smoke test: mIoU 0.013 then 0.010. The old rule compared epoch 2 (the
    # last quarter) with epoch 1 (a "gain" of 0 < 0.01) and called it converged.
    verdict = judge(with_metrics([0.013, 0.010]))
    assert verdict == Convergence(
        False,
        "only 2 validations: judging needs at least 4, one in the last quarter (epoch 2) and "
        "one before it",
    )
    # Three are still too few; NaN validations do not count towards the four.
    assert "only 3 validations" in judge(with_metrics([0.5, 0.6, 0.6])).reason
    assert "only 3 validations" in judge(with_metrics([0.5, math.nan, 0.6, 0.6])).reason
    # Four are enough: epoch 4 is the quarter, best before it 0.65, best overall 0.655.
    assert judge(with_metrics([0.5, 0.6, 0.65, 0.655])) == Convergence(
        True, "best miou rose 0.0050 (< 0.01) over the last quarter (epoch 4)"
    )
    # The count is the rule's: with min_validations=2 the two epochs are judged.
    assert judge(with_metrics([0.013, 0.010]), min_validations=2).converged


def test_nan_metric_counts_as_not_validated() -> None:
    # Epoch 8's NaN is skipped: epoch 7 (0.5) is the only validation in the quarter.
    verdict = judge(with_metrics([0.1, 0.2, 0.3, 0.4, 0.45, 0.495, 0.5, math.nan]))
    assert verdict.converged and "rose 0.0050" in verdict.reason


def test_early_stopping_means_converged_with_the_best_epoch() -> None:
    verdict = judge(with_metrics([0.3, 0.5, 0.45, 0.5, 0.44]), stopped_early=True)
    # 0.5 first reached at epoch 2 (the tie at epoch 4 is not better).
    assert verdict == Convergence(
        True, "early stopping: miou stopped improving (best 0.5000 at epoch 2)"
    )
    never_finite = judge(with_metrics([math.nan, math.nan]), stopped_early=True)
    assert never_finite == Convergence(False, "early stopping fired but miou was never finite")
    # Patience 1 stops after two validations: too few to call the run converged.
    too_soon = judge(with_metrics([0.5, 0.4]), stopped_early=True)
    assert too_soon == Convergence(
        False, "early stopping fired after only 2 finite validations: judging needs at least 4"
    )


def test_without_validation_the_train_loss_decides() -> None:
    # Min loss before epoch 7 is 0.62; overall 0.617: (0.62 - 0.617) / 0.62 = 0.48 % < 1 %.
    flat = judge(with_losses([2.0, 1.0, 0.8, 0.7, 0.65, 0.62, 0.618, 0.617]))
    assert flat == Convergence(
        True,
        "no validation, judged on the train loss: best loss fell 0.48% (< 1.00%) over the "
        "last quarter (epochs 7-8)",
    )
    # (0.62 - 0.55) / 0.62 = 11.29 % >= 1 %.
    falling = judge(with_losses([2.0, 1.0, 0.8, 0.7, 0.65, 0.62, 0.58, 0.55]))
    assert not falling.converged and "fell 11.29% (>= 1.00%)" in falling.reason
    # A loss that rises in the last quarter did not fall at all.
    rising = judge(with_losses([2.0, 1.0, 0.8, 0.7, 0.65, 0.62, 0.7, 0.9]))
    assert rising.converged and "fell 0.00%" in rising.reason
    assert judge(with_losses([1.0])) == Convergence(
        False,
        "no validation, judged on the train loss: only 1 epoch: judging needs at least 4, one "
        "in the last quarter (epoch 1) and one before it",
    )
    assert not judge(with_losses([1.0, 0.5, 0.5])).converged  # flat, but 3 epochs


def test_bad_input() -> None:
    with pytest.raises(ValueError, match="at least one epoch"):
        judge([])
    with pytest.raises(ValueError, match="metric_delta must be a finite number >= 0"):
        ConvergenceRule(metric_delta=-0.1)
    with pytest.raises(ValueError, match="loss_rel"):
        ConvergenceRule(loss_rel=math.inf)
    with pytest.raises(ValueError, match="min_validations must be an integer >= 2"):
        ConvergenceRule(min_validations=1)


def test_a_run_that_learned_nothing_never_converges() -> None:
    flat = with_metrics([0.1, 0.4, 0.6, 0.7, 0.75, 0.76, 0.765, 0.768])  # converged above
    nothing = Learning(False, "best miou 0.7680 <= 0.8000 = baseline 0.7900 (x) + margin 0.01")
    assert judge(flat, learning=nothing) == Convergence(False, f"learned nothing: {nothing.reason}")
    assert not judge(flat, stopped_early=True, learning=nothing).converged
    # Learned, or not judged: the curve decides as before.
    assert judge(flat, learning=Learning(True, "")).converged
    assert judge(flat, learning=Learning(None, "no baseline")).converged


def test_learned_means_better_than_the_baseline_by_more_than_the_margin() -> None:
    majority = Baseline(0.16, "majority class everywhere")
    # The README's run: mIoU 0.013 is below the majority-class mIoU, let alone 0.16 + 0.01.
    assert judge_learning(0.013, majority, 0.01, metric="miou") == Learning(
        False,
        "best miou 0.0130 <= 0.1700 = baseline 0.1600 (majority class everywhere) + margin 0.01",
    )
    assert judge_learning(0.5, majority, 0.01, metric="miou").learned is True
    # A detector at mAP 0.002 is within one point of finding nothing (mAP 0).
    none_found = Baseline(0.0, "no detections")
    verdict = judge_learning(0.002, none_found, 0.01, metric="map")
    assert verdict == Learning(
        False, "best map 0.0020 <= 0.0100 = baseline 0.0000 (no detections) + margin 0.01"
    )
    assert judge_learning(0.0125, none_found, 0.01, metric="map").learned is True
    # Exactly at baseline + margin (binary fractions, no rounding) is still nothing.
    assert judge_learning(0.75, Baseline(0.5, "x"), 0.25).learned is False
    assert judge_learning(0.7501, Baseline(0.5, "x"), 0.25).learned is True


def test_learned_when_lower_is_better_and_when_it_cannot_be_judged() -> None:
    # An error metric: the trivial answer's error is 2.0; 1.4 < 2.0 - 0.5 learned.
    guess = Baseline(2.0, "the most frequent count")
    assert judge_learning(1.4, guess, 0.5, metric="mae", higher_is_better=False) == Learning(
        True, "best mae 1.4000 < 1.5000 = baseline 2.0000 (the most frequent count) - margin 0.5"
    )
    assert judge_learning(1.6, guess, 0.5, higher_is_better=False).learned is False
    assert judge_learning(0.5, None, 0.01) == Learning(None, "the task declares no baseline")
    assert judge_learning(None, guess, 0.01).learned is None
    assert judge_learning(math.nan, guess, 0.01).learned is None
    assert judge_learning(0.5, Baseline(math.nan, "x"), 0.01).learned is None
