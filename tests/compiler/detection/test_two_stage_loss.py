"""Fast R-CNN box-head loss against values worked out by hand."""

from __future__ import annotations

import math

import pytest
import torch

from compiler.detection.two_stage_loss import box_head_loss


def cross_entropy(logits: list[float], target: int) -> float:
    return math.log(sum(math.exp(v) for v in logits)) - logits[target]


def smooth_l1(x: float, beta: float = 1.0) -> float:
    return 0.5 * x * x / beta if abs(x) < beta else abs(x) - 0.5 * beta


# K = 2 classes, R = 3 RoIs labelled (1, background, 2).
LOGITS = [[0.1, 1.2, -0.3], [2.0, 0.0, 0.5], [-1.0, 0.2, 0.9]]
LABELS = [1, 0, 2]
DELTAS = [[float(10 * r + c) / 10 for c in range(12)] for r in range(3)]
TARGETS = [[0.2, 0.1, 0.9, 1.0], [0.0] * 4, [0.5, -1.5, 2.0, 0.0]]


def expected(beta: float = 1.0, weight: float = 1.0) -> tuple[float, float]:
    cls = sum(cross_entropy(LOGITS[r], LABELS[r]) for r in range(3)) / 3
    # Row 0 uses class 1's columns 4..7, row 2 class 2's columns 8..11; row 1 is background.
    box = sum(smooth_l1(DELTAS[0][4 + i] - TARGETS[0][i], beta) for i in range(4))
    box += sum(smooth_l1(DELTAS[2][8 + i] - TARGETS[2][i], beta) for i in range(4))
    return cls, weight * box / 3


def run(deltas: torch.Tensor, **kwargs):
    logits = torch.tensor(LOGITS, requires_grad=True)
    deltas = deltas.clone().requires_grad_()
    out = box_head_loss(logits, deltas, torch.tensor(LABELS), torch.tensor(TARGETS), **kwargs)
    return out, logits, deltas


@pytest.mark.parametrize(("beta", "weight"), [(1.0, 1.0), (1 / 9, 2.0)])
def test_per_class_hand_value(beta, weight):
    out, _, _ = run(torch.tensor(DELTAS), beta=beta, box_weight=weight)
    cls, box = expected(beta, weight)
    assert out["box_class"].item() == pytest.approx(cls, rel=1e-5)
    assert out["box_regression"].item() == pytest.approx(box, rel=1e-5)


def test_gradient_reaches_only_the_gt_class_deltas():
    out, logits, deltas = run(torch.tensor(DELTAS))
    (out["box_class"] + out["box_regression"]).backward()
    assert logits.grad.abs().sum(dim=1).gt(0).all()
    touched = deltas.grad != 0
    assert touched[0, 4:8].all() and touched[2, 8:12].all()
    assert touched.sum() == 8  # background row and the other classes' columns untouched


def test_class_agnostic_deltas():
    agnostic = [row[4:8] for row in DELTAS]
    agnostic[2] = DELTAS[2][8:12]  # so the expected value is the per-class one
    out, _, deltas = run(torch.tensor(agnostic))
    cls, box = expected()
    assert out["box_class"].item() == pytest.approx(cls, rel=1e-5)
    assert out["box_regression"].item() == pytest.approx(box, rel=1e-5)
    out["box_regression"].backward()
    assert deltas.grad[1].abs().sum() == 0


def test_no_rois_gives_zeros_with_grad():
    logits = torch.zeros(0, 3, requires_grad=True)
    deltas = torch.zeros(0, 12, requires_grad=True)
    out = box_head_loss(logits, deltas, torch.zeros(0, dtype=torch.int64), torch.zeros(0, 4))
    for value in out.values():
        assert value.item() == 0 and value.grad_fn is not None
    (out["box_class"] + out["box_regression"]).backward()
