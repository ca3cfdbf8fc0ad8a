"""Two-stage detectors train with the benchmark harness.

Quick: one training step of each small two-stage spec moves its weights and logs each
loss, and its decoded detections have the detection layout. Slow: faster-rcnn-small learns
the shapes data (mAP@.5 on the held-out test split far above the untrained model's).
"""

from __future__ import annotations

import math

import pytest
import torch
from torch.utils.data import DataLoader

from benchmarks.data import collate, make_dataset
from benchmarks.tasks import task_for
from benchmarks.tasks.two_stage import TwoStageTask
from benchmarks.train.loop import TrainConfig, evaluate, train
from compiler import build_network, compile_graph
from graphspec import load_spec
from tests import SPECS

SIZE = (64, 64)

pytestmark = pytest.mark.usefixtures("one_thread")


def _loader(dataset, batch_size: int, shuffle: bool) -> DataLoader:
    generator = torch.Generator().manual_seed(0)
    return DataLoader(
        dataset, batch_size=batch_size, shuffle=shuffle, collate_fn=collate, generator=generator
    )


@pytest.mark.parametrize("name", ["rcnn-small", "fast-rcnn-small", "faster-rcnn-small"])
def test_a_training_step_moves_the_weights_and_logs_each_loss(name: str) -> None:
    spec = load_spec(SPECS / f"{name}.yaml")
    graph = compile_graph(spec)
    task = task_for(spec, graph)
    assert isinstance(task, TwoStageTask)
    data = make_dataset("shapes", "train", SIZE, num_classes=4, limit=8)
    task.check_data(spec, data)
    torch.manual_seed(0)
    model = build_network(graph)
    before = model.cls_score.weight.detach().clone()
    batch = collate([data[i] for i in range(8)])
    losses = task.loss(task.forward(model.train(), batch), batch)
    expected = {"loss", "box_class", "box_regression"}
    if name.startswith("faster"):
        expected |= {"rpn_class", "rpn_box"}
    assert set(losses) == expected and all(
        math.isfinite(float(v.detach())) for v in losses.values()
    )
    parts = losses["box_class"] + losses["box_regression"]
    if name.startswith("faster"):
        parts = parts + losses["rpn_class"] + losses["rpn_box"]
    assert math.isclose(float(losses["loss"].detach()), float(parts), rel_tol=1e-6)
    config = TrainConfig(epochs=1, lr=1e-3, device="cpu", progress=False)
    train(model, task, _loader(data, 8, shuffle=False), config)
    assert not torch.equal(model.cls_score.weight, before)
    with torch.no_grad():
        found = task.predict(task.forward(model.eval(), batch))
    assert len(found) == 8
    for dets in found:
        assert dets["boxes"].shape[1:] == (4,) and dets["labels"].dtype == torch.int64
        assert len(dets["scores"]) <= spec.head.test.max_boxes
        assert ((dets["labels"] >= 1) & (dets["labels"] <= 3)).all()


@pytest.mark.slow
def test_faster_rcnn_small_learns_the_shapes_data() -> None:
    spec = load_spec(SPECS / "faster-rcnn-small.yaml")
    graph = compile_graph(spec)
    task = task_for(spec, graph)
    train_set = make_dataset("shapes", "train", SIZE, num_classes=4, limit=384)
    test_set = make_dataset("shapes", "test", SIZE, num_classes=4)
    torch.manual_seed(0)
    model = build_network(graph)
    untrained = evaluate(model, task, _loader(test_set, 16, shuffle=False), "cpu")
    config = TrainConfig(epochs=8, batch_size=16, lr=3e-3, device="cpu", progress=False)
    result = train(model, task, _loader(train_set, 16, shuffle=True), config)
    metrics = evaluate(model, task, _loader(test_set, 16, shuffle=False), "cpu")
    assert result.loss_history[-1] < 0.6 * result.loss_history[0], result.loss_history
    assert untrained["map50"] < 0.05 and metrics["map50"] > 0.6, (untrained, metrics)
