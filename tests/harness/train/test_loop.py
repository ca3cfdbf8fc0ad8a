"""Tests for the training loop, LR schedule, segmentation task and batch helpers."""

from __future__ import annotations

import math
import sys
from typing import Any

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from torch import Tensor, nn

from benchmarks.runtime.placement import move_batch
from benchmarks.tasks.base import Task
from benchmarks.tasks.segmentation import SegmentationTask
from benchmarks.train.loop import (
    NonFiniteLossError,
    TrainConfig,
    build_scheduler,
    evaluate,
    lr_factor,
    train,
)
from tests.harness.toys import (
    IGNORE,
    BrightnessDataset,
    collate,
    loader_for,
    quiet_config,
    tiny_segmenter,
)

pytestmark = pytest.mark.usefixtures("one_thread")


def test_training_reduces_loss_and_beats_majority_baseline() -> None:
    train_set, eval_set = BrightnessDataset(64, seed=1), BrightnessDataset(32, seed=2)
    model = tiny_segmenter()
    task = SegmentationTask(num_classes=2)
    config = quiet_config(epochs=15, lr=0.1, warmup_steps=4)

    result = train(model, task, loader_for(train_set, shuffle=True), config)

    assert result.steps == 15 * 8
    assert len(result.loss_history) == 15
    assert result.final_loss == result.loss_history[-1]
    assert result.loss_history[-1] < 0.5 * result.loss_history[0]
    assert result.train_s > 0

    # Majority-class accuracy over labelled pixels, computed directly from the masks.
    labelled = eval_set.masks[eval_set.masks != IGNORE]
    baseline = max(float((labelled == c).float().mean()) for c in (0, 1))
    metrics = evaluate(model, task, loader_for(eval_set), device="cpu")
    assert metrics["pixel_acc"] > baseline + 0.5 * (1.0 - baseline)

    # The same metrics recomputed by hand from the trained model's predictions.
    with torch.no_grad():
        pred = model(eval_set.images).argmax(dim=1).numpy()
    target = eval_set.masks.numpy()
    valid = target != IGNORE
    assert metrics["pixel_acc"] == pytest.approx(float((pred == target)[valid].mean()), abs=1e-12)
    ious = []
    for c in (0, 1):
        inter = np.sum((pred == c) & (target == c) & valid)
        union = np.sum(((pred == c) | (target == c)) & valid)
        ious.append(inter / union)
    assert metrics["miou"] == pytest.approx(float(np.mean(ious)), abs=1e-12)
    assert model.training, "evaluate must restore the caller's train/eval mode"


def test_lr_factor_matches_warmup_then_cosine() -> None:
    # warmup 4, total 20: steps 0..3 ramp (k+1)/4, then 0.5 * (1 + cos(pi * (k - 4) / 16)).
    expected = {
        0: 0.25,
        1: 0.5,
        3: 1.0,
        4: 1.0,
        12: 0.5,  # halfway through the decay: cos(pi/2) = 0
        19: 0.5 * (1.0 + math.cos(math.pi * 15 / 16)),  # ~0.0096, last step
    }
    for step, factor in expected.items():
        assert lr_factor(step, 4, 20) == pytest.approx(factor, abs=1e-12), step
    assert lr_factor(0, 0, 10) == 1.0  # no warm-up: start at the full LR


def test_scheduler_sets_optimizer_lr_per_step() -> None:
    param = nn.Parameter(torch.zeros(1))
    optimizer = torch.optim.SGD([param], lr=0.1)
    scheduler = build_scheduler(optimizer, warmup_steps=4, total_steps=20)
    used = []
    for _ in range(20):
        used.append(optimizer.param_groups[0]["lr"])
        optimizer.step()
        scheduler.step()
    assert used[0] == pytest.approx(0.025)
    assert used[3] == pytest.approx(0.1)
    assert used[12] == pytest.approx(0.05)
    assert used[19] == pytest.approx(0.1 * 0.5 * (1 - math.cos(math.pi / 16)))


def test_warmup_resolution() -> None:
    assert TrainConfig(warmup_fraction=0.1).resolve_warmup(50) == 5
    assert TrainConfig(warmup_steps=3, warmup_fraction=0.5).resolve_warmup(50) == 3
    assert TrainConfig(warmup_steps=100).resolve_warmup(50) == 50
    with pytest.raises(ValueError):
        TrainConfig(warmup_fraction=1.5)


class ScalarModel(nn.Module):
    """Outputs its single weight; with loss = output, the gradient is always exactly 1."""

    def __init__(self) -> None:
        super().__init__()
        self.weight = nn.Parameter(torch.zeros(()))

    def forward(self, image: Tensor) -> Tensor:
        return self.weight.expand(image.shape[0])


class RecordingTask(Task):
    """Loss = mean output; records the weight seen at every step."""

    name = "recording"

    def __init__(self) -> None:
        self.seen: list[float] = []

    def loss(self, model_output: Tensor, batch: dict[str, Any]) -> dict[str, Tensor]:
        self.seen.append(float(model_output[0].detach()))
        return {"loss": model_output.mean(), "twice": 2 * model_output.mean()}

    def evaluator(self, device: Any = None) -> Any:
        raise NotImplementedError


def test_train_applies_schedule_every_step() -> None:
    """With a constant gradient AdamW moves each step by exactly the scheduled LR."""
    steps_per_epoch, epochs, lr = 5, 2, 0.1
    loader = loader_for(BrightnessDataset(steps_per_epoch * 2, size=2), batch_size=2)
    task, model = RecordingTask(), ScalarModel()
    config = quiet_config(epochs=epochs, lr=lr, weight_decay=0.0, warmup_steps=3)
    result = train(model, task, loader, config)

    trajectory = [*task.seen, float(model.weight.detach())]
    moves = [before - after for before, after in zip(trajectory, trajectory[1:], strict=False)]
    total = steps_per_epoch * epochs
    expected = [lr * lr_factor(k, 3, total) for k in range(total)]
    assert moves == pytest.approx(expected, rel=1e-5)
    # Extra loss keys are logged per epoch as means; 'twice' is exactly twice 'loss'.
    assert [log["twice"] for log in result.logs] == pytest.approx(
        [2 * v for v in result.loss_history], rel=1e-6
    )


class NaNAfter(nn.Module):
    """Identity for ``calls`` forward passes, then NaN: divergence at a known step."""

    def __init__(self, calls: int) -> None:
        super().__init__()
        self.calls, self.limit = 0, calls

    def forward(self, x: Tensor) -> Tensor:
        self.calls += 1
        return x * math.nan if self.calls > self.limit else x


def test_non_finite_loss_raises_with_location_and_keeps_weights_finite() -> None:
    model = nn.Sequential(tiny_segmenter(), NaNAfter(calls=5))
    loader = loader_for(BrightnessDataset(16), batch_size=4)  # 4 steps per epoch
    with pytest.raises(NonFiniteLossError, match=r"epoch 2/3, step 2/4 \(global step 6/12\)"):
        train(model, SegmentationTask(2), loader, quiet_config(epochs=3, desc="nan-net"))
    assert issubclass(NonFiniteLossError, RuntimeError)
    assert all(torch.isfinite(p).all() for p in model.parameters())


@pytest.mark.parametrize("progress", [True, False])
def test_progress_output_only_when_enabled(
    progress: bool, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(sys.stdout, "isatty", lambda: True)  # pretend to be a terminal
    loader = loader_for(BrightnessDataset(8), batch_size=4)
    config = TrainConfig(epochs=2, device="cpu", progress=progress, desc="bar-spec")
    train(tiny_segmenter(), SegmentationTask(2), loader, config)
    captured = capsys.readouterr()
    if progress:
        assert "bar-spec ep 2/2" in captured.out
    else:
        assert captured.out == ""
        assert captured.err == ""


def test_no_progress_when_stdout_is_not_a_tty(capsys: pytest.CaptureFixture[str]) -> None:
    assert not sys.stdout.isatty()
    loader = loader_for(BrightnessDataset(8), batch_size=4)
    train(tiny_segmenter(), SegmentationTask(2), loader, TrainConfig(epochs=1, progress=True))
    assert capsys.readouterr().out == ""


def test_segmentation_loss_ignores_void_and_never_nan() -> None:
    generator = torch.Generator().manual_seed(3)
    logits = torch.randn(2, 3, 4, 5, generator=generator)
    mask = torch.randint(0, 3, (2, 4, 5), generator=generator)
    mask[0, :2] = IGNORE
    task = SegmentationTask(num_classes=3)
    # Reference: mean of -log_softmax at the target class over labelled pixels.
    log_probs = logits.log_softmax(dim=1).permute(0, 2, 3, 1)[mask != IGNORE]
    expected = -log_probs.gather(1, mask[mask != IGNORE][:, None]).mean()
    assert task.loss(logits, {"mask": mask})["loss"] == pytest.approx(float(expected), rel=1e-6)

    all_void = torch.full_like(mask, IGNORE)
    assert float(task.loss(logits, {"mask": all_void})["loss"]) == 0.0


def test_segmentation_upsamples_coarse_logits() -> None:
    coarse = torch.randn(1, 2, 3, 3)
    mask = torch.zeros(1, 6, 6, dtype=torch.int64)
    upsampled = F.interpolate(coarse, size=(6, 6), mode="bilinear", align_corners=False)
    task = SegmentationTask(2)
    assert float(task.loss(coarse, {"mask": mask})["loss"]) == pytest.approx(
        float(F.cross_entropy(upsampled, mask))
    )
    evaluator = task.evaluator()
    evaluator.update(coarse, {"mask": mask})
    assert evaluator.compute()["pixel_acc"] == pytest.approx(
        float((upsampled.argmax(1) == 0).float().mean())
    )


def test_move_batch_converts_image_layout_and_keeps_lists() -> None:
    batch = collate([BrightnessDataset(2)[i] for i in range(2)])
    moved = move_batch(batch, "cpu", channels_last=True)
    assert moved["image"].is_contiguous(memory_format=torch.channels_last)
    assert not moved["image"].is_contiguous()
    assert torch.equal(moved["image"], batch["image"])
    assert isinstance(moved["boxes"], list) and len(moved["boxes"]) == 2
    assert moved["image_id"] == [0, 1]
    assert move_batch(batch, "cpu", channels_last=False)["image"].is_contiguous()


def test_train_accepts_compiled_model() -> None:
    """torch.compile wrappers expose parameters()/train() like the module they wrap."""
    pytest.importorskip("torch._dynamo")
    model = tiny_segmenter()
    compiled = torch.compile(model, backend="eager")
    loader = loader_for(BrightnessDataset(8), batch_size=4)
    before = [p.detach().clone() for p in model.parameters()]
    result = train(compiled, SegmentationTask(2), loader, quiet_config(epochs=1))
    assert result.steps == 2
    assert any(not torch.equal(a, b) for a, b in zip(before, model.parameters(), strict=True))
    metrics = evaluate(compiled, SegmentationTask(2), loader, device="cpu")
    assert 0.0 <= metrics["pixel_acc"] <= 1.0


def test_result_without_validation_has_history_and_a_loss_based_verdict() -> None:
    loader = loader_for(BrightnessDataset(8), batch_size=4)  # 2 steps per epoch, 8 in all
    config = quiet_config(epochs=4, lr=0.05)  # warm-up: round(5 % of 8) = 0 steps
    result = train(tiny_segmenter(), SegmentationTask(2), loader, config)

    assert [record.epoch for record in result.history] == [1, 2, 3, 4]
    assert [record.train_loss for record in result.history] == result.loss_history
    # Each epoch ends after 2 more steps: the LR of the next step, 0 after the last one.
    expected_lr = [0.05 * lr_factor(2 * epoch, 0, 8) for epoch in (1, 2, 3, 4)]
    assert [record.lr for record in result.history] == pytest.approx(expected_lr, abs=1e-12)
    assert all(record.val_metric is None and record.epoch_s > 0 for record in result.history)
    assert result.epochs_run == 4 and not result.stopped_early
    assert (result.best_epoch, result.best_metric, result.best_state) == (None, None, None)
    assert result.val_s == 0.0
    assert result.train_s >= sum(record.epoch_s for record in result.history)

    # The verdict by hand: 4 epochs, so the last quarter is epoch 4 alone.
    reference = min(result.loss_history[:3])
    drop = (reference - min(result.loss_history)) / reference
    assert result.converged == (drop < 0.01)
    assert result.convergence_reason.startswith("no validation, judged on the train loss")
