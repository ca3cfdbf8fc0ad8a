"""Divergence with a finite loss: non-finite weights or buffers, and a loss that blows up."""

from __future__ import annotations

from typing import Any

import pytest
import torch
from torch import Tensor, nn

from benchmarks.tasks.base import Task
from benchmarks.tasks.segmentation import SegmentationTask
from benchmarks.train.divergence import (
    DivergedError,
    NonFiniteLossError,
    check_epoch,
    loss_growth,
    non_finite_tensor,
)
from benchmarks.train.loop import TrainConfig, train
from tests.harness.toys import BrightnessDataset, loader_for, quiet_config

pytestmark = pytest.mark.usefixtures("one_thread")


def test_batchnorm_running_var_blows_up_with_a_huge_lr() -> None:
    """lr 1e6: after step 1 the conv weights are ~1e6, so at step 2 three stacked convs give
    activations ~1e24 whose variance overflows fp32; BatchNorm's output (x / sqrt(inf) = 0)
    and so the loss stay finite, but running_var becomes inf."""
    torch.manual_seed(0)
    model = nn.Sequential(
        nn.Conv2d(3, 8, 3, padding=1),
        nn.Conv2d(8, 8, 3, padding=1),
        nn.Conv2d(8, 8, 3, padding=1),
        nn.BatchNorm2d(8),
        nn.Conv2d(8, 2, 1),
    )
    loader = loader_for(BrightnessDataset(8), batch_size=4)  # 2 steps
    config = quiet_config(epochs=3, lr=1e6, warmup_steps=0, weight_decay=0.0, desc="bn-net")
    with pytest.raises(DivergedError) as info:
        train(model, SegmentationTask(2), loader, config)
    assert str(info.value) == (
        "'bn-net' at epoch 1/3: parameter or buffer '3.running_var' (inf) is not finite "
        "although the loss is; lower the lr or set grad_clip"
    )
    assert info.value.reason == str(info.value)
    assert bool(torch.isinf(model[3].running_var).all())
    assert isinstance(info.value, NonFiniteLossError)  # one except clause catches both


class InfAfter(nn.Module):
    """Identity whose ``scale`` buffer is set to inf (unused) at forward ``calls + 1``."""

    def __init__(self, calls: int) -> None:
        super().__init__()
        self.calls, self.limit = 0, calls
        self.register_buffer("scale", torch.ones(2))

    def forward(self, x: Tensor) -> Tensor:
        self.calls += 1
        if self.calls > self.limit:
            self.scale[1] = float("inf")
        return x


def test_hand_set_inf_buffer_stops_the_run_after_its_epoch() -> None:
    torch.manual_seed(0)
    model = nn.Sequential(nn.Conv2d(3, 2, 1), InfAfter(calls=5))
    loader = loader_for(BrightnessDataset(16), batch_size=4)  # 4 steps; call 6 is epoch 2
    with pytest.raises(DivergedError, match=r"at epoch 2/4: parameter or buffer '1.scale' \(inf\)"):
        train(model, SegmentationTask(2), loader, quiet_config(epochs=4))
    assert non_finite_tensor(model) == "'1.scale' (inf)"


def test_non_finite_tensor_names_the_first_bad_one() -> None:
    model = nn.Sequential(nn.Linear(2, 2), nn.BatchNorm1d(2))
    assert non_finite_tensor(model) is None
    with torch.no_grad():
        model[0].bias[1] = float("nan")
        model[1].running_mean[0] = float("inf")
    assert non_finite_tensor(model) == "'0.bias' (nan)"  # parameters are checked first
    assert non_finite_tensor(nn.ReLU()) is None  # nothing to check


class GrowingLoss(nn.Module):
    """Outputs ``2 ** call`` (plus a zero-gradient weight): a finite loss that only grows."""

    def __init__(self) -> None:
        super().__init__()
        self.weight = nn.Parameter(torch.zeros(()))
        self.calls = 0

    def forward(self, image: Tensor) -> Tensor:
        self.calls += 1
        return self.weight * 0 + float(2**self.calls)


class OutputIsLoss(Task):
    name = "output-is-loss"

    def loss(self, model_output: Tensor, batch: Any) -> dict[str, Tensor]:
        return {"loss": model_output}

    def evaluator(self, device: Any = None) -> Any:
        raise NotImplementedError


def test_finite_loss_growth_beyond_the_factor_raises() -> None:
    # 2 steps per epoch: epoch means are (2+4)/2 = 3, (8+16)/2 = 12, (32+64)/2 = 48 > 10 * 3.
    loader = loader_for(BrightnessDataset(4, size=2), batch_size=2)
    config = quiet_config(epochs=5, desc="grows")
    with pytest.raises(DivergedError) as info:
        train(GrowingLoss(), OutputIsLoss(), loader, config)
    assert str(info.value) == (
        "'grows' at epoch 3/5: epoch loss 48 is more than 10x the first epoch's 3; "
        "lower the lr or set grad_clip"
    )
    # A larger factor lets epoch 3 pass and stops at epoch 4 (mean 192 > 50 * 3).
    with pytest.raises(DivergedError, match="epoch 4/5: epoch loss 192 is more than 50x"):
        train(GrowingLoss(), OutputIsLoss(), loader, quiet_config(epochs=5, divergence_factor=50))
    # None turns the check off: all five epochs run.
    off = train(
        GrowingLoss(), OutputIsLoss(), loader, quiet_config(epochs=5, divergence_factor=None)
    )
    assert off.loss_history == [3.0, 12.0, 48.0, 192.0, 768.0]


def test_loss_growth_rule() -> None:
    assert loss_growth(1.0, 10.5, 10.0)
    assert not loss_growth(1.0, 10.0, 10.0)  # exactly the factor is not more than it
    assert not loss_growth(0.0, 5.0, 10.0)  # no ratio to a zero first loss
    assert not loss_growth(1.0, 1e9, None)
    check_epoch(nn.Linear(1, 1), [1.0, 9.0], 10.0, "fine")  # does not raise
    with pytest.raises(ValueError, match="divergence_factor must be a number > 1 or None"):
        TrainConfig(divergence_factor=1.0)
