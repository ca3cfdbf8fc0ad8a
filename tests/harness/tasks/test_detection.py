"""Detectors compiled from specs train with the benchmark harness.

The slow test trains specs/ssd-small.yaml on the synthetic shapes data on the CPU and
checks that it learns (loss halves, mAP@0.5 above 0.5 on the held-out test split). The quick
test runs one training step of a small YOLO-head spec and checks its decoded detections.
"""

from __future__ import annotations

import math
import time

import pytest
import torch
from torch.utils.data import DataLoader

from benchmarks.data import collate, make_dataset
from benchmarks.tasks import task_for
from benchmarks.tasks.detection import DetectionTask
from benchmarks.train.loop import TrainConfig, evaluate, train
from compiler import GraphNet, compile_graph
from graphspec import load_spec
from tests import SPECS

SIZE = (64, 64)

SMALL_YOLO = (SPECS / "yolo-small.yaml").read_text()


pytestmark = pytest.mark.usefixtures("one_thread")


def _loader(dataset, batch_size: int, shuffle: bool) -> DataLoader:
    generator = torch.Generator().manual_seed(0)
    return DataLoader(
        dataset, batch_size=batch_size, shuffle=shuffle, collate_fn=collate, generator=generator
    )


@pytest.mark.slow
def test_ssd_small_learns_the_shapes_data():
    spec = load_spec(SPECS / "ssd-small.yaml")
    assert spec.classes == 3
    graph = compile_graph(spec)
    train_set = make_dataset("shapes", "train", SIZE, num_classes=4, limit=384)
    test_set = make_dataset("shapes", "test", SIZE, num_classes=4)
    assert len(train_set) == 384 and len(test_set) == 128
    task = task_for(spec, graph)
    task.check_data(spec, train_set)
    assert isinstance(task, DetectionTask)

    torch.manual_seed(0)
    model = GraphNet(graph)
    config = TrainConfig(epochs=10, batch_size=16, lr=5e-3, device="cpu", progress=False)
    start = time.perf_counter()
    result = train(model, task, _loader(train_set, 16, shuffle=True), config)
    metrics = evaluate(model, task, _loader(test_set, 16, shuffle=False), "cpu")
    elapsed = time.perf_counter() - start

    history = result.loss_history
    assert result.steps == 10 * 384 // 16
    assert len(history) == 10 and all(math.isfinite(v) for v in history)
    assert history[-1] < 0.5 * history[0], history
    assert metrics["map50"] > 0.5, (metrics, history, elapsed)
    assert 0.0 <= metrics["map"] <= metrics["map50"] <= 1.0


def test_yolo_head_spec_trains_a_step_and_decodes():
    spec = load_spec(SMALL_YOLO)
    graph = compile_graph(spec)
    train_set = make_dataset("shapes", "train", SIZE, num_classes=4, limit=8)
    task = task_for(spec, graph)
    task.check_data(spec, train_set)
    assert isinstance(task, DetectionTask)

    torch.manual_seed(0)
    model = GraphNet(graph)
    before = model.fc1.weight.detach().clone()
    config = TrainConfig(epochs=1, lr=1e-3, device="cpu", progress=False)
    result = train(model, task, _loader(train_set, 8, shuffle=False), config)
    assert result.steps == 1
    assert math.isfinite(result.final_loss) and result.final_loss > 0
    assert not torch.equal(model.fc1.weight, before)  # the step updated the weights

    # Rig fc2 so every image's grid holds one box: cell (row 1, col 0), predictor 0,
    # centre offset (0.5, 0.5), sqrt(w) = sqrt(h) = 0.5, confidence 0.9, class 2 of 1..3.
    # On the 2x2 grid of a 64x64 image that box is centred at (16, 48), 16 px square.
    with torch.no_grad():
        model.fc2.weight.zero_()
        model.fc2.bias.zero_()
        cell = (1 * 2 + 0) * 13
        model.fc2.bias[cell : cell + 5] = torch.tensor([0.5, 0.5, 0.5, 0.5, 0.9])
        model.fc2.bias[cell + 10 + 1] = 1.0
    model.eval()
    batch = collate([train_set[i] for i in range(3)])
    with torch.no_grad():
        output = model(batch["image"])
    assert output.shape == (3, 2, 2, 13)
    detections = task.decode(output)
    assert len(detections) == 3
    for det in detections:
        assert set(det) == {"boxes", "scores", "labels"}
        assert det["boxes"].dtype == torch.float32 and det["labels"].dtype == torch.int64
        torch.testing.assert_close(det["boxes"], torch.tensor([[8.0, 40.0, 24.0, 56.0]]))
        torch.testing.assert_close(det["scores"], torch.tensor([0.9]))
        assert det["labels"].tolist() == [2]

    # The task's evaluator scores exactly that box as a perfect detection.
    evaluator = task.evaluator()
    target = {
        "image": batch["image"][:1],
        "boxes": [torch.tensor([[8.0, 40.0, 24.0, 56.0]])],
        "labels": [torch.tensor([2])],
    }
    evaluator.update(task.predict(output[:1]), target)
    metrics = evaluator.compute()
    assert metrics["map50"] == pytest.approx(1.0) and metrics["map"] == pytest.approx(1.0)
